"""The parts of a store's SQLite database, each a small class over its own tables.

:class:`Database` is the connection and its transactions; :class:`Nodes` the stored Merkle tree
(:mod:`okeios._internal.publish.tree`), :class:`Events` the signed events and each record's head,
:class:`Versions` the sealed record versions, :class:`Grants` the recipients and their wrapped
keys, :class:`Checkpoints` the signed tree heads, :class:`Journal` the anchoring journal and
:class:`Resources` the private map from FHIR resource identity to record. None of them decides
anything: the publisher decides what is written and these keep it.

Concurrency: any number of processes may open one store. Every write is one ``BEGIN IMMEDIATE``
transaction (writers queue on SQLite's lock, up to the busy timeout); the log index of a new
event is taken inside that transaction, from the stored tree, so two writers never race for it.
Readers read committed rows: everything they read by index (nodes, events, checkpoints) is
append-only, so a newer writer never invalidates what a reader already holds.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from okeios._internal.faults import fault_point
from okeios._internal.protocol.events import SignedEvent, event_from_message
from okeios._internal.protocol.kinds import CONTENT_KINDS, KEY_KINDS, START_KINDS, sql_list
from okeios._internal.publish.publisher import Entry, Head, LoggedEvent
from okeios._internal.publish.tree import StoredTree, frontier_positions
from okeios.errors import InputError, StoreError

__all__ = [
    "EVENTS_FIRST_INDEX",
    "JOURNAL_STATES",
    "MIGRATE_1_TO_2",
    "MIGRATE_2_TO_3",
    "RESOURCES_TYPE_INDEX",
    "SCHEMA",
    "SCHEMA_VERSION",
    "Checkpoints",
    "Database",
    "Events",
    "Grants",
    "IdentityEvents",
    "Journal",
    "JournalEntry",
    "Meta",
    "Nodes",
    "ResourceRow",
    "Resources",
    "StoreError",
    "StoredEvents",
]

SCHEMA_VERSION = 3
BUSY_TIMEOUT = 60.0  # seconds a writer waits for another writer before giving up

# Each record's first event (CREATE or DERIVE), in log order: what `okeios records` pages
# through. Stores made before it get it when they are upgraded to schema 3 (MIGRATE_2_TO_3).
EVENTS_FIRST_INDEX = (
    "CREATE INDEX IF NOT EXISTS events_first ON events (idx) WHERE kind IN " + sql_list(START_KINDS)
)

# The records of each type in the order they were first logged: what `okeios records --type T`
# pages through (an index range from the cursor), and what a count of a type reads.
RESOURCES_TYPE_INDEX = "CREATE INDEX resources_type_first ON resources (type, first_idx)"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE versions (
    record_id BLOB NOT NULL, version INTEGER NOT NULL,
    payload BLOB NOT NULL,          -- the sealed record (AES-256-GCM under the data key)
    data_key BLOB,                  -- the data key, sealed under the store's master key
    seed BLOB,                      -- the commitment seed, sealed under the master key
    digests BLOB NOT NULL,          -- the sorted field digests (public: salted)
    erased INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (record_id, version));
CREATE TABLE recipients (address TEXT PRIMARY KEY, binding TEXT NOT NULL);
CREATE TABLE grants (
    id INTEGER PRIMARY KEY, record_id BLOB NOT NULL, version INTEGER NOT NULL,
    recipient TEXT NOT NULL, wrapped BLOB, grant_event BLOB NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0, revoke_event BLOB);
CREATE INDEX grants_record ON grants (record_id, recipient);
CREATE TABLE events (
    idx INTEGER PRIMARY KEY, event_id BLOB NOT NULL UNIQUE, record_id BLOB NOT NULL,
    kind TEXT NOT NULL, message TEXT NOT NULL, signature BLOB NOT NULL,
    version INTEGER NOT NULL, time INTEGER NOT NULL);
CREATE INDEX events_record ON events (record_id, idx);
CREATE TABLE nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE checkpoints (
    tree_size INTEGER PRIMARY KEY, root BLOB NOT NULL, signature BLOB NOT NULL,
    created REAL NOT NULL);
CREATE TABLE journal (
    id INTEGER PRIMARY KEY, chain_id INTEGER NOT NULL, registry TEXT NOT NULL,
    tree_size INTEGER NOT NULL, root BLOB NOT NULL, state TEXT NOT NULL,
    prev_size INTEGER, raw_tx BLOB, tx_hash BLOB, nonce INTEGER,
    block_number INTEGER, block_hash BLOB, timestamp INTEGER, error TEXT,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX journal_chain ON journal (chain_id, registry, tree_size);
CREATE INDEX journal_state ON journal (chain_id, registry, state, tree_size);
CREATE INDEX journal_final ON journal (state, tree_size);
CREATE TABLE resources (
    key BLOB PRIMARY KEY,           -- HMAC-SHA256 of 'Type/id' (or the caller's key) under
                                    -- the store's identity key: never leaves the store
    record_id BLOB NOT NULL UNIQUE,
    type BLOB NOT NULL,             -- HMAC of the resourceType (of '' for a caller's key)
    label BLOB NOT NULL,            -- 'Type/id' (or the key), sealed under the master key
    version_id TEXT,                -- meta.versionId of the latest version, if it had one
    content BLOB NOT NULL,          -- HMAC of the latest version's canonical bytes
    first_idx INTEGER NOT NULL);    -- the log index of the record's first event
"""
SCHEMA += RESOURCES_TYPE_INDEX + ";\n" + EVENTS_FIRST_INDEX + ";\n"

# Upgrading a schema 1 store: the tables it lacks, filled from what it has.
MIGRATE_1_TO_2 = """
ALTER TABLE events ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN time INTEGER NOT NULL DEFAULT 0;
UPDATE events SET version = json_extract(message, '$.version'),
                  time = json_extract(message, '$.time');
CREATE TABLE nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE INDEX grants_record ON grants (record_id, recipient);
CREATE INDEX journal_state ON journal (chain_id, registry, state, tree_size);
CREATE INDEX journal_final ON journal (state, tree_size);
CREATE TABLE resources (
    key BLOB PRIMARY KEY, record_id BLOB NOT NULL UNIQUE, type BLOB NOT NULL,
    label BLOB NOT NULL, version_id TEXT, content BLOB NOT NULL);
CREATE INDEX resources_type ON resources (type);
"""

# Upgrading a schema 2 store (one transaction with the rest of the upgrade: a store killed
# half way re-opens as schema 2 and upgrades again): each resource row gets the log index of its
# record's first event, in one statement, and the index of types becomes the index of types in
# that order; a store made before the index of first events gets it. (SQLite adds a NOT NULL
# column only with a default: every row is given its value by the UPDATE, and every write names
# the column.)
MIGRATE_2_TO_3 = ";\n".join(
    (
        "ALTER TABLE resources ADD COLUMN first_idx INTEGER NOT NULL DEFAULT -1",
        "UPDATE resources SET first_idx ="
        " (SELECT MIN(idx) FROM events e WHERE e.record_id = resources.record_id)",
        "DROP INDEX resources_type",
        RESOURCES_TYPE_INDEX,
        EVENTS_FIRST_INDEX,
    )
)

JOURNAL_STATES = ("prepared", "sent", "mined", "final", "dropped", "failed")
_JOURNAL_COLUMNS = (
    "id, chain_id, registry, tree_size, root, state, prev_size, raw_tx, tx_hash, nonce,"
    " block_number, block_hash, timestamp, error"
)
_JOURNAL_FIELDS = frozenset(
    (
        "state",
        "prev_size",
        "raw_tx",
        "tx_hash",
        "nonce",
        "block_number",
        "block_hash",
        "timestamp",
        "error",
    )
)


class Database:
    """One connection to a store's database, with reentrant write transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # Owner-only database (SQLite gives its -wal and -shm files the same mode): create
            # it 0600 before SQLite does, and tighten one an older version left readable.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            try:
                if os.fstat(fd).st_mode & 0o077:
                    os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
            if path.parent.stat().st_mode & 0o077:
                path.parent.chmod(0o700)
        except OSError as exc:
            raise StoreError(f"cannot open {path}: {exc.strerror}") from exc
        try:
            self.conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
            self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA secure_delete=ON")  # erased keys are overwritten on disk
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a readable okeios store: {exc}") from exc
        self._depth = 0
        self.on_begin: list[Callable[[], object]] = []

    def execute(self, sql: str, args: Sequence[object] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, args)

    def one(self, sql: str, args: Sequence[object] = ()) -> Any:
        """The first row of a query (a tuple), or ``None``."""
        return self.conn.execute(sql, args).fetchone()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def read_ahead(self, sql: str, args: Sequence[object] = ()) -> None:
        """A read the current (or next) write transaction will make: a server's database sends
        it with its next statement and answers the read from that, one round trip fewer inside
        the write lock. SQLite reads in this process: nothing to do."""

    @contextmanager
    def transaction(
        self, ahead: Sequence[tuple[str, Sequence[object]]] = ()
    ) -> Iterator[sqlite3.Connection]:
        """One atomic write step (nested calls join the outer one). It starts with the write
        lock held (``BEGIN IMMEDIATE``), so what it reads is what it extends. ``ahead``: reads
        it will make first (:meth:`read_ahead`), asked with the lock."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"the store in {self.path.parent} is locked: {exc}") from exc
        self._depth = 1
        try:
            for sql, args in ahead:
                self.read_ahead(sql, args)
            for hook in self.on_begin:
                hook()
            yield self.conn
        except sqlite3.Error as exc:
            self._depth = 0
            self._rollback()
            raise StoreError(f"the store in {self.path.parent} failed a write: {exc}") from exc
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        else:
            self._depth = 0
            fault_point("commit")
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"the store in {self.path.parent} failed a commit: {exc}") from exc
            fault_point("committed")

    def _rollback(self) -> None:
        """Roll back an open transaction; a connection that is gone already rolled it back
        (the error that brought us here is the one to report)."""
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except (sqlite3.Error, StoreError):
            pass

    def close(self) -> None:
        self.conn.close()


# The leaves stored (n) and, for each set bit of n, the frontier node at that level: the one
# over the leaves that follow the larger subtrees, index (n >> (level + 1)) * 2 (SQLite and
# PostgreSQL alike).
_FRONTIER = """
WITH RECURSIVE size(n) AS (SELECT COALESCE(MAX(idx) + 1, 0) FROM nodes WHERE level = 0),
bits(b) AS (SELECT 0 UNION ALL SELECT b + 1 FROM bits WHERE b < 62)
SELECT size.n, bits.b, nodes.hash FROM size
LEFT JOIN bits ON (size.n >> bits.b) & 1 = 1
LEFT JOIN nodes ON nodes.level = bits.b AND nodes.idx = (size.n >> (bits.b + 1)) * 2
"""


class Nodes:
    """The stored Merkle tree's nodes: a :class:`~okeios._internal.publish.tree.NodeStore` in
    SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get_node(self, level: int, index: int) -> bytes:
        row = self._db.one("SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, index))
        if row is None:
            raise StoreError(f"the store's Merkle tree lacks node ({level}, {index}): damaged")
        return bytes(row[0])

    def get_nodes(self, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The hashes of the nodes ``(level, index)`` (a proof's), one query per 200 nodes."""
        found: dict[tuple[int, int], bytes] = {}
        unique = sorted(set(wanted))
        for i in range(0, len(unique), 200):
            part = unique[i : i + 200]
            where = " OR ".join(["(level = ? AND idx = ?)"] * len(part))
            args = [v for pair in part for v in pair]
            sql = "SELECT level, idx, hash FROM nodes WHERE " + where  # noqa: S608 - marks only
            for level, idx, digest in self._db.execute(sql, args):
                found[(int(level), int(idx))] = bytes(digest)
        for level, index in unique:
            if (level, index) not in found:
                raise StoreError(f"the store's Merkle tree lacks node ({level}, {index}): damaged")
        return found

    def put_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        self._db.conn.executemany("INSERT INTO nodes VALUES (?, ?, ?)", nodes)

    def stored_size(self) -> int:
        row = self._db.one("SELECT MAX(idx) FROM nodes WHERE level = 0")
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def frontier(self) -> tuple[int, dict[int, bytes]]:
        """The number of leaves stored and the hashes of the frontier's nodes by level (see
        :func:`~okeios._internal.publish.tree.frontier_positions`), in one query: a writer
        reads them under the write lock, where every round trip to a server counts."""
        rows = self._db.execute(_FRONTIER).fetchall()
        size = int(rows[0][0]) if rows else 0
        found = {int(level): bytes(h) for _, level, h in rows if h is not None}
        for level, index in frontier_positions(size):
            if level not in found:
                raise StoreError(f"the store's Merkle tree lacks node ({level}, {index}): damaged")
        return size, found

    def level(self, level: int) -> Iterator[tuple[int, bytes]]:
        """Every stored node of one level, in order (for the integrity check)."""
        for idx, digest in self._db.execute(
            "SELECT idx, hash FROM nodes WHERE level = ? ORDER BY idx", (level,)
        ):
            yield int(idx), bytes(digest)


def _logged(idx: int, message: str, signature: bytes) -> LoggedEvent:
    event = event_from_message(json.loads(str(message)))
    return LoggedEvent(SignedEvent(event, bytes(signature)), int(idx))


_INSERT_EVENT = (
    "INSERT INTO events (idx, event_id, record_id, kind, message, signature, version, time)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_VERSION = (
    "INSERT INTO versions (record_id, version, payload, data_key, seed, digests)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


class Events:
    """The signed events in log order; a record's head is its latest event (by index)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def between(self, start: int, stop: int) -> Iterator[LoggedEvent]:
        """The events at log indices ``start`` (inclusive) to ``stop`` (exclusive), in order."""
        for row in self._db.execute(
            "SELECT idx, message, signature FROM events WHERE idx >= ? AND idx < ? ORDER BY idx",
            (start, stop),
        ):
            yield _logged(*row)

    def identity_count(self) -> int:
        """How many identity events the log holds (a scan: identity events are rare writes)."""
        kinds = sorted(str(k) for k in KEY_KINDS)
        row = self._db.one("SELECT COUNT(*) FROM events WHERE kind IN (?, ?, ?)", kinds)
        return int(row[0])

    def save_many(self, rows: Sequence[tuple[object, ...]]) -> None:
        """Insert events as rows ``(idx, event_id, record_id, kind, message, signature,
        version, time)``, the message being the event's EIP-712 message as JSON (batch ingest
        prepares them in its workers)."""
        self._db.conn.executemany(_INSERT_EVENT, rows)

    def get(self, event_id: bytes) -> LoggedEvent | None:
        row = self._db.one(
            "SELECT idx, message, signature FROM events WHERE event_id = ?", (event_id,)
        )
        return None if row is None else _logged(*row)

    def at(self, index: int) -> LoggedEvent | None:
        row = self._db.one("SELECT idx, message, signature FROM events WHERE idx = ?", (index,))
        return None if row is None else _logged(*row)

    def head_event(self, record_id: bytes) -> LoggedEvent | None:
        row = self._db.one(
            "SELECT idx, message, signature FROM events WHERE record_id = ?"
            " ORDER BY idx DESC LIMIT 1",
            (record_id,),
        )
        return None if row is None else _logged(*row)

    def head(self, record_id: bytes) -> Head | None:
        logged = self.head_event(record_id)
        if logged is None:
            return None
        e = logged.signed.event
        return Head(logged.id, e.version, e.commitment, e.ciphertext_digest)

    def find(self, raw: bytes) -> LoggedEvent | None:
        """An event by id, else the latest event of the record with that id."""
        return self.get(raw) or self.head_event(raw)

    def of_record(self, record_id: bytes) -> list[LoggedEvent]:
        rows = self._db.execute(
            "SELECT idx, message, signature FROM events WHERE record_id = ? ORDER BY idx",
            (record_id,),
        )
        return [_logged(*row) for row in rows]

    def ids_of(self, record_id: bytes) -> list[bytes]:
        rows = self._db.execute(
            "SELECT event_id FROM events WHERE record_id = ? ORDER BY idx", (record_id,)
        )
        return [bytes(r[0]) for r in rows]

    def content_event(self, record_id: bytes, version: int) -> bytes | None:
        row = self._db.one(
            "SELECT event_id FROM events WHERE record_id = ? AND version = ?"  # noqa: S608 (kinds are fixed names)
            f" AND kind IN {sql_list(CONTENT_KINDS)} ORDER BY idx DESC LIMIT 1",
            (record_id, version),
        )
        return None if row is None else bytes(row[0])

    def all(self) -> Iterator[SignedEvent]:
        for _, message, signature in self._db.execute(
            "SELECT idx, message, signature FROM events ORDER BY idx"
        ):
            yield SignedEvent(event_from_message(json.loads(message)), bytes(signature))

    def leaves(self) -> Iterator[tuple[int, bytes]]:
        """Every entry's index and leaf data (event id and signature), in order."""
        for idx, event_id, signature in self._db.execute(
            "SELECT idx, event_id, signature FROM events ORDER BY idx"
        ):
            yield int(idx), bytes(event_id) + bytes(signature)

    def record_ids(self) -> list[bytes]:
        rows = self._db.execute("SELECT record_id FROM events GROUP BY record_id ORDER BY MIN(idx)")
        return [bytes(r[0]) for r in rows]


class StoredEvents:
    """The :class:`~okeios._internal.publish.publisher.EventLog` of a store: the stored Merkle tree
    and the events table."""

    def __init__(self, tree: StoredTree, events: Events) -> None:
        self.tree = tree
        self.rows = events

    def append(self, entries: Sequence[Entry]) -> list[LoggedEvent]:
        """Append the entries' leaves to the stored tree and their rows to the events table,
        one statement for all."""
        indexes = self.tree.append_leaf_hashes([entry.leaf for entry in entries])
        out: list[LoggedEvent] = []
        rows: list[tuple[object, ...]] = []
        for entry, index in zip(entries, indexes, strict=True):
            s = entry.signed
            e = s.event
            rows.append((index, e.id, e.record_id, str(e.kind), entry.message, s.signature,
                         e.version, e.time))  # fmt: skip
            out.append(LoggedEvent(s, index))
        self.rows.save_many(rows)
        return out

    def get(self, event_id: bytes) -> LoggedEvent | None:
        return self.rows.get(event_id)

    def head(self, record_id: bytes) -> Head | None:
        return self.rows.head(record_id)

    def identity_count(self) -> int:
        return self.rows.identity_count()


class Versions:
    """The sealed versions of each record
    (:class:`~okeios._internal.publish.publisher.VersionStore`'s rows; the sealing itself is the
    store's, which holds the keys)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def insert(
        self,
        record_id: bytes,
        version: int,
        payload: bytes,
        data_key: bytes,
        seed: bytes,
        digests: bytes,
    ) -> None:
        self._db.execute(_INSERT_VERSION, (record_id, version, payload, data_key, seed, digests))

    def insert_many(self, rows: Sequence[tuple[bytes, int, bytes, bytes, bytes, bytes]]) -> None:
        """Insert versions ``(record_id, version, payload, data_key, seed, digests)``."""
        self._db.conn.executemany(_INSERT_VERSION, rows)

    def row(
        self, record_id: bytes, version: int
    ) -> tuple[bytes, bytes | None, bytes | None, bytes, int]:
        row = self._db.one(
            "SELECT payload, data_key, seed, digests, erased FROM versions"
            " WHERE record_id = ? AND version = ?",
            (record_id, version),
        )
        if row is None:
            raise InputError(f"record {record_id.hex()} has no stored version {version}")
        payload, data_key, seed, digests, erased = row
        return (
            bytes(payload),
            None if data_key is None else bytes(data_key),
            None if seed is None else bytes(seed),
            bytes(digests),
            int(erased),
        )

    def latest(self, record_id: bytes) -> int | None:
        row = self._db.one("SELECT MAX(version) FROM versions WHERE record_id = ?", (record_id,))
        return None if row is None or row[0] is None else int(row[0])

    def is_erased(self, record_id: bytes) -> bool:
        row = self._db.one("SELECT MAX(erased) FROM versions WHERE record_id = ?", (record_id,))
        return bool(row and row[0])

    def erase(self, record_id: bytes) -> None:
        self._db.execute(
            "UPDATE versions SET data_key = NULL, seed = NULL, erased = 1 WHERE record_id = ?",
            (record_id,),
        )


class Grants:
    """Recipients' bindings and the wrapped data keys granted to them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_recipient(self, address: str, binding: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO recipients VALUES (?, ?)", (address, binding))

    def binding(self, address: str) -> str | None:
        row = self._db.one("SELECT binding FROM recipients WHERE address = ?", (address,))
        return None if row is None else str(row[0])

    def add(
        self, record_id: bytes, version: int, recipient: str, wrapped: bytes, event_id: bytes
    ) -> None:
        self._db.execute(
            "INSERT INTO grants (record_id, version, recipient, wrapped, grant_event)"
            " VALUES (?, ?, ?, ?, ?)",
            (record_id, version, recipient, wrapped, event_id),
        )

    def latest(
        self, record_id: bytes, version: int, recipient: str
    ) -> tuple[bytes | None, bool] | None:
        """The latest grant of a version to a recipient: (wrapped key, revoked)."""
        row = self._db.one(
            "SELECT wrapped, revoked FROM grants WHERE record_id = ? AND version = ?"
            " AND recipient = ? ORDER BY id DESC LIMIT 1",
            (record_id, version, recipient),
        )
        if row is None:
            return None
        return (None if row[0] is None else bytes(row[0])), bool(row[1])

    def active(self, record_id: bytes, recipient: str) -> int:
        row = self._db.one(
            "SELECT COUNT(*) FROM grants WHERE record_id = ? AND recipient = ? AND revoked = 0",
            (record_id, recipient),
        )
        return int(row[0]) if row else 0

    def revoke(self, record_id: bytes, recipient: str, event_id: bytes) -> None:
        self._db.execute(
            "UPDATE grants SET revoked = 1, wrapped = NULL, revoke_event = ?"
            " WHERE record_id = ? AND recipient = ? AND revoked = 0",
            (event_id, record_id, recipient),
        )

    def erase(self, record_id: bytes) -> None:
        self._db.execute(
            "UPDATE grants SET wrapped = NULL, revoked = 1 WHERE record_id = ?", (record_id,)
        )


class Checkpoints:
    """Signed tree heads by size."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, size: int, root: bytes, signature: bytes, created: float) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO checkpoints VALUES (?, ?, ?, ?)",
            (size, root, signature, created),
        )

    def at(self, size: int) -> tuple[bytes, bytes] | None:
        row = self._db.one("SELECT root, signature FROM checkpoints WHERE tree_size = ?", (size,))
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def sizes(self) -> list[int]:
        return [
            int(r[0])
            for r in self._db.execute("SELECT tree_size FROM checkpoints ORDER BY tree_size")
        ]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One anchoring attempt of a checkpoint on one chain and registry."""

    id: int
    chain_id: int
    registry: str
    tree_size: int
    root: bytes
    state: str
    prev_size: int | None
    raw_tx: bytes | None
    tx_hash: bytes | None
    nonce: int | None
    block_number: int | None
    block_hash: bytes | None
    timestamp: int | None
    error: str | None


class Journal:
    """The anchoring journal. Every question it answers is one indexed query, so its cost
    does not grow with the number of anchors."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _select(self, where: str, args: Sequence[object], tail: str = "") -> list[JournalEntry]:
        rows = self._db.execute(
            f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE {where} {tail}",  # noqa: S608 - constants
            args,
        ).fetchall()
        return [JournalEntry(*row) for row in rows]

    def entries(
        self, chain_id: int, registry: str, states: Iterable[str] | None = None
    ) -> list[JournalEntry]:
        """Entries on one chain and registry (in some states only), oldest first."""
        if states is None:
            return self._select(
                "chain_id = ? AND registry = ?", (chain_id, registry), "ORDER BY id"
            )
        wanted = sorted(set(states))
        marks = ", ".join("?" * len(wanted))
        return self._select(
            f"chain_id = ? AND registry = ? AND state IN ({marks})",
            (chain_id, registry, *wanted),
            "ORDER BY id",
        )

    def latest(
        self, chain_id: int, registry: str, states: Iterable[str], limit: int
    ) -> list[JournalEntry]:
        """The ``limit`` entries in ``states`` with the largest tree sizes, oldest first."""
        wanted = sorted(set(states))
        marks = ", ".join("?" * len(wanted))
        found = self._select(
            f"chain_id = ? AND registry = ? AND state IN ({marks})",
            (chain_id, registry, *wanted, limit),
            "ORDER BY tree_size DESC, id DESC LIMIT ?",
        )
        return found[::-1]

    def at_size(
        self, chain_id: int, registry: str, tree_size: int, states: Iterable[str]
    ) -> JournalEntry | None:
        wanted = sorted(set(states))
        marks = ", ".join("?" * len(wanted))
        found = self._select(
            f"chain_id = ? AND registry = ? AND tree_size = ? AND state IN ({marks})",
            (chain_id, registry, tree_size, *wanted),
            "ORDER BY id DESC LIMIT 1",
        )
        return found[0] if found else None

    def add(self, chain_id: int, registry: str, tree_size: int, root: bytes, now: float) -> int:
        cur = self._db.execute(
            "INSERT INTO journal (chain_id, registry, tree_size, root, state, created, updated)"
            " VALUES (?, ?, ?, ?, 'prepared', ?, ?)",
            (chain_id, registry, tree_size, root, now, now),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def update(self, entry_id: int, now: float, **fields: object) -> None:
        unknown = set(fields) - _JOURNAL_FIELDS
        if unknown:
            raise InputError(f"unknown journal fields {sorted(unknown)}")
        if "state" in fields and fields["state"] not in JOURNAL_STATES:
            raise InputError(f"unknown journal state {fields['state']!r}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._db.execute(
            f"UPDATE journal SET {sets}, updated = ? WHERE id = ?",  # noqa: S608 - names checked
            (*fields.values(), now, entry_id),
        )

    def get(self, entry_id: int) -> JournalEntry:
        found = self._select("id = ?", (entry_id,))
        if not found:
            raise StoreError(f"no journal entry {entry_id}")
        return found[0]

    def anchored_for(
        self, index: int, chain_id: int | None = None, registry: str | None = None
    ) -> JournalEntry | None:
        """The smallest final anchor whose tree holds entry ``index``."""
        where = "state = 'final' AND tree_size > ?"
        args: list[object] = [index]
        if chain_id is not None and registry is not None:
            where = "chain_id = ? AND registry = ? AND " + where
            args = [chain_id, registry, index]
        elif chain_id is not None:
            where += " AND chain_id = ?"
            args.append(chain_id)
        found = self._select(where, args, "ORDER BY tree_size LIMIT 1")
        return found[0] if found else None

    def latest_final(self, chain_id: int, registry: str) -> JournalEntry | None:
        found = self.latest(chain_id, registry, ("final",), 1)
        return found[0] if found else None

    def final_sizes(self) -> list[int]:
        """The tree sizes anchored for good (on any chain), ascending."""
        rows = self._db.execute(
            "SELECT DISTINCT tree_size FROM journal WHERE state = 'final' ORDER BY tree_size"
        )
        return [int(r[0]) for r in rows]


class Meta:
    """The store's settings: schema, log name, the current publisher key and, once the log
    was handed over to another key, its ``organisation`` (the key that opened the log and
    names it, docs/identity.md)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> str | None:
        row = self._db.one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def delete(self, key: str) -> None:
        self._db.execute("DELETE FROM meta WHERE key = ?", (key,))


class IdentityEvents:
    """The identity events of the log (AUTHORISE, DEAUTHORISE, HANDOVER), in log order."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self) -> list[LoggedEvent]:
        rows = self._db.execute(
            "SELECT idx, message, signature FROM events"  # noqa: S608 (kinds are fixed names)
            f" WHERE kind IN {sql_list(KEY_KINDS)} ORDER BY idx"
        )
        return [_logged(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class ResourceRow:
    """A record's resource identity, as stored (the label still sealed)."""

    record_id: bytes
    type: bytes
    label: bytes
    version_id: str | None
    content: bytes


# A resource row, with the log index of its record's first event (the record's events are
# written before its row, in the same transaction; an amend keeps the index).
_PUT_RESOURCE = (
    "INSERT OR REPLACE INTO resources (key, record_id, type, label, version_id, content, first_idx)"
    " VALUES (?, ?, ?, ?, ?, ?, (SELECT MIN(idx) FROM events WHERE record_id = ?))"
)


class Resources:
    """The private map from resource identity (``Type/id``, or a caller's key) to record, with
    the log index of each record's first event (the order of ``okeios records --type T``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: bytes) -> ResourceRow | None:
        row = self._db.one(
            "SELECT record_id, type, label, version_id, content FROM resources WHERE key = ?",
            (key,),
        )
        return None if row is None else self._row(row)

    def of_record(self, record_id: bytes) -> ResourceRow | None:
        row = self._db.one(
            "SELECT record_id, type, label, version_id, content FROM resources WHERE record_id = ?",
            (record_id,),
        )
        return None if row is None else self._row(row)

    @staticmethod
    def _row(row: tuple[Any, ...]) -> ResourceRow:
        rid, kind, label, version_id, content = row
        return ResourceRow(
            bytes(rid),
            bytes(kind),
            bytes(label),
            None if version_id is None else str(version_id),
            bytes(content),
        )

    def put(
        self,
        key: bytes,
        record_id: bytes,
        kind: bytes,
        label: bytes,
        version_id: str | None,
        content: bytes,
    ) -> None:
        args = (key, record_id, kind, label, version_id, content, record_id)
        self._db.execute(_PUT_RESOURCE, args)

    def put_many(
        self, rows: Sequence[tuple[bytes, bytes, bytes, bytes, str | None, bytes]]
    ) -> None:
        """:meth:`put` of many rows ``(key, record_id, type, label, version_id, content)``."""
        self._db.conn.executemany(_PUT_RESOURCE, [(*row, row[1]) for row in rows])

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, ResourceRow]:
        """The rows of those of ``keys`` that have one (one query per 500 keys)."""
        found: dict[bytes, ResourceRow] = {}
        unique = sorted(set(keys))
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            marks = ", ".join("?" * len(part))
            sql = (
                "SELECT key, record_id, type, label, version_id, content FROM resources"  # noqa: S608
                f" WHERE key IN ({marks})"
            )
            for row in self._db.execute(sql, part):
                found[bytes(row[0])] = self._row(row[1:])
        return found

    @staticmethod
    def present_queries(keys: Sequence[bytes]) -> list[tuple[str, Sequence[object]]]:
        """The queries of :meth:`present` (to ask them ahead: ``Database.read_ahead``)."""
        out: list[tuple[str, Sequence[object]]] = []
        for i in range(0, len(keys), 500):
            part = list(keys[i : i + 500])
            marks = ", ".join("?" * len(part))
            out.append((f"SELECT key FROM resources WHERE key IN ({marks})", part))  # noqa: S608
        return out

    def present(self, keys: Sequence[bytes]) -> set[bytes]:
        """Which of ``keys`` have a row (one query per 500 keys)."""
        found: set[bytes] = set()
        for sql, part in self.present_queries(keys):
            found.update(bytes(r[0]) for r in self._db.execute(sql, part))
        return found

    def forget(self, record_id: bytes) -> None:
        self._db.execute("DELETE FROM resources WHERE record_id = ?", (record_id,))
