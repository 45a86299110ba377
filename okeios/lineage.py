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
``missing-source``  a DERIVE names a source event that is not in the log
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .events import EventKind, SignedEvent

__all__ = ["LineageDefect", "check_lineage"]


@dataclass(frozen=True, slots=True)
class LineageDefect:
    """One break in a record's lineage, at a log index."""

    kind: str
    index: int
    record_id: bytes
    detail: str
    since: int | None = None  # the earliest log index the defect can have disturbed


def check_lineage(entries: Sequence[tuple[int, SignedEvent]]) -> list[LineageDefect]:
    """Check the lineage of every record among ``entries`` (``(log index, event)``, in log
    order); return the defects found, in log order."""
    defects: list[LineageDefect] = []
    position: dict[bytes, int] = {}
    for index, signed in entries:
        if signed.id in position:
            defects.append(
                LineageDefect(
                    "duplicate-entry",
                    index,
                    signed.event.record_id,
                    f"event 0x{signed.id.hex()} was already logged at index {position[signed.id]}",
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
        if e.kind in (EventKind.CREATE, EventKind.DERIVE):
            if rid in heads:
                defects.append(
                    LineageDefect(
                        "bad-start",
                        index,
                        rid,
                        f"record 0x{rid.hex()} starts a second time",
                    )
                )
            for source in e.sources:
                if source not in by_id:
                    defects.append(
                        LineageDefect(
                            "missing-source",
                            index,
                            rid,
                            f"derived from 0x{source.hex()}, which is not in the log",
                        )
                    )
            heads[rid] = signed
            continue
        previous = e.previous
        if previous in claimed:
            defects.append(
                LineageDefect(
                    "fork",
                    index,
                    rid,
                    f"event 0x{signed.id.hex()} and the event at index {claimed[previous]} both "
                    f"claim 0x{previous.hex()} as their predecessor",
                )
            )
            continue
        claimed[previous] = index
        prior = by_id.get(previous)
        if prior is None:
            last = position.get(heads[rid].id, -1) if rid in heads else -1
            defects.append(
                LineageDefect(
                    "missing-entry",
                    index,
                    rid,
                    f"the predecessor 0x{previous.hex()} of this {e.kind} is not in the log "
                    f"(it belongs between index {last} and {index})",
                    since=last + 1,
                )
            )
            heads[rid] = signed
            continue
        if position[previous] > index:
            defects.append(
                LineageDefect(
                    "reordered",
                    index,
                    rid,
                    f"this {e.kind} comes before its predecessor (index {position[previous]})",
                )
            )
            continue
        if rid not in heads or prior.event.record_id != rid:
            defects.append(
                LineageDefect(
                    "bad-start",
                    index,
                    rid,
                    "the predecessor belongs to another record",
                )
            )
            continue
        expected = prior.event.version + (1 if e.kind is EventKind.AMEND else 0)
        if e.version != expected:
            defects.append(
                LineageDefect(
                    "bad-version",
                    index,
                    rid,
                    f"version {e.version} after version {prior.event.version} ({e.kind})",
                )
            )
        heads[rid] = signed
    defects.sort(key=lambda d: d.index)
    return defects
