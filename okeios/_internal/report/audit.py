"""The audit report: what ``okeios audit --html/--pdf`` writes for an auditor and a
data-protection officer.

:func:`audit_html` takes the result of :func:`okeios._internal.verify.audit.audit_log` (read
through its ``to_dict()``) and the same log file lines, and renders: a summary (verdict, publisher,
chain, registry, period, counts), the anchoring timeline (tree size against dated block time, one
mark per anchor, and a table with the block numbers), events by kind over time, the defects in
words, then access (who read which record, when, why), grants and revocations (the grants in
force per recipient) and erasures (one certificate per erased record).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from okeios._internal.protocol.events import SignedEvent
from okeios._internal.protocol.logfile import read_log
from okeios._internal.report import model
from okeios._internal.report.html import defect_rows, render

__all__ = ["audit_context", "audit_html", "log_entries"]

ROW_LIMIT = 2000  # rows per table; counts always cover everything


class AuditResult(Protocol):
    """What the report reads from an audit result (an
    :class:`~okeios._internal.verify.audit.AuditReport`)."""

    def to_dict(self) -> dict[str, Any]: ...


def log_entries(lines: Iterable[str]) -> list[tuple[int, SignedEvent]]:
    """The decoded entries of a published log file, ``(log index, event)`` in log order
    (lines that do not decode are skipped: the audit reports them)."""
    parsed = read_log(lines)
    return [
        (index, signed) for index, (_, signed, _) in enumerate(parsed.entries) if signed is not None
    ]


def audit_context(
    report: AuditResult,
    lines: Sequence[str],
    *,
    chain_id: int | None = None,
    registry: str | None = None,
    source: str | None = None,
    row_limit: int = ROW_LIMIT,
    chain_url: str | None = None,
    log_sha256: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the audit template shows, as plain data (also useful on its own).

    Evidence of what was audited: ``log_sha256`` (the SHA-256 of the log file's bytes; by
    default of ``lines`` joined as ``okeios log`` writes them), ``chain_url`` (the chain the
    anchors were read from), and the okeios version (in every page's footer)."""
    import hashlib

    from okeios._internal.report import plots

    d = report.to_dict()
    entries = log_entries(lines)
    timeline = list(d.get("timeline") or [])
    counts = dict(d.get("counts") or {})
    by_kind = model.kind_counts(entries)
    anchors = [
        {
            "n": n,
            "treeSize": int(t["treeSize"]),
            "block": int(t["block"]),
            "time": model.iso(int(t["time"])),
            "root": t.get("root"),
        }
        for n, t in enumerate(timeline, 1)
    ]
    access = model.access_rows(entries)
    kinds = {str(k) for k in (d.get("defectCounts") or {})}
    if log_sha256 is None:
        log_sha256 = hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest()
    touched = {int(x["index"]) for x in d.get("defects") or [] if x.get("index") is not None}
    return {
        "result": d.get("result", "fail"),
        "publisher": d.get("publisher"),
        "log_id": d.get("logId"),
        "chain_id": chain_id,
        "registry": registry,
        "source": source,
        "chain_checked": not kinds & {"chain-unavailable", "no-chain"},
        "events_period": model.period_of(entries),
        "anchors_period": model.Period(
            anchors[0]["time"] if anchors else None, anchors[-1]["time"] if anchors else None
        ),
        "counts": counts,
        "by_kind": by_kind,
        "defect_counts": d.get("defectCounts") or {},
        "defects": defect_rows(d.get("defects") or []),
        "anchors": anchors,
        "timeline_svg": plots.svg(plots.anchoring_timeline(timeline, title="")),
        "events_svg": plots.svg(
            plots.events_over_time(
                [(s.event.time, str(s.event.kind)) for _, s in entries], title=""
            )
        ),
        "access": access,
        "readers": model.reader_summaries(access),
        "consent": model.consent_view(entries),
        "erasures": model.erasure_certificates(entries, timeline),
        "row_limit": row_limit,
        "chain_url": chain_url,
        "log_sha256": log_sha256,
        "touched": touched,
        "labels": dict(labels or {}),
    }


def audit_html(
    report: AuditResult,
    lines: Sequence[str],
    *,
    chain_id: int | None = None,
    registry: str | None = None,
    source: str | None = None,
    row_limit: int = ROW_LIMIT,
    chain_url: str | None = None,
    log_sha256: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """The audit report as one self-contained HTML page (see :func:`audit_context`)."""
    context = audit_context(
        report,
        lines,
        chain_id=chain_id,
        registry=registry,
        source=source,
        row_limit=row_limit,
        chain_url=chain_url,
        log_sha256=log_sha256,
        labels=labels,
    )
    return render("audit.html.j2", context)
