"""Lineage: a record's events must form one unbroken, ordered, unforked chain.

Pure checks over already-decoded events in log order. Each record's first event is a CREATE
or DERIVE with no ``previous``; every later event names the record's immediately preceding
event as ``previous``; an AMEND raises the version by one and other kinds keep it. What breaks
that is named:

``fork``            two events claim the same predecessor
``missing-entry``   an event's predecessor is not in the log (a gap)
``reordered``       an event appears in the log before its predecessor
``duplicate-entry`` the same event appears twice
``bad-version``     the version does not follow the rules above
``bad-start``       a record starts with anything but CREATE/DERIVE, or restarts
``missing-source``  a DERIVE names a source event that is not in the log (checked where the
                    whole log is at hand: the audit; a record's own bundles need not hold the
                    sources of a DERIVE)
``time-reversed``   an event claims an earlier time than its predecessor (more than
                    ``order_tolerance`` seconds earlier; 0 by default: times never decrease)
``after-erase``     an event follows the record's ERASE (ERASE is terminal)

Identity events (``authorise``, ``deauthorise``, ``handover``) form the same kind of chain per
key: one with no ``previous`` starts it. Every defect kind is a member of
:class:`~okeios._internal.verify.report.Reason`, the one vocabulary of bundle, lineage and audit.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from okeios._internal.protocol.anchors import ChainView
from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.chainrules import advance, starts_chain
from okeios._internal.protocol.commitment import disclosures_conflict
from okeios._internal.protocol.events import EventKind, SignedEvent
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.kinds import ACCESS_KINDS
from okeios._internal.verify.bundle import Authorities, verify_bundle
from okeios._internal.verify.finding import Finding
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Property, Reason, Report, Status, Verdict, _fail, _pass
from okeios.errors import PolicyError

__all__ = [
    "ORDER_TOLERANCE",
    "LineageReport",
    "check_lineage",
    "verify_lineage",
]

ORDER_TOLERANCE = 0
"""How many seconds an event may claim to precede its predecessor: none. Every author signs
its own clock reading, and an event dated before the one it follows (an ACCESS dated before
the REVOKE it was logged after) is exactly what lineage must refuse."""


def _finding(
    kind: Reason, index: int, record_id: bytes, detail: str, since: int | None = None
) -> Finding:
    return Finding(kind, index, detail, record_id=record_id, since=since)


def check_lineage(
    entries: Sequence[tuple[int, SignedEvent]],
    *,
    sources: bool = True,
    order_tolerance: int = ORDER_TOLERANCE,
) -> list[Finding]:
    """Check the lineage of every record among ``entries`` (``(log index, event)``, in log
    order); return the defects found, in log order. ``sources=False`` skips the check that a
    DERIVE's sources are among ``entries`` (they are other records' events)."""
    if order_tolerance < 0:
        raise PolicyError("the order tolerance is a number of seconds, at least 0")
    defects: list[Finding] = []
    position: dict[bytes, int] = {}
    for index, signed in entries:
        if signed.id in position:
            defects.append(
                _finding(
                    Reason.DUPLICATE_ENTRY,
                    index,
                    signed.event.record_id,
                    f"event {to_hex(signed.id)} was already logged at index {position[signed.id]}",
                )
            )
        else:
            position[signed.id] = index
    by_id = {s.id: s for _, s in entries}
    heads: dict[bytes, SignedEvent] = {}
    claimed: dict[bytes, int] = {}
    seen: set[bytes] = set()
    for index, signed in entries:
        e = signed.event
        rid = e.record_id
        if signed.id in seen:
            continue  # reported above as a duplicate
        seen.add(signed.id)
        if starts_chain(e):
            head = heads.get(rid)
            for step in advance(head.event if head is not None else None, e):
                defects.append(_finding(step.rule, index, rid, step.detail))
            for source in e.sources if sources else ():
                if source not in by_id:
                    defects.append(
                        _finding(
                            Reason.MISSING_SOURCE,
                            index,
                            rid,
                            f"derived from {to_hex(source)}, which is not in the log",
                        )
                    )
            heads[rid] = signed
            continue
        previous = e.previous
        if previous in claimed:
            defects.append(
                _finding(
                    Reason.FORK,
                    index,
                    rid,
                    f"event {to_hex(signed.id)} and the event at index {claimed[previous]} both "
                    f"claim {to_hex(previous)} as their predecessor",
                )
            )
            continue
        claimed[previous] = index
        prior = by_id.get(previous)
        if prior is None:
            last = position.get(heads[rid].id, -1) if rid in heads else -1
            defects.append(
                _finding(
                    Reason.MISSING_ENTRY,
                    index,
                    rid,
                    f"the predecessor {to_hex(previous)} of this {e.kind} is not in the log "
                    f"(it belongs between index {last} and {index})",
                    since=last + 1,
                )
            )
            heads[rid] = signed
            continue
        if position[previous] > index:
            defects.append(
                _finding(
                    Reason.REORDERED,
                    index,
                    rid,
                    f"this {e.kind} comes before its predecessor (index {position[previous]})",
                )
            )
            continue
        if rid not in heads:
            defects.append(
                _finding(Reason.BAD_START, index, rid, "the predecessor belongs to another record")
            )
            continue
        steps = advance(prior.event, e, tolerance=order_tolerance)
        for step in steps:
            detail = step.detail
            if step.rule is Reason.AFTER_ERASE:
                detail += f" (index {position[previous]})"
            defects.append(_finding(step.rule, index, rid, detail))
        if any(step.rule is Reason.BAD_START for step in steps):
            continue
        heads[rid] = signed
    defects.sort(key=lambda d: -1 if d.index is None else d.index)
    return defects


def _iso(t: int) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _access_summary(events: list[Any]) -> str:
    """Who was granted access and when, revocations, reads and erasure, in order."""

    def when(t: int) -> str:
        return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    parts = []
    for e in events:
        if e.kind in ACCESS_KINDS:
            parts.append(f"{e.kind} {e.subject} at {when(e.time)}")
        elif e.kind is EventKind.ERASE:
            parts.append(f"erased at {when(e.time)}")
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class LineageReport:
    """The lineage verdict of one record's events, and the report of each event's bundle."""

    record_id: bytes
    verdict: Verdict
    reports: tuple[Report, ...]

    @property
    def outcome(self) -> Status:
        """``FAIL`` if the lineage or an event's bundle failed; else ``UNDECIDED`` if the
        lineage or a bundle could not be decided (a chain that cannot be read, a required
        property not checked); else ``PASS``."""
        statuses = [self.verdict.status, *(r.outcome for r in self.reports)]
        if Status.FAIL in statuses:
            return Status.FAIL
        if self.verdict.status is Status.UNDECIDED or Status.UNDECIDED in statuses[1:]:
            return Status.UNDECIDED
        return Status.PASS

    @property
    def passed(self) -> bool:
        return self.outcome is Status.PASS

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": str(self.outcome),
            "record": to_hex(self.record_id),
            "lineage": self.verdict.to_dict(),
            "events": [r.to_dict() for r in self.reports],
        }


def verify_lineage(
    bundles: Iterable[Bundle | bytes],
    policy: TrustPolicy,
    *,
    chain: ChainView | None = None,
    tolerance: int = 24 * 3600,
    order_tolerance: int = ORDER_TOLERANCE,
    authorities: Authorities = None,
) -> LineageReport:
    """Reconstruct a record's history from the bundles of its events and check every step:
    each event signed by an allowed author, included (and anchored, given a chain) in its
    publisher's one log, in order, no fork, no gap, no event after an ERASE, times that never
    decrease along the chain (``order_tolerance``), no event claiming a time more than
    ``tolerance`` seconds before the anchor that proves it, and no two bundles of one event
    disclosing different values for a path (``equivocation``). ``authorities`` is the
    authorisation state of the logs of organisations the policy pins (``docs/identity.md``)."""

    p = Property.LINEAGE
    decoded = [b if isinstance(b, Bundle) else Bundle.load(bytes(b)) for b in bundles]
    if not decoded:
        raise PolicyError("verify_lineage needs at least one bundle")
    decoded.sort(key=lambda b: b.inclusion.index)
    reports = tuple(verify_bundle(b, policy, chain=chain, authorities=authorities) for b in decoded)
    record_id = decoded[0].event.event.record_id

    def result(verdict: Verdict) -> LineageReport:
        return LineageReport(record_id, verdict, reports)

    if len({b.event.event.record_id for b in decoded}) != 1:
        return result(_fail(p, Reason.MIXED_RECORDS, "the bundles are about several records"))
    if len({b.event.event.log_id for b in decoded}) != 1:
        return result(
            _fail(
                p,
                Reason.MIXED_LOGS,
                "the bundles come from several logs: one record lives in exactly one log",
            )
        )
    by_event: dict[bytes, list[Bundle]] = {}
    for b in decoded:
        by_event.setdefault(b.event.id, []).append(b)
    for same in by_event.values():
        if len(same) < 2:
            continue
        conflict = disclosures_conflict(
            [(f.tokens, f.value) for f in b.disclosure.fields] for b in same
        )
        if conflict is not None:
            return result(
                _fail(
                    p,
                    Reason.EQUIVOCATION,
                    f"two bundles of the {same[0].event.event.kind} {to_hex(same[0].event.id)} "
                    f"disagree: {conflict}; its author committed to two documents",
                )
            )
    wanted = (Property.AUTHENTICITY, Property.INCLUSION, Property.ANCHORING)
    for b, r in zip(decoded, reports, strict=True):
        for v in r.verdicts:
            if v.property in wanted and v.status is Status.FAIL:
                # A second history is named as such, not as one more unverified event.
                named = v.reason is Reason.LOG_NOT_BOUND
                return result(
                    _fail(
                        p,
                        Reason.LOG_NOT_BOUND if named else Reason.EVENT_UNVERIFIED,
                        f"the {b.event.event.kind} at index {b.inclusion.index}: {v.property} "
                        f"failed ({v.reason})",
                    )
                )
    defects = check_lineage(
        [(b.inclusion.index, b.event) for b in decoded],
        sources=False,
        order_tolerance=order_tolerance,
    )
    if defects:
        first = defects[0]
        return result(_fail(p, first.kind, first.detail))
    for b, r in zip(decoded, reports, strict=True):
        if r.anchored_time is not None and r.anchored_time - b.event.event.time > tolerance:
            return result(
                _fail(
                    p,
                    Reason.BACKDATED,
                    f"the {b.event.event.kind} at index {b.inclusion.index} claims a time "
                    f"{r.anchored_time - b.event.event.time} s before the anchor that proves it",
                )
            )
    versions = [b.event.event.version for b in decoded]
    detail = (
        f"{len(decoded)} events ({', '.join(str(b.event.event.kind) for b in decoded)}), "
        f"versions {versions[0]}..{versions[-1]}, signed, included, in order, no fork, no gap"
    )
    access = _access_summary([b.event.event for b in decoded])
    if access:
        detail += "; " + access
    if chain is None:
        return result(Verdict(p, Status.PASS, None, detail + "; anchors not checked (no chain)"))
    unread = [
        (b, v)
        for b, r in zip(decoded, reports, strict=True)
        for v in r.verdicts
        if v.property is Property.ANCHORING and v.status is Status.UNDECIDED
    ]
    if unread:
        b, v = unread[0]
        return result(
            Verdict(
                p,
                Status.UNDECIDED,
                v.reason,
                f"{detail}; the anchor of the {b.event.event.kind} at index {b.inclusion.index} "
                f"could not be checked: {v.detail}",
            )
        )
    return result(_pass(p, detail + ", anchored in time"))
