"""The reports as a person sees them: rendered by a real headless Chromium.

For a clean log and a tampered copy, the audit report is screenshotted into
``build/report-screenshots/`` (look at them), its layout is measured in the browser (a probe
script added to a test copy of the page reports the positions of the anchor marks, the page
width and the visible text), and it is printed to PDF, whose text must hold every section.

Needs Chromium (``scripts/test`` installs Debian's ``chromium``): without it the tests are
skipped, and under ``CI=true`` they fail.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.chain.registry import RegistryView
from okeios._internal.report import audit_html, find_chromium, html_to_pdf, record_html
from okeios._internal.report.pdf import chromium_command
from okeios._internal.verify.lineage import verify_lineage
from okeios._internal.verify.policy import TrustPolicy
from tests.report.conftest import Published

SHOTS = Path(__file__).resolve().parents[2] / "build" / "report-screenshots"
SECTIONS = [
    "Summary",
    "Anchoring timeline",
    "Events by kind over time",
    "Defects",
    "Access: who read which record",
    "Grants and revocations",
    "Erasures",
]
NOT_SHOWN = re.compile(r"\b(None|null|undefined|NaN|nan)\b")

PROBE = """<script>
(function () {
  var vw = document.documentElement.clientWidth, over = [];
  document.querySelectorAll("body *").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > vw + 0.5 || r.left < -0.5)) {
      over.push(el.tagName + "." + el.className + " right=" + Math.round(r.right));
    }
  });
  var marks = [];
  document.querySelectorAll('#timeline svg g[id^="anchor-"]').forEach(function (g) {
    var r = g.getBoundingClientRect(), t = g.querySelector("title");
    marks.push({x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width,
                title: t ? t.textContent : ""});
  });
  var rows = [];
  document.querySelectorAll("#timeline tr[data-tree-size]").forEach(function (tr) {
    rows.push(Number(tr.getAttribute("data-tree-size")));
  });
  var h2 = [];
  document.querySelectorAll("h2").forEach(function (h) { h2.push(h.textContent); });
  var v = document.getElementById("verdict");
  var out = {viewport: vw, scrollWidth: document.documentElement.scrollWidth, overflow: over,
             marks: marks, rows: rows, sections: h2, verdict: v ? v.textContent : "",
             text: document.body.innerText};
  var pre = document.createElement("pre");
  pre.id = "okeios-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        message = "the browser tests need Chromium (apt-get install chromium; scripts/test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _browser(chromium: str, tmp: Path, *args: str) -> str:
    command = chromium_command(tmp / "profile", *args, chromium=chromium)
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def _probe(chromium: str, page: str, tmp: Path, width: int) -> dict[str, Any]:
    probed = tmp / f"probe-{width}.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _browser(
        chromium,
        tmp,
        f"--window-size={width},900",
        "--virtual-time-budget=3000",
        "--dump-dom",
        probed.as_uri(),
    )
    found = re.search(r'<pre id="okeios-probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run"
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


def _screenshot(chromium: str, page: str, tmp: Path, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    source = tmp / f"{name}.html"
    source.write_text(page, encoding="utf-8")
    (SHOTS / f"{name}.html").write_text(page, encoding="utf-8")
    shot = SHOTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    _browser(
        chromium,
        tmp,
        "--window-size=1200,4000",
        "--hide-scrollbars",
        f"--screenshot={shot}",
        source.as_uri(),
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    return shot


def _page(published: Published, lines: list[str]) -> tuple[str, Any]:
    report = published.audit(lines)
    page = audit_html(
        report,
        lines,
        chain_id=published.registry.chain_id,
        registry=published.registry.address,
        source="ward-7.log",
    )
    return page, report


def _check_page(probe: dict[str, Any], published: Published, anchors: int) -> None:
    text = probe["text"]
    # No horizontal overflow: nothing sticks out of the viewport, no sideways scrolling.
    assert probe["scrollWidth"] <= probe["viewport"], probe["overflow"][:10]
    assert probe["overflow"] == []
    # The summary comes first and names what the auditor trusts.
    assert probe["sections"][: len(SECTIONS)] == SECTIONS
    assert published.store.address in text
    assert published.registry.address in text
    assert str(published.registry.chain_id) in text
    # The timeline: one mark per anchor, left to right in time, higher for a larger tree.
    marks = probe["marks"]
    assert len(marks) == anchors == len(probe["rows"])
    assert probe["rows"] == sorted(probe["rows"])
    assert len(set(probe["rows"])) == anchors
    xs = [m["x"] for m in marks]
    ys = [m["y"] for m in marks]
    assert all(a < b for a, b in itertools.pairwise(xs)), xs
    assert all(a > b for a, b in itertools.pairwise(ys)), ys  # screen y grows downwards
    assert ys[0] - ys[-1] > 100, "the marks should span the plot's height"
    assert all(m["w"] > 0 for m in marks)
    assert all(m["title"].startswith("tree size ") and "block" in m["title"] for m in marks)
    # Times with their zone; nothing printed as None/null/NaN.
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", text)
    assert not NOT_SHOWN.search(text), NOT_SHOWN.search(text)


def _self_contained(page: str) -> None:
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page
    # url() only for in-page references (clip paths of the figures), never for a resource.
    assert all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", page))


def _render_and_probe(
    chromium: str, published: Published, lines: list[str], tmp_path: Path, width: int, name: str
) -> tuple[dict[str, Any], Any]:
    """The audit page of ``lines``: checked self-contained, shot (at 1200 px) as ``name``,
    probed at ``width`` and checked for what every report shows; the probe and the report."""
    page, report = _page(published, lines)
    _self_contained(page)
    if width == 1200:
        _screenshot(chromium, page, tmp_path, name)
    probe = _probe(chromium, page, tmp_path, width)
    _check_page(probe, published, anchors=len(report.anchors))
    return probe, report


@pytest.mark.parametrize("width", [1200, 820])
def test_the_clean_report_in_a_browser(
    chromium: str, published: Published, tmp_path: Path, width: int
) -> None:
    probe, report = _render_and_probe(
        chromium, published, published.lines, tmp_path, width, "audit-clean"
    )
    assert report.passed
    assert probe["verdict"] == "PASS"
    text = probe["text"]
    assert "No defect." in text
    # Access, consent and erasure are there for the data-protection officer.
    assert published.reader in text or published.reader[:10] in text
    assert "nothing was granted, read or amended" in text
    assert "No grant is in force" in text


@pytest.mark.parametrize("width", [1200, 820])
def test_the_tampered_report_in_a_browser(
    chromium: str, published: Published, tmp_path: Path, width: int
) -> None:
    probe, report = _render_and_probe(
        chromium, published, published.tampered, tmp_path, width, "audit-tampered"
    )
    assert not report.passed
    assert probe["verdict"] == "FAIL"
    text = probe["text"]
    for kind in ("missing-entry", "history-mismatch", "checkpoint-mismatch"):
        assert kind in text
    assert "an entry was removed from the log" in text  # explained in words
    assert "entries were rewritten after they were anchored" in text
    assert "whole log" in text  # a log-wide defect has no index, and says so
    assert "The audit failed" in text


@pytest.mark.parametrize("which", ["clean", "tampered"])
def test_the_pdf_has_every_section(
    chromium: str, published: Published, tmp_path: Path, which: str
) -> None:
    from pypdf import PdfReader

    lines = published.lines if which == "clean" else published.tampered
    page, _ = _page(published, lines)
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = html_to_pdf(page, SHOTS / f"audit-{which}.pdf", chromium=chromium)
    reader = PdfReader(str(out))
    assert len(reader.pages) >= 2
    text = " ".join(p.extract_text() or "" for p in reader.pages)
    flat = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text))  # ligatures: "ﬁ" -> "fi"
    for section in SECTIONS:
        assert section in flat, section
    assert ("PASS" if which == "clean" else "FAIL") in flat
    assert published.store.address in flat
    assert "Erasure certificate" in flat
    assert not NOT_SHOWN.search(flat)


def test_the_record_history_in_a_browser(
    chromium: str, published: Published, tmp_path: Path
) -> None:
    store = published.store
    rid = bytes.fromhex(published.featured[2:])
    logged = [store.publisher.event(eid) for eid in store.event_ids_of(rid)]
    bundles = [store.export("0x" + item.id.hex(), fields=()) for item in logged]
    policy = TrustPolicy(
        authors=[store.address],
        publishers=[store.address],
        chain_id=published.registry.chain_id,
        registry=published.registry.address,
    )
    lineage = verify_lineage(bundles, policy, chain=RegistryView(published.registry.w3))
    assert lineage.passed
    page = record_html(
        [(item.index, item.signed) for item in logged],
        lineage=lineage.to_dict(),
        publisher=store.address,
        chain_id=published.registry.chain_id,
        registry=published.registry.address,
    )
    _self_contained(page)
    _screenshot(chromium, page, tmp_path, "record-featured")
    probe = _probe(chromium, page, tmp_path, 820)
    assert probe["scrollWidth"] <= probe["viewport"], probe["overflow"][:10]
    assert probe["verdict"] == "PASS"
    text = probe["text"]
    assert probe["sections"] == [
        "Summary",
        "Versions",
        "Shared with",
        "Every access",
        "Erasure",
        "All events",
    ]
    assert "current version 3" in text
    assert "block " in text  # anchors confirmed on the chain are shown
    assert "No record was erased." in text
    assert not NOT_SHOWN.search(text)


def test_reports_filed_as_evidence(chromium: str, published: Published, tmp_path: Path) -> None:
    """What an auditor files (issue 25, item 13): the audited log's SHA-256, the okeios version
    and the chain read; the kinds as a table; rows a defect names marked; page numbers and no
    heading left alone at a page's foot in the PDF; the patient's page names the record by its
    FHIR type and id. Screenshots: build/report-screenshots/evidence-*.png (look at them)."""
    import hashlib

    from pypdf import PdfReader

    from okeios._internal.report import log_entries
    from okeios._internal.report.html import okeios_version
    from okeios._internal.report.model import access_rows, consent_view

    lines = published.tampered
    report = published.audit(lines)
    page = audit_html(
        report,
        lines,
        chain_id=published.registry.chain_id,
        registry=published.registry.address,
        source="ward-7.log",
        chain_url="https://rpc.example:8545",
    )
    _self_contained(page)
    _screenshot(chromium, page, tmp_path, "evidence-audit")
    probe = _probe(chromium, page, tmp_path, 1200)
    text = probe["text"]
    sha = hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest()
    assert sha in text
    assert "https://rpc.example:8545" in text
    assert f"okeios {okeios_version()}" in text
    assert probe["scrollWidth"] <= probe["viewport"], probe["overflow"][:10]
    kinds = {str(s.event.kind) for _, s in log_entries(lines)}
    assert all(re.search(rf"^{k}\t\d+$", text, re.M) for k in kinds), text[:2000]  # a table row
    touched = {d.index for d in report.defects if d.index is not None}
    entries = log_entries(lines)
    shown = {r.index for r in access_rows(entries)} | {
        c.index for c in consent_view(entries).changes
    }
    assert touched & shown  # the entry after the dropped correction is named by a defect
    assert page.count('<tr class="defect"') == len(touched & shown)

    out = html_to_pdf(page, SHOTS / "evidence-audit.pdf", chromium=chromium)
    pages = [p.extract_text() or "" for p in PdfReader(str(out)).pages]
    assert len(pages) >= 2
    for n, body in enumerate(pages, 1):
        assert f"page {n} of {len(pages)}" in body, body[-200:]
        last = [line for line in body.splitlines() if line.strip()][-2:]
        assert not any(line.strip() in SECTIONS for line in last), last  # no orphaned heading

    store = published.store
    rid = bytes.fromhex(published.featured[2:])
    logged = [store.publisher.event(eid) for eid in store.event_ids_of(rid)]
    label = "Observation/obs-0000"
    record_page = record_html(
        [(item.index, item.signed) for item in logged],
        lineage=None,
        publisher=store.address,
        label=label,
    )
    _screenshot(chromium, record_page, tmp_path, "evidence-record")
    probe = _probe(chromium, record_page, tmp_path, 820)
    assert "History of your Observation obs-0000" in probe["text"]
    assert label in probe["text"]
    assert "logged read" in probe["text"]
