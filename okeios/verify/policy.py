"""Whom a verifier trusts: the caller's policy, never the bundle's word."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from okeios.errors import (
    OkeiosError,
    PolicyError,
)
from okeios.protocol.signing import checksum_address


class _Anyone:
    """The explicit "trust any address" policy value."""

    def __repr__(self) -> str:
        return "ANYONE"


ANYONE = _Anyone()


@dataclass(frozen=True, slots=True, init=False)
class TrustPolicy:
    """Which authors and publishers a verifier accepts.

    Pass address lists, or :data:`ANYONE` to accept any signer explicitly. An empty list is
    refused as likely misuse (it would reject everything, or, worse, be read as "no limit").
    """

    authors: frozenset[str] | _Anyone
    publishers: frozenset[str] | _Anyone
    chain_id: int | None
    registry: str | None
    confirmations: int

    def __init__(
        self,
        *,
        authors: Iterable[str] | _Anyone,
        publishers: Iterable[str] | _Anyone,
        chain_id: int | None = None,
        registry: str | None = None,
        confirmations: int = 1,
    ) -> None:
        object.__setattr__(self, "authors", self._normalise("authors", authors))
        object.__setattr__(self, "publishers", self._normalise("publishers", publishers))
        if (chain_id is None) != (registry is None):
            raise PolicyError("pin both the chain id and the registry address, or neither")
        if chain_id is not None and (not isinstance(chain_id, int) or chain_id <= 0):
            raise PolicyError(f"chain id must be a positive integer, got {chain_id!r}")
        try:
            pinned = None if registry is None else checksum_address(registry)
        except OkeiosError as exc:
            raise PolicyError(f"registry: {exc}") from exc
        if not isinstance(confirmations, int) or confirmations < 1:
            raise PolicyError(f"confirmations must be at least 1, got {confirmations!r}")
        object.__setattr__(self, "chain_id", chain_id)
        object.__setattr__(self, "registry", pinned)
        object.__setattr__(self, "confirmations", confirmations)

    @staticmethod
    def _normalise(name: str, value: Iterable[str] | _Anyone) -> frozenset[str] | _Anyone:
        if isinstance(value, _Anyone):
            return value
        if isinstance(value, str):
            raise PolicyError(f"{name} must be a list of addresses, not one string")
        try:
            found = frozenset(checksum_address(a) for a in value)
        except OkeiosError as exc:
            raise PolicyError(f"{name}: {exc}") from exc
        if not found:
            raise PolicyError(f"{name} is empty: pass addresses, or ANYONE to trust any")
        return found

    def allows_author(self, address: str) -> bool:
        return isinstance(self.authors, _Anyone) or address in self.authors

    def allows_publisher(self, address: str) -> bool:
        return isinstance(self.publishers, _Anyone) or address in self.publishers
