"""The record verbs from the shell: add by identity (NDJSON too), records, show, amend,
derive and check, one `okeios` process each."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.helpers import run_cli

okeios = run_cli


def _obs(i: int, status: str = "preliminary") -> dict[str, object]:
    return {"resourceType": "Observation", "id": f"o{i}", "status": status, "code": {"text": "x"}}


def test_records_show_amend_derive_check(tmp_path: Path) -> None:
    home = tmp_path / "home"
    okeios(home, "init")
    bulk = tmp_path / "Observation.ndjson"
    bulk.write_text("\n".join(json.dumps(_obs(i)) for i in range(3)) + "\n")
    added = json.loads(okeios(home, "add", str(bulk), "--json").stdout)
    assert [r["status"] for r in added["results"]] == ["created"] * 3
    assert [r["resource"] for r in added["results"]] == [
        "Observation/o0",
        "Observation/o1",
        "Observation/o2",
    ]

    # The same export again, with one resource corrected: one AMEND, two no-ops that say so.
    bulk.write_text(
        "\n".join(json.dumps(_obs(i, "final" if i == 1 else "preliminary")) for i in range(3))
    )
    again = json.loads(okeios(home, "add", str(bulk), "--json").stdout)
    assert [r["status"] for r in again["results"]] == ["unchanged", "amended", "unchanged"]
    assert again["results"][1]["record"] == added["results"][1]["record"]
    text = okeios(home, "add", str(bulk)).stdout
    assert text.count("unchanged") == 3

    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps({"resourceType": "Patient", "id": "p1", "gender": "female"}))
    okeios(home, "add", str(patient))
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(_obs(2, "amended")))
    amended = json.loads(okeios(home, "amend", "Observation/o2", str(fixed), "--json").stdout)
    assert amended["version"] == 2
    wrong = okeios(home, "amend", "Patient/p1", str(fixed), expect=2)
    assert "this resource is Observation/o2" in wrong.stderr

    trend = tmp_path / "trend.json"
    trend.write_text(json.dumps({"resourceType": "Observation", "id": "trend", "status": "final"}))
    derived = json.loads(
        okeios(
            home,
            "derive",
            str(trend),
            "--from",
            "Observation/o1",
            "--from",
            "Observation/o2",
            "--json",
        ).stdout
    )
    assert len(derived["sources"]) == 2

    listing = json.loads(okeios(home, "records", "--type", "Observation", "--json").stdout)
    assert [(r["id"], r["version"]) for r in listing["records"]] == [
        ("o0", 1),
        ("o1", 2),
        ("o2", 2),
        ("trend", 1),
    ]
    (one,) = json.loads(
        okeios(home, "records", "--type", "Patient", "--id", "p1", "--json").stdout
    )["records"]
    assert one["lastEvent"] == "create"
    assert json.loads(okeios(home, "records", "--last", "derive", "--json").stdout)["count"] == 1

    shown = json.loads(okeios(home, "show", "Observation/o1", "--json").stdout)
    assert shown["content"]["status"] == "final"
    assert shown["versions"] == 2
    first = json.loads(okeios(home, "show", "Observation/o1", "--version", "1", "--json").stdout)
    assert first["content"]["status"] == "preliminary"

    assert json.loads(okeios(home, "check", "--json").stdout) == {
        "result": "pass",
        "size": 7,
        "problems": [],
    }
    # Tamper with one stored tree node: the explicit check finds it.
    db = sqlite3.connect(home / "store.sqlite")
    db.execute("UPDATE nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 0")
    db.commit()
    db.close()
    bad = json.loads(okeios(home, "check", "--json", expect=1).stdout)
    assert bad["result"] == "fail"
    assert any("node (1, 0)" in p for p in bad["problems"])
