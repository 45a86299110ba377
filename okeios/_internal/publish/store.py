"""The local personal data store: a publisher's log, record versions, checkpoints and the
anchoring journal, in one SQLite file under the okeios home.

Layout of a home folder (``--home``, else ``$OKEIOS_HOME``, else ``~/.okeios``)::

    store.sqlite      the database (WAL, synchronous=FULL: a committed step survives a crash);
                      record payloads only as ciphertext, keys and seeds only sealed
    master.key        the store's master key, protected by a passphrase (Argon2id) or by
    store.keyfile     this key file (mode 0600) when no passphrase is set
    publisher.key     the publisher's secp256k1 key, sealed under the master key, mode 0600
    publisher.key.next  a new publisher key staged by a rotation under way (docs/identity.md)
    retired-keys/     every publisher key retired by a rotation, still sealed (never deleted)
    trust.json        what this home's verifier trusts (the store's own publisher, from init)
    chains/           state of the embedded chain, and registry addresses per chain

The store is storage. :class:`Store` opens the home and its keys
(:mod:`okeios._internal.publish.home`) and runs each operation as one ``BEGIN IMMEDIATE``
transaction; inside it the
:class:`~okeios._internal.publish.publisher.Publisher` decides what is written and hands it down,
once, to the parts of :mod:`okeios._internal.publish.tables` (data goes one way on ``add``: record
-> commitment -> sealed payload -> signed event -> log -> store). Nothing is cached across
transactions but the Merkle frontier, re-read at the start of each, so any number of processes (CLI
runs, services) can share one home. Opening reads ``O(log n)`` rows; ``okeios check``
(:meth:`Store.check`) reads everything.

:class:`Store` itself holds the lifecycle (create, open, close, transactions, locks) and the
records: adding, amending, deriving, listing, reading and exporting them. Every other concern
is a part of its own, reached as an attribute and sharing the store's transactions:

``store.access``       grants, shares, revocations, access receipts, erasure
                       (:class:`~okeios._internal.publish.access.Access`)
``store.keys``         the organisation, author authorisations, publisher key handover
                       and the key-history file
                       (:class:`~okeios._internal.publish.keys.PublisherKeys`)
``store.checkpoints``  signed checkpoints by size
                       (:class:`~okeios._internal.publish.checkpoints.SignedCheckpoints`)
``store.journal``      the anchoring journal and the anchor a bundle cites
                       (:class:`~okeios._internal.publish.journal.AnchorJournal`)
``store.versions``     sealed record versions
(:class:`~okeios._internal.publish.versions.SealedVersions`)
"""

from __future__ import annotations

import hmac
import itertools
import os
import sqlite3
import time as _time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from okeios._internal.config import resolve_home
from okeios._internal.files import private_dir, write_atomic
from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.canonical import JSONValue, parse_json
from okeios._internal.protocol.events import SignedEvent
from okeios._internal.protocol.fhir import fhir_resources, resource_identity
from okeios._internal.protocol.hexcodec import from_hex
from okeios._internal.protocol.logfile import write_log
from okeios._internal.protocol.merkle import leaf_hash
from okeios._internal.protocol.signing import LocalSigner, Signer
from okeios._internal.publish import ingest
from okeios._internal.publish.access import Access
from okeios._internal.publish.checkpoints import SignedCheckpoints
from okeios._internal.publish.home import (
    DATABASE_ENV,
    DB_NAME,
    KEY_NAME,
    KEYFILE_NAME,
    MASTER_NAME,
    PASSPHRASE_ENV,
    URL_NAME,
    home_lock,
    open_database,
    read_keys,
    retire_key,
    staged_key,
    swap_staged_key,
    write_keys,
)
from okeios._internal.publish.identity import (
    Identities,
    Judgement,
    PutResult,
    RecordFilter,
    RecordInfo,
)
from okeios._internal.publish.ingest import DEFAULT_CHUNK_SIZE
from okeios._internal.publish.journal import AnchorJournal
from okeios._internal.publish.keys import PublisherKeys
from okeios._internal.publish.postgres import PgDatabase, is_database_url, redact_url
from okeios._internal.publish.publisher import LoggedEvent, Publisher
from okeios._internal.publish.tables import (
    MIGRATE_1_TO_2,
    SCHEMA,
    SCHEMA_VERSION,
    Checkpoints,
    Database,
    Events,
    Grants,
    Journal,
    JournalEntry,
    Meta,
    Nodes,
    ResourceRow,
    Resources,
    StoredEvents,
    StoreError,
    Versions,
)
from okeios._internal.publish.tree import StoredTree
from okeios._internal.publish.versions import SealedVersions
from okeios.errors import (
    AccessError,
    InputError,
    KeyRotationError,
    MasterKeyMismatchError,
    PublisherKeyChangedError,
)

__all__ = [
    "DATABASE_ENV",
    "DB_NAME",
    "KEYFILE_NAME",
    "KEY_NAME",
    "MASTER_NAME",
    "PASSPHRASE_ENV",
    "URL_NAME",
    "JournalEntry",
    "PutResult",
    "RecordFilter",
    "RecordInfo",
    "Store",
    "StoreError",
    "fhir_resources",
    "resolve_home",
]

MASTER_CHECK = "master_check"  # meta row: HMAC of a fixed label under the store's master key
_MASTER_MISMATCH = (
    "the rows of the store at {where} are sealed under another master key than this home's "
    "(two homes, one database?): refused before anything was written"
)


def master_check(master: bytes) -> str:
    """What the ``master_check`` meta row holds for ``master``: it names the master key
    without revealing it (an HMAC of a fixed label)."""
    return hmac.new(master, b"okeios/store/master-check/v1\x00", sha256).hexdigest()


def _check_master(db: Database, master: bytes, stored: str | None) -> None:
    """Refuse a master key the rows are not sealed under (:class:`MasterKeyMismatchError`).
    A store made before the ``master_check`` row gets it here, once one of its sealed rows
    (a resource label, else a version's data key) is shown to open under ``master``."""
    if stored is not None:
        if not hmac.compare_digest(stored, master_check(master)):
            raise MasterKeyMismatchError(_MASTER_MISMATCH.format(where=db.path))
        return
    from okeios._internal.crypto.payload import open_payload, payload_aad
    from okeios.errors import CryptoError

    try:
        row = db.one("SELECT record_id, label FROM resources LIMIT 1")
        if row is not None:
            rid = bytes(row[0])
            open_payload(master, bytes(row[1]), aad=b"okeios/store/resource-label/v1\x00" + rid)
        else:
            row = db.one(
                "SELECT record_id, version, data_key FROM versions WHERE data_key IS NOT NULL"
                " LIMIT 1"
            )
            if row is not None:
                aad = b"okeios/store/data-key/v1\x00" + payload_aad(bytes(row[0]), int(row[1]))
                open_payload(master, bytes(row[2]), aad=aad)
    except CryptoError:
        raise MasterKeyMismatchError(_MASTER_MISMATCH.format(where=db.path)) from None
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO meta SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = ?)",
            (MASTER_CHECK, master_check(master), MASTER_CHECK),
        )


# What a write transaction reads before its first event (Store._check_writer).
_WRITER_CHECK = "SELECT key, value FROM meta WHERE key IN ('publisher', 'rotation')"
_INGEST_WINDOW = 8  # chunks drawn and submitted ahead of the append (bounds memory)


@dataclass(frozen=True, slots=True)
class _NewPut:
    """A resource new to the store, prepared by :meth:`Store.put` and waiting to be appended."""

    draw: ingest.Draw
    prepared: ingest.Prepared
    row: tuple[bytes, bytes, bytes, bytes, str | None, bytes] | None  # its resources row
    label: str | None


class Store:
    """A publisher's persistent store. Open with :meth:`init` or :meth:`open`; close when done.

    Safe to hold open in a long-running service while other processes write to the same home.
    """

    def __init__(
        self,
        home: Path,
        db: Database,
        signer: LocalSigner,
        log_name: str,
        clock: Callable[[], float],
        master: bytes,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.home = home
        self.db = db
        self.signer = signer
        self.clock = clock
        self.log_name = log_name
        self.rng = rng
        self._held: set[str] = set()
        # the storage: tables, sealed versions, the resource map, the Merkle tree
        self.nodes = Nodes(db)
        self.events = Events(db)
        self.versions = SealedVersions(Versions(db), master, rng)
        self.grants = Grants(db)
        self.identities = Identities(Resources(db), master, rng)
        self.meta = Meta(db)
        self.tree = StoredTree(self.nodes)
        db.on_begin.append(self._ask_writer_check)  # asked with the lock: no round trip
        db.on_begin.append(self.tree.refresh)
        self._writer_checked = False
        db.on_begin.append(self._forget_writer_check)
        # the publisher decides what is written, into the parts above
        self.publisher = Publisher(
            signer,
            log_name=log_name,
            clock=clock,
            rng=rng,
            versions=self.versions,
            events=StoredEvents(self.tree, self.events),
            organisation=self.meta.get("organisation"),
        )
        # the concerns beside the records, each a part of its own (see the module docstring)
        self.publisher.guard = self._check_writer
        self.access = Access(self)
        self.keys = PublisherKeys(self, master)
        self.checkpoints = SignedCheckpoints(self, Checkpoints(db))
        self.journal = AnchorJournal(self, Journal(db))

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        home: str | Path | None = None,
        *,
        key: bytes | None = None,
        log_name: str = "main",
        passphrase: str | None = None,
        trust: bool = True,
        database: str | None = None,
        clock: Callable[[], float] = _time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> Store:
        """Create a store, its master key and a publisher key in ``home``.

        The master key is protected by ``passphrase`` (else ``$OKEIOS_PASSPHRASE``) with
        Argon2id, or, with neither, by a random key file beside the store. An existing store
        is never overwritten. With ``trust`` (the default, as ``okeios init``) the home's
        trust.json trusts the new publisher as author and publisher.

        ``database`` (else ``$OKEIOS_DATABASE``), a ``postgresql://`` URL, puts the tables on
        a PostgreSQL server instead of ``store.sqlite`` (:mod:`okeios._internal.publish.postgres`);
        the home keeps the keys and the URL (``database.url``, mode 0600). Copy the home to every
        machine that writes to the same log.
        """
        path = resolve_home(home)
        url = database if database is not None else (os.environ.get(DATABASE_ENV) or None)
        if url is not None and not is_database_url(url):
            raise StoreError(f"a store's database is a postgresql:// URL, got {url[:20]!r}")
        private_dir(path)  # 0700: the home holds keys and the database
        with home_lock(path, "init"):  # two processes creating one home: one wins
            if (path / DB_NAME).exists() or (path / URL_NAME).exists():
                raise StoreError(f"a store exists already in {path}")
            pg = None
            if url is not None:
                pg = PgDatabase(url, path / URL_NAME)
                if pg.has_store():
                    pg.close()
                    raise StoreError(f"a store exists already at {redact_url(url)}")
            return cls._create(path, key, log_name, passphrase, trust, clock, rng, pg)

    @classmethod
    def _create(
        cls,
        path: Path,
        key: bytes | None,
        log_name: str,
        passphrase: str | None,
        trust: bool,
        clock: Callable[[], float],
        rng: Callable[[int], bytes],
        pg: PgDatabase | None = None,
    ) -> Store:
        signer = LocalSigner.from_key(key) if key is not None else LocalSigner.generate(rng)
        master = rng(32)
        write_keys(path, signer, master, passphrase, rng)
        db: Database = pg if pg is not None else Database(path / DB_NAME)
        with db.transaction() as conn:
            if pg is not None and pg.has_store():  # another machine won the race
                raise StoreError(f"a store exists already at {redact_url(pg.url)}")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("schema", str(SCHEMA_VERSION)),
                    ("log_name", log_name),
                    ("publisher", signer.address),
                    (MASTER_CHECK, master_check(master)),
                ],
            )
        if pg is not None:  # the home points at the server once the store exists there
            write_atomic(path / URL_NAME, pg.url.encode("utf-8"), private=True)
        if trust:
            from okeios._internal.config import TrustConfig

            config = TrustConfig.load(path)
            config.trust_author(signer.address)
            config.trust_publisher(signer.address)
            config.save(path)
        return cls(path, db, signer, log_name, clock, master, rng)

    @classmethod
    def open(
        cls,
        home: str | Path | None = None,
        *,
        passphrase: str | None = None,
        clock: Callable[[], float] = _time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> Store:
        """Open an existing store (the passphrase, if it has one, from the argument or
        ``$OKEIOS_PASSPHRASE``). Reads ``O(log n)`` rows; :meth:`check` reads them all."""
        path = resolve_home(home)
        if not (path / DB_NAME).exists() and not (path / URL_NAME).exists():
            raise StoreError(f"no okeios store in {path} (run `okeios init` first)")
        master, signer = read_keys(path, passphrase)
        db = open_database(path)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if meta.get(MASTER_CHECK) is not None and not hmac.compare_digest(
                meta[MASTER_CHECK], master_check(master)
            ):
                raise MasterKeyMismatchError(_MASTER_MISMATCH.format(where=db.path))
            if meta.get("schema") == "1":
                cls._migrate(db)
                meta["schema"] = str(SCHEMA_VERSION)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(f"{db.path} is not a readable okeios store: {exc}") from exc
        except MasterKeyMismatchError:
            db.close()
            raise
        if meta.get("schema") != str(SCHEMA_VERSION):
            db.close()
            raise StoreError(f"store schema {meta.get('schema')!r} is not supported")
        try:
            _check_master(db, master, meta.get(MASTER_CHECK))
        except BaseException:
            db.close()
            raise
        if meta.get("publisher") != signer.address:
            # a key rotation was committed but the new key not yet moved in place?
            nxt = staged_key(path, master)
            if nxt is not None and meta.get("publisher") == nxt.address:
                retire_key(path, signer.address, (path / KEY_NAME).read_bytes())
                swap_staged_key(path)
                signer = nxt
        if meta.get("publisher") != signer.address:
            db.close()
            raise StoreError("the publisher key does not belong to this store")
        try:
            return cls(path, db, signer, meta["log_name"], clock, master, rng)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(f"{db.path} is damaged: {exc}") from exc

    @staticmethod
    def _migrate(db: Database) -> None:
        """Upgrade a schema 1 store in place (once, in one transaction): build the stored
        Merkle tree from the events, add the new columns, indexes and tables."""
        with db.transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row[0] != "1":
                return  # another process upgraded it first
            for statement in MIGRATE_1_TO_2.split(";"):
                if statement.strip():
                    conn.execute(statement)
            tree = StoredTree(Nodes(db))
            batch: list[bytes] = []
            for event_id, signature in conn.execute(
                "SELECT event_id, signature FROM events ORDER BY idx"
            ).fetchall():
                batch.append(leaf_hash(bytes(event_id) + bytes(signature)))
            tree.append_leaf_hashes(batch)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(
        self, ahead: Sequence[tuple[str, Sequence[object]]] = ()
    ) -> Iterator[sqlite3.Connection]:
        """One atomic step under the write lock; on any error nothing of it is kept (and the
        tree in memory forgets what the step appended). ``ahead``: reads it makes first, asked
        with the lock (:meth:`Database.read_ahead`)."""
        try:
            with self.db.transaction(ahead) as conn:
                yield conn
        except BaseException:
            if not self.db.in_transaction:
                self.tree.refresh()
            raise

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold a lock on this home shared by every process (a ``flock`` on ``NAME.lock``), for
        work that spans several transactions and must not run twice at once (anchoring: two
        processes would otherwise sign two transactions with the same nonce). On PostgreSQL,
        whose writers may be on several machines with a home each, it is a session advisory
        lock on the server instead."""
        if name in self._held:  # reentrant within this store
            yield
            return
        lock = (
            self.db.session_lock(name)
            if isinstance(self.db, PgDatabase)
            else home_lock(self.home, name)
        )
        with lock:
            self._held.add(name)
            try:
                yield
            finally:
                self._held.discard(name)

    def _forget_writer_check(self) -> None:
        self._writer_checked = False

    def _ask_writer_check(self) -> None:
        self.db.read_ahead(_WRITER_CHECK)

    def check_key(self) -> None:
        """Refuse (:class:`PublisherKeyChangedError`) when this process's publisher key is no
        longer the store's: before it signs a checkpoint or an event."""
        row = self.db.one("SELECT value FROM meta WHERE key = 'publisher'")
        current = None if row is None else str(row[0])
        if current != self.signer.address:
            raise PublisherKeyChangedError(
                f"this process signs with {self.signer.address}, but the store's publisher key "
                f"is now {current} (rotated since the store was opened): nothing was written; "
                "reopen the store"
            )

    def _check_writer(self) -> None:
        """Before the first event of a write transaction: this process's publisher key must
        still be the store's (another process or machine may have rotated it since this one
        opened the store), and no rotation may be half done (its handover logged, not yet
        final on chain). Raises before anything is written; the transaction then rolls back."""
        if self._writer_checked:
            return
        rows = dict(self.db.execute(_WRITER_CHECK).fetchall())
        current = rows.get("publisher")
        if current != self.signer.address:
            raise PublisherKeyChangedError(
                f"this process signs with {self.signer.address}, but the store's publisher key "
                f"is now {current} (rotated since the store was opened): nothing was written; "
                "reopen the store"
            )
        rotation = rows.get("rotation")
        if rotation is not None and "@" in rotation:
            new, _, index = rotation.partition("@")
            raise KeyRotationError(
                f"a key rotation to {new} is half done (its handover is entry {index}, not yet "
                "final on chain): the log takes no new event until it is finished; run "
                "`okeios rotate-key --chain URL` again"
            )
        self._writer_checked = True

    def _fresh(self) -> None:
        """See what other processes committed (outside a write transaction)."""
        if not self.db.in_transaction:
            self.tree.refresh()

    @property
    def address(self) -> str:
        return self.signer.address

    @property
    def is_postgres(self) -> bool:
        """Whether the tables are on a PostgreSQL server (else in ``store.sqlite``)."""
        return isinstance(self.db, PgDatabase)

    @property
    def log_id(self) -> bytes:
        return self.publisher.log_id

    @property
    def size(self) -> int:
        self._fresh()
        return self.tree.size

    # -- finding records --------------------------------------------------------------------

    def find_event(self, ident: str) -> LoggedEvent:
        """An event by its id, a record's latest event by the record id (0x-hex either way),
        or the latest event of the record holding FHIR resource ``Type/id``."""
        if "/" in ident and not ident.startswith("0x"):
            row = self.identities.find(ident)
            if row is None:
                raise InputError(f"no record of {ident} in this store")
            raw = row.record_id
        else:
            raw = from_hex(ident, "a record or event id", prefix=False, any_case=True)
            if len(raw) != 32:
                raise InputError(f"{ident!r} is not a 32-byte record or event id")
        found = self.events.find(raw)
        if found is None:
            raise InputError(f"no record or event {ident} in this store")
        return found

    def record_id_of(self, ident: str) -> bytes:
        """The record an identifier names (see :meth:`find_event`)."""
        return self.find_event(ident).record_id

    def record_ids(self) -> list[bytes]:
        """Every record id, in the order the records were first logged."""
        return self.events.record_ids()

    def event_ids_of(self, record_id: bytes) -> list[bytes]:
        return self.events.ids_of(record_id)

    def is_erased(self, record_id: bytes) -> bool:
        return self.versions.rows.is_erased(record_id)

    def latest_version(self, record_id: bytes) -> int:
        """The record's latest version number."""
        version = self.versions.rows.latest(record_id)
        if version is None:
            raise InputError(f"no record {record_id.hex()} in this store")
        return version

    # -- adding and amending ----------------------------------------------------------------

    def add(
        self,
        records: Iterable[bytes | JSONValue],
        *,
        author: Signer | None = None,
        progress: Callable[[int], None] | None = None,
        executor: Executor | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> list[LoggedEvent]:
        """Log each record as a new record (CREATE), all in one transaction, whatever it holds.

        ``author`` signs the events (default: the publisher's own key). :meth:`put` is the
        variant that knows FHIR resource identity.

        With an ``executor`` (any :class:`concurrent.futures.Executor`: a process pool, a Dask
        client's ``get_executor()``) the records are canonicalised, committed, sealed and
        signed in its workers, ``chunk_size`` records per task, and only the append runs here;
        the store ends up with exactly the bytes a serial run writes (see
        :mod:`okeios._internal.publish.ingest`, which also says what the workers are trusted with).
        ``progress`` is called with the number of records of each chunk appended.
        """
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise InputError("chunk_size must be a positive integer")
        signer = author if author is not None else self.signer
        out: list[LoggedEvent] = []
        with self.transaction():
            source = iter(records)
            while True:
                # Draw and submit up to ``window`` chunks ahead, in order; append as they come.
                batch = list(itertools.islice(source, _INGEST_WINDOW * chunk_size))
                if not batch:
                    break
                draws = ingest.draw(len(batch), self.rng, self.clock, self._seal_secrets)
                chunks = ingest.run_chunks(
                    batch,
                    draws,
                    log_id=self.log_id,
                    author=signer,
                    executor=executor,
                    chunk_size=chunk_size,
                )
                offset = 0
                for chunk in chunks:
                    out.extend(self._append_prepared(chunk, draws[offset : offset + len(chunk)]))
                    offset += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
        return out

    def _seal_secrets(self, record_id: bytes, data_key: bytes, seed: bytes) -> tuple[bytes, bytes]:
        """A new version 1's data key and seed, sealed under the master key."""
        return self.versions.seal_keys(record_id, 1, data_key, seed)

    def _append_prepared(
        self, chunk: Sequence[ingest.Prepared], draws: Sequence[ingest.Draw]
    ) -> list[LoggedEvent]:
        """Append prepared records to the log (inside the write transaction)."""
        self._check_writer()
        indexes = self.tree.append_leaf_hashes([p.leaf for p in chunk])
        self.versions.rows.insert_many(
            [
                (p.record_id, 1, p.sealed, d.sealed_key, d.sealed_seed, p.digests)
                for p, d in zip(chunk, draws, strict=True)
            ]
        )
        out: list[LoggedEvent] = []
        rows: list[tuple[object, ...]] = []
        for p, index in zip(chunk, indexes, strict=True):
            assert p.signed is not None
            e = p.signed.event
            rows.append(
                (index, e.id, e.record_id, str(e.kind), p.message, p.signed.signature, 1, e.time)
            )
            out.append(LoggedEvent(p.signed, index))
        self.events.save_many(rows)
        return out

    def put(
        self,
        records: Iterable[bytes | JSONValue],
        *,
        keys: Sequence[str | None] | None = None,
        author: Signer | None = None,
        progress: Callable[[int], None] | None = None,
        names: Sequence[str] | None = None,
    ) -> list[PutResult]:
        """Log resources by identity, all in one transaction (all or nothing).

        A FHIR resource is identified by ``resourceType/id``; other JSON by the caller's key
        (``keys[i]``), else not at all (always a new record). A resource seen before becomes a
        new version (AMEND) of its record when its content changed, and logs nothing when it
        did not (``unchanged``). An older version is not applied (``stale``): older by
        ``meta.lastUpdated`` when both versions carry one, else by numeric ``meta.versionId``;
        the same ``versionId`` with different content, and a tie nothing orders, are refused
        (:class:`~okeios.errors.InputError`; :mod:`okeios._internal.publish.identity` has the
        rules).

        One call is one transaction and returns one result per resource: to add a long stream
        (an NDJSON export), call it once per chunk, as ``okeios add`` does, so that memory stays
        bounded and a crash loses at most the chunk in progress (running the same input again
        is safe: what was kept is ``unchanged``). ``names[i]`` (``"file line 12"``) prefixes
        the error about ``records[i]``.

        The map from identity to record is kept private in the store: its key is an HMAC of
        the identity under a key derived from the master key, its label sealed; record ids are
        random and reveal nothing of the resource.
        """

        def stored(record_id: bytes) -> JSONValue:  # the latest version, for lastUpdated
            latest = self.versions.rows.latest(record_id)
            if latest is None:  # pragma: no cover - an identity always has a version
                raise InputError(f"no record {record_id.hex()} in this store")
            return parse_json(self.versions.get_version(record_id, latest)[0])

        items = list(records)
        signer = author if author is not None else self.signer

        def named(i: int, exc: InputError) -> InputError:
            return exc if names is None else type(exc)(f"{names[i]}: {exc}")

        parsed: dict[int, JSONValue] = {}  # values parsed ahead, each taken once

        def judged(
            i: int, known: dict[bytes, ResourceRow] | None = None
        ) -> tuple[JSONValue, Judgement]:
            record = items[i]
            try:
                value = parsed.pop(i, None)
                if value is None:
                    value = parse_json(record) if isinstance(record, bytes) else record
                key = keys[i] if keys is not None else None
                return value, self.identities.judge(value, key, stored=stored, known=known)
            except InputError as exc:
                raise named(i, exc) from exc

        def rows_ahead() -> dict[bytes, ResourceRow] | None:
            """The stored rows of the identities of the whole call, in one query."""
            macs = []
            for i, record in enumerate(items):
                try:
                    value = parse_json(record) if isinstance(record, bytes) else record
                    label = self.identities.label_of(value, keys[i] if keys else None)
                except InputError:
                    return None  # judged one by one below, which names the error
                parsed[i] = value
                if label is not None:
                    macs.append(self.identities.key(label))
            return self.identities.rows.get_many(macs)

        # The leading run of resources new to the store is prepared (committed, sealed and
        # signed) before the write lock is taken, so that other writers wait only for the
        # append; its randomness is drawn in the order a one-by-one run draws it.
        ahead: list[_NewPut] = []
        seen: set[bytes] = set()
        known = rows_ahead() if len(items) > 1 else None
        for i in range(len(items)):
            value, j = judged(i, known)
            mac = self.identities.key(j.label) if j.label is not None else None
            if j.status != "new" or (mac is not None and mac in seen):
                break
            ahead.append(self._new_put(i, value, j, signer, named))
            if mac is not None:
                seen.add(mac)
        out: list[PutResult] = []
        present = self.identities.rows.present_queries(sorted(seen)) if ahead else []
        with self.transaction(present):
            start = 0
            if ahead and not self.identities.rows.present(sorted(seen)):
                start = len(ahead)
                self._put_flush(ahead, out, progress)
            queue: list[_NewPut] = []
            queued: set[bytes] = set()
            for i in range(start, len(items)):
                record = items[i]
                if queue:  # a resource already waiting in the queue is judged once written
                    try:
                        value = parse_json(record) if isinstance(record, bytes) else record
                        label = self.identities.label_of(value, keys[i] if keys else None)
                    except InputError as exc:
                        raise named(i, exc) from exc
                    if label is not None and self.identities.key(label) in queued:
                        self._put_flush(queue, out, progress)
                        queued.clear()
                value, j = judged(i)
                if j.status == "new":
                    queue.append(self._new_put(i, value, j, signer, named))
                    if j.label is not None:
                        queued.add(self.identities.key(j.label))
                    continue
                self._put_flush(queue, out, progress)  # what a one-by-one run logged before
                queued.clear()
                try:
                    out.append(self._put_one(value, j, author))
                except InputError as exc:
                    raise named(i, exc) from exc
                if progress is not None:
                    progress(1)
            self._put_flush(queue, out, progress)
        return out

    def _new_put(
        self,
        i: int,
        value: JSONValue,
        j: Judgement,
        signer: Signer,
        named: Callable[[int, InputError], InputError],
    ) -> _NewPut:
        """A new resource prepared for :meth:`put`: its randomness drawn (record id, seed, data
        key, nonces, time, then the label's nonce: the order of a one-by-one create), its
        record committed, sealed and its event signed."""
        try:
            d = ingest.draw(1, self.rng, self.clock, self._seal_secrets)[0]
            p, canonical = ingest.prepare_canonical(value, d, self.log_id, signer.address, signer)
        except InputError as exc:
            raise named(i, exc) from exc
        sealed = self.identities.seal_label(d.record_id, j.label) if j.label is not None else None
        row = None
        if j.label is not None and sealed is not None:
            row = self.identities.new_row(
                d.record_id, j.kind, j.label, j.version_id, sealed, canonical
            )
        return _NewPut(d, p, row, j.label)

    def _put_flush(
        self,
        queue: list[_NewPut],
        out: list[PutResult],
        progress: Callable[[int], None] | None,
    ) -> None:
        """Append the queued new resources: one statement per table for all of them."""
        if not queue:
            return
        logged = self._append_prepared([n.prepared for n in queue], [n.draw for n in queue])
        rows = [n.row for n in queue if n.row is not None]
        if rows:
            self.identities.rows.put_many(rows)
        for n, e in zip(queue, logged, strict=True):
            out.append(PutResult("created", e.record_id, e, n.label))
        if progress is not None:
            for _ in queue:
                progress(1)
        queue.clear()

    def _put_one(self, value: JSONValue, j: Judgement, author: Signer | None) -> PutResult:
        if j.row is not None and j.status in ("unchanged", "stale"):
            return PutResult(j.status, j.row.record_id, None, j.label)
        if j.row is None:
            logged = self.publisher.create(value, author=author)
            status = "created"
        else:
            logged = self._amend(j.row.record_id, value, author)
            status = "amended"
        if j.label is not None:
            self.identities.remember(logged.record_id, j.kind, j.label, j.version_id, value)
        return PutResult(status, logged.record_id, logged, j.label)

    def _amend(self, record_id: bytes, value: JSONValue, author: Signer | None) -> LoggedEvent:
        if self.is_erased(record_id):
            raise AccessError(f"record {record_id.hex()} was erased")
        return self.publisher.amend(record_id, value, author=author)

    def amend(
        self, ident: str, record: bytes | JSONValue, *, author: Signer | None = None
    ) -> LoggedEvent:
        """Log a new version of a record (fresh data key and seed). ``ident`` is a record or
        event id, or ``Type/id``. A FHIR resource must keep the record's identity."""
        value = parse_json(record) if isinstance(record, bytes) else record
        with self.transaction():
            record_id = self.record_id_of(ident)
            identity = resource_identity(value)
            held = self.identities.label(record_id)
            if identity is not None:
                kind, label, version_id = identity[0], f"{identity[0]}/{identity[1]}", identity[2]
                if held is not None and held != label:
                    raise InputError(f"record holds {held}; this resource is {label}")
                if held is None and self.identities.find(label) is not None:
                    raise InputError(f"{label} is held by another record")
            elif held is not None:  # not a FHIR resource: the record keeps its identity
                row = self.identities.rows.of_record(record_id)
                first = held.split("/", 1)[0]
                type_mac = self.identities.type_mac(first)
                fhir = "/" in held and row is not None and row.type == type_mac
                kind, label, version_id = (first if fhir else ""), held, None
            logged = self._amend(record_id, value, author)
            if identity is not None or held is not None:
                self.identities.remember(record_id, kind, label, version_id, value)
        return logged

    def derive(
        self,
        record: bytes | JSONValue,
        sources: Sequence[str],
        *,
        author: Signer | None = None,
    ) -> LoggedEvent:
        """Log a new record derived from others (DERIVE), linked to each source record's
        latest event (``sources``: record or event ids, or ``Type/id``)."""
        if not sources:
            raise InputError("a derived record needs at least one source")
        value = parse_json(record) if isinstance(record, bytes) else record
        with self.transaction():
            source_events = [self.find_event(s).id for s in sources]
            j = self.identities.judge(value)
            if j.row is not None:
                raise InputError(f"{j.label} is in the store already: amend it instead")
            logged = self.publisher.create(value, author=author, sources=source_events)
            if j.label is not None:
                self.identities.remember(logged.record_id, j.kind, j.label, j.version_id, value)
        return logged

    # -- reading ----------------------------------------------------------------------------

    def history(self, ident: str) -> list[dict[str, object]]:
        """A record's events in log order: kind, version, time, author, subject, purpose."""
        record_id = self.record_id_of(ident)
        out: list[dict[str, object]] = []
        for logged in self.events.of_record(record_id):
            e = logged.signed.event
            out.append(
                {
                    "index": logged.index,
                    "event": "0x" + logged.id.hex(),
                    "kind": str(e.kind),
                    "version": e.version,
                    "time": e.time,
                    "author": e.author,
                    "subject": e.subject,
                    "purpose": e.purpose,
                }
            )
        return out

    def records(
        self,
        match: RecordFilter | None = None,
        *,
        limit: int | None = None,
        after: int | None = None,
        **filters: Any,
    ) -> list[RecordInfo]:
        """What the store holds, one line per record in the order records were first logged,
        filtered by ``match`` (a :class:`RecordFilter`) or its fields as keywords:
        ``resource_type``, ``resource_id``, ``kind`` (of the last event), ``since``/``until``
        (its time), ``erased``; paged by ``limit`` and ``after`` (a keyset cursor: the
        ``index`` of the last record of the previous page), each page read in ``O(limit)``
        rows whatever the size of the store. ``self.identities.count(self.db, match)`` counts
        them."""
        return self.identities.records(self.db, match, limit=limit, after=after, **filters)

    def show(self, ident: str, version: int | None = None) -> tuple[JSONValue, dict[str, Any]]:
        """The owner's view of a record: its content (decrypted) and what the store knows of
        it. :class:`~okeios.errors.AccessError` once erased."""
        record_id = self.record_id_of(ident)
        latest = self.latest_version(record_id)
        wanted = latest if version is None else version
        payload, _ = self.versions.get_version(record_id, wanted)
        head = self.events.head_event(record_id)
        assert head is not None
        info = {
            "record": "0x" + record_id.hex(),
            "resource": self.identities.label(record_id),
            "version": wanted,
            "versions": latest,
            "lastEvent": str(head.signed.event.kind),
            "event": "0x" + head.id.hex(),
            "time": head.signed.event.time,
        }
        return parse_json(payload), info

    def iter_events(self) -> Iterator[SignedEvent]:
        """Every logged event, in log order."""
        return self.events.all()

    def write_log(self, out: Callable[[str], object]) -> int:
        """Publish the log (every entry, then the signed checkpoints) as an audit file."""
        # the log's bound key: the organisation's first key, also after a rotation
        return write_log(
            out, self.keys.organisation, self.log_id, self.iter_events(), self.checkpoints.all()
        )

    # -- export -----------------------------------------------------------------------------

    def export(
        self,
        ident: str,
        *,
        fields: Iterable[str] = (),
        reveal_all: bool = False,
        chain_id: int | None = None,
    ) -> Bundle:
        """The proof bundle of a record's latest event (or of an event, by id).

        Private by default: ``fields`` are the JSON Pointers to disclose (default: none, and
        then nothing is decrypted: the bundle carries the stored salted digests);
        ``reveal_all=True`` discloses every field, as ``okeios export --reveal-all`` does.
        Both at once is an :class:`~okeios.errors.InputError`. The bundle's
        checkpoint is the smallest *anchored* checkpoint that holds the event, with the anchor
        reference filled in and, when the log was anchored again later, the latest anchored
        tree head with a consistency proof to it. If no anchor holds the event yet, the bundle
        carries the latest checkpoint and no anchor reference
        (:meth:`~okeios._internal.publish.journal.AnchorJournal.proof_point`). With ``chain_id`` the
        bundle cites an anchor on that chain only (a StoreError if none holds the event yet).
        """
        if isinstance(fields, str):
            raise InputError("fields is a list of JSON Pointers, not one string")
        chosen = list(fields)
        if reveal_all and chosen:
            raise InputError("reveal_all discloses every field: give it or fields, not both")
        self._fresh()
        logged = self.find_event(ident)
        checkpoint, ref = self.journal.proof_point(logged.index, chain_id)
        return self.publisher.bundle(
            logged.id,
            fields=None if reveal_all else chosen,
            checkpoint=checkpoint,
            anchor=ref,
            logged=logged,
        )

    # -- integrity --------------------------------------------------------------------------

    def check(self, *, progress: Callable[[int], None] | None = None) -> list[str]:
        """Read the whole database and say what is wrong (see
        :mod:`okeios._internal.publish.check`)."""
        from okeios._internal.publish.check import check_store

        return check_store(self, progress=progress)
