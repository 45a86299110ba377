"""The event kinds: one table, every per-kind fact in one row.

Each :class:`EventKind` has exactly one :class:`KindSpec` in :data:`KINDS`, saying what the
kind is about (a record or a key), whether it starts a chain, carries content, ends a chain,
raises the version, names a subject or lists sources, and how people and FHIR see it (its
display words, its FHIR ``Provenance.activity`` data operation, its colour in charts). Every
set of kinds the code needs (:data:`START_KINDS`, :data:`CONTENT_KINDS`, :data:`KEY_KINDS`,
...) and every SQL list of kinds is derived from the table, and :func:`spec` refuses a kind it
does not know (``EventError``), so a new kind is one new enum member and one new row.

The rules themselves (what an event of a kind must look like, what may follow what) live in
:mod:`okeios._internal.protocol.events` and :mod:`okeios._internal.protocol.chainrules`, reading
these rows.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from okeios.errors import EventError

__all__ = [
    "ACCESS_KINDS",
    "CONTENT_KINDS",
    "KEY_KINDS",
    "KINDS",
    "RECORD_KINDS",
    "START_KINDS",
    "EventKind",
    "KindSpec",
    "spec",
    "sql_list",
]


class EventKind(enum.StrEnum):
    """What happened to a record (or, for the identity kinds, to a key)."""

    CREATE = "create"
    AMEND = "amend"
    DERIVE = "derive"
    GRANT = "grant"
    REVOKE = "revoke"
    ACCESS = "access"
    ERASE = "erase"
    # identity: about a key, not a record
    AUTHORISE = "authorise"
    DEAUTHORISE = "deauthorise"
    HANDOVER = "handover"


@dataclass(frozen=True, slots=True)
class KindSpec:
    """Everything okeios knows about one event kind."""

    kind: EventKind
    about: Literal["record", "key"]
    starts: bool
    """Begins a record's chain: version 1, no previous event. (A key's identity chain starts
    with whichever identity event comes first, so key kinds say ``False`` here.)"""
    content: bool
    """Carries a commitment and a ciphertext digest (a version of the record's content)."""
    terminal: bool
    """Nothing may follow it on the record's chain."""
    bumps_version: bool
    """Raises the record's content version by one over its predecessor's."""
    subject: bool
    """Names a subject address (a recipient, a reader, or the key an identity event is about)."""
    sources: bool
    """Lists the event ids it was made from (and only it may)."""
    display: str
    """Plain words for people (reports, FHIR ``coding.display``)."""
    data_operation: tuple[str, str] | None
    """The FHIR ``v3-DataOperation`` code and display of a Provenance activity, if any."""
    colour: str
    """Its colour in charts."""


def _row(
    kind: EventKind,
    display: str,
    colour: str,
    *,
    about: Literal["record", "key"] = "record",
    starts: bool = False,
    content: bool = False,
    terminal: bool = False,
    bumps_version: bool = False,
    subject: bool = False,
    sources: bool = False,
    data_operation: tuple[str, str] | None = None,
) -> tuple[EventKind, KindSpec]:
    return kind, KindSpec(
        kind=kind,
        about=about,
        starts=starts,
        content=content,
        terminal=terminal,
        bumps_version=bumps_version,
        subject=subject,
        sources=sources,
        display=display,
        data_operation=data_operation,
        colour=colour,
    )


_K = EventKind
KINDS: Mapping[EventKind, KindSpec] = MappingProxyType(
    dict(
        [
            _row(
                _K.CREATE,
                "record created",
                "#2a5db0",
                starts=True,
                content=True,
                data_operation=("CREATE", "create"),
            ),
            _row(
                _K.AMEND,
                "record amended",
                "#6f9be0",
                content=True,
                bumps_version=True,
                data_operation=("UPDATE", "revise"),
            ),
            _row(
                _K.DERIVE,
                "record derived from other records",
                "#7b52ab",
                starts=True,
                content=True,
                sources=True,
                data_operation=("CREATE", "create"),
            ),
            _row(_K.GRANT, "access granted", "#3a8a3a", subject=True),
            _row(_K.REVOKE, "access revoked", "#c47f00", subject=True),
            _row(_K.ACCESS, "record read", "#8c8c8c", subject=True),
            _row(
                _K.ERASE,
                "record erased (keys destroyed)",
                "#b00020",
                terminal=True,
                data_operation=("DELETE", "delete"),
            ),
            _row(_K.AUTHORISE, "key authorised", "#1f7a7a", about="key", subject=True),
            _row(_K.DEAUTHORISE, "key deauthorised", "#8a1f5c", about="key", subject=True),
            _row(_K.HANDOVER, "log handed to a new key", "#5c5c1f", about="key", subject=True),
        ]
    )
)
del _K


def spec(kind: object) -> KindSpec:
    """The row of ``kind`` (an :class:`EventKind` or its string); ``EventError`` for a kind
    this version does not know (a verifier never guesses what an unknown kind means)."""
    try:
        return KINDS[EventKind(kind)]  # type: ignore[arg-type]
    except (ValueError, KeyError):
        raise EventError(f"unknown event kind {kind!r}") from None


def _where(test: str) -> frozenset[EventKind]:
    return frozenset(k for k, s in KINDS.items() if getattr(s, test))


START_KINDS = _where("starts")
"""The kinds that begin a record's chain (CREATE, DERIVE)."""
CONTENT_KINDS = _where("content")
"""The kinds that carry a version of the record's content (CREATE, AMEND, DERIVE)."""
KEY_KINDS = frozenset(k for k, s in KINDS.items() if s.about == "key")
"""The kinds that speak about a key (an author key, or the log's next publisher key)."""
RECORD_KINDS = frozenset(KINDS) - KEY_KINDS
"""The kinds that speak about a record."""
ACCESS_KINDS = frozenset(k for k in RECORD_KINDS if KINDS[k].subject)
"""The record kinds that name a subject: who was granted, revoked, or read (GRANT, REVOKE,
ACCESS)."""


def sql_list(kinds: Iterable[EventKind]) -> str:
    """``('a', 'b')``: a literal SQL list of kind names in the table's order, for a statement
    whose partial index needs the literal (kinds are fixed identifiers, never user input)."""
    chosen = set(kinds)
    names = [str(k) for k in KINDS if k in chosen]
    if not names:
        raise ValueError("an SQL list of kinds needs at least one kind")
    return "(" + ", ".join(f"'{n}'" for n in names) + ")"
