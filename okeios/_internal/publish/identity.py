"""FHIR resource identity: which record a resource is, kept private in the store.

A record is a FHIR resource named by ``resourceType/id`` (or, for other JSON, by a key its
caller gives). :meth:`Identities.judge` says what adding a resource means: a new record, a new
version of the record that holds it, or nothing (the same content again, or an older
``meta.versionId``). The map lives in the ``resources`` table under keyed digests only:

* the identity key ``k = HMAC-SHA256(master key, "okeios/store/identity-key/v1" 0x00)``;
* a row's key ``HMAC-SHA256(k, "resource" 0x00 || label)``, its type ``HMAC-SHA256(k, "type" 0x00
  || resourceType)`` (for the type filter), its content check ``HMAC-SHA256(k, "content" 0x00 ||
  canonical bytes)``;
* the label itself sealed under the master key (AES-256-GCM, aad
  ``"okeios/store/resource-label/v1" 0x00 || record id``).

Record ids are random: nothing public is derived from a patient's or a resource's id.

Ordering versions (:meth:`Identities.judge`, for a resource whose content changed):

1. when both the stored and the incoming version carry ``meta.lastUpdated`` (a FHIR
   ``instant``, parsed strictly: :func:`fhir_instant`), an older incoming one is ``stale``,
   whatever its ``versionId``; a newer one is a new version;
2. else, or when the two instants are equal, numeric versionIds order them (an older one
   is ``stale``);
3. the same ``versionId`` with different content is refused, and so is a tie nothing orders
   (equal ``lastUpdated``, versionIds missing or not numeric): two different versions
   claiming the same instant are a conflict to resolve by hand (``okeios amend``), not something
   to decide silently in favour of whichever copy was read last.

The stored version's ``lastUpdated`` is read from the stored (sealed) version itself, only when
the content differs and the incoming version carries one: nothing more is kept in the map.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from hashlib import sha256
from typing import Any

from okeios._internal.crypto.payload import open_payload, seal_payload
from okeios._internal.protocol.canonical import JSONValue, canonicalize
from okeios._internal.protocol.commitment import Canonical
from okeios._internal.protocol.fhir import _RESOURCE_ID, _RESOURCE_TYPE, resource_identity
from okeios._internal.protocol.hexcodec import hex_repr, to_hex
from okeios._internal.protocol.kinds import START_KINDS, sql_list
from okeios._internal.publish.publisher import LoggedEvent
from okeios._internal.publish.tables import Database, ResourceRow, Resources
from okeios.errors import InputError

__all__ = [
    "Identities",
    "Judgement",
    "PutResult",
    "RecordFilter",
    "RecordInfo",
    "fhir_instant",
    "last_updated",
]

_LABEL_LABEL = b"okeios/store/resource-label/v1\x00"
_IDENTITY_INFO = b"okeios/store/identity-key/v1\x00"

# The FHIR R4 ``instant`` grammar (a year 0001-9999, a timezone always given).
_INSTANT = re.compile(
    r"(?P<y>[0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(?P<mo>0[1-9]|1[0-2])"
    r"-(?P<d>0[1-9]|[1-2][0-9]|3[0-1])T(?P<h>[01][0-9]|2[0-3]):(?P<mi>[0-5][0-9])"
    r":(?P<s>[0-5][0-9]|60)(\.(?P<f>[0-9]+))?"
    r"(?P<z>Z|(?P<sign>[+-])(?P<oh>0[0-9]|1[0-3]|14):(?P<om>[0-5][0-9]))",
    re.ASCII,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def fhir_instant(text: str) -> Decimal:
    """A FHIR ``instant`` as exact seconds since 1970-01-01T00:00:00Z (any number of fraction
    digits kept, so ``...:00Z`` and ``...:00.000Z`` are equal and ``.1`` is before ``.10001``).

    Strict: the R4 grammar (``YYYY-MM-DDThh:mm:ss[.f+](Z|+hh:mm|-hh:mm)``, offsets up to
    14:00, a timezone required), and a real calendar date. A leap second (``:60``) counts as
    the first instant of the next minute. Raises :class:`~okeios.errors.InputError`.
    """
    m = _INSTANT.fullmatch(text)
    if m is None or (m["oh"] == "14" and m["om"] != "00"):
        raise InputError(f"{text!r} is not a FHIR instant (YYYY-MM-DDThh:mm:ss[.fff]+zone)")
    offset = timedelta(0)
    if m["z"] != "Z":
        offset = timedelta(hours=int(m["oh"]), minutes=int(m["om"]))
        offset = -offset if m["sign"] == "-" else offset
    second = int(m["s"])
    try:
        when = datetime(
            int(m["y"]),
            int(m["mo"]),
            int(m["d"]),
            int(m["h"]),
            int(m["mi"]),
            min(second, 59),
            tzinfo=timezone(offset),
        )
    except ValueError as exc:
        raise InputError(f"{text!r} is not a FHIR instant: {exc}") from None
    seconds = (when - _EPOCH) // timedelta(seconds=1) + (second == 60)
    return Decimal(seconds) + (Decimal("0." + m["f"]) if m["f"] else Decimal(0))


def last_updated(value: JSONValue, name: str) -> Decimal | None:
    """A resource's ``meta.lastUpdated`` (see :func:`fhir_instant`), ``None`` when it has none.
    An invalid one is an :class:`~okeios.errors.InputError` naming the resource (``name``)."""
    meta = value.get("meta") if isinstance(value, dict) else None
    if not isinstance(meta, dict) or "lastUpdated" not in meta:
        return None
    text = meta["lastUpdated"]
    if not isinstance(text, str):
        raise InputError(f"{name}: meta.lastUpdated must be a FHIR instant string")
    try:
        return fhir_instant(text)
    except InputError as exc:
        raise InputError(f"{name}: meta.lastUpdated {exc}") from None


_ASCII_NUMBER = re.compile(r"[0-9]{1,64}")


def _is_number(version_id: str) -> bool:
    """Whether a versionId is a decimal number in ASCII digits (``str.isdigit`` also takes
    superscripts and other scripts' digits, which ``int`` then refuses)."""
    return _ASCII_NUMBER.fullmatch(version_id) is not None


def is_fhir_label(key: str) -> bool:
    """Whether ``key`` has the shape of a FHIR identity ``Type/id``: a caller's key for a
    non-FHIR document may not (it would name, and amend, that FHIR record)."""
    kind, sep, ident = key.partition("/")
    return bool(sep) and bool(_RESOURCE_TYPE.fullmatch(kind) and _RESOURCE_ID.fullmatch(ident))


@dataclass(frozen=True, slots=True)
class PutResult:
    """What :meth:`Store.put` did with one resource.

    ``status`` is ``created`` (a new record), ``amended`` (a new version of the record that
    holds the same resource), ``unchanged`` (the same content again: nothing logged) or
    ``stale`` (an older ``meta.versionId`` than the stored one: nothing logged).
    """

    def __repr__(self) -> str:
        return hex_repr(self)

    status: str
    record_id: bytes
    event: LoggedEvent | None
    resource: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "record": to_hex(self.record_id),
            "event": None if self.event is None else to_hex(self.event.id),
            "resource": self.resource,
        }


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records a listing (:meth:`Store.records`) or a count keeps; ``None`` keeps all.

    ``resource_type``/``resource_id`` name the record (an id needs its type), ``kind`` and
    ``since``/``until`` (Unix seconds, inclusive) are about its last event, ``erased`` keeps
    only erased (``True``) or only live (``False``) records.
    """

    resource_type: str | None = None
    resource_id: str | None = None
    kind: str | None = None
    since: int | None = None
    until: int | None = None
    erased: bool | None = None

    @classmethod
    def of(cls, match: RecordFilter | None, filters: dict[str, Any]) -> RecordFilter:
        """``match``, or one made of the keyword ``filters`` (never both)."""
        if match is None:
            return cls(**filters)
        if filters:
            raise TypeError(f"a RecordFilter and keyword filters both given: {sorted(filters)}")
        return match


@dataclass(frozen=True, slots=True)
class RecordInfo:
    """One line of :meth:`Store.records`: what the owner sees of a record."""

    def __repr__(self) -> str:
        return hex_repr(self)

    record_id: bytes
    resource_type: str | None
    resource_id: str | None
    version: int
    events: int
    last_kind: str
    last_time: int
    erased: bool
    index: int  # the log index of its first event: the cursor of :meth:`Store.records`

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": to_hex(self.record_id),
            "resourceType": self.resource_type,
            "id": self.resource_id,
            "version": self.version,
            "events": self.events,
            "lastEvent": self.last_kind,
            "time": self.last_time,
            "erased": self.erased,
            "index": self.index,
        }


@dataclass(frozen=True, slots=True)
class Judgement:
    """What adding one resource means (see :meth:`Identities.judge`)."""

    status: str  # "new" (no record yet), "changed", "unchanged" or "stale"
    label: str | None  # Type/id or the caller's key; None: no identity (always a new record)
    kind: str  # the resourceType ("" for a caller's key)
    version_id: str | None
    row: ResourceRow | None  # the stored identity, when there is one


_MAC_CACHE = 4096  # labels (and types) whose MACs an Identities keeps


class Identities:
    """The private resource map of a store (see the module docstring)."""

    def __init__(self, rows: Resources, master: bytes, rng: Callable[[int], bytes]) -> None:
        self.rows = rows
        self._master = master
        self._rng = rng
        self._key = hmac.new(master, _IDENTITY_INFO, sha256).digest()
        # The MACs of the last labels and types asked for: a put asks for a resource's key
        # several times (the batch lookup, its judgement, its row) and for few distinct types.
        self._keys: dict[str, bytes] = {}
        self._types: dict[str, bytes] = {}

    def _mac(self, domain: bytes, data: bytes) -> bytes:
        return hmac.digest(self._key, domain + b"\x00" + data, "sha256")  # one-shot, in C

    def _remembered(self, cache: dict[str, bytes], domain: bytes, text: str) -> bytes:
        mac = cache.get(text)
        if mac is None:
            if len(cache) >= _MAC_CACHE:
                cache.clear()
            mac = cache[text] = self._mac(domain, text.encode())
        return mac

    def key(self, label: str) -> bytes:
        return self._remembered(self._keys, b"resource", label)

    def type_mac(self, resource_type: str) -> bytes:
        return self._remembered(self._types, b"type", resource_type)

    def content_mac(self, value: JSONValue, canonical: bytes | None = None) -> bytes:
        """The content check of ``value`` (``canonical``: its canonical bytes, when known)."""
        return self._mac(b"content", canonicalize(value) if canonical is None else canonical)

    def label_of(self, value: JSONValue, key: str | None) -> str | None:
        """The identity :meth:`judge` would give ``value`` (no checks): ``Type/id``, else the
        caller's ``key``, else None."""
        identity = resource_identity(value)
        return f"{identity[0]}/{identity[1]}" if identity is not None else key

    def seal_label(self, record_id: bytes, label: str) -> bytes:
        """``label`` sealed for the row of ``record_id`` (draws one nonce)."""
        return seal_payload(
            self._master, label.encode(), aad=_LABEL_LABEL + record_id, rng=self._rng
        )

    def new_row(
        self,
        record_id: bytes,
        kind: str,
        label: str,
        version_id: str | None,
        sealed_label: bytes,
        canonical: bytes,
    ) -> tuple[bytes, bytes, bytes, bytes, str | None, bytes]:
        """The ``resources`` row :meth:`remember` writes, from a label sealed beforehand."""
        return (
            self.key(label),
            record_id,
            self.type_mac(kind),
            sealed_label,
            version_id,
            self._mac(b"content", canonical),
        )

    def find(self, label: str) -> ResourceRow | None:
        return self.rows.get(self.key(label))

    def _open_label(self, record_id: bytes, sealed: bytes) -> str:
        return open_payload(self._master, sealed, aad=_LABEL_LABEL + record_id).decode()

    def label(self, record_id: bytes) -> str | None:
        """The identity a record holds (``Type/id`` or the caller's key), if any."""
        row = self.rows.of_record(record_id)
        return None if row is None else self._open_label(record_id, row.label)

    def remember(
        self,
        record_id: bytes,
        kind: str,
        label: str,
        version_id: str | None,
        value: JSONValue,
        *,
        canonical: bytes | None = None,
    ) -> None:
        """Record that ``record_id`` holds ``label``, now at content ``value`` (whose
        canonical bytes are ``canonical``, when known)."""
        sealed = self.seal_label(record_id, label)
        self.rows.put(
            self.key(label),
            record_id,
            self.type_mac(kind),
            sealed,
            version_id,
            self.content_mac(value, canonical),
        )

    def forget(self, record_id: bytes) -> None:
        """Drop an erased record's identity row, and every label this object remembers (the
        erased record's label, which the store no longer holds, must not stay in memory)."""
        self.rows.forget(record_id)
        self._keys.clear()

    def judge(
        self,
        value: JSONValue,
        key: str | None = None,
        *,
        stored: Callable[[bytes], JSONValue] | None = None,
        known: dict[bytes, ResourceRow] | None = None,
        form: Canonical | None = None,
    ) -> Judgement:
        """What adding ``value`` (under the caller's ``key``, for non-FHIR JSON) means.

        ``stored(record_id)`` gives the record's latest stored content; it is asked only for a
        changed resource that carries ``meta.lastUpdated`` (see the module docstring for the
        order of versions). Raises :class:`~okeios.errors.InputError` for a key that
        contradicts the resource's own identity, an invalid ``meta.lastUpdated``, a changed
        resource that claims the stored ``meta.versionId``, and a tie nothing orders.
        ``known``, the rows of a batch's identities read beforehand, spares a query; ``form``,
        the resource's :class:`~okeios._internal.protocol.commitment.Canonical`, keeps its
        canonical bytes for the commitment when the content check makes them.
        """
        identity = resource_identity(value)
        kind, version_id = "", None
        if identity is not None:
            kind, ident, version_id = identity
            label = f"{kind}/{ident}"
            if key is not None and key != label:
                raise InputError(f"the key {key!r} differs from the resource's identity {label}")
            if version_id is not None and not _RESOURCE_ID.fullmatch(version_id):
                raise InputError(
                    f"{label}: meta.versionId {version_id!r} is not a FHIR id (1 to 64 of the"
                    " ASCII characters A-Z a-z 0-9 - .)"
                )
        elif key is not None:
            if is_fhir_label(key):
                # Caller keys and FHIR identities share the map: a key shaped like one would
                # amend that FHIR record with a document that is not it.
                raise InputError(
                    f"the key {key!r} has the shape of a FHIR identity (Type/id) but the document"
                    " is not that resource: choose a key without the Type/id shape (for example"
                    f" {key.replace('/', '-')!r})"
                )
            label = key
        else:
            last_updated(value, "the resource")  # checked even when it orders nothing
            return Judgement("new", None, "", None, None)
        updated = last_updated(value, label)
        # ``known``: the rows of a batch's identities, read in one query (absent: no row)
        row = self.find(label) if known is None else known.get(self.key(label))
        if row is None:
            return Judgement("new", label, kind, version_id, None)
        content = self.content_mac(value, None if form is None else form.bytes)
        if hmac.compare_digest(row.content, content):
            return Judgement("unchanged", label, kind, version_id, row)
        order = None  # the incoming version's lastUpdated against the stored one's: -1, 0, 1
        if updated is not None and stored is not None:
            try:
                held = last_updated(stored(row.record_id), label)
            except InputError:
                held = None  # a version stored before instants were checked: not comparable
            if held is not None:
                order = (updated > held) - (updated < held)
        if order == -1:
            return Judgement("stale", label, kind, version_id, row)
        tie = order == 0
        if version_id is not None and row.version_id is not None:
            if version_id == row.version_id:
                raise InputError(
                    f"{label} version {version_id} differs from the stored version {version_id}"
                    " with the same versionId: refusing to overwrite it"
                )
            if _is_number(version_id) and _is_number(row.version_id) and order != 1:
                older = int(version_id) < int(row.version_id)
                return Judgement("stale" if older else "changed", label, kind, version_id, row)
        if tie:
            raise InputError(
                f"{label}: a different version with the same meta.lastUpdated as the stored one"
                " and no numeric versionIds to order them: refusing to choose (use"
                " `okeios amend` to log it as the newer version)"
            )
        return Judgement("changed", label, kind, version_id, row)

    def _query(self, match: RecordFilter) -> _Query | None:
        """Where the records ``match`` keeps are read from: ``None`` when nothing can match.

        Without a type, the index of first events (``events_first``) is walked in log order;
        with one, the resource rows of that type in the order of their records' first events
        (the index ``resources_type_first``). Either way a page is an index range from the
        cursor: its cost is the page (divided by the share of records the other filters keep),
        never the size of the store or of the type."""
        if match.resource_type is not None and match.resource_id is None:
            # r.first_idx is the log index of the record's first event (its CREATE or DERIVE:
            # every record starts with one), written with the row
            mac = self.type_mac(match.resource_type)
            q = _Query(" FROM resources r", "r.record_id", "r.first_idx", ["r.type = ?"], [mac])
        else:
            # f.kind: a literal, so that it selects the partial index
            q = _Query(
                " FROM events f", "f.record_id", "f.idx", [f"f.kind IN {sql_list(START_KINDS)}"], []
            )
        if match.resource_id is not None:
            if match.resource_type is None:
                raise InputError("an id filter needs a resource type")
            row = self.rows.get(self.key(f"{match.resource_type}/{match.resource_id}"))
            if row is None:
                return None
            q.where.append("f.record_id = ?")
            q.args.append(row.record_id)
        if match.kind is not None:
            q.where.append("h.kind = ?")
            q.args.append(match.kind)
        if match.since is not None:
            q.where.append("h.time >= ?")
            q.args.append(match.since)
        if match.until is not None:
            q.where.append("h.time <= ?")
            q.args.append(match.until)
        if match.erased is not None:
            q.where.append(q.erased + " = ?")
            q.args.append(int(match.erased))
        return q

    def records(
        self,
        db: Database,
        match: RecordFilter | None = None,
        *,
        limit: int | None = None,
        after: int | None = None,
        **filters: Any,
    ) -> list[RecordInfo]:
        """What the store holds, one line per record in the order records were first logged,
        filtered by ``match`` (a :class:`RecordFilter`, or its fields as keywords).

        Keyset paging: at most ``limit`` records whose first event's log index (their
        ``index``, the cursor) is greater than ``after``. A page walks an index from the cursor
        (of first events, or of a type's records in that order), so its cost is the page
        (divided by the share of records the other filters keep), never the size of the store.
        """
        if limit is not None and limit < 0:
            raise InputError("the limit must not be negative")
        q = self._query(RecordFilter.of(match, filters))
        if q is None or limit == 0:
            return []
        where, args = q.after(after)
        sql = (
            f"SELECT {q.first}, {q.rid}, r.type, r.label, h.version, h.kind, h.time,"  # noqa: S608
            f" (SELECT COUNT(*) FROM events e WHERE e.record_id = {q.rid}), {q.erased}"
            + q.source
            + q.last
            + q.resource
            # constant clauses; values bound
            + " WHERE "
            + where
            + " ORDER BY "
            + q.first
        )
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        out: list[RecordInfo] = []
        for first, rid, rtype, label, version, last_kind, last_time, n, gone in db.execute(
            sql, args
        ):
            record_id = bytes(rid)
            name = rtype_ = rid_ = None
            if label is not None:
                name = self._open_label(record_id, bytes(label))
                if bytes(rtype) != self.type_mac("") and "/" in name:
                    rtype_, rid_ = name.split("/", 1)
                else:
                    rid_ = name  # a caller-given key
            out.append(
                RecordInfo(
                    record_id,
                    rtype_,
                    rid_,
                    int(version),
                    int(n),
                    str(last_kind),
                    int(last_time),
                    bool(gone),
                    int(first),
                )
            )
        return out

    def count(
        self,
        db: Database,
        match: RecordFilter | None = None,
        *,
        after: int | None = None,
        at_most: int | None = None,
        **filters: Any,
    ) -> int:
        """How many records :meth:`records` would list with these filters (after the cursor
        ``after``), counting at most ``at_most`` of them when given. Reads the index
        :meth:`records` walks (and each counted record's last event when a filter is about
        it)."""
        q = self._query(RecordFilter.of(match, filters))
        if q is None:
            return 0
        where, args = q.after(after)
        # the last event only when a filter is about it: a plain count reads the index alone
        source = q.source + (q.last if "h." in where else "")
        inner = "SELECT 1" + source + " WHERE " + where  # constant clauses; values bound
        if at_most is not None:
            inner += " LIMIT ?"
            args.append(at_most)
        row = db.one("SELECT COUNT(*) FROM (" + inner + ") c", args)  # noqa: S608
        return int(row[0])


@dataclass(frozen=True, slots=True)
class _Query:
    """A listing's rows: the records read from ``source`` (the first events ``f``, or the
    resource rows ``r`` of a type), by their id ``rid``, that the ``where`` clauses keep, in
    the order of ``first``, their first event's log index (read from the index the page walks:
    the cursor)."""

    source: str
    rid: str
    first: str
    where: list[str]
    args: list[object]

    @property
    def last(self) -> str:
        """The join of each record's last event ``h`` (by the index of its events)."""
        return (
            " JOIN events h ON h.idx ="  # noqa: S608 - rid is a column name
            f" (SELECT MAX(idx) FROM events m WHERE m.record_id = {self.rid})"
        )

    @property
    def resource(self) -> str:
        """The join of each record's resource row ``r`` (none for a type: ``r`` is the
        source)."""
        return (
            ""
            if self.rid == "r.record_id"
            else " LEFT JOIN resources r ON r.record_id = f.record_id"
        )

    @property
    def erased(self) -> str:
        """Whether the record was erased (1) or not (0)."""
        return f"(SELECT MAX(erased) FROM versions v WHERE v.record_id = {self.rid})"  # noqa: S608

    def after(self, after: int | None) -> tuple[str, list[object]]:
        """The WHERE clause and its arguments, from the cursor ``after`` when given."""
        where, args = list(self.where), list(self.args)
        if after is not None:
            where.append(self.first + " > ?")
            args.append(after)
        return " AND ".join(where), args
