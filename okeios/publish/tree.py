"""An RFC 9162 Merkle log kept as stored subtree hashes, so a store opens in ``O(log n)``.

:class:`~okeios.protocol.merkle.MerkleLog` keeps every node in memory; a store of millions of
entries cannot rebuild that on every open. :class:`StoredTree` keeps the same nodes somewhere
else (a :class:`NodeStore`: in SQLite for :class:`~okeios.publish.store.Store`) and holds in
memory only the *frontier*: the hashes of the complete subtrees along the right edge, one per
set bit of the size, ``O(log n)`` of them. An append writes the leaf and the nodes it completes
(one on average); a root or a proof reads ``O(log n)`` stored nodes plus, for the ragged right
edge, ``O(log n)`` more per ragged subtree.

Node ``(level, index)`` is the root of the complete subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``. The hashes are the RFC 9162 ones of
:mod:`okeios.protocol.merkle` (``leaf_hash``, ``node_hash``), defined there and only there; the
proofs are the RFC 9162 ``PATH`` and ``PROOF``, checked against :class:`MerkleLog` in the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from okeios.errors import ProofError
from okeios.protocol.merkle import EMPTY_ROOT, leaf_hash, node_hash

__all__ = ["MemoryNodes", "NodeStore", "StoredTree", "frontier_positions"]


class NodeStore(Protocol):
    """Where the complete subtree hashes live."""

    def get_node(self, level: int, index: int) -> bytes:
        """The hash of node ``(level, index)`` (it exists: the tree asks only for those)."""
        ...

    def put_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Store new nodes ``(level, index, hash)``."""
        ...

    def stored_size(self) -> int:
        """The number of leaves stored."""
        ...


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """The nodes ``(level, index)`` whose subtrees tile ``[0, size)``, largest first."""
    out: list[tuple[int, int]] = []
    pos = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, pos >> level))
            pos += 1 << level
    return out


class StoredTree:
    """An append-only Merkle log over a :class:`NodeStore`; see the module docstring.

    Call :meth:`refresh` after another writer may have appended (a store does so at the start
    of each write transaction): it re-reads the size and the frontier, ``O(log n)`` nodes.
    """

    def __init__(self, nodes: NodeStore) -> None:
        self._nodes = nodes
        self._size = 0
        self._frontier: dict[int, bytes] = {}  # level -> hash of the right-edge subtree
        self.refresh()

    def refresh(self) -> None:
        size = self._nodes.stored_size()
        self._frontier = {
            level: self._nodes.get_node(level, index) for level, index in frontier_positions(size)
        }
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return self._size

    # -- appending -------------------------------------------------------------------------

    def append(self, data: bytes) -> int:
        """Append one entry (raw leaf data); return its index."""
        return self.append_leaf_hashes([leaf_hash(data)]).start

    def extend(self, items: Iterable[bytes]) -> range:
        return self.append_leaf_hashes([leaf_hash(d) for d in items])

    def append_leaf_hashes(self, hashes: Sequence[bytes]) -> range:
        start = self._size
        new: list[tuple[int, int, bytes]] = []
        frontier = self._frontier
        size = start
        for digest in hashes:
            if len(digest) != 32:
                raise ProofError("a leaf hash is 32 bytes")
            new.append((0, size, digest))
            current, level, index = digest, 0, size
            while index & 1:  # a right child: it completes its parent
                current = node_hash(frontier.pop(level), current)
                level += 1
                index >>= 1
                new.append((level, index, current))
            frontier[level] = current
            size += 1
        self._nodes.put_nodes(new)
        self._size = size
        return range(start, size)

    # -- reading ---------------------------------------------------------------------------

    def leaf_hash_at(self, index: int) -> bytes:
        self._check_index(index, self._size)
        return self._nodes.get_node(0, index)

    def _range_hash(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)`` (``start`` aligned as RFC 9162 subtrees are)."""
        width = end - start
        if width == 0:
            return EMPTY_ROOT
        parts: list[bytes] = []
        pos = start
        while width:
            k = width.bit_length() - 1
            parts.append(self._nodes.get_node(k, pos >> k))
            pos += 1 << k
            width -= 1 << k
        digest = parts[-1]
        for left in reversed(parts[:-1]):
            digest = node_hash(left, digest)
        return digest

    def root(self, size: int | None = None) -> bytes:
        n = self._resolve_size(size)
        if n == self._size:
            parts = [self._frontier[level] for level, _ in frontier_positions(n)]
            if not parts:
                return EMPTY_ROOT
            digest = parts[-1]
            for left in reversed(parts[:-1]):
                digest = node_hash(left, digest)
            return digest
        return self._range_hash(0, n)

    def _path_from(self, level: int, index: int, size: int) -> list[bytes]:
        """Siblings of node ``(level, index)`` up to the root of the tree of ``size``."""
        path: list[bytes] = []
        last = (size - 1) >> level
        while last:
            sibling = index ^ 1
            if sibling <= last:
                start = sibling << level
                if start + (1 << level) <= size:
                    path.append(self._nodes.get_node(level, sibling))
                else:
                    path.append(self._range_hash(start, size))
            index >>= 1
            last >>= 1
            level += 1
        return path

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        n = self._resolve_size(size)
        self._check_index(index, n)
        return self._path_from(0, index, n)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        n = self._resolve_size(new_size)
        if not 0 < old_size <= n:
            raise ProofError(
                f"a consistency proof needs 0 < old size <= new size, got {old_size} and {n}"
            )
        if old_size == n:
            return []
        level = (old_size & -old_size).bit_length() - 1
        index = (old_size - 1) >> level
        path = self._path_from(level, index, n)
        if index == 0:
            return path
        return [self._nodes.get_node(level, index), *path]

    def _resolve_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= self._size:
            raise ProofError(f"tree size {size!r} is outside 0..{self._size}")
        return size

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
            raise ProofError(f"leaf index {index!r} is outside 0..{size - 1}")


class MemoryNodes:
    """A :class:`NodeStore` in a dict (for tests and in-memory use)."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}

    def get_node(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]

    def put_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        for level, index, digest in nodes:
            self.nodes[(level, index)] = digest

    def stored_size(self) -> int:
        return sum(1 for level, _ in self.nodes if level == 0)
