"""A store's signed checkpoints (tree heads), by size: reached as ``store.checkpoints``.

A checkpoint is signed once, by the key that holds the log at the time, and stored; a later
request for the same size returns the stored one, also from another process that stored it
first. The rows are :class:`~okeios._internal.publish.tables.Checkpoints`; the signature format is
``docs/log.md``'s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from okeios._internal.protocol.events import Checkpoint, SignedCheckpoint
from okeios._internal.protocol.signing import recover_address
from okeios._internal.publish.tables import Checkpoints
from okeios.errors import InputError

if TYPE_CHECKING:
    from okeios._internal.publish.publisher import Publisher

__all__ = ["CheckpointsUnit", "SignedCheckpoints"]


class CheckpointsUnit(Protocol):
    """What the checkpoints use of a store's unit of work
    (:class:`~okeios._internal.publish.unit.Unit` satisfies it): the publisher that signs, the
    check that its key is still the store's, the log's size and id, the clock and one
    transaction."""

    @property
    def address(self) -> str: ...
    @property
    def log_id(self) -> bytes: ...
    @property
    def size(self) -> int: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def publisher(self) -> Publisher: ...
    def check_key(self) -> None: ...
    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...


class SignedCheckpoints:
    """The signed checkpoints of one store's log."""

    def __init__(self, unit: CheckpointsUnit, rows: Checkpoints) -> None:
        self._unit = unit
        self.rows = rows
        self._signers: dict[bytes, str] = {}  # signature -> recovered key, after a handover

    def current(self) -> SignedCheckpoint:
        """A signed checkpoint of the log as it is now (stored; reused if already there)."""
        unit = self._unit
        size = unit.size
        if size == 0:
            raise InputError("the log is empty: add records first")
        existing = self.at(size)
        if existing is not None:
            return existing
        unit.check_key()  # a process that kept a retired key signs no checkpoint
        signed = unit.publisher.checkpoint(size)
        with unit.transaction():
            self.rows.add(size, signed.checkpoint.root, signed.signature, unit.clock())
        return self.at(size) or signed  # another process's, if it stored one first

    def at(self, size: int) -> SignedCheckpoint | None:
        """The stored checkpoint of ``size`` entries, if one was signed."""
        row = self.rows.at(size)
        if row is None:
            return None
        checkpoint = Checkpoint(self._unit.log_id, size, row[0])
        return SignedCheckpoint(checkpoint, self._signer(checkpoint, row[1]), row[1])

    def all(self) -> list[SignedCheckpoint]:
        """Every stored checkpoint, by size."""
        return [cp for size in self.rows.sizes() if (cp := self.at(size))]

    def _signer(self, checkpoint: Checkpoint, signature: bytes) -> str:
        """The key that signed a stored checkpoint: this store's key unless the log was handed
        over (docs/identity.md), then the key that held the log at its size (recovered once)."""
        unit = self._unit
        if unit.publisher.organisation == unit.address:
            return unit.address
        found = self._signers.get(signature)
        if found is None:
            found = recover_address(checkpoint.id, signature)
            self._signers[signature] = found
        return found
