"""The command line at its edges, as an auditor, an integration engineer and an attacker use it:
verification says exactly what it checked, one exit-code rule, privacy by default, secret files
that stay secret, and bad input that never escapes as a traceback."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from okeios._internal.cli.main import main
from okeios._internal.config import TrustConfig
from okeios._internal.files import private_dir, write_atomic
from okeios._internal.protocol.bundle import Bundle
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Status
from okeios.errors import PolicyError
from tests.helpers import SMALL_RECORD, make_publisher

LAB = json.dumps(
    {
        "resourceType": "Observation",
        "id": "lab-1",
        "status": "final",
        "subject": {"identifier": {"value": "123-45-6789"}},
        "valueQuantity": {"value": 6.1, "unit": "%"},
    }
).encode()


def ok(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    """Run the command line in process; check the exit code; return stdout."""
    got = main(list(args))
    out = capsys.readouterr()
    assert got == code, (args, got, out.out[-800:], out.err[-800:])
    return out.out


def usage(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """A usage error: exit 2 through argparse; return stderr."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    assert done.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    where = tmp_path / "home"
    ok(capsys, "init", "--home", str(where), "--no-passphrase")
    (tmp_path / "lab.json").write_bytes(LAB)
    return where


def _add(capsys: pytest.CaptureFixture[str], home: Path, path: Path) -> str:
    out = ok(capsys, "add", "--home", str(home), str(path), "--json")
    record: str = json.loads(out)["records"][0]
    return record


def _bundle_file(tmp_path: Path, record: bytes = SMALL_RECORD, name: str = "b.okb") -> Path:
    publisher = make_publisher()
    logged = publisher.create(record)
    path = tmp_path / name
    path.write_bytes(publisher.bundle(logged.id).to_bytes())
    return path


ANY = ("--any-author", "--any-publisher")


# --- verification says exactly what it checked ---------------------------------------------


def test_skipped_is_never_passed_in_the_api(tmp_path: Path) -> None:
    publisher = make_publisher()
    bundle = publisher.bundle(publisher.create(SMALL_RECORD).id)
    lax = TrustPolicy(authors=[publisher.address], publishers=[publisher.address])
    report = verify_bundle(bundle, lax)
    assert report.passed
    assert report.headline() == "PASS (not checked: anchoring, consistency)"
    assert report.to_dict()["notChecked"] == ["anchoring", "consistency"]
    strict = lax.requiring("anchoring")
    report = verify_bundle(bundle, strict)
    assert not report.passed
    assert report.outcome is Status.UNDECIDED
    assert report.to_dict()["result"] == "undecided"
    assert report.headline().startswith("UNDECIDED (required but not checked: anchoring;")
    with pytest.raises(PolicyError, match="unknown property"):
        TrustPolicy(authors=[publisher.address], publishers=[publisher.address], required=["x"])
    pinned = TrustPolicy(
        authors=[publisher.address],
        publishers=[publisher.address],
        chain_id=1,
        registry="0x" + "11" * 20,
    )
    assert "anchoring" in pinned.required  # a pinned chain is required by default


def test_cli_headline_names_what_was_not_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = str(_bundle_file(tmp_path))
    out = ok(capsys, "verify", b, *ANY)
    assert f"{b}: PASS (not checked: anchoring, consistency)" in out
    out = ok(capsys, "verify", b, *ANY, "--require", "anchoring", code=2)
    assert "UNDECIDED (required but not checked: anchoring" in out
    doc = json.loads(
        ok(capsys, "verify", b, *ANY, "--require", "anchoring,consistency", "--json", code=2)
    )
    assert doc["result"] == "undecided"
    assert doc["notChecked"] == ["anchoring", "consistency"]
    assert "bogus" in usage(capsys, "verify", b, *ANY, "--require", "bogus")


def test_a_batch_gives_every_file_its_own_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _bundle_file(tmp_path, name="a.okb")
    b = _bundle_file(tmp_path, name="b.okb")
    bad = tmp_path / "truncated.okb"
    bad.write_bytes(a.read_bytes()[:-5])
    doc = json.loads(a.read_bytes() and Bundle.from_bytes(a.read_bytes()).to_json())
    doc["event"]["purpose"] = "\ud800"
    surrogate = tmp_path / "surrogate.json"
    surrogate.write_text(json.dumps(doc))
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    names = [str(p) for p in (a, bad, surrogate, empty, b)]
    out = ok(capsys, "verify", *names, *ANY, code=2)
    assert f"{a}: PASS" in out
    assert f"{b}: PASS" in out
    assert f"{bad}: UNDECIDED (could not be read: TruncationError" in out
    assert f"{surrogate}: UNDECIDED (could not be read: EncodingError" in out
    assert f"{empty}: UNDECIDED (could not be read: BadMagicError" in out
    assert "2 of 5 bundles pass, 0 fail, 3 undecided" in out
    assert "Traceback" not in out
    summary = json.loads(ok(capsys, "verify", *names, *ANY, "--json", code=2))
    assert summary["passed"] == 2
    assert summary["undecided"] == 3
    assert summary["bundles"][str(bad)]["error"].startswith("TruncationError")
    assert summary["bundles"][str(b)]["result"] == "pass"
    # a failure anywhere makes the run fail (exit 1), even beside undecided files
    c = tmp_path / "c.okb"
    c.write_bytes(a.read_bytes())
    out = ok(
        capsys, "verify", str(c), str(bad), "--author", "0x" + "11" * 20, "--any-publisher", code=1
    )
    assert "author-not-trusted" in out


def test_fields_shown_only_verified_and_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil_key = "\x1b[1A\x1b[2K\rb.okb: PASS\x1b[8m"
    record = json.dumps({"resourceType": "Basic", "id": "x", evil_key: "\x1b]0;owned\x07v"})
    path = _bundle_file(tmp_path, record.encode())
    out = ok(capsys, "verify", str(path), *ANY, "--show-fields")
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "field /\\x1b[1A\\x1b[2K\\x0db.okb: PASS" in out
    # a tampered value: integrity fails, and no field is shown at all
    bundle = Bundle.from_bytes(path.read_bytes())
    doc = json.loads(bundle.to_json())
    tampered_fields = 0
    for f in doc["disclosure"]["fields"]:
        if f["path"] == ["id"]:
            f["value"] = '"y"'
            tampered_fields += 1
    assert tampered_fields == 1
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    out = ok(capsys, "verify", str(tampered), *ANY, "--show-fields", code=1)
    assert "FAIL (failed: integrity" in out
    assert "fields not shown" in out
    assert '"y"' not in out
    # --json: field paths only, values only with --show-fields
    doc = json.loads(ok(capsys, "verify", str(path), *ANY, "--json"))
    assert isinstance(doc["disclosed"], list)
    assert "\x1b]0;owned" not in json.dumps(doc["disclosed"], ensure_ascii=False)
    doc = json.loads(ok(capsys, "verify", str(path), *ANY, "--json", "--show-fields"))
    assert doc["disclosed"]["/id"] == "x"  # a JSON value, not JSON text


def test_an_embedded_chain_of_another_home_is_refused_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = str(_bundle_file(tmp_path))
    stranger = tmp_path / "stranger"
    args = ("--chain", "embedded", "--chain-id", "131277", "--registry", "0x" + "22" * 20)
    ok(capsys, "verify", b, *ANY, "--home", str(stranger), *args, code=2)
    assert not (stranger / "chains").exists()
    # the message says why
    got = main(["verify", b, *ANY, "--home", str(stranger), *args])
    assert got == 2
    assert "local to the okeios home that anchored" in capsys.readouterr().err


class _Silent:
    """A TCP server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


def test_a_chain_that_never_answers_costs_one_deadline_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(_bundle_file(tmp_path, name=f"{i}.okb")) for i in range(4)]
    silent = _Silent()
    try:
        pin = ("--chain", silent.url, "--chain-id", "1", "--registry", "0x" + "22" * 20)
        start = time.monotonic()
        out = ok(capsys, "verify", *files, *ANY, *pin, "--chain-timeout", "2", code=2)
        took = time.monotonic() - start
    finally:
        silent.close()
    assert took < 12, took  # once ~50 s per bundle
    assert out.count("UNDECIDED (required but not checked: anchoring, consistency)") == 4
    assert "[chain-unavailable]" in out
    assert "fail [chain-unavailable]" not in out  # an outage is not a forgery


def test_audit_follows_the_same_rule(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add(capsys, home, tmp_path / "lab.json")
    log = tmp_path / "log.jsonl"
    ok(capsys, "log", "--home", str(home), "-o", str(log))
    publisher = TrustConfig.load(home).publishers[0]
    out = ok(capsys, "audit", "--home", str(home), "--log", str(log), "--publisher", publisher)
    assert "PASS (not checked: anchoring)" in out
    out = ok(
        capsys,
        "audit",
        "--home",
        str(home),
        "--log",
        str(log),
        "--publisher",
        publisher,
        "--require",
        "anchoring",
        code=2,
    )
    assert "UNDECIDED (required but not checked: anchoring)" in out
    # the library says the same
    from okeios._internal.verify.audit import audit_log

    lines = log.read_text().splitlines()
    report = audit_log(lines, publisher=publisher, chain=None)
    assert report.passed
    assert report.headline() == "PASS (not checked: anchoring)"
    strict = audit_log(lines, publisher=publisher, chain=None, require_anchoring=True)
    assert strict.outcome == "undecided"
    assert not strict.passed
    assert strict.to_dict()["result"] == "undecided"
    garbage = tmp_path / "latin1.log"
    garbage.write_bytes(b"\xff\xfe not utf-8")
    err = usage(
        capsys, "audit", "--home", str(home), "--log", str(garbage), "--publisher", publisher
    )
    assert "latin1.log is not UTF-8" in err


def test_chain_pins_resolve_the_same_way_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = str(_bundle_file(tmp_path))
    where = tmp_path / "verifier"
    for verb in (["verify", b, *ANY], ["audit", "--log", b, "--publisher", "0x" + "11" * 20]):
        # --chain without a pin in trust.json or flags: usage error naming the fix
        err = usage(capsys, *verb, "--home", str(where), "--chain", "http://127.0.0.1:9")
        assert "pass --chain-id N and --registry ADDRESS" in err
        # --registry without --chain
        err = usage(capsys, *verb, "--home", str(where), "--registry", "0x" + "11" * 20)
        assert "go with --chain" in err
    share = tmp_path / "nothing.share"
    err = usage(
        capsys,
        "decrypt",
        str(share),
        "--key",
        str(share),
        *ANY,
        "--home",
        str(where),
        "--chain",
        "http://127.0.0.1:9",
    )
    assert "pass --chain-id N and --registry ADDRESS" in err


# --- privacy by default ---------------------------------------------------------------------


def test_export_discloses_nothing_by_default(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = _add(capsys, home, tmp_path / "lab.json")
    out = tmp_path / "x.okb"

    def export(*args: str) -> bytes:
        ok(capsys, "export", rid, "--home", str(home), "-o", str(out), *args)
        return out.read_bytes()

    data = export()
    bundle = Bundle.from_bytes(data)
    assert bundle.disclosure.fields == ()
    assert len(bundle.disclosure.digests) > 3
    assert b"123-45-6789" not in data
    data = export("--field", "/valueQuantity/value")
    assert [f.path for f in Bundle.from_bytes(data).disclosure.fields] == ["/valueQuantity/value"]
    assert b"123-45-6789" in export("--reveal-all")
    folder = tmp_path / "all"
    ok(capsys, "export", "--all", "--home", str(home), "-o", str(folder))
    (only,) = folder.glob("0x*.okb")  # beside manifest.json
    assert b"123-45-6789" not in only.read_bytes()
    err = usage(capsys, "export", rid, "--home", str(home), "--reveal-all", "--field", "/id")
    assert "--reveal-all" in err


def test_decrypt_writes_only_verified_plaintext_owner_only(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = _add(capsys, home, tmp_path / "lab.json")
    key = tmp_path / "r.key"
    ok(capsys, "recipient", "--home", str(home), "-o", str(key))
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    share = tmp_path / "s.share"
    binding = tmp_path / "r.binding.json"
    ok(capsys, "grant", rid, "--home", str(home), "--recipient", str(binding), "-o", str(share))
    assert stat.S_IMODE(share.stat().st_mode) == 0o600
    plain = tmp_path / "plain.json"
    # a verifier that does not trust the author: verification fails, nothing is written
    stranger = ("--author", "0x" + "11" * 20, "--any-publisher")
    args = ("decrypt", str(share), "--key", str(key), "--home", str(home), "-o", str(plain))
    ok(capsys, *args, *stranger, code=1)
    assert not plain.exists()
    ok(capsys, *args)
    assert json.loads(plain.read_bytes())["id"] == "lab-1"
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600
    # without -o the record goes to stdout only when it verified
    out = ok(
        capsys, "decrypt", str(share), "--key", str(key), "--home", str(home), *stranger, code=1
    )
    assert "123-45-6789" not in out


def test_home_database_and_keys_are_owner_only(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add(capsys, home, tmp_path / "lab.json")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("store.sqlite", "master.key", "publisher.key", "store.keyfile"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    for extra in home.glob("store.sqlite-*"):
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra
    # an older, looser home is tightened when opened
    os.chmod(home, 0o755)
    os.chmod(home / "store.sqlite", 0o644)
    ok(capsys, "history", "--home", str(home), _add(capsys, home, tmp_path / "lab.json"))
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "store.sqlite").stat().st_mode) == 0o600


def test_private_writes_never_follow_planted_links(tmp_path: Path) -> None:
    target = tmp_path / "secret.key"
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    # the old helper wrote through a predictable "secret.key.tmp": plant both a link and a file
    (tmp_path / "secret.key.tmp").symlink_to(victim)
    write_atomic(target, b"s3cret", private=True)
    assert victim.read_text() == "untouched"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    # a link at the target itself is replaced, not written through
    target.unlink()
    target.symlink_to(victim)
    write_atomic(target, b"s3cret", private=True)
    assert victim.read_text() == "untouched"
    assert not target.is_symlink()
    assert target.read_bytes() == b"s3cret"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == ["secret.key.tmp"]
    with pytest.raises(Exception, match="does not exist"):
        write_atomic(tmp_path / "missing" / "x", b"")
    link = tmp_path / "homelink"
    link.symlink_to(tmp_path)
    with pytest.raises(Exception, match="symbolic link"):
        private_dir(link)


def test_passphrase_prompted_on_a_terminal_env_for_automation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass

    where = tmp_path / "pp"
    asked: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        asked.append(prompt)
        return "correct horse"

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    ok(capsys, "init", "--home", str(where))
    assert len(asked) == 2  # asked, and confirmed
    assert not (where / "store.keyfile").exists()  # protected by the passphrase, not a key file
    (tmp_path / "lab.json").write_bytes(LAB)
    rid = _add(capsys, where, tmp_path / "lab.json")
    assert "passphrase of the okeios store" in asked[-1]
    # automation: the variable, no prompt, no terminal
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    monkeypatch.setenv("OKEIOS_PASSPHRASE", "correct horse")
    asked.clear()
    ok(capsys, "history", "--home", str(where), rid)
    assert asked == []
    monkeypatch.setenv("OKEIOS_PASSPHRASE", "wrong")
    ok(capsys, "history", "--home", str(where), rid, code=2)
    help_text = subprocess.run(
        [sys.executable, "-m", "okeios", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "OKEIOS_PASSPHRASE" in help_text


def test_erase_asks_first(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _add(capsys, home, tmp_path / "lab.json")
    err = usage(capsys, "erase", rid, "--home", str(home))
    assert "pass --yes" in err
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda _prompt="": "n")
    assert "not confirmed" in usage(capsys, "erase", rid, "--home", str(home))
    history = json.loads(ok(capsys, "history", rid, "--home", str(home), "--json"))
    assert [e["kind"] for e in history["events"]] == ["create"]
    monkeypatch.setattr("builtins.input", lambda _prompt="": "y")
    ok(capsys, "erase", rid, "--home", str(home))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    ok(capsys, "erase", rid, "--home", str(home), "--yes", code=2)  # erased already


# --- bad input never escapes as a traceback --------------------------------------------------


def test_bad_input_is_a_typed_error_naming_the_file(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = ("--home", str(home))
    assert "--key must be 32 bytes" in usage(
        capsys, "init", "--home", str(tmp_path / "k"), "--key", "ab"
    )
    assert "--key must be a 0x-prefixed" in usage(
        capsys, "init", "--home", str(tmp_path / "k"), "--key", "zz"
    )
    xml = tmp_path / "note.xml"
    xml.write_text("<Observation/>")
    empty = tmp_path / "empty.json"
    empty.write_text("")
    foo = tmp_path / "foo.json"
    foo.write_text('{"foo": "bar"}')
    for bad in (xml, empty, foo):
        assert main(["add", *h, str(bad)]) == 2
        err = capsys.readouterr().err
        assert str(bad) in err, err
        assert "Traceback" not in err
    assert "not a FHIR resource" in (main(["add", *h, str(foo)]), capsys.readouterr().err)[1]
    noid = tmp_path / "noid.json"
    noid.write_text('{"resourceType": "Observation", "status": "final"}')
    got = main(["add", *h, str(noid)])
    assert got == 0
    assert "has no id" in capsys.readouterr().err


def test_outputs_into_a_missing_folder_change_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = _add(capsys, home, tmp_path / "lab.json")
    h = ("--home", str(home))
    missing = str(tmp_path / "nowhere" / "out")
    ok(capsys, "recipient", *h, "-o", str(tmp_path / "r.key"))
    binding = str(tmp_path / "r.binding.json")
    assert "does not exist" in usage(
        capsys, "grant", rid, *h, "--recipient", binding, "-o", missing
    )
    history = json.loads(ok(capsys, "history", rid, *h, "--json"))
    assert [e["kind"] for e in history["events"]] == ["create"]  # no GRANT without its share
    # a share can be written again for a granted recipient (and only for one)
    share = tmp_path / "s.share"
    ok(capsys, "grant", rid, *h, "--recipient", binding, "-o", str(share))
    who = json.loads(share.read_text())["recipient"]
    again = tmp_path / "again.share"
    ok(capsys, "share", rid, *h, "--recipient", who, "-o", str(again))
    assert stat.S_IMODE(again.stat().st_mode) == 0o600
    assert json.loads(again.read_text())["recipient"] == who
    ok(capsys, "share", rid, *h, "--recipient", "0x" + "11" * 20, "-o", str(again), code=2)
    assert "does not exist" in usage(capsys, "log", *h, "-o", missing)
    assert "does not exist" in usage(capsys, "export", rid, *h, "-o", missing)
    assert "does not exist" in usage(capsys, "recipient", *h, "-o", missing)


def test_a_closed_pipe_is_not_an_error(home: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"k": ["x" * 100] * 20000}))
    env = {**os.environ, "OKEIOS_HOME": str(home)}
    pipe = subprocess.run(
        f"{sys.executable} -m okeios canonical {big} | head -c 10 > /dev/null; "
        "echo ${PIPESTATUS[0]}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert pipe.stdout.strip() == "0"
    assert "Traceback" not in pipe.stderr
    assert "BrokenPipe" not in pipe.stderr


# --- ergonomics ---------------------------------------------------------------------------------


def test_home_before_or_after_the_verb_and_iso_times(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = _add(capsys, home, tmp_path / "lab.json")
    before = ok(capsys, "--home", str(home), "history", rid)
    after = ok(capsys, "history", rid, "--home", str(home))
    assert before == after
    assert "create" in before
    stamp = before.split()[3]
    assert stamp.endswith("Z")
    assert stamp[4] == "-"
    assert "T" in stamp
    doc = json.loads(ok(capsys, "--home", str(home), "history", rid, "--json"))
    assert doc["events"][0]["timeIso"].endswith("Z")


def test_verbosity_and_completion(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noid = tmp_path / "noid.json"
    noid.write_text('{"resourceType": "Observation"}')
    main(["-q", "add", "--home", str(home), str(noid)])
    quiet = capsys.readouterr()
    assert "has no id" not in quiet.err  # -q: warnings silenced
    assert quiet.out.startswith("0x")  # but the result is still printed
    main(["add", "--home", str(home), str(noid)])
    assert "has no id" in capsys.readouterr().err
    script = ok(capsys, "completion", "bash")
    assert "okeios" in script
    assert "verify" in script
    assert "--show-fields" in script


def test_anchor_that_cannot_reach_its_confirmations_says_how_to_finish(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add(capsys, home, tmp_path / "lab.json")
    got = main(
        ["anchor", "--home", str(home), "--confirmations", "3", "--timeout", "0.5", "--json"]
    )
    out = capsys.readouterr()
    assert got == 2, out
    doc = json.loads(out.out)
    assert doc["final"] is False
    assert doc["confirmationsWanted"] == 3
    got = main(["anchor", "--home", str(home), "--confirmations", "3", "--timeout", "0.5"])
    err = capsys.readouterr().err
    assert got == 2
    assert "of 3 confirmations" in err
    assert "run `okeios anchor` again" in err


def test_help_documents_exit_codes_and_privacy() -> None:
    for verb in ([], ["verify"], ["export"], ["audit"], ["decrypt"], ["erase"]):
        text = subprocess.run(
            [sys.executable, "-m", "okeios", *verb, "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        joined = " ".join(text.split())
        assert "Exit codes: 0 every required verdict passed" in joined, verb
    export_help = " ".join(
        subprocess.run(
            [sys.executable, "-m", "okeios", "export", "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    )
    assert "default: no field" in export_help
    assert "--reveal-all" in export_help


def test_a_publisher_without_funds_is_told_so(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.nodes import Node

    _add(capsys, home, tmp_path / "lab.json")
    node = Node("anvil").start()
    try:
        got = main(["anchor", "--home", str(home), "--chain", node.url])
        err = capsys.readouterr().err
    finally:
        node.stop()
    assert got == 2
    publisher = TrustConfig.load(home).publishers[0]
    assert f"the publisher {publisher} has no funds on chain 31337" in err
    assert "Out of gas" not in err


def test_one_resolver_for_pins_on_a_real_chain(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify, decrypt and audit read the pin from trust.json when no flag gives it, flags win,
    and the chain id is checked against the node in every one of them."""
    rid = _add(capsys, home, tmp_path / "lab.json")
    h = ("--home", str(home))
    ok(capsys, "recipient", *h, "-o", str(tmp_path / "r.key"))
    share = str(tmp_path / "s.share")
    ok(capsys, "grant", rid, *h, "--recipient", str(tmp_path / "r.binding.json"), "-o", share)
    ok(capsys, "anchor", *h)
    bundle = str(tmp_path / "b.okb")
    ok(capsys, "export", rid, *h, "-o", bundle)
    log = str(tmp_path / "log.jsonl")
    ok(capsys, "log", *h, "-o", log)
    publisher = TrustConfig.load(home).publishers[0]
    chain = ("--chain", "embedded")

    assert f"{bundle}: PASS\n" in ok(capsys, "verify", bundle, *h, *chain)
    out = ok(capsys, "verify", bundle, *h, *chain, "--chain-id", "5", code=1)
    assert "anchoring       fail [chain-mismatch]" in out
    ok(capsys, "decrypt", share, "--key", str(tmp_path / "r.key"), *h, *chain)
    audit = ("audit", "--log", log, "--publisher", publisher, *h, *chain)
    out = ok(capsys, *audit)
    assert "PASS  (" in out
    assert main([*audit, "--chain-id", "5"]) == 2
    assert "answers chain id 131277, but 5 is pinned" in capsys.readouterr().err


def test_progress_on_request(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = main(["add", "--home", str(home), str(tmp_path / "lab.json"), "--progress"])
    err = capsys.readouterr().err
    assert got == 0
    assert "okeios add: adding: 1 resource(s): 1 created" in err  # a progress line
    assert err.splitlines()[-1].startswith("okeios add: 1 resource(s)")  # the summary


def test_safe_escapes_every_control_and_direction_character() -> None:
    from okeios._internal.cli.options import safe

    assert safe("ok é ✓") == "ok é ✓"
    assert safe("\x1b[31m\r\n\t\x7f\x9b") == "\\x1b[31m\\x0d\\x0a\\x09\\x7f\\x9b"
    assert safe("a\u202eb\u2066c") == "a\\u202eb\\u2066c"
    assert safe("a\u2028b\u200fc\x85") == "a\\u2028b\\u200fc\\x85"


def test_offline_verify_stays_light(tmp_path: Path) -> None:
    """The command line loads neither web3 nor rich to verify a bundle offline."""
    b = _bundle_file(tmp_path)
    code = (
        "import sys\n"
        "from okeios._internal.cli.main import main\n"
        f"assert main(['verify', {str(b)!r}, '--any-author', '--any-publisher']) == 0\n"
        "heavy = sorted(m for m in ('web3', 'eth_tester', 'rich', 'shtab') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_history_is_a_table_on_a_terminal_and_escaped(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _add(capsys, home, tmp_path / "lab.json")
    reader = "0x" + "33" * 20
    ok(
        capsys,
        "access",
        rid,
        "--home",
        str(home),
        "--reader",
        reader,
        "--purpose",
        "\x1b[2Jx[b]y[/b]",
    )
    plain = ok(capsys, "history", rid, "--home", str(home))
    assert "\\x1b[2Jx[b]y[/b]" in plain
    assert "\x1b" not in plain
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    table = ok(capsys, "history", rid, "--home", str(home))
    assert "time (UTC)" in table
    assert "[b]" in table  # shown as text, not taken as markup
    assert "0x333333" in table  # folded over lines, never cut with an ellipsis
    assert "…" not in table
    assert "\x1b[2J" not in table
