"""What the reports show, as plain data: pure functions over already-decoded events.

Every function here takes ``(log index, SignedEvent)`` pairs in log order (a whole published
log, or one record's events) and returns rows a template can print without further logic:
times are ISO 8601 strings with their zone, absent values are ``None`` (the templates print a
dash, never the word), ids are ``0x``-hex. Nothing here reads files, a store or a chain.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from okeios._internal.protocol.events import EventKind, SignedEvent
from okeios._internal.protocol.hexcodec import to_hex

__all__ = [
    "AccessRow",
    "ActiveGrant",
    "ConsentChange",
    "ErasureCertificate",
    "Period",
    "ReaderSummary",
    "access_rows",
    "consent_view",
    "erasure_certificates",
    "iso",
    "period_of",
    "reader_summaries",
]

Indexed = tuple[int, SignedEvent]


def iso(seconds: int | None) -> str | None:
    """Unix seconds as ISO 8601 in UTC, with its zone (``2026-01-31T09:15:00+00:00``)."""
    if seconds is None:
        return None
    return _dt.datetime.fromtimestamp(seconds, _dt.UTC).isoformat()


@dataclass(frozen=True, slots=True)
class Period:
    """The time a set of events covers (their claimed times)."""

    first: str | None
    last: str | None


def period_of(events: Sequence[Indexed]) -> Period:
    times = [s.event.time for _, s in events]
    return Period(iso(min(times)) if times else None, iso(max(times)) if times else None)


def anchor_for(index: int, timeline: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The first anchor (a timeline row: treeSize, block, time, root) whose tree holds the
    entry at ``index``, or None when it is not anchored yet."""
    for row in timeline:
        if int(row["treeSize"]) > index:
            return row
    return None


@dataclass(frozen=True, slots=True)
class AccessRow:
    """One read of a record: who, which record, when, why."""

    index: int
    time: str | None
    reader: str
    record: str
    version: int
    purpose: str
    event: str
    under_grant: bool  # whether the reader held an active grant on the record at that point


def access_rows(events: Iterable[Indexed]) -> list[AccessRow]:
    """Every ACCESS event in log order, with whether the reader then held a grant."""
    granted: set[tuple[bytes, str]] = set()
    rows: list[AccessRow] = []
    for index, signed in events:
        e = signed.event
        if e.kind is EventKind.GRANT:
            granted.add((e.record_id, e.subject))
        elif e.kind is EventKind.REVOKE:
            granted.discard((e.record_id, e.subject))
        elif e.kind is EventKind.ERASE:
            granted = {g for g in granted if g[0] != e.record_id}
        elif e.kind is EventKind.ACCESS:
            rows.append(
                AccessRow(
                    index=index,
                    time=iso(e.time),
                    reader=e.subject,
                    record=to_hex(e.record_id),
                    version=e.version,
                    purpose=e.purpose,
                    event=to_hex(signed.id),
                    under_grant=(e.record_id, e.subject) in granted,
                )
            )
    return rows


@dataclass(frozen=True, slots=True)
class ReaderSummary:
    reader: str
    reads: int
    records: int
    first: str | None
    last: str | None
    purposes: tuple[str, ...]


def reader_summaries(rows: Sequence[AccessRow]) -> list[ReaderSummary]:
    """Per reader: how many reads, of how many records, first and last, and why."""
    by: dict[str, list[AccessRow]] = defaultdict(list)
    for r in rows:
        by[r.reader].append(r)
    out = []
    for reader, mine in by.items():
        times = [r.time for r in mine if r.time is not None]
        purposes = tuple(sorted({r.purpose for r in mine if r.purpose}))
        out.append(
            ReaderSummary(
                reader=reader,
                reads=len(mine),
                records=len({r.record for r in mine}),
                first=min(times) if times else None,
                last=max(times) if times else None,
                purposes=purposes,
            )
        )
    out.sort(key=lambda s: (-s.reads, s.reader))
    return out


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """A grant or a revocation, in log order."""

    index: int
    time: str | None
    kind: str
    recipient: str
    record: str
    purpose: str
    event: str


@dataclass(frozen=True, slots=True)
class ActiveGrant:
    """A grant still in force at the end of the log: not revoked, record not erased."""

    recipient: str
    record: str
    since: str | None
    purpose: str
    index: int


@dataclass
class ConsentView:
    changes: list[ConsentChange] = field(default_factory=list)
    active: dict[str, list[ActiveGrant]] = field(default_factory=dict)  # recipient -> grants
    ended_by_erasure: int = 0


def consent_view(events: Iterable[Indexed]) -> ConsentView:
    """Grants and revocations in log order, and the grants in force at the end, per recipient
    (an erasure ends every grant on the record)."""
    view = ConsentView()
    live: dict[tuple[bytes, str], ActiveGrant] = {}
    for index, signed in events:
        e = signed.event
        if e.kind in (EventKind.GRANT, EventKind.REVOKE):
            view.changes.append(
                ConsentChange(
                    index,
                    iso(e.time),
                    str(e.kind),
                    e.subject,
                    to_hex(e.record_id),
                    e.purpose,
                    to_hex(signed.id),
                )
            )
            key = (e.record_id, e.subject)
            if e.kind is EventKind.GRANT:
                live[key] = ActiveGrant(
                    e.subject, to_hex(e.record_id), iso(e.time), e.purpose, index
                )
            else:
                live.pop(key, None)
        elif e.kind is EventKind.ERASE:
            ended = [k for k in live if k[0] == e.record_id]
            view.ended_by_erasure += len(ended)
            for k in ended:
                del live[k]
    by: dict[str, list[ActiveGrant]] = defaultdict(list)
    for grant in sorted(live.values(), key=lambda g: g.index):
        by[grant.recipient].append(grant)
    view.active = dict(sorted(by.items()))
    return view


@dataclass(frozen=True, slots=True)
class ErasureCertificate:
    """What the log proves about one erasure."""

    record: str
    index: int
    time: str | None
    event: str
    author: str
    purpose: str
    versions: int  # content versions whose keys and salts were destroyed
    anchored_block: int | None
    anchored_time: str | None
    anchored_size: int | None
    after: tuple[str, ...]  # events of the record logged after the erasure ("grant at 12")

    @property
    def clean(self) -> bool:
        return not self.after


def erasure_certificates(
    events: Sequence[Indexed], timeline: Sequence[Mapping[str, Any]] = ()
) -> list[ErasureCertificate]:
    """One certificate per ERASE: when, by whom, the anchor that fixed it in the history, and
    any event of the record after it (grant, read, amendment: none should exist)."""
    by_record: dict[bytes, list[Indexed]] = defaultdict(list)
    for item in events:
        by_record[item[1].event.record_id].append(item)
    out = []
    for index, signed in events:
        e = signed.event
        if e.kind is not EventKind.ERASE:
            continue
        later = tuple(
            f"{s.event.kind} at index {i}"
            for i, s in by_record[e.record_id]
            if i > index and s.id != signed.id
        )
        proof = anchor_for(index, timeline)
        out.append(
            ErasureCertificate(
                record=to_hex(e.record_id),
                index=index,
                time=iso(e.time),
                event=to_hex(signed.id),
                author=e.author,
                purpose=e.purpose,
                versions=e.version,
                anchored_block=None if proof is None else int(proof["block"]),
                anchored_time=None if proof is None else iso(int(proof["time"])),
                anchored_size=None if proof is None else int(proof["treeSize"]),
                after=later,
            )
        )
    return out


def kind_counts(events: Iterable[Indexed]) -> dict[str, int]:
    """Events per kind, in the protocol's order of kinds."""
    counts = Counter(str(s.event.kind) for _, s in events)
    return {str(k): counts[str(k)] for k in EventKind if counts[str(k)]}
