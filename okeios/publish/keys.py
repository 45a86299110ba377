"""The keys of a store's log (``docs/identity.md``), reached as ``store.keys``: the
organisation's first key that names the log, the author keys it authorises and deauthorises,
the handover of the log to a new publisher key, and the key-history file that proves all of it.

(Which *record* a FHIR resource is, the other meaning of identity, is
:mod:`okeios.publish.identity`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from okeios.errors import InputError
from okeios.protocol.events import EventKind
from okeios.protocol.signing import LocalSigner, checksum_address
from okeios.publish.home import stage_publisher_key, swap_staged_key
from okeios.publish.journal import anchor_ref
from okeios.publish.publisher import MAX_TIME, LoggedEvent
from okeios.publish.tables import IdentityEvents

if TYPE_CHECKING:
    from okeios.publish.store import Store

__all__ = ["PublisherKeys"]


class PublisherKeys:
    """The organisation, author authorisations and publisher key handovers of one store."""

    def __init__(self, store: Store, master: bytes) -> None:
        self._store = store
        self._master = master  # seals a new publisher key on rotation

    @property
    def organisation(self) -> str:
        """The organisation this log belongs to: its first publisher key."""
        return self._store.publisher.organisation

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
        store = self._store
        with store.transaction():
            logged = store.publisher.authorise(
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
        store = self._store
        with store.transaction():
            logged = store.publisher.deauthorise(key, effective=effective, purpose=purpose)
        return logged

    def events(self) -> list[LoggedEvent]:
        """Every identity event of the log, in log order (read from the table, committed by
        any process)."""
        return IdentityEvents(self._store.db).all()

    def publishers(self) -> list[str]:
        """Every key that has held this log: the organisation's first key, then each key it
        was handed over to, in order."""
        keys = [self.organisation]
        for logged in self.events():
            e = logged.signed.event
            if e.kind is EventKind.HANDOVER:
                keys.append(checksum_address(e.subject))
        return keys

    def key_history(self) -> str:
        """The key-history file of this log (``okeios.protocol.keyhistory``): every identity
        event, proven against the latest anchored checkpoint (else the latest checkpoint)."""
        from okeios.protocol.keyhistory import dump_key_history

        store = self._store
        final_sizes = store.journal.rows.final_sizes()
        size = final_sizes[-1] if final_sizes else store.size
        checkpoint = store.checkpoints.at(size) or store.checkpoints.current()
        size = checkpoint.checkpoint.tree_size
        entry = store.journal.anchored_for(size - 1)
        ref = None
        if (
            entry is not None
            and entry.tree_size == size
            and entry.tx_hash is not None
            and entry.block_number is not None
        ):
            ref = anchor_ref(entry)
        events = [logged for logged in self.events() if logged.index < size]
        bundles = [
            store.publisher.bundle(logged.id, checkpoint=checkpoint, anchor=ref)
            for logged in events
        ]
        # For each handover: the old key's last anchored tree and a consistency proof from it
        # to this tree, which links the keys' anchored histories into one.
        continuity = []
        for logged in events:
            if logged.signed.event.kind is not EventKind.HANDOVER:
                continue
            old = logged.signed.event.author
            sizes = [n for n in final_sizes if n <= size]
            mine = [n for n in sizes if (cp := store.checkpoints.at(n)) and cp.publisher == old]
            if mine:
                last = mine[-1]
                proof = store.tree.consistency_proof(last, size) if last < size else []
                continuity.append((old, last, store.tree.root(last), proof))
        return dump_key_history(self.organisation, size, bundles, continuity)

    def rotate(
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
        store = self._store
        old = store.signer
        new = LocalSigner.from_key(key) if key is not None else LocalSigner.generate(store.rng)
        if new.address == old.address:
            raise InputError("the new publisher key is the current one")
        stage_publisher_key(store.home, new, self._master, store.rng)
        organisation = self.organisation
        with store.transaction():
            logged = store.publisher.handover(new, purpose=purpose)
            store.publisher.signer = old  # the old key signs the tree ending with the handover
            store.meta.set("organisation", organisation)
            store.meta.set("publisher", new.address)
        try:
            store.checkpoints.current()
            if before_swap is not None:
                before_swap(store, new.address)
        finally:
            swap_staged_key(store.home)
            store.signer = new
            store.publisher.signer = new
        return logged
