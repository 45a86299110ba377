"""One record's history, the patient's view (``okeios report RECORD_ID``): its versions, who
it was shared with, every access, and its erasure, with the lineage verdict over the proof
bundles of its events.

:func:`record_html` takes the record's events (``(log index, SignedEvent)``, log order) and,
optionally, the result of :func:`okeios._internal.verify.lineage.verify_lineage` over their bundles
(read through its ``to_dict()``), which says whether each event is signed, included and anchored,
and when the anchor was made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from okeios._internal.protocol.events import EventKind, SignedEvent
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.kinds import CONTENT_KINDS
from okeios._internal.report import model
from okeios._internal.report.html import render
from okeios.errors import InputError

__all__ = ["record_context", "record_html", "record_page"]


def _anchors(lineage: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Event id -> where its bundle says (and the chain confirmed) it was anchored."""
    out: dict[str, dict[str, Any]] = {}
    for r in (lineage or {}).get("events") or []:
        anchoring = (r.get("verdicts") or {}).get("anchoring") or {}
        if r.get("anchoredBlock") is not None and anchoring.get("result") == "pass":
            out[str(r.get("event"))] = {
                "treeSize": int(r["treeSize"]),
                "block": int(r["anchoredBlock"]),
                "time": int(r["anchoredTime"]),
            }
    return out


def record_context(
    events: Sequence[tuple[int, SignedEvent]],
    *,
    lineage: Mapping[str, Any] | None = None,
    publisher: str | None = None,
    chain_id: int | None = None,
    registry: str | None = None,
    label: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the record template shows, as plain data. ``label`` names the record for
    its patient (its FHIR ``Type/id`` from the owner's store); the page shows it first."""
    from okeios._internal.report import plots

    if not events:
        raise InputError("a record's history has at least one event")
    record = to_hex(events[0][1].event.record_id)
    anchored = _anchors(lineage)
    timeline = sorted(anchored.values(), key=lambda a: a["treeSize"])
    rows = []
    for index, signed in events:
        e = signed.event
        a = anchored.get(to_hex(signed.id))
        rows.append(
            {
                "index": index,
                "kind": str(e.kind),
                "version": e.version,
                "time": model.iso(e.time),
                "author": e.author,
                "subject": e.subject if e.kind in (EventKind.GRANT, EventKind.REVOKE) else None,
                "purpose": e.purpose,
                "event": to_hex(signed.id),
                "block": None if a is None else a["block"],
                "anchored": None if a is None else model.iso(a["time"]),
            }
        )
    erased = any(s.event.kind is EventKind.ERASE for _, s in events)
    verdict = (lineage or {}).get("lineage") or {}
    return {
        "record": record,
        "label": label,
        "labels": dict(labels or {}),
        "resource_type": label.split("/", 1)[0] if label and "/" in label else None,
        "resource_id": label.split("/", 1)[1] if label and "/" in label else None,
        "publisher": publisher,
        "chain_id": chain_id,
        "registry": registry,
        "result": None if lineage is None else lineage.get("result"),
        "verdict": verdict,
        "chain_checked": bool(anchored) or verdict.get("result") == "fail",
        "erased": erased,
        "version": max(s.event.version for _, s in events),
        "period": model.period_of(events),
        "events": rows,
        "versions": [r for r in rows if r["kind"] in CONTENT_KINDS],
        "lineage_svg": plots.svg(
            plots.lineage_graph(
                [(i, s.event) for i, s in events], title="The record's events in log order"
            )
        ),
        "access": model.access_rows(events),
        "consent": model.consent_view(events),
        "erasures": model.erasure_certificates(events, timeline),
        "row_limit": 5000,
    }


def record_html(
    events: Sequence[tuple[int, SignedEvent]],
    *,
    lineage: Mapping[str, Any] | None = None,
    publisher: str | None = None,
    chain_id: int | None = None,
    registry: str | None = None,
    label: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """One record's history as a self-contained HTML page."""
    context = record_context(
        events,
        lineage=lineage,
        publisher=publisher,
        chain_id=chain_id,
        registry=registry,
        label=label,
        labels=labels,
    )
    return record_page(context)


def record_page(context: Mapping[str, Any]) -> str:
    """The HTML page of a :func:`record_context` (for a caller that also reads the context)."""
    return render("record.html.j2", context)
