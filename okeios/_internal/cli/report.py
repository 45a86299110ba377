"""``okeios report RECORD_ID``: one record's history for its patient, and the audit report
files of ``okeios audit --html/--pdf``.

The record's events come from the local store; each one's proof bundle (disclosing no field:
the report shows no health data) is verified with
:func:`~okeios._internal.verify.lineage.verify_lineage` against the trusted authors and publishers
of ``trust.json`` (the store's own key when none is pinned) and, with ``--chain``, against the
anchors. Exit codes as for every verb: 0 the lineage verdict passed, 1 it failed, 2 could not
decide (bad input, unreachable chain, missing tool).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from okeios._internal.files import write_atomic
from okeios.errors import AccessError

__all__ = ["chain_facts", "configure_report_parser", "run_report", "write_audit_report"]


def configure_report_parser(p: argparse.ArgumentParser) -> None:
    """The ``report`` verb's arguments (``--json`` and ``--home`` are added by main)."""
    from okeios._internal.cli.options import RECORD_HELP

    p.add_argument("record_id", metavar="RECORD_ID", help=RECORD_HELP)
    p.add_argument("--html", metavar="FILE", help="write the history as an HTML page")
    p.add_argument("--pdf", metavar="FILE", help="write it as PDF (needs Chromium)")
    from okeios._internal.cli.options import chain_options

    chain_options(p)  # the chain flags and their help, as every verb that reads a chain
    from okeios._internal.cli.identity import add_verify_options

    add_verify_options(p)  # --org, --role, --keys: organisation trust, as okeios verify


def chain_facts(registry: Any) -> tuple[int | None, str | None]:
    """The chain id and address of the registry an audit read (None, None without one, or
    when the chain cannot say: the audit then reports chain-unavailable)."""
    from okeios.errors import ChainError

    if registry is None:
        return None, None
    try:
        return int(registry.chain_id), str(registry.address)
    except ChainError:
        return None, str(registry.address)


def write_audit_report(
    report: Any,
    lines: Sequence[str],
    *,
    html: str | None,
    pdf: str | None,
    chain_id: int | None,
    registry: str | None,
    source: str | None,
    chain_url: str | None = None,
    log_sha256: str | None = None,
    labels: Any = None,
) -> None:
    """Write the audit report's HTML page and/or PDF."""
    from okeios._internal.report import audit_html, html_to_pdf

    page = audit_html(
        report,
        lines,
        chain_id=chain_id,
        registry=registry,
        source=source,
        chain_url=chain_url,
        log_sha256=log_sha256,
        labels=labels,
    )
    if html:
        write_atomic(html, page.encode("utf-8"))
    if pdf:
        html_to_pdf(page, pdf)


def run_report(args: argparse.Namespace, home: Path) -> int:
    from okeios._internal.chain.connect import open_chain
    from okeios._internal.cli.identity import load_authorities, organisations
    from okeios._internal.cli.options import resolve_pin
    from okeios._internal.config import TrustConfig
    from okeios._internal.protocol.ids import EventId, parse_ref
    from okeios._internal.publish.store import Store
    from okeios._internal.report import html_to_pdf, record_context, record_page
    from okeios._internal.verify.identity import Authority
    from okeios._internal.verify.lineage import verify_lineage
    from okeios._internal.verify.trust import build_policy

    ref = parse_ref(args.record_id)
    pin = resolve_pin(args, home)
    trust = TrustConfig.load(home)
    with Store.open(home) as store:
        record_id = store.find_event(ref).record_id
        label = store.identities.label(record_id)
        logged = [store.publisher.event(eid) for eid in store.event_ids_of(record_id)]
        bundles = []
        for item in logged:
            event = EventId(item.id)
            try:
                bundles.append(store.export(event, fields=()))
            except AccessError:  # erased: the bundle holds digests only
                bundles.append(store.export(event, reveal_all=True))
        publisher = store.address
        events = [(item.index, item.signed) for item in logged]
        organisation = store.keys.organisation
        own = Authority.from_events(
            organisation,
            ((item.index, item.signed) for item in store.keys.events()),
            size=store.size,
        )
    policy = build_policy(
        trust,
        authors=trust.authors or [publisher],
        publishers=trust.publishers or [publisher],
        organisations=organisations(args, trust),
        chain_id=pin.chain_id if pin else None,
        registry=pin.registry if pin else None,
        confirmations=args.confirmations,
    )
    handle = open_chain(args.chain, home) if args.chain else None
    try:
        view = None
        if handle is not None:
            from okeios._internal.chain.registry import RegistryView

            view = RegistryView(handle.w3, label=handle.label)
        authorities = load_authorities(args, policy, view)
        if authorities is None and organisation in policy.organisations:
            authorities = {own.log_id: own}  # the store's own log: complete by construction
        lineage = verify_lineage(bundles, policy, chain=view, authorities=authorities).to_dict()
    finally:
        if handle is not None:
            handle.close()
    context = record_context(
        events,
        lineage=lineage,
        publisher=publisher,
        chain_id=pin.chain_id if pin else None,
        registry=pin.registry if pin else None,
        label=label,
        labels=trust.labels,
    )
    if args.html or args.pdf:
        page = record_page(context)
        if args.html:
            write_atomic(args.html, page.encode("utf-8"))
        if args.pdf:
            html_to_pdf(page, args.pdf)
    summary = _summary(context, lineage)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        sys.stdout.write(_text(summary))
    return {"pass": 0, "fail": 1}.get(str(lineage.get("result")), 2)


def _summary(context: dict[str, Any], lineage: dict[str, Any]) -> dict[str, Any]:
    """The record's history as JSON: no field values, only events and verdicts."""
    consent = context["consent"]
    return {
        "result": lineage.get("result"),
        "record": context["record"],
        "lineage": lineage.get("lineage"),
        "erased": context["erased"],
        "version": context["version"],
        "events": [
            {k: v for k, v in e.items() if v is not None and v != ""} for e in context["events"]
        ],
        "activeGrants": [
            {"recipient": g.recipient, "since": g.since, "purpose": g.purpose}
            for grants in consent.active.values()
            for g in grants
        ],
        "access": [
            {"index": r.index, "time": r.time, "reader": r.reader, "purpose": r.purpose}
            for r in context["access"]
        ],
        "erasure": [
            {
                "index": c.index,
                "time": c.time,
                "event": c.event,
                "anchoredBlock": c.anchored_block,
                "anchoredTime": c.anchored_time,
                "after": list(c.after),
            }
            for c in context["erasures"]
        ],
    }


def _text(s: dict[str, Any]) -> str:
    v = s["lineage"] or {}
    reason = f" [{v['reason']}]" if v.get("reason") else ""
    state = "erased" if s["erased"] else f"version {s['version']}"
    out = [f"record {s['record']}: {state}; lineage {str(s['result']).upper()}{reason}"]
    out.append(f"  {v.get('detail', '')}")
    for e in s["events"]:
        extra = f" -> {e['subject']}" if "subject" in e else ""
        anchored = f"  (block {e['block']})" if "block" in e else ""
        out.append(
            f"  {e['index']:>8}  v{e['version']}  {e['kind']:<7} {e['time']}{extra}"
            f"  {e.get('purpose', '')}{anchored}"
        )
    if s["activeGrants"]:
        out.append("  shared with: " + ", ".join(g["recipient"] for g in s["activeGrants"]))
    else:
        out.append("  shared with: nobody (no grant in force)")
    out.append(f"  reads: {len(s['access'])}")
    return "\n".join(out) + "\n"
