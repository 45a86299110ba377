"""Anchors as verification reads them: what a registry keeps for one tree head, and the port
(:class:`ChainView`) through which verification reads chain facts, whatever the chain.

Pure types: importing this module loads no web3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "CANONICAL_REGISTRY",
    "DEPLOYMENT_PROXY",
    "REGISTRY_VERSION",
    "AnchorEntry",
    "ChainView",
    "canonical_registry_address",
]

#: The AnchorRegistry interface version okeios reads and anchors to (``VERSION()`` of the
#: contract). Version 2 registries (every tree head in storage, no ``VERSION()``) are refused.
REGISTRY_VERSION = 3

#: The deterministic CREATE2 deployment proxy, at one address on every chain where its
#: pre-signed deployment transaction was sent (Anvil and Hardhat carry it from genesis).
DEPLOYMENT_PROXY = "0x4e59b44847b379578588920cA78FbF26c0B4956C"

#: The canonical AnchorRegistry: the shipped version 3 artifact deployed through
#: :data:`DEPLOYMENT_PROXY` with a zero salt, so
#: ``keccak256(0xff || proxy || 0x00*32 || keccak256(creation bytecode))[12:]``; the same on
#: every chain. ``tests/chain/test_canonical.py`` recomputes it from the artifact.
CANONICAL_REGISTRY = "0x0D4eA1411ae7808cAc59715286574260e91E89a2"


def canonical_registry_address() -> str:
    """The canonical registry's address (EIP-55), the same on every chain."""
    return CANONICAL_REGISTRY


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
