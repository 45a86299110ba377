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
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from okeios.crypto.payload import open_payload, seal_payload
from okeios.errors import InputError
from okeios.fhir import resource_identity
from okeios.protocol.canonical import JSONValue, canonicalize
from okeios.publish.publisher import LoggedEvent
from okeios.publish.tables import Database, ResourceRow, Resources

__all__ = ["Identities", "Judgement", "PutResult", "RecordInfo"]

_LABEL_LABEL = b"okeios/store/resource-label/v1\x00"
_IDENTITY_INFO = b"okeios/store/identity-key/v1\x00"


@dataclass(frozen=True, slots=True)
class PutResult:
    """What :meth:`Store.put` did with one resource.

    ``status`` is ``created`` (a new record), ``amended`` (a new version of the record that
    holds the same resource), ``unchanged`` (the same content again: nothing logged) or
    ``stale`` (an older ``meta.versionId`` than the stored one: nothing logged).
    """

    status: str
    record_id: bytes
    event: LoggedEvent | None
    resource: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "record": "0x" + self.record_id.hex(),
            "event": None if self.event is None else "0x" + self.event.id.hex(),
            "resource": self.resource,
        }


@dataclass(frozen=True, slots=True)
class RecordInfo:
    """One line of :meth:`Store.records`: what the owner sees of a record."""

    record_id: bytes
    resource_type: str | None
    resource_id: str | None
    version: int
    events: int
    last_kind: str
    last_time: int
    erased: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": "0x" + self.record_id.hex(),
            "resourceType": self.resource_type,
            "id": self.resource_id,
            "version": self.version,
            "events": self.events,
            "lastEvent": self.last_kind,
            "time": self.last_time,
            "erased": self.erased,
        }


@dataclass(frozen=True, slots=True)
class Judgement:
    """What adding one resource means (see :meth:`Identities.judge`)."""

    status: str  # "new" (no record yet), "changed", "unchanged" or "stale"
    label: str | None  # Type/id or the caller's key; None: no identity (always a new record)
    kind: str  # the resourceType ("" for a caller's key)
    version_id: str | None
    row: ResourceRow | None  # the stored identity, when there is one


class Identities:
    """The private resource map of a store (see the module docstring)."""

    def __init__(self, rows: Resources, master: bytes, rng: Callable[[int], bytes]) -> None:
        self.rows = rows
        self._master = master
        self._rng = rng
        self._key = hmac.new(master, _IDENTITY_INFO, sha256).digest()

    def _mac(self, domain: bytes, data: bytes) -> bytes:
        return hmac.new(self._key, domain + b"\x00" + data, sha256).digest()

    def key(self, label: str) -> bytes:
        return self._mac(b"resource", label.encode())

    def type_mac(self, resource_type: str) -> bytes:
        return self._mac(b"type", resource_type.encode())

    def content_mac(self, value: JSONValue) -> bytes:
        return self._mac(b"content", canonicalize(value))

    def find(self, label: str) -> ResourceRow | None:
        return self.rows.get(self.key(label))

    def _open_label(self, record_id: bytes, sealed: bytes) -> str:
        return open_payload(self._master, sealed, aad=_LABEL_LABEL + record_id).decode()

    def label(self, record_id: bytes) -> str | None:
        """The identity a record holds (``Type/id`` or the caller's key), if any."""
        row = self.rows.of_record(record_id)
        return None if row is None else self._open_label(record_id, row.label)

    def remember(
        self, record_id: bytes, kind: str, label: str, version_id: str | None, value: JSONValue
    ) -> None:
        """Record that ``record_id`` holds ``label``, now at content ``value``."""
        sealed = seal_payload(
            self._master, label.encode(), aad=_LABEL_LABEL + record_id, rng=self._rng
        )
        self.rows.put(
            self.key(label),
            record_id,
            self.type_mac(kind),
            sealed,
            version_id,
            self.content_mac(value),
        )

    def forget(self, record_id: bytes) -> None:
        self.rows.forget(record_id)

    def judge(self, value: JSONValue, key: str | None = None) -> Judgement:
        """What adding ``value`` (under the caller's ``key``, for non-FHIR JSON) means.

        Raises :class:`~okeios.errors.InputError` for a key that contradicts the resource's own
        identity, and for a changed resource that claims the stored ``meta.versionId``.
        """
        identity = resource_identity(value)
        kind, version_id = "", None
        if identity is not None:
            kind, ident, version_id = identity
            label = f"{kind}/{ident}"
            if key is not None and key != label:
                raise InputError(f"the key {key!r} differs from the resource's identity {label}")
        elif key is not None:
            label = key
        else:
            return Judgement("new", None, "", None, None)
        row = self.find(label)
        if row is None:
            return Judgement("new", label, kind, version_id, None)
        if hmac.compare_digest(row.content, self.content_mac(value)):
            return Judgement("unchanged", label, kind, version_id, row)
        if version_id is not None and row.version_id is not None:
            if version_id == row.version_id:
                raise InputError(
                    f"{label} version {version_id} differs from the stored version {version_id}"
                    " with the same versionId: refusing to overwrite it"
                )
            numeric = version_id.isdigit() and row.version_id.isdigit()
            if numeric and int(version_id) < int(row.version_id):
                return Judgement("stale", label, kind, version_id, row)
        return Judgement("changed", label, kind, version_id, row)

    def records(
        self,
        db: Database,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        kind: str | None = None,
        since: int | None = None,
        until: int | None = None,
        erased: bool | None = None,
        limit: int | None = None,
    ) -> list[RecordInfo]:
        """What the store holds, one line per record in the order records were first logged,
        filtered by resource type, id, last event kind, last event time or erasure."""
        where: list[str] = []
        args: list[object] = []
        # Narrow the per-record grouping itself (an index lookup) when a type or id is given.
        inner, inner_args = "", []
        if resource_id is not None:
            if resource_type is None:
                raise InputError("an id filter needs a resource type")
            row = self.rows.get(self.key(f"{resource_type}/{resource_id}"))
            if row is None:
                return []
            inner, inner_args = " WHERE record_id = ?", [row.record_id]
        elif resource_type is not None:
            inner = " WHERE record_id IN (SELECT record_id FROM resources WHERE type = ?)"
            inner_args = [self.type_mac(resource_type)]
        if kind is not None:
            where.append("h.kind = ?")
            args.append(kind)
        if since is not None:
            where.append("h.time >= ?")
            args.append(since)
        if until is not None:
            where.append("h.time <= ?")
            args.append(until)
        if erased is not None:
            where.append("(SELECT MAX(erased) FROM versions v WHERE v.record_id = h.record_id) = ?")
            args.append(int(erased))
        sql = (
            "SELECT h.record_id, r.type, r.label, h.version, m.n, h.kind, h.time,"  # noqa: S608
            " (SELECT MAX(erased) FROM versions v WHERE v.record_id = h.record_id)"
            " FROM (SELECT record_id, MAX(idx) AS last, MIN(idx) AS first, COUNT(*) AS n"
            " FROM events" + inner + " GROUP BY record_id) m"  # constant clauses; values bound
            " JOIN events h ON h.idx = m.last"
            " LEFT JOIN resources r ON r.record_id = h.record_id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY m.first"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        args = [*inner_args, *args]
        out: list[RecordInfo] = []
        for rid, rtype, label, version, n, last_kind, last_time, gone in db.execute(sql, args):
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
                )
            )
        return out
