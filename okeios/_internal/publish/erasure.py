"""Erasure that is verified, not assumed: the bytes of an erased record's secrets must be gone
from the store's live files before ``okeios erase`` says so.

An erasure is two steps. The first is one transaction: it logs the signed ERASE event, sets the
record's sealed data keys, seeds and wrapped keys to NULL and deletes its private resource
identity (the sealed ``Type/id`` label and its keyed digests), and it records a *pending
erasure* in the ``meta`` table: the record and, for every secret blob it removed, a
fingerprint (the blob's length, its first 16 bytes, which are the random nonce or ephemeral
key of the sealing and reveal nothing, and its SHA-256). The second step purges and verifies:

* SQLite (``PRAGMA secure_delete=ON`` zeroes freed cells when a page is written): a
  ``wal_checkpoint(TRUNCATE)`` copies the zeroed pages into ``store.sqlite`` and empties
  ``store.sqlite-wal``. It cannot finish while another connection holds a read transaction
  (a long export, a service): SQLite keeps the older pages for that reader. The purge waits
  at most ``wait`` seconds for readers, then says the erasure is pending.
* PostgreSQL: ``VACUUM FULL`` of ``versions``, ``grants`` and ``resources`` rewrites each table
  into new files from its live rows only and drops the old files (a plain ``VACUUM`` only
  marks dead rows free: their bytes can stay in the page). Only the tables' owner (or, on
  PostgreSQL 17 and later, a role with the MAINTAIN privilege) may do that: the erasure is
  refused *before anything is logged* when the role lacks it, naming the privilege. A role
  that may also read server files (superuser or ``pg_read_server_files``) lets the check read
  the new table files back; otherwise the proof is that every table got new files.

Then every fingerprint is searched in the live files (SQLite: the database and its WAL;
PostgreSQL: the tables' files, when readable). Only when none is found is the pending erasure
cleared and the erasure reported done. A purge that cannot finish (readers, a full disk, a
lost server) raises :class:`ErasurePendingError`, exit 2, saying what is true: the erasure is
logged and the secrets are unusable through okeios, but their bytes may still be on disk;
``okeios erase`` of the same record again finishes the job, and ``okeios check`` lists
pending erasures.

What no purge reaches (PostgreSQL's WAL and archives, backups, copies, the file system's free
blocks) is described in docs/unit.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from okeios._internal.faults import fault_point
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios.errors import ErasurePendingError, StoreError

if TYPE_CHECKING:
    from okeios._internal.publish.tables import Database, Meta

__all__ = [
    "ERASE_WAIT",
    "ErasurePendingError",
    "ErasureUnit",
    "Fingerprint",
    "PurgeResult",
    "pending_erasures",
]

ERASE_WAIT = 10.0  # seconds the purge waits for readers before it says the erasure is pending
_PREFIX = 16
_PENDING = "erasing/"
_PG_TABLES = ("versions", "grants", "resources")
_CHUNK = 1 << 23


class ErasureUnit(Protocol):
    """What erasure uses of a store's unit of work
    (:class:`~okeios._internal.publish.unit.Unit` satisfies it): the database, its meta rows
    (the pending erasures) and one transaction."""

    @property
    def db(self) -> Database: ...
    @property
    def meta(self) -> Meta: ...
    @property
    def is_postgres(self) -> bool: ...
    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """How to recognise one erased blob without keeping it: length, first bytes, SHA-256."""

    length: int
    prefix: bytes
    digest: bytes

    @classmethod
    def of(cls, blob: bytes) -> Fingerprint:
        return cls(len(blob), blob[:_PREFIX], hashlib.sha256(blob).digest())

    def to_json(self) -> list[object]:
        return [self.length, self.prefix.hex(), self.digest.hex()]

    @classmethod
    def from_json(cls, item: object) -> Fingerprint:
        if not (isinstance(item, list) and len(item) == 3):
            raise StoreError("a pending erasure's fingerprint is malformed")
        length, prefix, digest = item
        return cls(
            int(length),
            from_hex(str(prefix), "a fingerprint prefix", prefix=False, error=StoreError),
            from_hex(str(digest), "a fingerprint digest", prefix=False, error=StoreError),
        )

    def found_in(self, data: bytes) -> bool:
        start = 0
        while (at := data.find(self.prefix, start)) >= 0:
            if hashlib.sha256(data[at : at + self.length]).digest() == self.digest:
                return True
            start = at + 1
        return False


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What the purge verified: where it looked and how."""

    checked: tuple[str, ...]
    how: str

    def describe(self) -> str:
        return f"verified gone from {', '.join(self.checked)} ({self.how})"


def secret_blobs(unit: ErasureUnit, record_id: bytes) -> list[bytes]:
    """Every secret blob an erasure of ``record_id`` removes (read before it does)."""
    db = unit.db
    blobs: list[bytes] = []
    for data_key, seed in db.execute(
        "SELECT data_key, seed FROM versions WHERE record_id = ?", (record_id,)
    ):
        blobs += [bytes(b) for b in (data_key, seed) if b is not None]
    for (wrapped,) in db.execute("SELECT wrapped FROM grants WHERE record_id = ?", (record_id,)):
        if wrapped is not None:
            blobs.append(bytes(wrapped))
    row = db.one("SELECT key, label, content FROM resources WHERE record_id = ?", (record_id,))
    if row is not None:
        blobs += [bytes(b) for b in row]
    return [b for b in blobs if len(b) >= _PREFIX]


def mark_pending(
    unit: ErasureUnit, record_id: bytes, event_id: bytes, blobs: Iterable[bytes]
) -> None:
    """Record a pending erasure (inside the erasure's transaction)."""
    value = {"event": event_id.hex(), "prints": [Fingerprint.of(b).to_json() for b in blobs]}
    unit.meta.set(_PENDING + record_id.hex(), json.dumps(value))


def pending(unit: ErasureUnit, record_id: bytes) -> tuple[bytes, list[Fingerprint]] | None:
    """The ERASE event and fingerprints of a pending erasure of ``record_id``, if one is."""
    raw = unit.meta.get(_PENDING + record_id.hex())
    if raw is None:
        return None
    try:
        value = json.loads(raw)
        event = from_hex(value["event"], "an event id", prefix=False, error=StoreError)
        return event, [Fingerprint.from_json(p) for p in value["prints"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"the pending erasure of {record_id.hex()} is malformed") from exc


def pending_erasures(unit: ErasureUnit) -> list[bytes]:
    """The records whose erasure is logged but not verified on disk yet."""
    rows = unit.db.execute(
        "SELECT key FROM meta WHERE key >= ? AND key < ? ORDER BY key", (_PENDING, "erasing0")
    )
    return [
        from_hex(str(key)[len(_PENDING) :], "a record id", prefix=False, error=StoreError)
        for (key,) in rows
    ]


def _clear(unit: ErasureUnit, record_id: bytes) -> None:
    with unit.transaction():
        unit.db.execute("DELETE FROM meta WHERE key = ?", (_PENDING + record_id.hex(),))


# --- PostgreSQL ------------------------------------------------------------------------------


def pg_refuse_without_rights(unit: ErasureUnit) -> None:
    """Refuse (before anything is logged) an erasure the role could not purge."""
    if not unit.is_postgres:
        return
    row = unit.db.one(
        "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
    )
    user, superuser = str(row[0]), bool(row[1])
    if superuser:
        return
    missing = []
    for table in _PG_TABLES:
        owner = unit.db.one(
            "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c"
            " WHERE c.oid = to_regclass(?)",
            (table,),
        )
        if owner is not None and owner[0]:
            continue
        try:
            maintain = unit.db.one("SELECT has_table_privilege(?, 'MAINTAIN')", (table,))
        except sqlite3.Error:  # before PostgreSQL 17 there is no MAINTAIN privilege
            maintain = None
        if not (maintain and maintain[0]):
            missing.append(table)
    if missing:
        raise StoreError(
            f"erasing on PostgreSQL needs VACUUM FULL of {', '.join(missing)} (to remove the "
            f"erased keys from the table files), which the role {user} may not run: it needs "
            "to own these tables (or, on PostgreSQL 17 and later, GRANT MAINTAIN ON "
            f"{', '.join(missing)} TO {user}); nothing was logged"
        )


def _pg_files(unit: ErasureUnit) -> dict[str, tuple[str, int]]:
    """Each key table's file path and file node."""
    out = {}
    for table in _PG_TABLES:
        row = unit.db.one("SELECT pg_relation_filepath(?), pg_relation_filenode(?)", (table, table))
        out[table] = (str(row[0]), int(row[1]))
    return out


def _pg_read(unit: ErasureUnit, path: str) -> Iterator[bytes]:
    """The file's bytes in overlapping chunks (``pg_read_binary_file`` needs superuser or
    pg_read_server_files: a :class:`PermissionError` otherwise)."""
    offset = 0
    while True:
        try:
            row = unit.db.one(
                "SELECT pg_read_binary_file(?, ?, ?, true)", (path, offset, _CHUNK + 4096)
            )
        except sqlite3.Error as exc:
            if "permission denied" in str(exc).lower():
                raise PermissionError(str(exc)) from exc
            raise
        data = bytes(row[0]) if row and row[0] is not None else b""
        if data:
            yield data
        if len(data) < _CHUNK + 4096:
            return
        offset += _CHUNK


def _pg_purge(unit: ErasureUnit, prints: list[Fingerprint], wait: float) -> PurgeResult:
    before = _pg_files(unit)
    fault_point("erase-purge")
    conn = unit.db.conn
    conn.execute(f"SET lock_timeout = '{int(wait * 1000)}ms'")
    try:
        conn.execute("VACUUM (FULL) " + ", ".join(_PG_TABLES))
    except sqlite3.OperationalError as exc:
        if "lock" in str(exc).lower():
            raise _PendingError(
                "other sessions hold the key tables (a long read, an export): the tables "
                f"could not be rewritten within {wait:g} s"
            ) from exc
        raise
    finally:
        with contextlib.suppress(sqlite3.Error, StoreError):
            conn.execute("RESET lock_timeout")
    after = _pg_files(unit)
    same = [t for t in _PG_TABLES if after[t][1] == before[t][1]]
    if same:
        raise _PendingError(f"VACUUM FULL did not rewrite {', '.join(same)}")
    try:
        for table, (path, _) in after.items():
            for chunk in _pg_read(unit, path):
                if any(p.found_in(chunk) for p in prints):
                    raise _PendingError(f"an erased secret is still in the file of {table}")
    except PermissionError:
        return PurgeResult(
            tuple(f"table {t}" for t in _PG_TABLES),
            "every key table was rewritten into new files from its live rows; reading the "
            "files back needs pg_read_server_files",
        )
    return PurgeResult(
        tuple(f"{t} ({after[t][0]})" for t in _PG_TABLES),
        "table files rewritten and read back",
    )


# --- SQLite ----------------------------------------------------------------------------------


def _file_holds(path: Path, prints: list[Fingerprint]) -> bool:
    """Whether any fingerprinted blob is in the file (read in overlapping chunks: memory stays
    flat whatever the store's size)."""
    overlap = max((p.length for p in prints), default=1)
    try:
        with open(path, "rb") as fh:
            tail = b""
            while chunk := fh.read(_CHUNK):
                data = tail + chunk
                if any(p.found_in(data) for p in prints):
                    return True
                tail = data[-overlap:]
    except FileNotFoundError:
        return False
    return False


def _sqlite_purge(unit: ErasureUnit, prints: list[Fingerprint], wait: float) -> PurgeResult:
    db = unit.db
    fault_point("erase-purge")
    conn = db.conn
    timeout = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
    conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout = {timeout}")
    path = Path(db.path)
    files = [path, path.with_name(path.name + "-wal")]
    found = [f.name for f in files if _file_holds(f, prints)]
    if found or busy:
        why = (
            "another connection holds a read transaction (a long export, a running service), "
            "so SQLite keeps the older pages for it"
            if busy
            else "the checkpoint did not reach them"
        )
        raise _PendingError(
            f"the erased secrets are still in {', '.join(found) or path.name}: {why}"
        )
    return PurgeResult(tuple(f.name for f in files), "checkpointed, then read back")


class _PendingError(Exception):
    """A purge that could not finish; its message says why."""


def purge(unit: ErasureUnit, record_id: bytes, *, wait: float = ERASE_WAIT) -> PurgeResult | None:
    """Finish the pending erasure of ``record_id`` (none: ``None``): purge, verify, clear.

    Raises :class:`ErasurePendingError` when the secrets could not be verified gone."""
    found = pending(unit, record_id)
    if found is None:
        return None
    event_id, prints = found
    try:
        if unit.is_postgres:
            result = _pg_purge(unit, prints, wait)
        else:
            result = _sqlite_purge(unit, prints, wait)
    except (_PendingError, sqlite3.Error, StoreError, OSError) as exc:
        why = str(exc) if isinstance(exc, _PendingError) else _why(exc)
        raise ErasurePendingError(
            f"record {to_hex(record_id)}: the erasure is logged (event {to_hex(event_id)}) and "
            f"its keys are unusable through okeios, but their bytes may still be on disk: "
            f"{why}. Run `okeios erase {to_hex(record_id)}` again to finish"
        ) from exc
    _clear(unit, record_id)
    return result


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        text = exc.strerror
    if "full" in text.lower() or (isinstance(exc, OSError) and exc.errno == 28):
        return f"the disk is full ({text})"
    return text
