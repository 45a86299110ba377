"""Anchors as verification reads them: what a registry keeps for one tree head, and the port
(:class:`ChainView`) through which verification reads chain facts, whatever the chain.

Pure types: importing this module loads no web3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["AnchorEntry", "ChainView"]


@dataclass(frozen=True, slots=True)
class AnchorEntry:
    """One anchored tree head, as the registry stores it."""

    index: int | None
    tree_size: int
    root: bytes
    block_number: int
    timestamp: int


class ChainView(Protocol):
    """Already-fetched chain facts the verifier needs (RPC, embedded chain, or a test double).

    Implementations batch and cache: one lookup per checkpoint, never one per record.
    """

    def chain_id(self) -> int:
        """The id of the chain this view reads."""
        ...

    def head(self) -> int:
        """The number of the latest block."""
        ...

    def anchor_at(
        self, registry: str, publisher: str, log_id: bytes, tree_size: int
    ) -> AnchorEntry | None:
        """The anchor of exactly ``tree_size`` entries, or None."""
        ...

    def latest(self, registry: str, publisher: str, log_id: bytes) -> AnchorEntry | None:
        """The latest anchor of the log, or None."""
        ...
