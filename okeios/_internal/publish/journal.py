"""A store's anchoring journal, reached as ``store.journal``: each attempt to anchor a
checkpoint on a chain, moved through its states by :mod:`okeios._internal.publish.anchoring`, and
the anchor a bundle cites for an entry of the log.

The rows and every query on them are :class:`~okeios._internal.publish.tables.Journal` (``rows``);
this part adds what needs the store: a transaction and the store's clock for each write, and the
checkpoints and tree for the anchor reference of an export.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from okeios._internal.protocol.bundle import AnchorRef, Extension
from okeios._internal.protocol.events import SignedCheckpoint
from okeios._internal.protocol.hexcodec import from_hex
from okeios._internal.publish.checkpoints import SignedCheckpoints
from okeios._internal.publish.tables import Journal, JournalEntry, StoreError

if TYPE_CHECKING:
    from okeios._internal.publish.tree import StoredTree

__all__ = ["AnchorJournal", "JournalUnit", "anchor_ref"]


class JournalUnit(Protocol):
    """What the journal uses of a store's unit of work
    (:class:`~okeios._internal.publish.unit.Unit` satisfies it): the clock, the tree and one
    transaction."""

    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def tree(self) -> StoredTree: ...
    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...


def anchor_ref(entry: JournalEntry, extension: Extension | None = None) -> AnchorRef:
    """The bundle's reference to the anchor a journal entry records."""
    if entry.tx_hash is None or entry.block_number is None:
        raise StoreError(f"the journal's anchor of size {entry.tree_size} is incomplete")
    return AnchorRef(
        chain_id=entry.chain_id,
        registry=from_hex(entry.registry, "the journal's registry", size=20, any_case=True),
        transaction=entry.tx_hash,
        block=entry.block_number,
        extension=extension,
    )


class AnchorJournal:
    """The anchoring journal of one unit."""

    def __init__(self, unit: JournalUnit, rows: Journal, checkpoints: SignedCheckpoints) -> None:
        self._unit = unit
        self.rows = rows
        self.checkpoints = checkpoints  # the signed tree heads an anchor reference cites

    def entries(
        self, chain_id: int, registry: str, states: Iterable[str] | None = None
    ) -> list[JournalEntry]:
        """Entries on one chain and registry (in some states only), oldest first."""
        return self.rows.entries(chain_id, registry, states)

    def add(self, chain_id: int, registry: str, tree_size: int, root: bytes) -> JournalEntry:
        """Record a new attempt (``prepared``), in its own transaction."""
        unit = self._unit
        with unit.transaction():
            entry_id = self.rows.add(chain_id, registry, tree_size, root, unit.clock())
        return self.rows.get(entry_id)

    def update(self, entry_id: int, **fields: object) -> JournalEntry:
        """Move an attempt on (its state, transaction, block...), in its own transaction."""
        unit = self._unit
        with unit.transaction():
            self.rows.update(entry_id, unit.clock(), **fields)
        return self.rows.get(entry_id)

    def anchored_for(
        self, index: int, chain_id: int | None = None, registry: str | None = None
    ) -> JournalEntry | None:
        """The smallest final anchor whose tree holds entry ``index`` (on that chain, if given)."""
        return self.rows.anchored_for(index, chain_id, registry)

    def proof_point(
        self, index: int, chain_id: int | None = None
    ) -> tuple[SignedCheckpoint, AnchorRef | None]:
        """The checkpoint and anchor a bundle of entry ``index`` cites.

        The smallest *anchored* checkpoint that holds the entry, with its anchor reference
        and, when the log was anchored again later by the same key, the latest anchored tree
        head with a consistency proof to it. If no anchor holds the entry yet: the latest
        checkpoint and no anchor. Each question is one indexed query: the cost does not grow
        with the number of anchors. With ``chain_id``, only an anchor on that chain is cited
        (a :class:`~okeios.errors.StoreError` if none holds the entry yet), never one on
        another chain.
        """
        unit = self._unit
        anchor = self.rows.anchored_for(index, chain_id)
        if anchor is None and chain_id is not None:
            raise StoreError(
                f"no final anchor on chain {chain_id} holds entry {index} yet: run "
                "`okeios anchor --chain ...` for that chain first"
            )
        if anchor is None:
            return self.checkpoints.current(), None
        checkpoint = self.checkpoints.at(anchor.tree_size)
        if checkpoint is None:
            raise StoreError(f"the journal's anchor of size {anchor.tree_size} is incomplete")
        latest = self.rows.latest_final(anchor.chain_id, anchor.registry)
        extension = None
        later = None if latest is None else self.checkpoints.at(latest.tree_size)
        if (
            latest is not None
            and latest.tree_size > anchor.tree_size
            # the registry keeps each key's anchors apart: extend only to the same key's
            and later is not None
            and later.publisher == checkpoint.publisher
        ):
            proof = unit.tree.consistency_proof(anchor.tree_size, latest.tree_size)
            extension = Extension(latest.tree_size, latest.root, tuple(proof))
        return checkpoint, anchor_ref(anchor, extension)
