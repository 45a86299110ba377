"""What may follow what on a record's chain: one pure state machine for writer and reader.

A record's events form a chain: the first starts it (a CREATE or DERIVE with version 1 and no
previous event, or a key's first identity event), and each later one names its predecessor as
``previous``. :func:`advance` takes the event a new one follows (``None`` when the record has
no chain yet) and the new event, and returns every rule the step breaks, each named by its
:class:`~okeios._internal.protocol.reasons.Reason`. The publisher refuses to write a step that
breaks a rule (``InputError``); lineage and audit report each break as a defect. Rules about the
log rather than one step (a fork, a missing or reordered entry, a duplicate) need the whole log
and stay with the lineage check.

The rules, from the kinds table (:mod:`okeios._internal.protocol.kinds`):

1. a chain starts once: a starting event follows nothing, and a record with a chain cannot
   start again (``bad-start``);
2. an event follows an event of the same record (``bad-start``);
3. nothing follows a terminal kind, ERASE (``after-erase``);
4. the version is the predecessor's plus one for a kind that bumps it (AMEND), the same
   otherwise; an identity event's version numbers the log's identity events, so it only
   grows along a key's chain (``bad-version``);
5. times never decrease along a chain, beyond a tolerance the caller allows
   (``time-reversed``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from okeios._internal.protocol.events import ZERO_HASH, Event
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.kinds import spec
from okeios._internal.protocol.reasons import Reason

__all__ = ["CHAIN_RULES", "Step", "advance", "starts_chain"]

#: The reasons a broken chain rule is named by.
CHAIN_RULES = frozenset(
    {Reason.BAD_START, Reason.AFTER_ERASE, Reason.BAD_VERSION, Reason.TIME_REVERSED}
)


@dataclass(frozen=True, slots=True)
class Step:
    """One broken rule of one step, with words that say what is wrong."""

    rule: Reason
    detail: str


def starts_chain(event: Event) -> bool:
    """Whether ``event`` begins its record's chain (it names no predecessor)."""
    row = spec(event.kind)
    return row.starts or (row.about == "key" and event.previous == ZERO_HASH)


def _iso(t: int) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def advance(head: Event | None, event: Event, *, tolerance: int = 0) -> tuple[Step, ...]:
    """The rules ``event`` breaks when it follows ``head`` (``None``: the record has no chain
    yet). An empty tuple means the step is allowed. ``tolerance`` (seconds, >= 0) is how far a
    time may run backwards before it counts (clocks of several writers drift)."""
    if tolerance < 0:
        raise ValueError("the time tolerance is a number of seconds, at least 0")
    if starts_chain(event):
        if head is not None:
            return (
                Step(Reason.BAD_START, f"record {to_hex(event.record_id)} starts a second time"),
            )
        return ()
    if head is None:
        return (Step(Reason.BAD_START, f"this {event.kind} follows no event of its record"),)
    if head.record_id != event.record_id:
        return (Step(Reason.BAD_START, "the predecessor belongs to another record"),)
    broken: list[Step] = []
    if spec(head.kind).terminal:
        broken.append(
            Step(
                Reason.AFTER_ERASE,
                f"this {event.kind} follows the record's {head.kind}, which is terminal",
            )
        )
    expected = head.version + (1 if spec(event.kind).bumps_version else 0)
    if spec(event.kind).about == "key":
        # an identity event's version is its number among the log's identity events: it grows
        # along a key's chain (a log made before numbering repeats 1)
        wrong = event.version <= head.version and not event.version == head.version == 1
    else:
        wrong = event.version != expected
    if wrong:
        broken.append(
            Step(
                Reason.BAD_VERSION,
                f"version {event.version} after version {head.version} ({event.kind})",
            )
        )
    if event.time + tolerance < head.time:
        broken.append(
            Step(
                Reason.TIME_REVERSED,
                f"this {event.kind} claims {_iso(event.time)}, {head.time - event.time} s "
                f"before the {head.kind} it follows ({_iso(head.time)}); times never decrease "
                "along a record's chain",
            )
        )
    return tuple(broken)
