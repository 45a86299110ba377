"""What a first day with the ``okeios`` command line hit (issue 25): each test is one finding,
run in-process through :func:`okeios._internal.cli.main.main` as a shell user would type it."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.cli.main import _parser, main
from okeios._internal.protocol.anchors import CANONICAL_REGISTRY
from tests.conftest import shared_dir

BMI = "Observation-bmi.json"  # a real FHIR example whose value is a decimal (16.2)


class Run:
    """``okeios ARGS`` in this process, with OKEIOS_HOME set: exit code, stdout, stderr."""

    def __init__(self, capsys: pytest.CaptureFixture[str], home: Path) -> None:
        self.capsys = capsys
        self.home = home

    def __call__(self, *args: str, expect: int | None = 0) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors and --help
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        if expect is not None:
            assert code == expect, (args, code, out[-1500:], err[-1500:])
        return code, out, err


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    home = tmp_path / "home"
    monkeypatch.setenv("OKEIOS_HOME", str(home))
    monkeypatch.delenv("OKEIOS_CHAIN", raising=False)
    return Run(capsys, home)


@pytest.fixture
def bmi(run: Run) -> Path:
    """A home holding the FHIR example Observation/bmi (value 16.2)."""
    run("init")
    path = shared_dir("fhir", "r4-examples") / BMI
    run("add", str(path))
    return path


# -- 1. show with decimals ---------------------------------------------------------------------


def test_show_prints_a_decimal_record_exactly(run: Run, bmi: Path) -> None:
    _, text, _ = run("show", "Observation/bmi")
    assert json.loads(text)["valueQuantity"]["value"] == 16.2
    assert '"value": 16.2' in text
    _, out, _ = run("show", "Observation/bmi", "--json", "--version", "1")
    shown = json.loads(out)
    assert shown["version"] == 1
    assert shown["content"] == json.loads(bmi.read_text())


def test_show_keeps_every_digit_of_a_number(run: Run, tmp_path: Path) -> None:
    run("init")
    res = tmp_path / "o.json"
    res.write_text('{"resourceType": "Observation", "id": "p", "valueQuantity": {"value": 1.50}}')
    run("add", str(res))
    _, out, _ = run("show", "Observation/p", "--json")
    assert '"value": 1.50' in out
    _, text, _ = run("show", "Observation/p")
    assert '"value": 1.50' in text


# -- 2. report with a chain that cannot be read ------------------------------------------------

DOWN = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused
SOME_REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_report_with_an_unreachable_chain_is_undecided(run: Run, bmi: Path) -> None:
    pin = ("--chain", DOWN, "--chain-id", "31337", "--registry", SOME_REGISTRY)
    _, text, _ = run("report", "Observation/bmi", *pin, expect=2)
    assert "lineage UNDECIDED" in text
    assert "FAIL" not in text
    assert "anchored in time" not in text
    _, out, _ = run("report", "Observation/bmi", *pin, "--json", expect=2)
    summary = json.loads(out)
    assert summary["result"] == "undecided"
    assert summary["lineage"]["result"] == "undecided"
    assert summary["lineage"]["reason"] == "chain-unavailable"


# -- 6. trusting anyone says so ----------------------------------------------------------------


def test_any_author_and_publisher_warn_that_nobody_was_trusted(
    run: Run, bmi: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "b.json"
    run("export", "Observation/bmi", "-o", str(bundle))
    _, out, err = run("verify", str(bundle), "--any-author", "--any-publisher")
    assert "PASS" in out
    assert "WARNING" in err
    assert "no authors or publishers were trusted" in err
    _, out, err = run("verify", str(bundle), "--insecure-any-author", "--json", "-q")
    assert "WARNING" in err  # -q silences notes, not this
    insecure = json.loads(out)["insecure"]
    assert insecure["anyone"] == ["author"]
    assert "no authors were trusted" in insecure["warning"]
    # Trusting the pinned keys says nothing of the kind.
    _, out, err = run("verify", str(bundle), "--json")
    assert "insecure" not in json.loads(out)
    assert "WARNING" not in err


# -- 10. the command-line rules, everywhere ----------------------------------------------------


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Any]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from _leaves(sub, (*path, name))


def _all_actions(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Any]:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from _all_actions(sub, (*path, name))
        elif not isinstance(a, argparse._HelpAction | argparse._VersionAction):
            yield path, a


def test_every_verb_takes_the_global_options_after_it() -> None:
    missing = {
        " ".join(path): sorted(
            {"--home", "--json", "-v", "-q"} - {s for a in p._actions for s in a.option_strings}
        )
        for path, p in _leaves(_parser())
    }
    assert {k: v for k, v in missing.items() if v} == {}
    assert len(missing) > 30


def test_every_option_and_argument_has_help() -> None:
    bare = [(" ".join(path), a.option_strings or a.dest) for path, a in _all_actions(_parser())]
    helpless = [
        (verb, name)
        for (verb, name), (_, a) in zip(bare, _all_actions(_parser()), strict=True)
        if not a.help
    ]
    assert helpless == []


def test_help_names_type_id_where_it_works() -> None:
    records = [
        (" ".join(path), a.help) for path, a in _all_actions(_parser()) if a.dest == "record_id"
    ]
    assert len(records) >= 12
    assert [verb for verb, text in records if "Type/id" not in text] == []


def test_sd_jwt_takes_home_and_json_after_the_verb_and_says_what_it_wrote(
    run: Run, bmi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OKEIOS_HOME")
    home = str(run.home)
    token = tmp_path / "sd.txt"
    _, out, _ = run(
        "sd-jwt",
        "export",
        "Observation/bmi",
        "--field",
        "/status",
        "-o",
        str(token),
        "--home",
        home,
    )
    assert out.startswith(f"{token}: SD-JWT of event 0x")
    address = json.loads(run("--home", home, "show", "Observation/bmi", "--json")[1])
    assert address["record"].startswith("0x")
    publisher = json.loads((run.home / "trust.json").read_text())["publishers"][0]
    _, out, _ = run(
        "sd-jwt", "verify", str(token), "--publisher", publisher, "--json", "--home", home
    )
    assert json.loads(out)["result"] == "pass"
    _, out, _ = run(
        "sd-jwt", "export", "Observation/bmi", "--field", "/status", "--json", "--home", home
    )
    assert json.loads(out)["sdJwt"].count("~") >= 2


def test_export_to_a_file_says_what_it_wrote(run: Run, bmi: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "b.okb"
    _, out, _ = run("export", "Observation/bmi", "-o", str(out_file))
    assert out.startswith(f"{out_file}: bundle of the create 0x")
    assert "0 field(s) disclosed" in out
    _, out, _ = run(
        "export", "Observation/bmi", "-o", str(out_file), "--json", "--field", "/status"
    )
    assert json.loads(out)["disclosed"] == ["/status"]


# -- 16. setup noise, and the export manifest --------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def test_the_licence_is_an_spdx_expression_that_setuptools_does_not_warn_about() -> None:
    import tomllib

    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"  # a table is deprecated (PEP 639)
    # SPDX strings are understood from setuptools 77 on; older ones would refuse them.
    assert "setuptools>=77" in meta["build-system"]["requires"]


def test_setup_venv_does_not_reinstall_when_nothing_changed(tmp_path: Path) -> None:
    import shutil
    import subprocess

    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup-venv", repo / "scripts" / "setup-venv")
    (repo / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    venv_bin = repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    # A stand-in interpreter that records each pip run (and answers -VV like Python).
    log = tmp_path / "pip.log"
    (venv_bin / "python").write_text(
        f'#!/bin/sh\nif [ "$1" = -VV ]; then echo Python 3.11; exit 0; fi\necho "$@" >> {log}\n'
    )
    (venv_bin / "python").chmod(0o755)
    (venv_bin / "okeios").write_text("#!/bin/sh\n")
    (venv_bin / "okeios").chmod(0o755)

    def setup(*args: str) -> int:
        subprocess.run([str(repo / "scripts" / "setup-venv"), *args], check=True)
        return len(log.read_text().splitlines()) if log.exists() else 0

    first = setup("test")
    assert first == 2  # pip upgrade, then the install
    assert setup("test") == first  # nothing changed: no pip at all
    assert setup() == first  # the test install holds the runtime one
    with (repo / "pyproject.toml").open("a") as fh:
        fh.write("\n# changed\n")
    assert setup() == first + 2


def test_export_all_writes_a_manifest_of_type_and_id(run: Run, bmi: Path, tmp_path: Path) -> None:
    run("add", str(shared_dir("fhir", "r4-examples") / "Patient-example.json"))
    folder = tmp_path / "bundles"
    run("export", "--all", "-o", str(folder))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(manifest.values()) == ["Observation/bmi", "Patient/example"]
    assert sorted(manifest) == sorted(p.name for p in folder.glob("0x*.okb"))


# -- 8. disclosures cite the latest content event ----------------------------------------------


def test_disclose_and_sd_jwt_cite_the_latest_content_event_not_a_grant(
    run: Run, bmi: Path, tmp_path: Path
) -> None:
    run("anchor")
    key = tmp_path / "researcher.json"
    run("recipient", "-o", str(key))
    binding = tmp_path / "researcher.binding.json"
    run("grant", "Observation/bmi", "--recipient", str(binding), "-o", str(tmp_path / "s.json"))
    history = json.loads(run("history", "Observation/bmi", "--json")[1])
    kinds = [e["kind"] for e in (history["events"] if isinstance(history, dict) else history)]
    assert kinds == ["create", "grant"]  # the latest event is the GRANT

    out_file = tmp_path / "d.json"
    _, out, err = run(
        "disclose", "Observation/bmi", "--field", "/status", "-o", str(out_file), "--json"
    )
    made = json.loads(out)
    assert made["kind"] == "create"
    assert made["anchored"] is True
    assert "warning" not in err
    _, out, _ = run("sd-jwt", "export", "Observation/bmi", "--field", "/status", "--json")
    assert json.loads(out)["event"] == made["event"]

    # A new version not anchored yet: cited, and said to be pending.
    amended = tmp_path / "amended.json"
    amended.write_text(json.dumps({**json.loads(bmi.read_text()), "status": "amended"}))
    run("amend", "Observation/bmi", str(amended))
    _, out, err = run(
        "disclose", "Observation/bmi", "--field", "/status", "-o", str(out_file), "--json"
    )
    made = json.loads(out)
    assert made["kind"] == "amend"
    assert made["anchored"] is False
    assert "not anchored yet" in made["notAnchored"]
    assert "warning" in err
    _, out, err = run("sd-jwt", "export", "Observation/bmi", "--field", "/status", "--json")
    assert json.loads(out)["event"] == made["event"]
    assert "not anchored yet" in err


# -- 9. texts that say what they mean ----------------------------------------------------------


def test_texts_say_what_happened(run: Run, bmi: Path, tmp_path: Path) -> None:
    # A value altered in a received bundle: said to be altered after signing.
    bundle = tmp_path / "b.json"
    run("disclose", "Observation/bmi", "--field", "/status", "-o", str(bundle), "--format", "json")
    doc = json.loads(bundle.read_text())
    fields = doc["disclosure"]["fields"]
    assert len(fields) == 1
    fields[0]["value"] = '"cancelled"'
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(doc))
    _, out, _ = run("verify", str(altered), expect=1)
    assert "field-not-committed" in out
    assert "'/status' was altered after signing" in out

    # Disclosed values in verify --json are JSON values, decimals as numbers.
    both = tmp_path / "both.json"
    run(
        "disclose",
        "Observation/bmi",
        "--field",
        "/status",
        "--field",
        "/valueQuantity/value",
        "-o",
        str(both),
        "--format",
        "json",
    )
    _, out, _ = run("verify", str(both), "--json", "--show-fields")
    assert json.loads(out)["disclosed"] == {"/status": "final", "/valueQuantity/value": 16.2}

    # An audit without a chain: no-chain, as verify says; no "first at None".
    log = tmp_path / "log.jsonl"
    run("log", "-o", str(log))
    publisher = json.loads((run.home / "trust.json").read_text())["publishers"][0]
    _, out, _ = run("audit", "--log", str(log), "--publisher", publisher)
    assert "no-chain" in out
    assert "chain-unavailable" not in out
    assert "None" not in out
    _, out, _ = run("verify", str(both))
    assert "[no-chain]" in out


def test_addresses_in_messages_are_checksummed() -> None:
    import re

    from okeios._internal.verify import bundle as verify_module

    source = Path(verify_module.__file__).read_text()
    # An address is never written as raw lowercase hex beside checksummed ones.
    assert re.findall(r"0x\{[a-z_.]*(?:registry|publisher|author)\.hex\(\)\}", source) == []


# -- a config file for what a service sets once ------------------------------------------------


def test_okeios_toml_and_okeios_chain_set_the_chain_defaults(
    run: Run, bmi: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from okeios._internal.config import Settings
    from okeios.errors import InputError

    assert Settings.load(run.home) == Settings()
    (run.home / "okeios.toml").write_text(
        '[chain]\nurl = "ftp://chain.example"\nconfirmations = 3\ntimeout = 2\nanchor-timeout = 5\n'
    )
    settings = Settings.load(run.home)
    assert settings == Settings("ftp://chain.example", 3, 2, 5)
    # anchor without --chain goes where the file says (here a URL it refuses: exit 2)
    _, out, _ = run("anchor", "--json", expect=2)
    assert json.loads(out)["result"] == "undecided"
    assert "ftp://chain.example" in json.loads(out)["message"]
    # $OKEIOS_CHAIN wins over the file, a flag over both
    monkeypatch.setenv("OKEIOS_CHAIN", "embedded")
    _, out, _ = run("anchor", "--json", expect=None)
    anchored = json.loads(out)
    assert anchored["chain"] == "embedded"
    assert anchored["confirmationsWanted"] == 3
    _, out, _ = run("anchor", "--json", "--confirmations", "1")
    assert json.loads(out)["confirmationsWanted"] == 1

    (run.home / "okeios.toml").write_text("[chain]\nconfirmation = 3\n")
    with pytest.raises(InputError, match="unknown setting"):
        Settings.load(run.home)
    _, _, err = run("anchor", expect=2)
    assert "unknown setting(s) chain.confirmation" in err
    (run.home / "okeios.toml").write_text('[chain]\nconfirmations = "3"\n')
    with pytest.raises(InputError, match="wrong type"):
        Settings.load(run.home)


def test_the_service_anchors_where_okeios_toml_says(tmp_path: Path) -> None:
    from okeios.service import Okeios

    with Okeios.open(tmp_path / "home", create=True) as ok:
        ok.add([{"resourceType": "Patient", "id": "p"}])
        (tmp_path / "home" / "okeios.toml").write_text('[chain]\nurl = "embedded"\n')
        assert ok.anchor().tree_size == 1
        (tmp_path / "home" / "okeios.toml").write_text('[chain]\nurl = "ftp://chain.example"\n')
        from okeios.errors import InputError

        with pytest.raises(InputError, match=r"ftp://chain\.example"):
            ok.anchor()


# -- 11. logging -------------------------------------------------------------------------------


def test_verbose_logging_names_each_logger_and_keeps_libraries_quiet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from okeios._internal.cli.options import setup_logging

    try:
        setup_logging(argparse.Namespace(verbose=2, quiet=False))
        logging.getLogger("web3.providers.HTTPProvider").debug("a 13 KB bytecode dump")
        logging.getLogger("urllib3.connectionpool").debug("Starting new HTTP connection")
        logging.getLogger("okeios._internal.publish.anchoring").debug("size 3: final")
        err = capsys.readouterr().err
        assert "bytecode" not in err
        assert "Starting new HTTP" not in err
        assert "okeios._internal.publish.anchoring: DEBUG: size 3: final" in err
        setup_logging(argparse.Namespace(verbose=3, quiet=False))
        logging.getLogger("web3.providers.HTTPProvider").debug("a 13 KB bytecode dump")
        err = capsys.readouterr().err
        assert "web3.providers.HTTPProvider: DEBUG: a 13 KB bytecode dump" in err
        assert "okeios: DEBUG: a 13 KB" not in err
    finally:
        setup_logging(argparse.Namespace(verbose=0, quiet=False))


def test_anchoring_logs_on_an_okeios_logger_a_service_can_route(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from okeios.service import Okeios

    with (
        caplog.at_level(logging.INFO, logger="okeios"),
        Okeios.open(tmp_path / "home", create=True) as ok,
    ):
        ok.add([{"resourceType": "Patient", "id": "p"}])
        ok.anchor()
    names = {r.name for r in caplog.records if r.name.startswith("okeios.")}
    assert "okeios._internal.publish.anchoring" in names
    assert any("final" in r.getMessage() for r in caplog.records)


def test_chain_errors_are_short_and_say_their_kind_once(run: Run, bmi: Path) -> None:
    _, out, _ = run(
        "report",
        "Observation/bmi",
        "--chain",
        DOWN,
        "--chain-id",
        "31337",
        "--registry",
        SOME_REGISTRY,
        expect=2,
    )
    assert "connection refused" in out
    assert "HTTPConnectionPool" not in out
    assert "Max retries" not in out
    from okeios._internal.cli.main import _report_error
    from okeios.errors import ChainError

    run.capsys.readouterr()
    _report_error(argparse.Namespace(json=False), ChainError("reading the chain id failed"))
    assert run.capsys.readouterr().err == (
        "okeios: chain error: reading the chain id failed\n"  # not "chain error: ChainError: "
    )


# -- okeios inspect ----------------------------------------------------------------------------


def test_inspect_tells_what_each_kind_of_file_claims_marked_unverified(
    run: Run, bmi: Path, tmp_path: Path
) -> None:
    run("anchor")
    bundle = tmp_path / "b.okb"
    run("disclose", "Observation/bmi", "--field", "/status", "-o", str(bundle))
    _, out, _ = run("inspect", str(bundle))
    assert out.startswith("UNVERIFIED: what this file claims; nothing here was checked")
    assert "eventKind: create" in out
    assert "disclosed: /status" in out
    claims = json.loads(run("inspect", str(bundle), "--json")[1])
    assert claims["verified"] is False
    assert claims["kind"] == "bundle"
    assert claims["anchor"]["chainId"] > 0
    assert claims["anchor"]["registry"] == CANONICAL_REGISTRY

    token = tmp_path / "sd.txt"
    run("sd-jwt", "export", "Observation/bmi", "--field", "/valueQuantity/value", "-o", str(token))
    claims = json.loads(run("inspect", str(token), "--json")[1])
    assert (claims["kind"], claims["disclosed"]) == ("sd-jwt", ["/valueQuantity/value"])
    assert claims["event"] == json.loads(run("inspect", str(bundle), "--json")[1])["event"]

    _, share = _recipient_and_share(run, tmp_path)
    claims = json.loads(run("inspect", str(share), "--json")[1])
    assert claims["kind"] == "share"
    assert (
        claims["bundle"]["record"] == json.loads(run("inspect", str(bundle), "--json")[1])["record"]
    )

    keys = tmp_path / "keys.json"
    run("authors", "export", "-o", str(keys))
    assert json.loads(run("inspect", str(keys), "--json")[1])["kind"] == "key history"

    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not okeios")
    _, _, err = run("inspect", str(junk), expect=2)
    assert "not a bundle, share, key history or SD-JWT" in err


def _recipient_and_share(run: Run, tmp_path: Path, *options: str) -> tuple[Path, Path]:
    """A recipient key made with ``options`` (r.json) and a share of Observation/bmi granted
    to it (share.json)."""
    key = tmp_path / "r.json"
    run("recipient", "-o", str(key), *options)
    share = tmp_path / "share.json"
    run(
        "grant",
        "Observation/bmi",
        "--recipient",
        str(tmp_path / "r.binding.json"),
        "-o",
        str(share),
    )
    return key, share


# -- 14. a recipient after a revocation --------------------------------------------------------


def test_decrypt_says_revocation_was_not_checked_and_checks_it_against_the_log(
    run: Run, bmi: Path, tmp_path: Path
) -> None:
    key, share = _recipient_and_share(run, tmp_path)
    address = json.loads(key.read_text())["address"]
    _, out, err = run("decrypt", str(share), "--key", str(key))
    assert "revocation: NOT CHECKED" in err
    log = tmp_path / "log.jsonl"
    run("log", "-o", str(log))
    _, out, err = run("decrypt", str(share), "--key", str(key), "--log", str(log), "--json")
    assert json.loads(out)["revocation"]["revoked"] is False
    assert json.loads(out)["result"] == "pass"

    run("revoke", "Observation/bmi", "--recipient", address, "--purpose", "study closed")
    _, out, err = run("decrypt", str(share), "--key", str(key))
    assert "NOT CHECKED" in err  # it still opens: only the log can tell
    run("log", "-o", str(log))
    _, out, err = run("decrypt", str(share), "--key", str(key), "--log", str(log), expect=1)
    assert "REVOKED" in err
    assert "study closed" in err
    assert out == ""  # the record is not shown
    _, out, _ = run("decrypt", str(share), "--key", str(key), "--log", str(log), "--json", expect=1)
    assert json.loads(out)["revocation"]["revoked"] is True


def test_a_recipient_key_file_can_be_sealed_under_a_passphrase(
    run: Run, bmi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKEIOS_RECIPIENT_PASSPHRASE", "correct horse battery staple")
    key, share = _recipient_and_share(run, tmp_path, "--passphrase")
    sealed = key.read_text()
    assert "okeios-protected-secret" in sealed
    assert "hpkeKey" not in sealed  # no plaintext key in the file
    _, out, _ = run("decrypt", str(share), "--key", str(key), "--json")
    assert json.loads(out)["result"] == "pass"
    monkeypatch.setenv("OKEIOS_RECIPIENT_PASSPHRASE", "wrong")
    _, _, err = run("decrypt", str(share), "--key", str(key), expect=2)
    assert "KeyProtectionError" in err
    monkeypatch.delenv("OKEIOS_RECIPIENT_PASSPHRASE")
    _, _, err = run("decrypt", str(share), "--key", str(key), expect=2)
    assert "needs a passphrase" in err


def test_reports_name_addresses_from_the_address_book_in_trust_json(
    run: Run, bmi: Path, tmp_path: Path
) -> None:
    publisher = json.loads((run.home / "trust.json").read_text())["publishers"][0]
    _, out, _ = run("trust", "--label", f"{publisher.lower()}=St Mary's, ward 7")
    assert json.loads(out)["labels"] == {publisher: "St Mary's, ward 7"}
    run("access", "Observation/bmi", "--reader", publisher, "--purpose", "care")
    page = tmp_path / "record.html"
    run("report", "Observation/bmi", "--html", str(page))
    html = page.read_text()
    assert "St Mary&#39;s, ward 7" in html
    assert "History of your Observation" in html
    log = tmp_path / "log.jsonl"
    run("log", "-o", str(log))
    audit = tmp_path / "audit.html"
    run("audit", "--log", str(log), "--publisher", publisher, "--html", str(audit))
    text = audit.read_text()
    assert "St Mary&#39;s, ward 7" in text
    import hashlib

    assert hashlib.sha256(log.read_bytes()).hexdigest() in text
    _, _, err = run("trust", "--label", "no-equals-sign", expect=2)
    assert "ADDRESS=NAME" in err
