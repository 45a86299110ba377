"""An RFC 9162 Merkle log kept as stored subtree hashes, so a store opens in ``O(log n)``.

:class:`~okeios._internal.protocol.merkle.MerkleLog` keeps every node in memory; a store of
millions of entries cannot rebuild that on every open. :class:`StoredTree` keeps the same nodes
somewhere
else (a :class:`NodeStore`: in SQLite for :class:`~okeios._internal.publish.store.Store`) and holds
in memory only the *frontier*: the hashes of the complete subtrees along the right edge, one per
set bit of the size, ``O(log n)`` of them. An append writes the leaf and the nodes it completes
(one on average); a root or a proof reads ``O(log n)`` stored nodes plus, for the ragged right
edge, ``O(log n)`` more per ragged subtree.

Node ``(level, index)`` is the root of the complete subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``. The hashes are the RFC 9162 ones of
:mod:`okeios._internal.protocol.merkle` (``leaf_hash``, ``node_hash``), defined there and only
there, and so are the proof walks (RFC 9162 ``PATH`` and ``PROOF``:
:func:`~okeios._internal.protocol.merkle.inclusion_path`,
:func:`~okeios._internal.protocol.merkle.consistency_path`), which this tree runs over its stored
nodes exactly as :class:`MerkleLog` runs them over its lists; the tests check that both give the
same proofs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from okeios._internal.protocol.merkle import (
    SubtreeHash,
    check_leaf_index,
    consistency_path,
    inclusion_path,
    leaf_hash,
    node_hash,
    range_root,
    resolve_tree_size,
)
from okeios.errors import ProofError

__all__ = ["MemoryNodes", "NodeStore", "StoredTree", "frontier_positions"]

_STAND_IN = bytes(32)


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
        frontier = getattr(self._nodes, "frontier", None)
        if frontier is not None:  # the size and the frontier in one request
            self._size, self._frontier = frontier()
            return
        size = self._nodes.stored_size()
        positions = frontier_positions(size)
        get_many = getattr(self._nodes, "get_nodes", None)
        if get_many is not None and positions:  # one request for the whole frontier
            found = get_many(positions)
            self._frontier = {level: found[(level, index)] for level, index in positions}
        else:
            self._frontier = {
                level: self._nodes.get_node(level, index) for level, index in positions
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
        check_leaf_index(index, self._size)
        return self._nodes.get_node(0, index)

    def _frontier_node(self, level: int, index: int) -> bytes:
        return self._frontier[level]  # the current size's tiling has one subtree per level

    def root(self, size: int | None = None) -> bytes:
        n = resolve_tree_size(size, self._size)
        if n == self._size:  # from the frontier in memory: no read
            return range_root(self._frontier_node, 0, n)
        return range_root(self._nodes.get_node, 0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        n = resolve_tree_size(size, self._size)
        return self._read_once(lambda node: inclusion_path(node, index, n))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        n = resolve_tree_size(new_size, self._size)
        return self._read_once(lambda node: consistency_path(node, old_size, n))

    def _read_once(self, walk: Callable[[SubtreeHash], list[bytes]]) -> list[bytes]:
        """``walk`` over the stored nodes, read in one request when the store can (a proof
        asks for nodes by position only: a first walk with stand-in hashes lists them)."""
        get_many = getattr(self._nodes, "get_nodes", None)
        if get_many is None:
            return walk(self._nodes.get_node)
        wanted: list[tuple[int, int]] = []

        def note(level: int, index: int) -> bytes:
            wanted.append((level, index))
            return _STAND_IN

        walk(note)
        found: dict[tuple[int, int], bytes] = get_many(wanted)
        return walk(lambda level, index: found[(level, index)])


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
