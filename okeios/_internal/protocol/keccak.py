"""keccak-256 (the Ethereum hash), from the fastest implementation available.

safe-pysha3 (a C extension, a dependency of okeios) is about five times faster per call than
eth-hash's default backend; eth-hash is the fallback. Both give the same digests.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["keccak256"]


def _pick() -> Callable[[bytes], bytes]:
    try:
        from sha3 import keccak_256  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - the fallback when the C extension is missing
        from eth_hash.auto import keccak as eth_keccak

        def fallback(data: bytes) -> bytes:
            return bytes(eth_keccak(data))

        return fallback

    def fast(data: bytes) -> bytes:
        return bytes(keccak_256(data).digest())

    return fast


keccak256 = _pick()
