"""Typed identifiers: the 32-byte ids of records, events and logs, and what a user types to
name a record.

An id is its 32 bytes, typed by what it names (:class:`RecordId`, :class:`EventId`,
:class:`LogId`), so a record id cannot be passed where an event id is meant. Its text is the
one canonical form of :mod:`okeios._internal.protocol.hexcodec` (``0x`` and 64 lower-case hex
digits): ``str(i)`` and ``i.hex`` write it, ``parse`` reads it through the codec and refuses
any other spelling (upper-case, short, long, no ``0x``) with the caller's typed error.

What a user types to name a record (a command's RECORD argument, a ``record`` argument of
:class:`okeios.service.Okeios`) is read once, at that edge, by :func:`parse_ref`: a ``0x`` id
(:class:`EventOrRecordId`: a record's id or one of its events' ids; the store tells which) or
the identity the record holds (:class:`ResourceKey`: a FHIR ``Type/id``, or a caller's key with
a ``/``). Below the edge, code passes these values (or bytes), never hex text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Self

from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios.errors import InputError, OkeiosError

__all__ = [
    "ID_SIZE",
    "EventId",
    "EventOrRecordId",
    "LogId",
    "RecordId",
    "RecordRef",
    "ResourceKey",
    "as_ref",
    "parse_ref",
]

#: The size of a record, event or log id in bytes.
ID_SIZE = 32

_SHOWN = 24  # characters of a refused text shown in an error


@dataclass(frozen=True, slots=True, repr=False)
class _Id:
    """32 bytes naming one thing; equal only to an id of the same type and bytes."""

    raw: bytes
    what: ClassVar[str] = "an id"

    def __post_init__(self) -> None:
        if type(self.raw) is not bytes:
            raise InputError(f"{self.what} is {ID_SIZE} bytes, got {type(self.raw).__name__}")
        if len(self.raw) != ID_SIZE:
            raise InputError(f"{self.what} is {ID_SIZE} bytes, got {len(self.raw)}")

    @classmethod
    def parse(
        cls, text: object, what: str | None = None, *, error: type[OkeiosError] = InputError
    ) -> Self:
        """The id written ``text`` in its one canonical form, else ``error`` naming ``what``."""
        return cls(from_hex(text, what or cls.what, size=ID_SIZE, error=error))

    @property
    def hex(self) -> str:
        """The canonical text: ``0x`` and 64 lower-case hex digits."""
        return to_hex(self.raw)

    def __str__(self) -> str:
        return to_hex(self.raw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({to_hex(self.raw)})"

    def __bytes__(self) -> bytes:
        return self.raw


@dataclass(frozen=True, slots=True, repr=False)
class RecordId(_Id):
    """A record's id (random, fixed at its CREATE; an author key's record for identity events)."""

    what: ClassVar[str] = "a record id"


@dataclass(frozen=True, slots=True, repr=False)
class EventId(_Id):
    """An event's id (the digest it is signed over)."""

    what: ClassVar[str] = "an event id"


@dataclass(frozen=True, slots=True, repr=False)
class LogId(_Id):
    """A log's id (``docs/spec/log.md``)."""

    what: ClassVar[str] = "a log id"


@dataclass(frozen=True, slots=True, repr=False)
class EventOrRecordId(_Id):
    """An id a user typed to name a record: the record's own id or the id of one of its events
    (the store looks the event up first, then the record)."""

    what: ClassVar[str] = "a record or event id"


@dataclass(frozen=True, slots=True)
class ResourceKey:
    """The identity a record holds, as a user names it: a FHIR ``Type/id``, or a caller's key
    (``okeios add --key``) with a ``/`` in it."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or "/" not in self.text or self.text.startswith("0x"):
            raise InputError(f"a resource key is Type/id (or a key with a /), got {self.text!r}")

    def __str__(self) -> str:
        return self.text


#: What names a record below the edge: an id of known type, an id a user typed, or a key.
RecordRef = RecordId | EventId | EventOrRecordId | ResourceKey

_BARE_ID = re.compile(rf"[0-9a-fA-F]{{{2 * ID_SIZE}}}")
_ANY_CASE_ID = re.compile(rf"0[xX][0-9a-fA-F]{{{2 * ID_SIZE}}}")
_HEX_PAIRS = re.compile(r"0[xX](?:[0-9a-fA-F]{2})*")


def parse_ref(text: object, what: str = "the record") -> EventOrRecordId | ResourceKey:
    """What a user typed to name a record, read once: ``0x`` and 64 lower-case hex digits (a
    record's id or one of its events' ids), else a text with a ``/`` (a FHIR ``Type/id`` or a
    caller's key). Anything else is an :class:`~okeios.errors.InputError` saying what was
    expected, with the canonical spelling when only the case or the ``0x`` is off (an id has
    one spelling: another is refused, never folded into it)."""
    if not isinstance(text, str):
        raise InputError(f"{what} is named by a str (an id or Type/id), got {type(text).__name__}")
    expected = (
        f"{what} is named by its id or one of its event ids (0x and {2 * ID_SIZE} lower-case "
        "hex digits) or by its FHIR Type/id"
    )
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
    if text[:2] in ("0x", "0X"):
        try:
            return EventOrRecordId.parse(text)
        except InputError:
            if _ANY_CASE_ID.fullmatch(text):
                detail = f"ids are written in lower case: 0x{text[2:].lower()}"
            elif _HEX_PAIRS.fullmatch(text):
                size = len(text) // 2 - 1
                detail = f"{size} byte{'' if size == 1 else 's'}, not {ID_SIZE}"
            else:
                detail = "not hex byte pairs"
            raise InputError(f"{expected}, got {shown!r} ({detail})") from None
    if "/" in text:
        return ResourceKey(text)
    hint = f" (did you mean 0x{text.lower()}?)" if _BARE_ID.fullmatch(text) else ""
    raise InputError(f"{expected}, got {shown!r}{hint}")


def as_ref(value: RecordRef | str, what: str = "the record") -> RecordRef:
    """``value`` as a typed reference: text read by :func:`parse_ref`, a typed one as it is
    (what an API that takes either does at its entry)."""
    if isinstance(value, RecordId | EventId | EventOrRecordId | ResourceKey):
        return value
    return parse_ref(value, what)
