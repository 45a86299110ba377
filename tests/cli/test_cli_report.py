"""``okeios audit --html/--pdf`` and ``okeios report RECORD_ID`` from the shell, on the
embedded chain: the files are written, the exit codes are 0 pass / 1 fail / 2 undecided, and
nothing readable from the records appears in a report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.report import find_chromium
from tests.helpers import run_cli as okeios

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="needs Chromium for PDF")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("cli-report")
    home = tmp / "home"
    okeios(home, "init")
    records = tmp / "records.json"
    labs = synthetic_records(6, seed=9)
    entries = ",".join('{"resource":' + r.decode() + "}" for r in labs)
    records.write_text('{"resourceType":"Bundle","type":"collection","entry":[' + entries + "]}")
    ids = json.loads(okeios(home, "add", str(records), "--json").stdout)["records"]
    okeios(home, "anchor", "--chain", "embedded")
    key = tmp / "reader.json"
    reader = json.loads(okeios(home, "recipient", "-o", str(key), "--json").stdout)
    okeios(home, "grant", ids[1], "--recipient", reader["binding"], "-o", str(tmp / "share.json"))
    okeios(home, "access", ids[1], "--reader", reader["address"], "--purpose", "second opinion")
    okeios(home, "revoke", ids[1], "--recipient", reader["address"])
    okeios(home, "erase", ids[2], "--purpose", "patient request", "--yes")
    okeios(home, "anchor", "--chain", "embedded")
    log = tmp / "log.jsonl"
    okeios(home, "log", "-o", str(log))
    publisher = json.loads((home / "trust.json").read_text())["publishers"][0]
    return {
        "home": str(home),
        "tmp": str(tmp),
        "log": str(log),
        "publisher": publisher,
        "shared": ids[1],
        "erased": ids[2],
        "reader": reader["address"],
        "value": json.loads(labs[1])["valueQuantity"]["value"].__str__(),
    }


def _audit(home: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`okeios audit` of the fixture's log and publisher, with ``args``; it must exit 0."""
    return okeios(
        home["home"], "audit", "--log", home["log"], "--publisher", home["publisher"], *args
    )


def test_audit_writes_html(home: dict[str, str]) -> None:
    out = Path(home["tmp"]) / "audit.html"
    done = _audit(home, "--chain", "embedded", "--html", str(out))
    assert "PASS" in done.stdout
    page = out.read_text()
    assert 'id="verdict">PASS<' in page
    assert home["reader"] in page or home["reader"][:10] in page
    assert "Erasure certificate" in page


def test_audit_without_chain_says_anchors_were_not_checked(home: dict[str, str]) -> None:
    out = Path(home["tmp"]) / "audit-offline.html"
    # the rule of every command: exits 0, with "not checked: anchoring" said
    _audit(home, "--html", str(out))
    page = out.read_text()
    assert "The chain was not read" in page
    assert "no-chain" in page  # one name for one situation, as verify says it


@needs_chromium
def test_audit_writes_pdf(home: dict[str, str]) -> None:
    out = Path(home["tmp"]) / "audit.pdf"
    _audit(home, "--chain", "embedded", "--pdf", str(out))
    assert out.read_bytes()[:5] == b"%PDF-"


def test_report_of_a_shared_record(home: dict[str, str]) -> None:
    page = Path(home["tmp"]) / "record.html"
    done = okeios(
        home["home"], "report", home["shared"], "--chain", "embedded", "--json", "--html", str(page)
    )
    summary = json.loads(done.stdout)
    assert summary["result"] == "pass"
    assert summary["lineage"]["result"] == "pass"
    assert [e["kind"] for e in summary["events"]] == ["create", "grant", "access", "revoke"]
    assert all("block" in e for e in summary["events"])  # every event anchored, chain-checked
    assert summary["activeGrants"] == []  # revoked
    assert [a["reader"] for a in summary["access"]] == [home["reader"]]
    assert summary["access"][0]["purpose"] == "second opinion"
    assert all(e["time"].endswith("+00:00") for e in summary["events"])
    html = page.read_text()
    assert "History of your " in html  # named by its FHIR type and id (Type/id known)
    # The report shows the history, never the record's content.
    assert home["value"] not in json.dumps(summary)
    assert "valueQuantity" not in html


def test_report_of_an_erased_record(home: dict[str, str]) -> None:
    done = okeios(home["home"], "report", home["erased"], "--json")
    summary = json.loads(done.stdout)
    assert summary["erased"] is True
    assert summary["result"] == "pass"  # offline: signatures, inclusion, order
    [erasure] = summary["erasure"]
    assert erasure["after"] == []
    text = okeios(home["home"], "report", home["erased"]).stdout
    assert "erased" in text


def test_report_usage_errors_exit_2(home: dict[str, str]) -> None:
    done = okeios(home["home"], "report", "0x" + "ab" * 32, expect=2)
    assert "okeios" in done.stderr
    done = okeios(home["home"], "report", home["shared"], "--registry", "0x" + "11" * 20, expect=2)
    assert "--chain" in done.stderr
