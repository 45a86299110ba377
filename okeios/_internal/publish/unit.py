"""The unit of work a store's parts share: the open database and its tables, the stored Merkle
tree, the sealed versions and the private resource map, the publisher that decides what is
written into them, the clock and randomness, and the transactions and locks that make each
operation one atomic step.

A :class:`~okeios._internal.publish.store.Store` makes one :class:`Unit` when it opens and
hands it to each of its parts (records, access, keys, checkpoints, journal), with the other
parts a part needs by name; no part holds the store. Each part is typed with the slice of the
unit it uses, a ``typing.Protocol`` declared beside it (``KeysUnit``, ``RecordsUnit``, ...)
that this class satisfies. The unit holds no part: what a part adds (a grant, a checkpoint, an
anchor) stays in that part.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.ids import (
    EventId,
    EventOrRecordId,
    RecordId,
    RecordRef,
    ResourceKey,
    as_ref,
)
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.home import home_lock
from okeios._internal.publish.identity import Identities
from okeios._internal.publish.postgres import PgDatabase
from okeios._internal.publish.publisher import LoggedEvent, Publisher
from okeios._internal.publish.tables import (
    Database,
    Events,
    Grants,
    Meta,
    Nodes,
    Resources,
    StoredEvents,
    Versions,
)
from okeios._internal.publish.tree import StoredTree
from okeios._internal.publish.versions import SealedVersions
from okeios.errors import InputError, KeyRotationError, PublisherKeyChangedError

__all__ = ["Unit"]

# What a write transaction reads before its first event (Unit.check_writer).
_WRITER_CHECK = "SELECT key, value FROM meta WHERE key IN ('publisher', 'rotation')"

#: What a lookup says it did not find, by the type of the name it was given.
_NAMED: dict[type[RecordRef], str] = {
    EventId: "event",
    RecordId: "record",
    EventOrRecordId: "record or event",
    ResourceKey: "record of",
}


class Unit:
    """What one open store's parts work on (see the module docstring)."""

    def __init__(
        self,
        home: Path,
        db: Database,
        signer: LocalSigner,
        log_name: str,
        clock: Callable[[], float],
        master: bytes,
        rng: Callable[[int], bytes],
    ) -> None:
        self.home = home
        self.db = db
        self.signer = signer
        self.log_name = log_name
        self.clock = clock
        self.rng = rng
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
        self._held: set[str] = set()
        self.publisher = Publisher(
            signer,
            log_name=log_name,
            clock=clock,
            rng=rng,
            versions=self.versions,
            events=StoredEvents(self.tree, self.events),
            organisation=self.meta.get("organisation"),
        )
        self.publisher.guard = self.check_writer

    # -- transactions and locks ---------------------------------------------------------------

    @contextmanager
    def transaction(
        self, ahead: Sequence[tuple[str, Sequence[object]]] = ()
    ) -> Iterator[sqlite3.Connection]:
        """One atomic step under the write lock; on any error nothing of it is kept (and the
        tree in memory forgets what the step appended). ``ahead``: reads it makes first, asked
        with the lock (:meth:`~okeios._internal.publish.tables.Database.read_ahead`)."""
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

    def fresh(self) -> None:
        """See what other processes committed (outside a write transaction)."""
        if not self.db.in_transaction:
            self.tree.refresh()

    # -- the writer's key ---------------------------------------------------------------------

    def _forget_writer_check(self) -> None:
        self._writer_checked = False

    def _ask_writer_check(self) -> None:
        self.db.read_ahead(_WRITER_CHECK)

    def _key_changed(self, current: str | None) -> PublisherKeyChangedError:
        return PublisherKeyChangedError(
            f"this process signs with {self.signer.address}, but the store's publisher key "
            f"is now {current} (rotated since the store was opened): nothing was written; "
            "reopen the store"
        )

    def check_key(self) -> None:
        """Refuse (:class:`PublisherKeyChangedError`) when this process's publisher key is no
        longer the store's: before it signs a checkpoint or an event."""
        row = self.db.one("SELECT value FROM meta WHERE key = 'publisher'")
        current = None if row is None else str(row[0])
        if current != self.signer.address:
            raise self._key_changed(current)

    def check_writer(self) -> None:
        """The publisher's guard, before the first event of a write transaction: this
        process's publisher key must still be the store's (another process or machine may
        have rotated it since this one opened the store), and no rotation may be half done
        (its handover logged, not yet final on chain). Raises before anything is written; the
        transaction then rolls back."""
        if self._writer_checked:
            return
        rows = dict(self.db.execute(_WRITER_CHECK).fetchall())
        if rows.get("publisher") != self.signer.address:
            raise self._key_changed(rows.get("publisher"))
        rotation = rows.get("rotation")
        if rotation is not None and "@" in rotation:
            new, _, index = rotation.partition("@")
            raise KeyRotationError(
                f"a key rotation to {new} is half done (its handover is entry {index}, not yet "
                "final on chain): the log takes no new event until it is finished; run "
                "`okeios rotate-key --chain URL` again"
            )
        self._writer_checked = True

    # -- what the store is --------------------------------------------------------------------

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
        self.fresh()
        return self.tree.size

    # -- finding records ----------------------------------------------------------------------

    def find_event(self, ident: RecordRef | str) -> LoggedEvent:
        """The event ``ident`` names: an event by its :class:`EventId`, a record's latest event
        by its :class:`RecordId`, an :class:`EventOrRecordId` as either (the event first), or
        the latest event of the record holding a :class:`ResourceKey` (``Type/id``). Text is
        read by :func:`~okeios._internal.protocol.ids.parse_ref` (the typed error says what
        was expected)."""
        ref = as_ref(ident)
        if isinstance(ref, ResourceKey):
            row = self.identities.find(ref.text)
            if row is None:
                raise InputError(f"no record of {ref} in this store")
            found = self.events.head_event(row.record_id)
        elif isinstance(ref, EventId):
            found = self.events.get(ref.raw)
        elif isinstance(ref, RecordId):
            found = self.events.head_event(ref.raw)
        else:
            found = self.events.find(ref.raw)
        if found is None:
            raise InputError(f"no {_NAMED[type(ref)]} {ref} in this store")
        return found

    def record_id_of(self, ident: RecordRef | str) -> bytes:
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
            raise InputError(f"no record {to_hex(record_id)} in this store")
        return version
