"""A store's database on a PostgreSQL server, for a log shared by several machines.

The store's tables (:mod:`okeios._internal.publish.tables`) speak SQL through a small slice of
Python's DB-API as :mod:`sqlite3` offers it: ``execute``/``executemany`` with ``?`` parameters,
cursors with ``fetchone``/``fetchall``/iteration and ``lastrowid``, explicit ``BEGIN IMMEDIATE``,
``COMMIT`` and ``ROLLBACK``. :class:`PgConnection` offers the same slice over a psycopg 3
connection, so every table class runs unchanged on both engines and there is one set of
queries to review. It translates, once per distinct statement (:func:`translate`):

* the write lock. SQLite's ``BEGIN IMMEDIATE`` takes the database's single write lock; here it
  becomes ``BEGIN`` (READ COMMITTED) followed by ``pg_advisory_xact_lock`` on the store's key
  (:func:`lock_key`, one per schema), held until ``COMMIT`` or ``ROLLBACK`` (a writer waits
  for it at most the store's busy timeout, then fails as a locked SQLite store does). Every write
  transaction of every process on every machine therefore runs one after the other, and
  because each statement of a READ COMMITTED transaction sees everything committed before it
  started, a writer that obtained the lock reads the log's current size and frontier before
  it appends: the log has one sequence. The primary keys on ``events.idx`` and
  ``nodes (level, idx)`` refuse a fork even if a client skipped the lock;
* few round trips while the lock is held. Every round trip inside the lock keeps the other
  writers waiting, the longer the busier the machine (each one waits for the server's process
  and then the writer's to be scheduled again). So a write transaction is pipelined: ``BEGIN``
  and the lock are sent with the transaction's first statement that needs an answer (the
  log's size and frontier, read in one query), and the writes (``INSERT``, ``UPDATE``,
  ``DELETE``), whose answers nothing waits for, are queued and sent with the next statement that
  needs one, at the latest with ``COMMIT``. The server runs every statement in the order it was
  given, in the one transaction, so what is read still sees what was written before it, and
  nothing is kept unless the ``COMMIT`` is acknowledged; an error in a queued write is raised by
  the statement it was sent with (then the transaction is rolled back, as for any failed write).
  A writer that does not get the lock within the busy timeout gets "database is locked" from
  its first statement, as from SQLite's ``BEGIN IMMEDIATE``;
* readers take no lock. What they read by index (events, tree nodes, checkpoints) is append
  only and committed in index order (the writers are serialised), so a reader that read the
  size first finds every node below it: it sees a consistent tree of that size;
* the schema (``CREATE TABLE``, ``ALTER TABLE``): ``BLOB`` is ``BYTEA``, integers are
  ``BIGINT``, ``REAL`` is ``DOUBLE PRECISION``, an ``id INTEGER PRIMARY KEY`` (SQLite's row id)
  is an identity column whose new value an ``INSERT`` returns (``lastrowid``), ``WITHOUT ROWID``
  is dropped;
* ``INSERT OR REPLACE`` / ``INSERT OR IGNORE`` become ``ON CONFLICT`` clauses on the table's
  primary key (:data:`UPSERT_KEYS`); ``?`` becomes ``%s``;
* ``PRAGMA``: the integrity check has no PostgreSQL equivalent here (the server checks its own
  pages; ``okeios check`` still recomputes the tree and every event) and answers ``ok``; the
  WAL checkpoint after an erasure becomes ``VACUUM`` of the key tables (see the README: the
  server's own WAL and backups keep old row versions until they are recycled); the others are
  SQLite tuning and do nothing.

Errors from psycopg are re-raised as the matching :mod:`sqlite3` exception (integrity,
operational, other database error), the DB-API vocabulary the store already handles, except
a lost connection (the server died or restarted, the network dropped it): that is a
:class:`~okeios._internal.publish.tables.StoreError` saying so, whatever statement met it. A
transaction the server did not acknowledge was not committed (the server rolls it back), so
running the command again once the server is back finishes the job.

The anchoring journal is crash-safe as on SQLite: every journal step is its own committed
transaction before the step it records is taken, and the server's default
``synchronous_commit = on`` makes a commit durable before it returns.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from okeios._internal.publish.tables import BUSY_TIMEOUT, Database, StoreError
from okeios.errors import InputError


class _LostPipelineNoise(logging.Filter):
    """Drop psycopg's "error ignored terminating <Pipeline [BAD]>" warning: it comes when the
    server is lost during a batched write, which okeios already reports, once, as a
    :class:`StoreError` (a second, foreign line would only say the same thing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "error ignored terminating" not in record.getMessage()


logging.getLogger("psycopg").addFilter(_LostPipelineNoise())

__all__ = [
    "UPSERT_KEYS",
    "PgConnection",
    "PgCursor",
    "PgDatabase",
    "is_database_url",
    "lock_key",
    "redact_url",
    "translate",
]

_LOCK_TAG = b"okeios/log-write-lock/v1\x00"


def lock_key(schema: str) -> int:
    """The advisory lock of the store in ``schema``: a signed 64-bit key (advisory locks are
    per database; the schema name keeps two stores of one database from sharing a lock)."""
    digest = hashlib.sha256(_LOCK_TAG + schema.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# The conflict target and updated columns of each table written with INSERT OR REPLACE/IGNORE.
UPSERT_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "recipients": (("address",), ("binding",)),
    "checkpoints": (("tree_size",), ("root", "signature", "created")),
    "resources": (
        ("key",),
        ("record_id", "type", "label", "version_id", "content", "first_idx"),
    ),
    "meta": (("key",), ("value",)),
}
# Tables whose ``id`` is generated: an INSERT into them returns it.
IDENTITY_TABLES = frozenset({"grants", "journal"})

_URL_SCHEMES = ("postgresql://", "postgres://")
_BEGIN = re.compile(r"\s*BEGIN(\s+(IMMEDIATE|DEFERRED|EXCLUSIVE))?\s*;?\s*$", re.IGNORECASE)
_INSERT = re.compile(
    r"^\s*INSERT\s+(?:OR\s+(REPLACE|IGNORE)\s+)?INTO\s+(\w+)", re.IGNORECASE | re.DOTALL
)
_PRAGMA = re.compile(r"^\s*PRAGMA\s+(\w+)", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"^\s*(CREATE|ALTER)\s+TABLE", re.IGNORECASE)


class _Lock:
    """Marker: take the log's write lock."""


_WRITES = ("INSERT", "UPDATE", "DELETE")  # statements whose answer a write does not wait for
_LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout ran out


# A statement waiting to be sent: SQL, arguments (rows, for many), for many rows, and the key
# its answer is kept under when it is a read asked ahead.
_Queued = tuple[str, Any, bool, "tuple[str, tuple[Any, ...]] | None"]


# A plain INSERT of one row of parameters (no conflict clause, nothing returned).
_VALUES = re.compile(
    r"^\s*(INSERT\s+INTO\s+\w+(?:\s*\([\w\s,]+\))?)\s+VALUES\s*(\((?:%s\s*,\s*)*%s\))\s*;?\s*$",
    re.IGNORECASE,
)
_ROWS_PER_INSERT = 256


def _no_answer(sql: str) -> bool:
    """Whether a write statement returns nothing (no ``RETURNING``): nothing waits for it."""
    return "RETURNING" not in sql.upper()


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None)


def is_database_url(value: str | None) -> bool:
    return bool(value) and str(value).startswith(_URL_SCHEMES)


def redact_url(url: str) -> str:
    """The URL without its password (for messages)."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _placeholders(sql: str) -> str:
    """``?`` to ``%s`` and ``%`` to ``%%``, outside quoted literals and identifiers."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote is not None:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def _schema(sql: str) -> str:
    sql = re.sub(r"--[^\n]*", "", sql)
    sql = re.sub(
        r"\bid\s+INTEGER\s+PRIMARY\s+KEY\b",
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        sql,
        flags=re.IGNORECASE,
    )
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql, flags=re.IGNORECASE)
    sql = re.sub(r"\bBLOB\b", "BYTEA", sql, flags=re.IGNORECASE)
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql, flags=re.IGNORECASE)
    return re.sub(r"\)\s*WITHOUT\s+ROWID", ")", sql, flags=re.IGNORECASE)


def translate(sql: str) -> tuple[str | type[_Lock] | None, bool]:
    """The PostgreSQL form of one SQLite statement, and whether it returns a new row id.

    ``None`` means "nothing to run" (SQLite tuning); :class:`_Lock` means "begin, then take
    the write lock". Raises :class:`~okeios.errors.InputError` for a statement it cannot
    translate faithfully (a new table written with ``INSERT OR REPLACE`` must be declared in
    :data:`UPSERT_KEYS`).
    """
    if _BEGIN.match(sql):
        return _Lock, False
    pragma = _PRAGMA.match(sql)
    if pragma:
        name = pragma.group(1).lower()
        if name in ("quick_check", "integrity_check"):
            return "SELECT 'ok'", False
        if name == "wal_checkpoint":
            return "VACUUM versions, grants", False
        return None, False
    if _CREATE_TABLE.match(sql):
        return _schema(sql), False
    insert = _INSERT.match(sql)
    returning = False
    if insert:
        conflict, table = insert.group(1), insert.group(2).lower()
        if conflict is not None:
            if table not in UPSERT_KEYS:
                raise InputError(f"no conflict key declared for INSERT OR {conflict} INTO {table}")
            keys, columns = UPSERT_KEYS[table]
            sql = f"INSERT INTO {insert.group(2)}{sql[insert.end() :]}"
            target = ", ".join(keys)
            if conflict.upper() == "IGNORE":
                sql = f"{sql.rstrip().rstrip(';')} ON CONFLICT ({target}) DO NOTHING"
            else:
                sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
                sql = f"{sql.rstrip().rstrip(';')} ON CONFLICT ({target}) DO UPDATE SET {sets}"
        elif table in IDENTITY_TABLES and "RETURNING" not in sql.upper():
            sql = f"{sql.rstrip().rstrip(';')} RETURNING id"
            returning = True
    return _placeholders(sql), returning


def _reraise(exc: Exception) -> sqlite3.Error:
    import psycopg

    message = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, psycopg.IntegrityError):
        return sqlite3.IntegrityError(message)
    if isinstance(exc, psycopg.OperationalError):
        return sqlite3.OperationalError(message)
    return sqlite3.DatabaseError(message)


class PgCursor:
    """The rows of one statement (fetched eagerly: results here are small or streamed by
    the caller in pages)."""

    def __init__(self, rows: list[tuple[Any, ...]], lastrowid: int | None, rowcount: int) -> None:
        self._rows = rows
        self._pos = 0
        self.lastrowid = lastrowid
        self.rowcount = rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._pos >= len(self._rows):
            return None
        row = self._rows[self._pos]
        self._pos += 1
        return row

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._rows[self._pos :]
        self._pos = len(self._rows)
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.fetchone()) is not None:
            yield row


class PgConnection:
    """The slice of :class:`sqlite3.Connection` the store uses, on a PostgreSQL server."""

    def __init__(
        self, url: str, *, connect_timeout: int = 30, lock_timeout: float = BUSY_TIMEOUT
    ) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise InputError(
                "a PostgreSQL store needs psycopg 3: pip install 'okeios[postgres]'"
            ) from exc
        self.url = url
        self.lock_timeout = lock_timeout
        try:
            # Every statement prepared at its first use: a store runs the same few again and
            # again, and the server then parses and plans each once (a third of its work on
            # a writer's rows, measured), not until a fifth run.
            self._conn = psycopg.connect(
                url, autocommit=True, connect_timeout=connect_timeout, prepare_threshold=0
            )
        except psycopg.Error as exc:
            raise sqlite3.OperationalError(
                f"cannot connect to {redact_url(url)}: {exc}".strip()
            ) from exc
        self._cache: dict[str, tuple[str | type[_Lock] | None, bool]] = {}
        schema = self._conn.execute("SELECT current_schema()").fetchone()
        if schema is None or schema[0] is None:
            self._conn.close()
            raise sqlite3.OperationalError(
                f"{redact_url(url)}: no schema to use (the search_path names none that exists)"
            )
        self.schema = str(schema[0])
        self.lock_key = lock_key(self.schema)
        self._begin: list[_Queued] = [
            ("BEGIN ISOLATION LEVEL READ COMMITTED", [], False, None),
            (f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'", [], False, None),
            ("SELECT pg_advisory_xact_lock(%s)", [self.lock_key], False, None),
        ]
        self._queue: list[_Queued] = []  # statements not sent yet
        self._answers: dict[tuple[str, tuple[Any, ...]], list[tuple[Any, ...]]] = {}
        self._writing = False  # inside a write transaction (begun here, maybe not yet sent)
        self.round_trips = 0  # exchanges with the server (a figure for the benchmarks)
        self.lock_granted: float | None = None  # perf_counter when the write lock was answered

    @property
    def path(self) -> Path:
        """A stand-in for a file path in messages: the URL without its password."""
        return Path(redact_url(self.url))

    def _translated(self, sql: str) -> tuple[str | type[_Lock] | None, bool]:
        found = self._cache.get(sql)
        if found is None:
            found = self._cache[sql] = translate(sql)
        return found

    def execute(self, sql: str, args: Sequence[object] = ()) -> PgCursor:
        target, returning = self._translated(sql)
        if target is None:
            return PgCursor([], None, -1)
        if target is _Lock:
            # Sent with the transaction's first statement that needs an answer (see the class
            # docstring). A writer waits for another one at most lock_timeout, as on SQLite.
            self._queue.extend(self._begin)
            self._writing = True
            self.lock_granted = None
            return PgCursor([], None, -1)
        assert isinstance(target, str)
        head = target.lstrip()[:8].upper()
        if head.startswith(("COMMIT", "ROLLBACK")):
            return self._end(target, rollback=head.startswith("ROLLBACK"))
        if self._writing and head.startswith(_WRITES) and not returning and _no_answer(target):
            self._answers.clear()  # a read asked ahead no longer answers for after this write
            self._queue.append((target, list(args), False, None))
            return PgCursor([], None, -1)
        answer = self._answers.pop((target, tuple(args)), None)
        if answer is not None:
            return PgCursor(answer, None, len(answer))
        cur = self._exchange((target, list(args), False, None))
        rows = cur.fetchall() if cur.description is not None else []
        lastrowid = int(rows[0][0]) if returning and rows else None
        return PgCursor(rows, lastrowid, cur.rowcount)

    def executemany(self, sql: str, seq: Iterable[Sequence[object]]) -> PgCursor:
        target, _ = self._translated(sql)
        if target is None or target is _Lock:
            raise InputError(f"cannot run {sql!r} for many rows")
        assert isinstance(target, str)
        rows = [list(r) for r in seq]
        if not rows:
            return PgCursor([], None, 0)
        statements = self._many(target, rows)
        if self._writing:
            self._answers.clear()
            self._queue.extend(statements)
            return PgCursor([], None, -1)
        self._queue.extend(statements[:-1])
        cur = self._exchange(statements[-1])
        return PgCursor([], None, cur.rowcount)

    def _many(self, target: str, rows: list[list[object]]) -> list[_Queued]:
        """The statements that write ``rows``: a plain ``INSERT ... VALUES (...)`` becomes one
        statement of many rows per :data:`_ROWS_PER_INSERT` (the server then runs one statement,
        not one per row: a third of its work on a store's rows), else one per row."""
        values = _VALUES.match(target)
        if values is None or len(rows) == 1:
            return [(target, rows, True, None)]
        out: list[_Queued] = []
        head, one = values.group(1), values.group(2)
        for i in range(0, len(rows), _ROWS_PER_INSERT):
            part = rows[i : i + _ROWS_PER_INSERT]
            sql = f"{head} VALUES " + ", ".join([one] * len(part))
            out.append((sql, [v for row in part for v in row], False, None))
        return out

    def read_ahead(self, sql: str, args: Sequence[object] = ()) -> None:
        """Send the read ``sql`` with the next statement that goes to the server (in a write
        transaction, the write lock's), and answer the same read (same SQL, same arguments)
        from it once, if no write comes between: a read the transaction will make, without a
        round trip of its own."""
        target, returning = self._translated(sql)
        if not isinstance(target, str) or returning:
            raise InputError(f"cannot read {sql!r} ahead")
        self._queue.append((target, list(args), False, (target, tuple(args))))

    def _end(self, target: str, *, rollback: bool) -> PgCursor:
        """``COMMIT`` (with every queued write, in one round trip) or ``ROLLBACK`` (of what
        reached the server; a transaction that never did has nothing to roll back)."""
        queued, self._queue = self._queue, []
        self._writing = False
        self._answers.clear()
        if rollback:
            if not queued or queued[0] is not self._begin[0]:
                self._exchange((target, [], False, None))
            return PgCursor([], None, -1)
        self._queue = [q for q in queued if q[3] is None]  # reads asked ahead: none wanted
        self._exchange((target, [], False, None))
        return PgCursor([], None, -1)

    def _exchange(self, last: _Queued) -> Any:
        """Send the queued statements and ``last`` in one pipeline, wait for the answers (one
        round trip) and return ``last``'s cursor (the answers of reads asked ahead are kept).
        The first error met is raised (mapped as :meth:`_reraise` says); a transaction whose
        write lock was not obtained is rolled back, so no transaction is left open."""
        queued, self._queue = self._queue, []
        locking = bool(queued) and queued[0] is self._begin[0]
        self.round_trips += 1
        ahead: list[tuple[tuple[str, tuple[Any, ...]], Any]] = []
        try:
            if not queued:
                return self._send(last)
            with self._conn.pipeline():
                for item in queued:
                    cur = self._send(item)
                    if item[3] is not None:
                        ahead.append((item[3], cur))
                cur = self._send(last)
            for key, answered in ahead:
                self._answers[key] = answered.fetchall()
        except Exception as exc:
            if not _is_psycopg_error(exc):
                raise
            if locking and _sqlstate(exc) == _LOCK_NOT_AVAILABLE:
                self._writing = False
                self._rollback_quietly()
                raise sqlite3.OperationalError(
                    f"database is locked: another writer held the store's write lock longer than"
                    f" {self.lock_timeout:g} s"
                ) from exc
            raise self._reraise(exc) from exc
        if locking:
            self.lock_granted = time.perf_counter()
        return cur

    def _send(self, item: _Queued) -> Any:
        cur = self._conn.cursor()
        if item[2]:
            cur.executemany(item[0], item[1])
        else:
            cur.execute(item[0], item[1])
        return cur

    def _rollback_quietly(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except Exception as exc:  # a connection lost meanwhile: the server rolled it back
            if not _is_psycopg_error(exc):
                raise

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (or failed and not yet rolled back), here or on the
        server."""
        from psycopg import pq

        if self._writing:
            return True
        status = self._conn.info.transaction_status
        return status not in (pq.TransactionStatus.IDLE, pq.TransactionStatus.UNKNOWN)

    def _reraise(self, exc: Exception) -> Exception:
        if self._conn.closed or self._conn.broken:
            return StoreError(
                f"lost the connection to the PostgreSQL server {redact_url(self.url)}"
                f" ({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})"
                ": a write it had not acknowledged may not have been kept; run the command"
                " again once the server is back (a re-run finishes the job)"
            )
        return _reraise(exc)

    def close(self) -> None:
        self._conn.close()


def _is_psycopg_error(exc: BaseException) -> bool:
    import psycopg

    return isinstance(exc, psycopg.Error)


class PgDatabase(Database):
    """A store's :class:`~okeios._internal.publish.tables.Database` on a PostgreSQL server: the same
    reentrant transactions over a :class:`PgConnection`."""

    def __init__(self, url: str, path: Path) -> None:
        self.path = path
        self.url = url
        try:
            # PgConnection offers the slice of sqlite3.Connection the tables use.
            self.conn = PgConnection(url)  # type: ignore[assignment]
        except sqlite3.OperationalError as exc:
            raise StoreError(str(exc)) from exc
        self._depth = 0
        self.on_begin: list[Callable[[], object]] = []

    @contextmanager
    def session_lock(self, name: str) -> Iterator[None]:
        """Hold the store's advisory lock ``name`` across transactions (anchoring), for every
        process on every machine; released when the block ends or the connection drops."""
        conn: PgConnection = self.conn  # type: ignore[assignment]
        key = lock_key(f"{conn.schema}\x00{name}")
        conn.execute("SELECT pg_advisory_lock(?)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(?)", (key,))

    def read_ahead(self, sql: str, args: Sequence[object] = ()) -> None:
        conn: PgConnection = self.conn  # type: ignore[assignment]
        conn.read_ahead(sql, args)

    def has_store(self) -> bool:
        """Whether the schema holds a store already (its ``meta`` table)."""
        row = self.one("SELECT to_regclass('meta') IS NOT NULL")
        return bool(row and row[0])
