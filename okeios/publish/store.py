"""The local personal data store: a publisher's log, record versions, checkpoints and the
anchoring journal, in one SQLite file under the okeios home.

Layout of a home folder (``--home``, else ``$OKEIOS_HOME``, else ``~/.okeios``)::

    store.sqlite      the database (WAL, synchronous=FULL: a committed step survives a crash);
                      record payloads only as ciphertext, keys and seeds only sealed
    master.key        the store's master key, protected by a passphrase (Argon2id) or by
    store.keyfile     this key file (mode 0600) when no passphrase is set
    publisher.key     the publisher's secp256k1 key, sealed under the master key, mode 0600
    trust.json        what this home's verifier trusts (the store's own publisher, from init)
    chains/           state of the embedded chain, and registry addresses per chain

The store is storage. :class:`Store` opens the home and its keys and runs each operation as one
``BEGIN IMMEDIATE`` transaction; inside it the :class:`~okeios.publish.publisher.Publisher`
decides what is written and hands it down, once, to the parts of :mod:`okeios.publish.tables`
(data goes one way on ``add``: record -> commitment -> sealed payload -> signed event -> log ->
store). Nothing is cached across transactions but the Merkle frontier, re-read at the start of
each, so any number of processes (CLI runs, services) can share one home. Opening reads
``O(log n)`` rows; ``okeios check`` (:meth:`Store.check`) reads everything.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import time as _time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from okeios.config import resolve_home
from okeios.crypto.keyfile import (
    protect_secret,
    protect_secret_with_key,
    unprotect_secret,
    unprotect_secret_with_key,
)
from okeios.crypto.recipients import RecipientBinding
from okeios.crypto.share import Share
from okeios.errors import AccessError, InputError
from okeios.fhir import fhir_resources, resource_identity
from okeios.files import private_dir, write_atomic
from okeios.protocol.bundle import AnchorRef, Bundle, Extension
from okeios.protocol.canonical import JSONValue, parse_json
from okeios.protocol.events import (
    Checkpoint,
    EventKind,
    SignedCheckpoint,
    SignedEvent,
)
from okeios.protocol.logfile import write_log
from okeios.protocol.merkle import leaf_hash
from okeios.protocol.signing import LocalSigner, Signer, checksum_address, recover_address
from okeios.publish import access as _access
from okeios.publish import ingest
from okeios.publish.identity import Identities, Judgement, PutResult, RecordInfo
from okeios.publish.ingest import DEFAULT_CHUNK_SIZE
from okeios.publish.postgres import PgDatabase, is_database_url, redact_url
from okeios.publish.publisher import MAX_TIME, LoggedEvent, Publisher
from okeios.publish.tables import (
    MIGRATE_1_TO_2,
    SCHEMA,
    SCHEMA_VERSION,
    Checkpoints,
    Database,
    Events,
    Grants,
    IdentityEvents,
    Journal,
    JournalEntry,
    Meta,
    Nodes,
    Resources,
    StoredEvents,
    StoreError,
    Versions,
)
from okeios.publish.tree import StoredTree
from okeios.publish.versions import SealedVersions

__all__ = [
    "JournalEntry",
    "PutResult",
    "RecordInfo",
    "Store",
    "StoreError",
    "fhir_resources",
    "resolve_home",
]

DB_NAME = "store.sqlite"
KEY_NAME = "publisher.key"
MASTER_NAME = "master.key"
KEYFILE_NAME = "store.keyfile"
PASSPHRASE_ENV = "OKEIOS_PASSPHRASE"
URL_NAME = "database.url"  # the store's PostgreSQL URL, when it lives on a server
DATABASE_ENV = "OKEIOS_DATABASE"

_INGEST_WINDOW = 8  # chunks drawn and submitted ahead of the append (bounds memory)


@contextmanager
def _home_lock(home: Path, name: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``home/NAME.lock``, shared by every process."""
    import fcntl

    fd = os.open(home / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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
        self._master = master
        self.rng = rng
        self._held: set[str] = set()
        self.nodes = Nodes(db)
        self.events = Events(db)
        self.versions = SealedVersions(Versions(db), master, rng)
        self.grants = Grants(db)
        self.checkpoint_rows = Checkpoints(db)
        self.journal_rows = Journal(db)
        self.identities = Identities(Resources(db), master, rng)
        self.meta = Meta(db)
        self.tree = StoredTree(self.nodes)
        db.on_begin.append(self.tree.refresh)
        self.publisher = Publisher(
            signer,
            log_name=log_name,
            clock=clock,
            rng=rng,
            versions=self.versions,
            events=StoredEvents(self.tree, self.events),
            organisation=self.meta.get("organisation"),
        )
        self._checkpoint_signers: dict[bytes, str] = {}

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
        a PostgreSQL server instead of ``store.sqlite`` (:mod:`okeios.publish.postgres`); the
        home keeps the keys and the URL (``database.url``, mode 0600). Copy the home to every
        machine that writes to the same log.
        """
        path = resolve_home(home)
        url = database if database is not None else (os.environ.get(DATABASE_ENV) or None)
        if url is not None and not is_database_url(url):
            raise StoreError(f"a store's database is a postgresql:// URL, got {url[:20]!r}")
        private_dir(path)  # 0700: the home holds keys and the database
        with _home_lock(path, "init"):  # two processes creating one home: one wins
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
        passphrase = passphrase if passphrase is not None else os.environ.get(PASSPHRASE_ENV)
        if passphrase:
            protected = protect_secret(master, passphrase, rng=rng)
        else:
            keyfile = rng(32)
            write_atomic(path / KEYFILE_NAME, keyfile, private=True)
            protected = protect_secret_with_key(master, keyfile, rng=rng)
        write_atomic(path / MASTER_NAME, protected, private=True)
        write_atomic(
            path / KEY_NAME,
            protect_secret_with_key(signer.private_key, master, rng=rng),
            private=True,
        )
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
                ],
            )
        if pg is not None:  # the home points at the server once the store exists there
            write_atomic(path / URL_NAME, pg.url.encode("utf-8"), private=True)
        if trust:
            from okeios.config import TrustConfig

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
        url_file = path / URL_NAME
        if not (path / DB_NAME).exists() and not url_file.exists():
            raise StoreError(f"no okeios store in {path} (run `okeios init` first)")
        try:
            protected = (path / MASTER_NAME).read_bytes()
            keyfile = (path / KEYFILE_NAME).read_bytes() if (path / KEYFILE_NAME).exists() else None
            sealed_key = (path / KEY_NAME).read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read the keys of the store in {path}: {exc}") from exc
        if keyfile is not None:
            master = unprotect_secret_with_key(protected, keyfile)
        else:
            passphrase = passphrase if passphrase is not None else os.environ.get(PASSPHRASE_ENV)
            if not passphrase:
                raise StoreError(
                    f"the store in {path} is protected by a passphrase: set {PASSPHRASE_ENV}"
                )
            master = unprotect_secret(protected, passphrase)
        signer = LocalSigner.from_key(unprotect_secret_with_key(sealed_key, master))
        db: Database
        if url_file.exists():
            try:
                url = url_file.read_text("utf-8").strip()
            except OSError as exc:
                raise StoreError(f"cannot read {url_file}: {exc}") from exc
            if not is_database_url(url):
                raise StoreError(f"{url_file} does not hold a postgresql:// URL")
            db = PgDatabase(url, url_file)
        else:
            db = Database(path / DB_NAME)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("schema") == "1":
                cls._migrate(db)
                meta["schema"] = str(SCHEMA_VERSION)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(f"{db.path} is not a readable okeios store: {exc}") from exc
        if meta.get("schema") != str(SCHEMA_VERSION):
            db.close()
            raise StoreError(f"store schema {meta.get('schema')!r} is not supported")
        staged = path / (KEY_NAME + ".next")
        if meta.get("publisher") != signer.address and staged.exists():
            # a key rotation was committed but the new key not yet moved in place
            nxt = LocalSigner.from_key(unprotect_secret_with_key(staged.read_bytes(), master))
            if meta.get("publisher") == nxt.address:
                os.replace(staged, path / KEY_NAME)
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
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic step under the write lock; on any error nothing of it is kept (and the
        tree in memory forgets what the step appended)."""
        try:
            with self.db.transaction() as conn:
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
            else _home_lock(self.home, name)
        )
        with lock:
            self._held.add(name)
            try:
                yield
            finally:
                self._held.discard(name)

    def _fresh(self) -> None:
        """See what other processes committed (outside a write transaction)."""
        if not self.db.in_transaction:
            self.tree.refresh()

    @property
    def publisher_log_name(self) -> str:
        return self.log_name

    @property
    def address(self) -> str:
        return self.signer.address

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
            try:
                raw = bytes.fromhex(ident.removeprefix("0x"))
            except ValueError:
                raise InputError(f"{ident!r} is not a hex record or event id") from None
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

    # the VersionStore view some callers read through the store
    def get_version(self, record_id: bytes, version: int) -> tuple[bytes, bytes]:
        return self.versions.get_version(record_id, version)

    def version_secrets(self, record_id: bytes, version: int) -> tuple[bytes, bytes, bytes]:
        return self.versions.secrets(record_id, version)

    def version_digests(self, record_id: bytes, version: int) -> tuple[bytes, ...]:
        return self.versions.version_digests(record_id, version)

    def sealed_payload(self, record_id: bytes, version: int) -> bytes:
        return self.versions.sealed_payload(record_id, version)

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
        :mod:`okeios.publish.ingest`, which also says what the workers are trusted with).
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
        (:class:`~okeios.errors.InputError`; :mod:`okeios.publish.identity` has the rules).

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

        out: list[PutResult] = []
        with self.transaction():
            for i, record in enumerate(records):
                key = keys[i] if keys is not None else None
                try:
                    value = parse_json(record) if isinstance(record, bytes) else record
                    judgement = self.identities.judge(value, key, stored=stored)
                    out.append(self._put_one(value, judgement, author))
                except InputError as exc:
                    if names is None:
                        raise
                    raise type(exc)(f"{names[i]}: {exc}") from exc
                if progress is not None:
                    progress(1)
        return out

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

    def records(self, **filters: Any) -> list[RecordInfo]:
        """What the store holds, one line per record in the order records were first logged,
        filtered by ``resource_type``, ``resource_id``, ``kind`` (of the last event),
        ``since``/``until`` (its time), ``erased``; paged by ``limit`` and ``after`` (a keyset
        cursor: the ``index`` of the last record of the previous page), each page read in
        ``O(limit)`` rows whatever the size of the store. ``self.identities.count(self.db,
        **filters)`` counts them."""
        return self.identities.records(self.db, **filters)

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

    def checkpoints(self) -> list[SignedCheckpoint]:
        return [cp for size in self.checkpoint_rows.sizes() if (cp := self.checkpoint_at(size))]

    def write_log(self, out: Callable[[str], object]) -> int:
        """Publish the log (every entry, then the signed checkpoints) as an audit file."""
        # the log's bound key: the organisation's first key, also after a rotation
        return write_log(
            out, self.organisation, self.log_id, self.iter_events(), self.checkpoints()
        )

    # -- identity (docs/identity.md) --------------------------------------------------------

    @property
    def organisation(self) -> str:
        """The organisation this log belongs to: its first publisher key."""
        return self.publisher.organisation

    def authorise(
        self,
        key: str,
        role: str,
        *,
        not_before: int | None = None,
        not_after: int | None = None,
        purpose: str = "",
    ) -> LoggedEvent:
        """Log an AUTHORISE of the author key ``key`` as ``role`` (see
        :meth:`Publisher.authorise`)."""
        with self.transaction():
            logged = self.publisher.authorise(
                key,
                role,
                not_before=not_before,
                not_after=MAX_TIME if not_after is None else not_after,
                purpose=purpose,
            )
        return logged

    def deauthorise(
        self, key: str, *, effective: int | None = None, purpose: str = ""
    ) -> LoggedEvent:
        """Log a DEAUTHORISE of ``key`` from ``effective`` (default: now; earlier for a
        compromised key)."""
        with self.transaction():
            logged = self.publisher.deauthorise(key, effective=effective, purpose=purpose)
        return logged

    def identity_events(self) -> list[LoggedEvent]:
        """Every identity event of the log, in log order."""
        self._fresh()
        return IdentityEvents(self.db).all()

    def publisher_keys(self) -> list[str]:
        """Every key that has held this log: the organisation's first key, then each key it
        was handed over to, in order."""
        keys = [self.organisation]
        for logged in self.identity_events():
            e = logged.signed.event
            if e.kind is EventKind.HANDOVER:
                keys.append(checksum_address(e.subject))
        return keys

    def key_history(self) -> str:
        """The key-history file of this log (``okeios.protocol.keyhistory``): every identity
        event, proven against the latest anchored checkpoint (else the latest checkpoint)."""
        from okeios.protocol.keyhistory import dump_key_history

        final_sizes = self.journal_rows.final_sizes()
        size = final_sizes[-1] if final_sizes else self.size
        checkpoint = self.checkpoint_at(size) or self.checkpoint()
        size = checkpoint.checkpoint.tree_size
        entry = self.anchored_for(size - 1)
        ref = None
        if entry is not None and entry.tree_size == size and entry.tx_hash is not None:
            ref = AnchorRef(
                chain_id=entry.chain_id,
                registry=bytes.fromhex(entry.registry[2:]),
                transaction=entry.tx_hash,
                block=entry.block_number or 0,
                extension=None,
            )
        events = [logged for logged in self.identity_events() if logged.index < size]
        bundles = [
            self.publisher.bundle(logged.id, checkpoint=checkpoint, anchor=ref) for logged in events
        ]
        # For each handover: the old key's last anchored tree and a consistency proof from it
        # to this tree, which links the keys' anchored histories into one.
        continuity = []
        for logged in events:
            if logged.signed.event.kind is not EventKind.HANDOVER:
                continue
            old = logged.signed.event.author
            sizes = [n for n in final_sizes if n <= size]
            mine = [n for n in sizes if (cp := self.checkpoint_at(n)) and cp.publisher == old]
            if mine:
                last = mine[-1]
                proof = self.tree.consistency_proof(last, size) if last < size else []
                continuity.append((old, last, self.tree.root(last), proof))
        return dump_key_history(self.organisation, size, bundles, continuity)

    def rotate_key(
        self,
        key: bytes | None = None,
        *,
        purpose: str = "",
        before_swap: Callable[[Store, str], object] | None = None,
    ) -> LoggedEvent:
        """Hand the log over to a new publisher key (``key``, else a fresh one).

        Logs a HANDOVER signed by the current key and, still with that key, signs the
        checkpoint of the tree that ends with it; ``before_swap(store, new_address)`` then runs
        while the store still signs with the old key: the CLI anchors that tree there (so the old
        key's last anchor holds the handover) and sends the registry's ``handover``, which closes
        the log for the old key and opens it for the new one. Finally the new key is sealed in
        place of the old one. The log id stays the organisation's; later checkpoints and anchors
        are the new key's. The new key is written (staged) before anything is logged, so a crash
        leaves a store that reopens with it.
        """
        old = self.signer
        new = LocalSigner.from_key(key) if key is not None else LocalSigner.generate(self.rng)
        if new.address == old.address:
            raise InputError("the new publisher key is the current one")
        sealed = protect_secret_with_key(new.private_key, self._master, rng=self.rng)
        staged = self.home / (KEY_NAME + ".next")
        write_atomic(staged, sealed, private=True)
        organisation = self.organisation
        with self.transaction():
            logged = self.publisher.handover(new, purpose=purpose)
            self.publisher.signer = old  # the old key signs the tree ending with the handover
            self.meta.set("organisation", organisation)
            self.meta.set("publisher", new.address)
        try:
            self.checkpoint()
            if before_swap is not None:
                before_swap(self, new.address)
        finally:
            os.replace(staged, self.home / KEY_NAME)
            self.signer = new
            self.publisher.signer = new
        return logged

    # -- confidentiality: grants, revocations, erasure (okeios.publish.access) --------------

    def grant(self, ident: str, binding: RecipientBinding, *, purpose: str = "") -> Share:
        """Give a recipient access to a record's current version; log a signed GRANT event."""
        return _access.grant(self, ident, binding, purpose=purpose)

    def share(self, ident: str, recipient: str) -> Share:
        """The share of a record's current version for a recipient with an active grant."""
        return _access.share(self, ident, recipient)

    def revoke(self, ident: str, recipient: str, *, purpose: str = "") -> LoggedEvent:
        """Stop a recipient's access to a record; log a signed REVOKE event."""
        return _access.revoke(self, ident, recipient, purpose=purpose)

    def erase(self, ident: str, *, purpose: str = "") -> LoggedEvent:
        """Crypto-shred a record (its keys, grants and identity); log a signed ERASE event."""
        return _access.erase(self, ident, purpose=purpose)

    def access(self, ident: str, reader: str, *, purpose: str = "") -> LoggedEvent:
        """Log a signed ACCESS receipt: ``reader`` read the record, for ``purpose``."""
        return _access.access(self, ident, reader, purpose=purpose)

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint(self) -> SignedCheckpoint:
        """A signed checkpoint of the log as it is now (stored; reused if already there)."""
        size = self.size
        if size == 0:
            raise InputError("the log is empty: add records first")
        existing = self.checkpoint_at(size)
        if existing is not None:
            return existing
        signed = self.publisher.checkpoint(size)
        with self.transaction():
            self.checkpoint_rows.add(size, signed.checkpoint.root, signed.signature, self.clock())
        return self.checkpoint_at(size) or signed  # another process's, if it stored one first

    def checkpoint_at(self, size: int) -> SignedCheckpoint | None:
        row = self.checkpoint_rows.at(size)
        if row is None:
            return None
        checkpoint = Checkpoint(self.log_id, size, row[0])
        return SignedCheckpoint(checkpoint, self._checkpoint_signer(checkpoint, row[1]), row[1])

    def _checkpoint_signer(self, checkpoint: Checkpoint, signature: bytes) -> str:
        """The key that signed a stored checkpoint: this store's key unless the log was handed
        over (docs/identity.md), then the key that held the log at its size (recovered once)."""
        if self.publisher.organisation == self.address:
            return self.address
        found = self._checkpoint_signers.get(signature)
        if found is None:
            found = recover_address(checkpoint.id, signature)
            self._checkpoint_signers[signature] = found
        return found

    # -- the anchoring journal --------------------------------------------------------------

    def journal(
        self, chain_id: int, registry: str, states: Iterable[str] | None = None
    ) -> list[JournalEntry]:
        return self.journal_rows.entries(chain_id, registry, states)

    def journal_add(
        self, chain_id: int, registry: str, tree_size: int, root: bytes
    ) -> JournalEntry:
        with self.transaction():
            entry_id = self.journal_rows.add(chain_id, registry, tree_size, root, self.clock())
        return self.journal_rows.get(entry_id)

    def journal_update(self, entry_id: int, **fields: object) -> JournalEntry:
        with self.transaction():
            self.journal_rows.update(entry_id, self.clock(), **fields)
        return self.journal_rows.get(entry_id)

    def anchored_for(
        self, index: int, chain_id: int | None = None, registry: str | None = None
    ) -> JournalEntry | None:
        """The smallest final anchor whose tree holds entry ``index`` (on that chain, if given)."""
        return self.journal_rows.anchored_for(index, chain_id, registry)

    # -- export -----------------------------------------------------------------------------

    def export(self, ident: str, *, fields: Iterable[str] | None = None) -> Bundle:
        """The proof bundle of a record's latest event (or of an event, by id).

        ``fields`` are the JSON Pointers to disclose (default: all; ``[]``: none, and then
        nothing is decrypted: the bundle carries the stored salted digests). The bundle's
        checkpoint is the smallest *anchored* checkpoint that holds the event, with the anchor
        reference filled in and, when the log was anchored again later, the latest anchored
        tree head with a consistency proof to it. If no anchor holds the event yet, the bundle
        carries the latest checkpoint and no anchor reference. Each journal question is one
        indexed query: the cost does not grow with the number of anchors.
        """
        self._fresh()
        logged = self.find_event(ident)
        anchor = self.anchored_for(logged.index)
        ref = None
        if anchor is None:
            checkpoint = self.checkpoint()
        else:
            stored = self.checkpoint_at(anchor.tree_size)
            if stored is None or anchor.tx_hash is None or anchor.block_number is None:
                raise StoreError(f"the journal's anchor of size {anchor.tree_size} is incomplete")
            checkpoint = stored
            latest = self.journal_rows.latest_final(anchor.chain_id, anchor.registry)
            extension = None
            later = None if latest is None else self.checkpoint_at(latest.tree_size)
            if (
                latest is not None
                and latest.tree_size > anchor.tree_size
                # the registry keeps each key's anchors apart: extend only to the same key's
                and later is not None
                and later.publisher == checkpoint.publisher
            ):
                proof = self.tree.consistency_proof(anchor.tree_size, latest.tree_size)
                extension = Extension(latest.tree_size, latest.root, tuple(proof))
            ref = AnchorRef(
                chain_id=anchor.chain_id,
                registry=bytes.fromhex(anchor.registry[2:]),
                transaction=anchor.tx_hash,
                block=anchor.block_number,
                extension=extension,
            )
        return self.publisher.bundle(logged.id, fields=fields, checkpoint=checkpoint, anchor=ref)

    # -- integrity --------------------------------------------------------------------------

    def check(self, *, progress: Callable[[int], None] | None = None) -> list[str]:
        """Read the whole database and say what is wrong (see :mod:`okeios.publish.check`)."""
        from okeios.publish.check import check_store

        return check_store(self, progress=progress)
