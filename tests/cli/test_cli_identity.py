"""The identity verbs end to end on a real Anvil node, one `okeios` process per step: authorise
a clinician, revoke a stolen key with events on both sides of its revocation time, rotate the
publisher key, and verify old and new bundles against the chain as a verifier that trusts only
the organisation (trust.json pins it)."""

from __future__ import annotations

import json
from pathlib import Path

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.store import Store
from tests.helpers import CountingRng, run_cli
from tests.nodes import Node

okeios = run_cli


def _add_as(home: Path, author: LocalSigner, record: bytes) -> str:
    """A clinician signs a record into the organisation's log (the API: the CLI signs with the
    publisher key)."""
    with Store.open(home) as store:
        logged = store.add([record], author=author)[0]
    return "0x" + logged.id.hex()


def _verify(verifier: Path, tmp: Path, publisher_home: Path, event: str, url: str) -> dict:  # type: ignore[type-arg]
    bundle = tmp / f"{event}.json"
    okeios(publisher_home, "export", event, "--format", "json", "-o", str(bundle))
    done = okeios(
        verifier,
        "verify",
        str(bundle),
        "--keys",
        str(tmp / "keys.json"),
        "--chain",
        url,
        "--json",
        expect=None,
    )
    assert done.returncode in (0, 1), done.stderr
    report: dict = json.loads(done.stdout)  # type: ignore[type-arg]
    assert (done.returncode == 0) == (report["result"] == "pass")
    return report


def test_cli_authorise_revoke_rotate_verify(tmp_path: Path, anvil: Node) -> None:
    home, verifier = tmp_path / "org", tmp_path / "verifier"
    key = CountingRng(b"cli org")(32)
    org = LocalSigner.from_key(key).address
    anvil.fund(org)
    records = synthetic_records(6, seed=5)
    doctor = LocalSigner.generate(CountingRng(b"cli doctor"))
    now = int(anvil.web3().eth.get_block("latest")["timestamp"])

    okeios(home, "init", "--key", key.hex())
    added = okeios(home, "authors", "add", doctor.address, "--role", "physician", "--json")
    assert json.loads(added.stdout)["role"] == "physician"
    before = _add_as(home, doctor, records[0])
    anvil.rpc("evm_setNextBlockTimestamp", hex(now + 100))
    anchored = json.loads(okeios(home, "anchor", "--chain", anvil.url, "--json").stdout)
    registry = anchored["registry"]

    # The key is stolen at now + 200; the thief's event is anchored at now + 300.
    stolen = _add_as(home, doctor, records[1])
    anvil.rpc("evm_setNextBlockTimestamp", hex(now + 300))
    okeios(home, "anchor", "--chain", anvil.url)
    okeios(
        home, "authors", "revoke", doctor.address, "--from", str(now + 200), "--purpose", "stolen"
    )
    listed = json.loads(okeios(home, "authors", "list", "--json").stdout)
    assert [(a["key"], a["state"]) for a in listed["authors"]] == [(doctor.address, "revoked")]
    affected = json.loads(okeios(home, "authors", "affected", doctor.address, "--json").stdout)
    assert [a["event"] for a in affected["affected"]] == [stolen]
    assert affected["affected"][0]["reason"] == "author-revoked"

    # The publisher key is rotated; the old key anchors the handover, the new one the rest.
    anvil.rpc("evm_setNextBlockTimestamp", hex(now + 400))
    rotated = json.loads(
        okeios(home, "rotate-key", "--chain", anvil.url, "--purpose", "rotation", "--json").stdout
    )
    assert rotated["old"] == org
    assert rotated["new"] != org
    anvil.fund(rotated["new"])
    record_file = tmp_path / "new.json"
    record_file.write_bytes(records[2])
    new_event = json.loads(okeios(home, "add", str(record_file), "--json").stdout)["records"][0]
    anvil.rpc("evm_setNextBlockTimestamp", hex(now + 500))
    okeios(home, "anchor", "--chain", anvil.url)
    okeios(home, "authors", "export", "-o", str(tmp_path / "keys.json"))

    # The verifier pins the organisation and the chain, nothing else.
    pinned = okeios(
        verifier,
        "trust",
        "--org",
        org,
        "--chain",
        anvil.url,
        "--chain-id",
        "31337",
        "--registry",
        registry,
    )
    assert json.loads(pinned.stdout)["organisations"] == {org: None}

    old = _verify(verifier, tmp_path, home, before, anvil.url)
    assert old["result"] == "pass", old
    assert old["publisher"] == org
    thief = _verify(verifier, tmp_path, home, stolen, anvil.url)
    assert thief["verdicts"]["authenticity"]["reason"] == "author-revoked"
    assert thief["verdicts"]["inclusion"]["result"] == "pass"
    new = _verify(verifier, tmp_path, home, new_event, anvil.url)
    assert new["result"] == "pass", new
    assert new["publisher"] == rotated["new"]

    # Pinning only nurses refuses the physician's event with a named reason.
    bundle = tmp_path / f"{before}.json"
    nurses = okeios(
        verifier,
        "verify",
        str(bundle),
        "--org",
        org,
        "--role",
        "nurse",
        "--keys",
        str(tmp_path / "keys.json"),
        "--chain",
        anvil.url,
        "--json",
        expect=1,
    )
    assert json.loads(nurses.stdout)["verdicts"]["authenticity"]["reason"] == (
        "author-role-not-trusted"
    )
    # An auditor with the published log finds the thief's event and nothing else.
    log_file = tmp_path / "log.jsonl"
    okeios(home, "log", "-o", str(log_file))
    audit = okeios(
        verifier,
        "authors",
        "audit",
        "--log",
        str(log_file),
        "--org",
        org,
        "--chain",
        anvil.url,
        "--json",
        expect=1,
    )
    findings = json.loads(audit.stdout)["findings"]
    assert [(f["event"], f["kind"]) for f in findings] == [(stolen, "author-revoked")]
    assert json.loads(audit.stdout)["publishers"] == [org, rotated["new"]]

    # The whole-log audit follows the log across the publisher keys.
    full = okeios(
        verifier,
        "audit",
        "--log",
        str(log_file),
        "--publisher",
        org,
        "--chain",
        anvil.url,
        "--json",
    )
    assert json.loads(full.stdout)["result"] == "pass"

    # Without the key history the verifier says what is missing.
    missing = okeios(verifier, "verify", str(bundle), "--chain", anvil.url, "--json", expect=1)
    assert json.loads(missing.stdout)["verdicts"]["authenticity"]["reason"] == (
        "authorisations-missing"
    )


def test_authors_options_go_before_or_after_the_verb(tmp_path: Path) -> None:
    """``--json`` and ``--home`` of ``okeios authors VERB`` work on either side of VERB (the
    sub-verb does not reset what the parent verb was given); a bad address exits 2."""
    home = tmp_path / "home"
    okeios(home, "init")
    nurse = LocalSigner.generate().address
    okeios(home, "authors", "add", nurse, "--role", "nurse", "--json")
    for args in (("authors", "--json", "list"), ("authors", "list", "--json")):
        listed = json.loads(okeios(tmp_path / "elsewhere", "--home", str(home), *args).stdout)
        assert [(r["key"], r["role"], r["state"]) for r in listed["authors"]] == [
            (nurse, "nurse", "authorised")
        ]
    assert "nurse" in okeios(home, "authors", "list").stdout
    okeios(home, "authors", "add", "0x1234", "--role", "nurse", expect=2)


def test_authors_export_writes_its_file_whole_or_refuses_first(tmp_path: Path) -> None:
    """``authors export -o`` goes through the one atomic writer: a missing folder is refused
    before the store is read, a folder as the output is refused in one line, and the file
    written is the whole key history."""
    home = tmp_path / "home"
    run_cli(home, "init", "--no-passphrase")
    record = tmp_path / "record.json"
    record.write_bytes(synthetic_records(1)[0])
    run_cli(home, "add", str(record))
    missing = run_cli(home, "authors", "export", "-o", str(tmp_path / "no" / "k.json"), expect=2)
    assert "does not exist" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    folder = tmp_path / "a-folder"
    folder.mkdir()
    refused = run_cli(home, "authors", "export", "-o", str(folder), expect=2)
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "Traceback" not in refused.stderr
    out = tmp_path / "keys.json"
    run_cli(home, "authors", "export", "-o", str(out))
    printed = run_cli(home, "authors", "export").stdout
    assert out.read_text() == printed
    assert json.loads(out.read_text())
