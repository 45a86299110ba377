"""The local personal data store: a publisher's log, record versions, checkpoints and the
anchoring journal, in one SQLite file (or on a PostgreSQL server) under the okeios home.

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

The store is storage. :class:`Store` holds the lifecycle (create, open, close) and the wiring:
it opens the home and its keys (:mod:`okeios._internal.publish.home`), makes the unit of work
its parts share (:class:`~okeios._internal.publish.unit.Unit`: the database and its tables,
the Merkle tree, the publisher, transactions and locks) and hands each part what it uses of
that unit (a ``typing.Protocol`` declared beside the part) and the other parts it needs, never
the store. The
:class:`~okeios._internal.publish.publisher.Publisher` decides what is written and
:meth:`~okeios._internal.publish.publisher.Publisher.append` writes every event, one at a time
or in batches. Nothing is cached across transactions but the Merkle frontier, re-read at the
start of each, so any number of processes (CLI runs, services) can share one home. Opening
reads ``O(log n)`` rows; ``okeios check`` (``store.check``) reads everything.

Its verbs are its parts' (the records' :class:`~okeios._internal.publish.records.Records`:
add, put, amend, derive, history, records, show, export, write_log; the unit's: transactions,
locks, finding records), and its parts are reached as attributes: ``store.access`` (grants,
shares, revocations, receipts, erasure: :class:`~okeios._internal.publish.access.Access`),
``store.keys`` (the organisation, authorisations, key handover and history:
:class:`~okeios._internal.publish.keys.PublisherKeys`), ``store.checkpoints``
(:class:`~okeios._internal.publish.checkpoints.SignedCheckpoints`) and ``store.journal`` (the
anchoring journal: :class:`~okeios._internal.publish.journal.AnchorJournal`).
"""

from __future__ import annotations

import os
import sqlite3
import time as _time
from collections.abc import Callable
from pathlib import Path

from okeios._internal.config import resolve_home
from okeios._internal.files import private_dir, write_atomic
from okeios._internal.protocol.fhir import fhir_resources
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.access import Access
from okeios._internal.publish.checkpoints import SignedCheckpoints
from okeios._internal.publish.home import (
    DATABASE_ENV,
    DB_NAME,
    KEY_NAME,
    KEYFILE_NAME,
    MASTER_CHECK,
    MASTER_NAME,
    PASSPHRASE_ENV,
    URL_NAME,
    check_master,
    create_schema,
    home_lock,
    migrate,
    open_database,
    read_keys,
    retire_key,
    staged_key,
    swap_staged_key,
    write_keys,
)
from okeios._internal.publish.identity import PutResult, RecordFilter, RecordInfo
from okeios._internal.publish.journal import AnchorJournal
from okeios._internal.publish.keys import PublisherKeys
from okeios._internal.publish.postgres import PgDatabase, is_database_url, redact_url
from okeios._internal.publish.records import Records
from okeios._internal.publish.tables import (
    SCHEMA_VERSION,
    Checkpoints,
    Database,
    Journal,
    JournalEntry,
    StoreError,
)
from okeios._internal.publish.unit import Unit
from okeios.errors import MasterKeyMismatchError

__all__ = [
    "DATABASE_ENV",
    "DB_NAME",
    "KEYFILE_NAME",
    "KEY_NAME",
    "MASTER_CHECK",
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


class Store:
    """A publisher's persistent store. Open with :meth:`init` or :meth:`open`; close when done.

    Safe to hold open in a long-running service while other processes write to the same home.
    """

    def __init__(self, unit: Unit, master: bytes) -> None:
        """Wire the parts of an open store (:meth:`init` and :meth:`open` make the ``unit``)."""
        self.unit = u = unit
        # the storage the parts share (the unit's)
        self.home, self.db, self.clock, self.rng, self.log_name = (
            u.home, u.db, u.clock, u.rng, u.log_name
        )  # fmt: skip
        self.nodes, self.events, self.tree, self.meta = u.nodes, u.events, u.tree, u.meta
        self.versions, self.grants, self.identities = u.versions, u.grants, u.identities
        self.publisher = u.publisher
        # the parts, each handed the unit and the parts it needs
        self.checkpoints = SignedCheckpoints(u, Checkpoints(u.db))
        self.journal = AnchorJournal(u, Journal(u.db), self.checkpoints)
        self.keys = PublisherKeys(u, master, self.journal)
        book = Records(u, self.journal)
        self.access = Access(u, book)
        # the verbs: the records' and the unit's
        self.add, self.put, self.amend, self.derive = book.add, book.put, book.amend, book.derive
        self.history, self.records, self.show = book.history, book.records, book.show
        self.export, self.write_log, self.iter_events = (
            book.export,
            book.write_log,
            book.iter_events,
        )
        self.transaction, self.exclusive, self.check_key = u.transaction, u.exclusive, u.check_key
        self.find_event, self.record_id_of = u.find_event, u.record_id_of
        self.record_ids, self.event_ids_of = u.record_ids, u.event_ids_of
        self.is_erased, self.latest_version = u.is_erased, u.latest_version

    @property
    def signer(self) -> LocalSigner:
        """The publisher key this process signs with (a rotation replaces it)."""
        return self.unit.signer

    @property
    def address(self) -> str:
        return self.unit.address

    @property
    def is_postgres(self) -> bool:
        """Whether the tables are on a PostgreSQL server (else in ``store.sqlite``)."""
        return self.unit.is_postgres

    @property
    def log_id(self) -> bytes:
        return self.unit.log_id

    @property
    def size(self) -> int:
        return self.unit.size

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
            signer = LocalSigner.from_key(key) if key is not None else LocalSigner.generate(rng)
            master = rng(32)
            write_keys(path, signer, master, passphrase, rng)
            db: Database = pg if pg is not None else Database(path / DB_NAME)
            with db.transaction() as conn:
                if pg is not None and pg.has_store():  # another machine won the race
                    raise StoreError(f"a store exists already at {redact_url(pg.url)}")
                create_schema(conn, log_name, signer.address, master)
            if pg is not None:  # the home points at the server once the store exists there
                write_atomic(path / URL_NAME, pg.url.encode("utf-8"), private=True)
        if trust:
            from okeios._internal.config import TrustConfig

            config = TrustConfig.load(path)
            config.trust_author(signer.address)
            config.trust_publisher(signer.address)
            config.save(path)
        return cls(Unit(path, db, signer, log_name, clock, master, rng), master)

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
            if meta.get(MASTER_CHECK) is not None:
                check_master(db, master, meta[MASTER_CHECK])
            if meta.get("schema") in ("1", "2"):
                migrate(db)
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
            check_master(db, master, meta.get(MASTER_CHECK))
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
            return cls(Unit(path, db, signer, meta["log_name"], clock, master, rng), master)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(f"{db.path} is damaged: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self, *, progress: Callable[[int], None] | None = None) -> list[str]:
        """Read the whole database and say what is wrong (see
        :mod:`okeios._internal.publish.check`)."""
        from okeios._internal.publish.check import check_store

        return check_store(self.unit, self.keys, self.checkpoints, self.access, progress=progress)
