"""The confidentiality commands end to end, one `okeios` process per step: recipient, grant,
decrypt, revoke, disclose, erase and history, with their exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from okeios._internal.cli.demo import synthetic_records
from tests.helpers import run_cli

okeios = run_cli


def test_grant_decrypt_revoke_disclose_erase(tmp_path: Path) -> None:
    home = tmp_path / "home"
    records = synthetic_records(3, seed=9)
    for i, r in enumerate(records):
        (tmp_path / f"r{i}.json").write_bytes(r)
    okeios(home, "init")
    ids = json.loads(
        okeios(home, "add", *(str(tmp_path / f"r{i}.json") for i in range(3)), "--json").stdout
    )["records"]
    lab = ids[1]

    for suite in ("x25519", "mlkem768-x25519"):
        key = tmp_path / f"{suite}.key"
        made = json.loads(
            okeios(home, "recipient", "-o", str(key), "--suite", suite, "--json").stdout
        )
        share = tmp_path / f"{suite}.share.json"
        okeios(
            home,
            "grant",
            lab,
            "--recipient",
            made["binding"],
            "--purpose",
            "study",
            "-o",
            str(share),
        )
        assert b"4548-4" not in share.read_bytes()  # the share holds no readable value
        out = tmp_path / f"{suite}.record.json"
        done = okeios(home, "decrypt", str(share), "--key", str(key), "-o", str(out), "--json")
        report = json.loads(done.stdout)
        assert report["result"] == "pass"
        assert report["verdicts"]["confidentiality"]["result"] == "pass"
        assert json.loads(out.read_bytes()) == json.loads(records[1])
        # Another recipient's key cannot open it: a typed error and exit 2.
        other = tmp_path / f"{suite}.other.key"
        okeios(home, "recipient", "-o", str(other), "--suite", suite)
        done = okeios(home, "decrypt", str(share), "--key", str(other), expect=2)
        assert "DecryptionError" in done.stderr
        okeios(home, "revoke", lab, "--recipient", made["address"], "--purpose", "done")
        done = okeios(home, "revoke", lab, "--recipient", made["address"], expect=2)
        assert "AccessError" in done.stderr

    disclosed = tmp_path / "disclosed.okb"
    done = okeios(
        home, "disclose", lab, "--field", "/valueQuantity/value", "-o", str(disclosed), "--json"
    )
    assert json.loads(done.stdout)["disclosed"] == ["/valueQuantity/value"]
    data = disclosed.read_bytes()
    assert b"4548-4" not in data
    assert b"Hemoglobin" not in data
    done = okeios(home, "verify", str(disclosed), "--show-fields")
    assert "/valueQuantity/value" in done.stdout
    okeios(home, "disclose", lab, "-o", str(disclosed), expect=2)  # no --field: usage

    okeios(home, "erase", ids[2], "--purpose", "patient request", "--yes")
    okeios(home, "erase", ids[2], "--yes", expect=2)
    okeios(home, "disclose", ids[2], "--field", "/status", "-o", str(disclosed), expect=2)
    erased = tmp_path / "erased.okb"
    okeios(home, "export", ids[2], "-o", str(erased))
    report = json.loads(okeios(home, "verify", str(erased), "--json").stdout)
    assert report["kind"] == "erase"
    assert report["result"] == "pass"
    okeios(home, "access", lab, "--reader", "0x" + "ab" * 20, "--purpose", "audit")
    events = json.loads(okeios(home, "history", lab, "--json").stdout)["events"]
    files = []
    for e in events:
        path = tmp_path / f"{e['index']}.okb"
        okeios(home, "export", e["event"], "-o", str(path))
        files.append(str(path))
    lineage = json.loads(okeios(home, "verify", "--lineage", *files, "--json").stdout)
    assert lineage["lineage"]["result"] == "pass"
    done = okeios(home, "verify", "--lineage", files[0], *files[2:], "--json", expect=1)
    assert json.loads(done.stdout)["lineage"]["reason"] == "missing-entry"
    fhir = json.loads(okeios(home, "fhir", lab).stdout)
    assert fhir["resourceType"] == "Bundle"
    assert {e["resource"]["resourceType"] for e in fhir["entry"]} == {"Provenance", "AuditEvent"}
    history = json.loads(okeios(home, "history", lab, "--json").stdout)["events"]
    assert [e["kind"] for e in history] == [
        "create",
        "grant",
        "revoke",
        "grant",
        "revoke",
        "access",
    ]
    assert history[1]["purpose"] == "study"
