"""One in-memory chain for the tests that need no node.

:class:`FakeChain` answers as :class:`~okeios._internal.chain.registry.RegistryView` does (the
:class:`~okeios._internal.protocol.anchors.ChainView` port the verifier reads through), and
:meth:`FakeChain.registry` gives a :class:`FakeRegistry` that answers as
:class:`~okeios._internal.chain.registry.Registry` does where the audit reads it (the
:class:`~okeios._internal.verify.audit.AnchorSource` port). ``tests/chain/test_fakechain.py``
checks it against the AnchorRegistry contract on the embedded chain, for the same anchoring
sequence.

What it keeps: blocks (number, hash, timestamp; one block per anchor, as an automining node
mines one per transaction), registries by address, and per registry the anchors of each
(publisher, log id) in order. What the contract enforces on ``anchor`` the fake enforces too
(a non-empty tree, strictly growing sizes, a key anchors only its bound log, and a consistency
proof when one is given), except where a test asks for a registry that did not
(``bind_logs=False``: a version-1 registry). Test helpers: :meth:`FakeChain.mine`,
:meth:`FakeChain.reorg`, :meth:`FakeChain.fail` (a node that errs on some lookups),
:meth:`FakeChain.copy_of` (the anchors of a real registry, to count lookups against), and call
counters (``calls`` by method, ``keys`` by method and arguments).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from okeios._internal.protocol.anchors import AnchorEntry
from okeios._internal.protocol.events import derive_log_id
from okeios._internal.protocol.merkle import verify_consistency
from okeios._internal.protocol.signing import checksum_address
from okeios.errors import ChainError, ProofError, RegistryMissingError

DEFAULT_CHAIN_ID = 31337
GENESIS_TIME = 1_750_000_000
BLOCK_TIME = 12

_Key = tuple[str, bytes]  # publisher, log id


@dataclass(frozen=True, slots=True)
class Block:
    number: int
    hash: bytes
    timestamp: int


@dataclass(slots=True)
class _Anchored:
    publisher: str
    log_id: bytes
    tree_size: int
    root: bytes
    block: int


def _registry_address(n: int) -> str:
    return checksum_address(hashlib.sha256(b"fake registry %d" % n).digest()[:20])


class FakeRegistry:
    """One registry of a :class:`FakeChain`: the reads of
    :class:`~okeios._internal.chain.registry.Registry` the audit uses, and ``anchor`` to write."""

    def __init__(self, chain: FakeChain, address: str, *, bind_logs: bool = True) -> None:
        self.chain = chain
        self.address = address
        self.bind_logs = bind_logs
        self._anchored: list[_Anchored] = []  # in block order

    def __repr__(self) -> str:
        return f"FakeRegistry({self.address} on chain {self.chain.id})"

    @property
    def chain_id(self) -> int:
        """The chain id (a property, as on :class:`~okeios._internal.chain.registry.Registry`)."""
        self.chain._ask("registry.chain_id")
        return self.chain.id

    def _of(self, publisher: str, log_id: bytes) -> list[_Anchored]:
        p = checksum_address(publisher)
        return [a for a in self._anchored if a.publisher == p and a.log_id == log_id]

    def _entry(self, a: _Anchored, index: int | None) -> AnchorEntry:
        return AnchorEntry(index, a.tree_size, a.root, a.block, self.chain.block(a.block).timestamp)

    # -- reads -----------------------------------------------------------------------------

    def anchors(self, publisher: str, log_id: bytes, start: int = 0) -> list[AnchorEntry]:
        """Every anchor of a log from position ``start`` on, oldest first."""
        self.chain._ask("anchors", self.address, checksum_address(publisher), log_id, start)
        found = self._of(publisher, log_id)
        return [self._entry(a, i) for i, a in enumerate(found) if i >= start]

    def latest(self, publisher: str, log_id: bytes) -> AnchorEntry | None:
        found = self._of(publisher, log_id)
        return self._entry(found[-1], len(found) - 1) if found else None

    def root_at(self, publisher: str, log_id: bytes, tree_size: int) -> AnchorEntry | None:
        """The anchor of exactly ``tree_size`` entries, or None: the latest head from storage,
        an older one from its ``Anchored`` event, which carries its index (registry version 3)."""
        for i, a in enumerate(self._of(publisher, log_id)):
            if a.tree_size == tree_size:
                return self._entry(a, i)
        return None

    def log_ids(self, publisher: str) -> list[bytes]:
        """Every log id the publisher anchored here, first seen first."""
        p = checksum_address(publisher)
        self.chain._ask("log_ids", self.address, p)
        return list(dict.fromkeys(a.log_id for a in self._anchored if a.publisher == p))

    # -- writes ----------------------------------------------------------------------------

    def anchor(
        self,
        publisher: str,
        log_id: bytes,
        tree_size: int,
        root: bytes,
        proof: Sequence[bytes] | None = None,
        *,
        timestamp: int | None = None,
    ) -> AnchorEntry:
        """Anchor a tree head in a new block; raise :class:`ChainError` naming the contract's
        revert where the contract would refuse. ``proof`` (the consistency proof from the
        log's latest anchor) is checked when given."""
        p = checksum_address(publisher)
        if tree_size <= 0:
            raise ChainError("anchor reverted: AnchorRegistryEmptyTree()")
        if self.bind_logs and log_id != derive_log_id(p):
            raise ChainError("anchor reverted: AnchorRegistryLogNotBound")
        previous = self._of(p, log_id)
        if previous:
            last = previous[-1]
            if tree_size <= last.tree_size:
                raise ChainError(
                    "anchor reverted: AnchorRegistryTreeSizeNotIncreasing"
                    f"({last.tree_size}, {tree_size})"
                )
            if proof is not None:
                try:
                    verify_consistency(last.tree_size, tree_size, last.root, root, list(proof))
                except ProofError as exc:
                    raise ChainError(
                        f"anchor reverted: AnchorRegistryInconsistentHistory ({exc})"
                    ) from exc
        block = self.chain.mine(timestamp=timestamp)
        self._anchored.append(_Anchored(p, log_id, tree_size, root, block))
        return self._entry(self._anchored[-1], len(previous))


class FakeChain:
    """An in-memory chain of registries, read as a
    :class:`~okeios._internal.protocol.anchors.ChainView`.

    ``chain_id()``, ``head()``, ``anchor_at(registry, publisher, log_id, size)`` and
    ``latest(registry, publisher, log_id)`` answer as a fresh
    :class:`~okeios._internal.chain.registry.RegistryView` would: ``anchor_at`` on an address with
    no registry raises :class:`RegistryMissingError`, ``latest`` there a plain
    :class:`ChainError` (the contract call fails). The head is live: :meth:`mine` and every
    anchor advance it.
    """

    def __init__(
        self,
        chain_id: int = DEFAULT_CHAIN_ID,
        *,
        genesis_time: int = GENESIS_TIME,
        block_time: int = BLOCK_TIME,
    ) -> None:
        self.id = chain_id
        self.block_time = block_time
        self._blocks: list[Block] = [Block(0, self._hash(0, b"", 0), genesis_time)]
        self._registries: dict[str, FakeRegistry] = {}
        self._forks = 0
        self._failures: list[tuple[str, Callable[[tuple[Any, ...]], bool], ChainError]] = []
        self.calls: Counter[str] = Counter()
        self.keys: Counter[tuple[Any, ...]] = Counter()

    def __repr__(self) -> str:
        return f"FakeChain({self.id}, head {self._blocks[-1].number})"

    # -- blocks ----------------------------------------------------------------------------

    def _hash(self, number: int, parent: bytes, fork: int) -> bytes:
        return hashlib.sha256(b"%d|%d|%d|" % (self.id, number, fork) + parent).digest()

    def mine(self, count: int = 1, *, timestamp: int | None = None) -> int:
        """Mine ``count`` empty blocks (the last at ``timestamp``, if given, which may not go
        back in time); return the new head."""
        for i in range(count):
            parent = self._blocks[-1]
            when = parent.timestamp + self.block_time
            if timestamp is not None and i == count - 1:
                if timestamp < parent.timestamp:
                    raise ChainError(f"block time {timestamp} before its parent's")
                when = timestamp
            number = parent.number + 1
            self._blocks.append(Block(number, self._hash(number, parent.hash, self._forks), when))
        return self._blocks[-1].number

    def block(self, number: int) -> Block:
        return self._blocks[number]

    def block_hash(self, number: int) -> bytes | None:
        """The hash of the canonical block at ``number``, or None if there is none (yet)."""
        return self._blocks[number].hash if 0 <= number < len(self._blocks) else None

    def block_timestamp(self, number: int) -> int:
        return self._blocks[number].timestamp

    def reorg(self, depth: int) -> None:
        """Drop the last ``depth`` blocks and the anchors in them, as a reorganisation does;
        blocks mined afterwards at the same heights get other hashes."""
        if not 0 < depth < len(self._blocks):
            raise ValueError(f"cannot drop {depth} of {len(self._blocks)} blocks")
        del self._blocks[-depth:]
        head = self._blocks[-1].number
        for registry in self._registries.values():
            registry._anchored = [a for a in registry._anchored if a.block <= head]
        self._forks += 1

    # -- registries ------------------------------------------------------------------------

    def deploy(self, address: str | None = None, *, bind_logs: bool = True) -> FakeRegistry:
        """A new registry (mined in its own block) at ``address`` or a fresh one."""
        key = checksum_address(address or _registry_address(len(self._registries)))
        if key in self._registries:
            raise ChainError(f"there is already a registry at {key}")
        self.mine()
        self._registries[key] = FakeRegistry(self, key, bind_logs=bind_logs)
        return self._registries[key]

    def registry(self, address: str) -> FakeRegistry:
        """The registry at ``address``; :class:`RegistryMissingError` if there is none."""
        try:
            return self._registries[checksum_address(address)]
        except KeyError:
            raise RegistryMissingError(
                f"no contract at registry {checksum_address(address)} on the fake chain"
            ) from None

    @classmethod
    def copy_of(
        cls,
        source: Any,
        logs: Sequence[tuple[str, bytes]],
        *,
        registries: Sequence[str] = (),
    ) -> FakeChain:
        """A fake holding what a real registry (``source``, a
        :class:`~okeios._internal.chain.registry.Registry`) holds for ``logs`` (publisher, log id):
        its chain id, head, and every anchor with its block number and time; ``registries`` names
        other addresses that hold a (here empty) registry."""
        fake = cls(int(source.chain_id))
        head = int(source.block_number())
        fake._blocks = []
        anchored: list[_Anchored] = []
        times: dict[int, int] = {}
        for publisher, log_id in logs:
            for a in source.anchors(publisher, log_id):
                anchored.append(
                    _Anchored(
                        checksum_address(publisher), log_id, a.tree_size, a.root, a.block_number
                    )
                )
                times[a.block_number] = a.timestamp
        parent = b""
        when = GENESIS_TIME
        for number in range(head + 1):
            when = times.get(number, when)
            parent = fake._hash(number, parent, 0)
            fake._blocks.append(Block(number, parent, when))
        main = FakeRegistry(fake, checksum_address(source.address), bind_logs=False)
        main._anchored = sorted(anchored, key=lambda a: a.block)
        fake._registries[main.address] = main
        for address in registries:
            key = checksum_address(address)
            fake._registries.setdefault(key, FakeRegistry(fake, key))
        return fake

    # -- failures and counting -------------------------------------------------------------

    def fail(
        self,
        method: str,
        error: ChainError,
        when: Callable[[tuple[Any, ...]], bool] = lambda _: True,
    ) -> None:
        """From now on, a lookup ``method`` whose arguments satisfy ``when`` raises ``error``
        (after being counted), as a node that errs does."""
        self._failures.append((method, when, error))

    def heal(self) -> None:
        """Forget every failure set by :meth:`fail`."""
        self._failures.clear()

    def _ask(self, method: str, *args: Any) -> None:
        self.calls[method] += 1
        if args:
            self.keys[(method, *args)] += 1
        for name, when, error in self._failures:
            if name == method and when(args):
                raise error

    # -- the ChainView port ----------------------------------------------------------------

    def chain_id(self) -> int:
        self._ask("chain_id")
        return self.id

    def head(self) -> int:
        self._ask("head")
        return self._blocks[-1].number

    def anchor_at(
        self, registry: str, publisher: str, log_id: bytes, tree_size: int
    ) -> AnchorEntry | None:
        self._ask("anchor_at", registry, publisher, log_id, tree_size)
        return self.registry(registry).root_at(publisher, log_id, tree_size)

    def latest(self, registry: str, publisher: str, log_id: bytes) -> AnchorEntry | None:
        self._ask("latest", registry, publisher, log_id)
        # A version 3 registry view checks the registry exists before any read of anchors.
        return self.registry(registry).latest(publisher, log_id)
