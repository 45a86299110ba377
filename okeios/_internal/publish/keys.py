"""The keys of a store's log (``docs/identity.md``), reached as ``store.keys``: the
organisation's first key that names the log, the author keys it authorises and deauthorises,
the handover of the log to a new publisher key, and the key-history file that proves all of it.

(Which *record* a FHIR resource is, the other meaning of identity, is
:mod:`okeios._internal.publish.identity`.)
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from okeios._internal.protocol.events import EventKind
from okeios._internal.protocol.signing import LocalSigner, checksum_address
from okeios._internal.publish.home import (
    KEY_NAME,
    STAGED_KEY_NAME,
    retire_key,
    stage_publisher_key,
    staged_key,
    swap_staged_key,
)
from okeios._internal.publish.journal import AnchorJournal, anchor_ref
from okeios._internal.publish.publisher import MAX_TIME, LoggedEvent
from okeios._internal.publish.tables import IdentityEvents
from okeios.errors import InputError, KeyRotationError

if TYPE_CHECKING:
    from okeios._internal.publish.publisher import Publisher
    from okeios._internal.publish.tables import Database, Events, Meta
    from okeios._internal.publish.tree import StoredTree

__all__ = [
    "FAULT_ENV",
    "ROTATION_META",
    "ROTATION_STEPS",
    "HandoverChain",
    "KeysUnit",
    "PublisherKeys",
]

ROTATION_META = "rotation"  # the meta row of a rotation under way: "0xNEW" or "0xNEW@INDEX"
FAULT_ENV = "OKEIOS_FAULT_AT"


class KeysUnit(Protocol):
    """What the keys use of a store's unit of work
    (:class:`~okeios._internal.publish.unit.Unit` satisfies it): the home (the key files), the
    publisher and the key it signs with (a rotation replaces it), the tables of events and
    meta, the tree, randomness, one transaction and the home's locks."""

    signer: LocalSigner

    @property
    def home(self) -> Path: ...
    @property
    def db(self) -> Database: ...
    @property
    def events(self) -> Events: ...
    @property
    def meta(self) -> Meta: ...
    @property
    def tree(self) -> StoredTree: ...
    @property
    def size(self) -> int: ...
    @property
    def publisher(self) -> Publisher: ...
    @property
    def rng(self) -> Callable[[int], bytes]: ...
    def exclusive(self, name: str) -> AbstractContextManager[None]: ...
    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...


class PublisherKeys:
    """The organisation, author authorisations and publisher key handovers of one unit."""

    def __init__(self, unit: KeysUnit, master: bytes, journal: AnchorJournal) -> None:
        self._unit = unit
        self._master = master  # seals a new publisher key on rotation
        self._journal = journal  # the anchors and checkpoints a key history cites

    @property
    def organisation(self) -> str:
        """The organisation this log belongs to: its first publisher key."""
        return self._unit.publisher.organisation

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
        unit = self._unit
        with unit.transaction():
            logged = unit.publisher.authorise(
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
        unit = self._unit
        with unit.transaction():
            logged = unit.publisher.deauthorise(key, effective=effective, purpose=purpose)
        return logged

    def events(self) -> list[LoggedEvent]:
        """Every identity event of the log, in log order (read from the table, committed by
        any process)."""
        return IdentityEvents(self._unit.db).all()

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
        """The key-history file of this log (``okeios._internal.protocol.keyhistory``): every
        identity event, proven against the latest anchored checkpoint (else the latest
        checkpoint)."""
        from okeios._internal.protocol.keyhistory import dump_key_history

        unit = self._unit
        final_sizes = self._journal.rows.final_sizes()
        size = final_sizes[-1] if final_sizes else unit.size
        checkpoint = self._journal.checkpoints.at(size) or self._journal.checkpoints.current()
        size = checkpoint.checkpoint.tree_size
        entry = self._journal.anchored_for(size - 1)
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
            unit.publisher.bundle(logged.id, checkpoint=checkpoint, anchor=ref) for logged in events
        ]
        # For each handover: the old key's last anchored tree and a consistency proof from it
        # to this tree, which links the keys' anchored histories into one.
        continuity = []
        for logged in events:
            if logged.signed.event.kind is not EventKind.HANDOVER:
                continue
            old = logged.signed.event.author
            sizes = [n for n in final_sizes if n <= size]
            mine = [
                n for n in sizes if (cp := self._journal.checkpoints.at(n)) and cp.publisher == old
            ]
            if mine:
                last = mine[-1]
                proof = unit.tree.consistency_proof(last, size) if last < size else []
                continuity.append((old, last, unit.tree.root(last), proof))
        # The entries after the last identity event, each proven in the tree: with the
        # numbering of identity events they show the history leaves none out (section 5).
        start = events[-1].index + 1 if events else 0
        tail = [
            (logged.index, logged.signed, unit.tree.inclusion_proof(logged.index, size))
            for logged in unit.events.between(start, size)
        ]
        return dump_key_history(self.organisation, size, bundles, continuity, tail)

    # -- rotation (docs/identity.md section 4) ----------------------------------------------

    def pending(self) -> tuple[str, int | None] | None:
        """The rotation under way, if any: the new key and the index of its logged handover
        (None while it is only staged)."""
        value = self._unit.meta.get(ROTATION_META)
        if value is None:
            return None
        address, _, index = value.partition("@")
        return address, (int(index) if index else None)

    def rotate(
        self,
        key: bytes | None = None,
        *,
        purpose: str = "",
        chain: HandoverChain | None = None,
        offline: bool = False,
    ) -> LoggedEvent:
        """Hand the log over to a new publisher key (``key``, else a fresh one), in steps that
        each survive a crash; calling it again resumes a rotation under way.

        1. *staged*: the new key is written, sealed, to ``publisher.key.next`` and the ``meta``
           row ``rotation`` names it. Nothing is logged; :meth:`abort` undoes it.
        2. ``chain.check`` (before anything is logged): the chain is reachable, the registry
           holds the log for the old key, the old key can pay. A failure here leaves the
           rotation staged and the old key in charge.
        3. *logged*: the old key logs the HANDOVER and signs the checkpoint of the tree that
           ends with it. From here on the log takes no new event until the rotation is
           finished (:class:`~okeios.errors.KeyRotationError`), and it can no longer be rolled
           back (the log is append-only): only resumed.
        4. *anchored*, *handed-over*: ``chain.anchor_old`` anchors that tree with the old key,
           ``chain.hand_over`` sends the registry's ``handover`` (both idempotent).
        5. *retired*: the old key is kept, sealed, in ``retired-keys/``.
        6. *switched*: ``meta`` names the new key (one transaction), then the staged key file
           takes the place of ``publisher.key`` (a crash in between is finished by
           :meth:`Store.open`).

        ``chain`` is required: without the chain step the registry would keep the log bound to
        the old key and no key could anchor it again. ``offline=True`` rotates a log that was
        never anchored and never will be on this registry (a test or a log kept off chain).
        """
        unit = self._unit
        if chain is None and not offline:
            raise KeyRotationError(
                "a key rotation needs the chain: the old key anchors the tree ending with the "
                "handover (the log's first anchor if it was never anchored) and hands the log "
                "over in the registry; without it no key could anchor the log again"
            )
        with unit.exclusive("rotate"):
            new = self._stage(key)
            organisation = self.organisation
            old = unit.signer
            pending = self.pending()
            assert pending is not None
            if pending[1] is None:
                if chain is not None:
                    chain.check(new.address)
                with unit.transaction():
                    logged = unit.publisher.handover(new, purpose=purpose)
                    unit.publisher.signer = old  # the old key signs the tree ending with it
                    self._journal.checkpoints.current()
                    unit.meta.set(ROTATION_META, f"{new.address}@{logged.index}")
                _fault_point("logged")
            else:
                logged = next(e for e in self.events() if e.index == pending[1])
            if chain is not None:
                chain.anchor_old()
                _fault_point("anchored")
                chain.hand_over(new.address)
                _fault_point("handed-over")
            retire_key(unit.home, old.address, (unit.home / KEY_NAME).read_bytes())
            _fault_point("retired")
            with unit.transaction():
                unit.meta.set("organisation", organisation)
                unit.meta.set("publisher", new.address)
                unit.meta.delete(ROTATION_META)
            _fault_point("switched")
            swap_staged_key(unit.home)
            unit.signer = new
            unit.publisher.signer = new
        return logged

    def _stage(self, key: bytes | None) -> LocalSigner:
        """The staged key of the rotation under way, staging ``key`` (else a fresh one) when
        none is."""
        unit = self._unit
        pending = self.pending()
        staged = staged_key(unit.home, self._master)
        if pending is not None:
            if staged is None or staged.address != pending[0]:
                raise KeyRotationError(
                    f"a rotation to {pending[0]} is under way, but its staged key is not in "
                    f"{unit.home}: finish it from the home that started it"
                )
            if key is not None and LocalSigner.from_key(key).address != staged.address:
                raise KeyRotationError(
                    f"a rotation to {staged.address} is under way: run rotate-key again "
                    "without --key to finish it, or --abort it"
                )
            return staged
        if key is not None:
            new = LocalSigner.from_key(key)
        elif staged is not None:
            new = staged  # staged by a run that stopped before naming it: use it
        else:
            new = LocalSigner.generate(unit.rng)
        if new.address == unit.signer.address:
            raise InputError("the new publisher key is the current one")
        if new.address in self.publishers():
            raise InputError(f"{new.address} held this log before: a retired key stays retired")
        if staged is not None and staged.address != new.address:
            retire_key(
                unit.home,
                staged.address,
                (unit.home / STAGED_KEY_NAME).read_bytes(),
                state="abandoned",
            )
        if staged is None or staged.address != new.address:
            stage_publisher_key(unit.home, new, self._master, unit.rng)
        _fault_point("staged")
        with unit.transaction():
            unit.meta.set(ROTATION_META, new.address)
        _fault_point("named")
        return new

    def abort(self) -> str:
        """Roll back a rotation that is only staged: the staged key is kept in
        ``retired-keys/`` as abandoned and the ``rotation`` row removed; the old key stays.
        Returns the abandoned key's address. A rotation whose handover is logged cannot be
        rolled back (:class:`~okeios.errors.KeyRotationError`): run it again to finish it."""
        unit = self._unit
        with unit.exclusive("rotate"):
            pending = self.pending()
            staged = staged_key(unit.home, self._master)
            if pending is not None and pending[1] is not None:
                raise KeyRotationError(
                    f"the handover to {pending[0]} is logged (entry {pending[1]}); a log is "
                    "append-only, so it cannot be rolled back: run rotate-key --chain URL again "
                    "to finish it"
                )
            if pending is None and staged is None:
                raise KeyRotationError("no key rotation is under way")
            abandoned = pending[0] if pending is not None else staged.address  # type: ignore[union-attr]
            if staged is not None:
                retire_key(
                    unit.home,
                    staged.address,
                    (unit.home / STAGED_KEY_NAME).read_bytes(),
                    state="abandoned",
                )
                (unit.home / STAGED_KEY_NAME).unlink()
            with unit.transaction():
                unit.meta.delete(ROTATION_META)
        return abandoned


class HandoverChain(Protocol):
    """The chain step of a rotation (:meth:`PublisherKeys.rotate`), made for the store the
    rotation runs in (:class:`~okeios._internal.publish.anchoring.RegistryHandover` takes the
    store and its registry), so that the keys part never holds the store; every method may be
    called again after a crash and must then finish or skip what was done."""

    def check(self, new: str) -> object:
        """Refuse (raise) before anything is logged if the chain step could not succeed."""

    def anchor_old(self) -> object:
        """Anchor, with the old key, the tree that ends with the handover (final)."""

    def hand_over(self, new: str) -> object:
        """Send the registry's ``handover`` to ``new`` unless it was sent already."""


def _fault_point(step: str) -> None:
    """Crash testing: with ``OKEIOS_FAULT_AT=rotate:STEP`` in the environment the process
    kills itself (SIGKILL) right after STEP of a rotation, as a power cut would."""
    if os.environ.get(FAULT_ENV) == f"rotate:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


ROTATION_STEPS = ("staged", "named", "logged", "anchored", "handed-over", "retired", "switched")
"""The steps of :meth:`PublisherKeys.rotate`, in order (each a crash point)."""
