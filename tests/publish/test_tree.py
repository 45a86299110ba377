"""The stored Merkle tree gives exactly the roots and proofs of the in-memory RFC 9162 log."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okeios._internal.protocol.merkle import (
    MerkleLog,
    consistency_path,
    inclusion_path,
    leaf_hash,
    range_root,
    verify_consistency,
    verify_inclusion,
)
from okeios._internal.publish.tree import MemoryNodes, StoredTree, frontier_positions
from okeios.errors import ProofError


def _pair(n: int) -> tuple[MerkleLog, StoredTree, MemoryNodes]:
    log, nodes = MerkleLog(), MemoryNodes()
    tree = StoredTree(nodes)
    for i in range(n):
        data = i.to_bytes(4, "big")
        assert log.append(data) == tree.append(data) == i
    return log, tree, nodes


def test_roots_and_proofs_equal_the_memory_log() -> None:
    log, tree, _ = _pair(70)
    for size in range(1, 71):
        assert tree.root(size) == log.root(size)
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == log.inclusion_proof(index, size)
            verify_inclusion(index, size, log.leaf_hash_at(index), proof, log.root(size))
        for old in range(1, size + 1):
            proof = tree.consistency_proof(old, size)
            assert proof == log.consistency_proof(old, size)
            verify_consistency(old, size, log.root(old), log.root(size), proof)


def test_a_reopened_tree_reads_only_the_frontier_and_continues() -> None:
    log, _, nodes = _pair(37)
    reads: list[tuple[int, int]] = []

    class Counting(MemoryNodes):
        def get_node(self, level: int, index: int) -> bytes:
            reads.append((level, index))
            return super().get_node(level, index)

    counting = Counting()
    counting.nodes = nodes.nodes
    reopened = StoredTree(counting)
    assert reads == frontier_positions(37) == [(5, 0), (2, 8), (0, 36)]
    assert reopened.root() == log.root()
    for i in range(37, 300):
        assert reopened.append(bytes([i % 256, i // 256])) == log.append(bytes([i % 256, i // 256]))
    assert reopened.root() == log.root()
    # Nodes stored: the leaves and every complete subtree, nothing else.
    assert len(counting.nodes) == sum(300 >> k for k in range(10))


def test_bad_sizes_and_indexes_are_typed_errors() -> None:
    _, tree, _ = _pair(5)
    with pytest.raises(ProofError):
        tree.root(6)
    with pytest.raises(ProofError):
        tree.inclusion_proof(5, 5)
    with pytest.raises(ProofError):
        tree.consistency_proof(0, 5)


@settings(max_examples=120, deadline=None)
@given(
    batches=st.lists(st.integers(1, 40), min_size=1, max_size=12),
    data=st.data(),
)
def test_both_trees_give_identical_roots_and_proofs(
    batches: list[int], data: st.DataObject
) -> None:
    """Built in random batches (the stored tree reopened after each, as a store is), at random
    past sizes: the same roots, inclusion and consistency proofs, and each one verifies."""
    log, nodes = MerkleLog(), MemoryNodes()
    count = 0
    for width in batches:
        hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(count, count + width)]
        assert log.extend_leaf_hashes(hashes) == StoredTree(nodes).append_leaf_hashes(hashes)
        count += width
    tree = StoredTree(nodes)
    assert tree.size == log.size == count
    for _ in range(8):
        size = data.draw(st.integers(1, count))
        index = data.draw(st.integers(0, size - 1))
        old = data.draw(st.integers(1, size))
        assert tree.root(size) == log.root(size)
        inclusion = tree.inclusion_proof(index, size)
        assert inclusion == log.inclusion_proof(index, size)
        verify_inclusion(index, size, log.leaf_hash_at(index), inclusion, log.root(size))
        consistency = tree.consistency_proof(old, size)
        assert consistency == log.consistency_proof(old, size)
        verify_consistency(old, size, log.root(old), log.root(size), consistency)
    assert tree.root() == log.root()


@settings(max_examples=80, deadline=None)
@given(size=st.integers(1, 200), data=st.data())
def test_the_walk_reads_only_complete_subtrees_inside_the_size(
    size: int, data: st.DataObject
) -> None:
    """A proof for a past size must not depend on anything appended later: the shared walk
    asks its storage only for complete subtrees inside ``[0, size)``, and few of them."""
    log, nodes = MerkleLog(), MemoryNodes()
    total = size + data.draw(st.integers(0, 60))
    StoredTree(nodes).extend(i.to_bytes(2, "big") for i in range(total))
    log.extend(i.to_bytes(2, "big") for i in range(total))
    reads: list[tuple[int, int]] = []

    def node(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, f"read ({level}, {index}) beyond size {size}"
        reads.append((level, index))
        return nodes.get_node(level, index)

    index = data.draw(st.integers(0, size - 1))
    assert inclusion_path(node, index, size) == log.inclusion_proof(index, size)
    old = data.draw(st.integers(1, size))
    assert consistency_path(node, old, size) == log.consistency_proof(old, size)
    assert range_root(node, 0, size) == log.root(size)
    assert len(reads) <= 3 * size.bit_length() ** 2


def test_the_walk_refuses_bad_requests() -> None:
    nodes = MemoryNodes()
    StoredTree(nodes).extend([b"a", b"b", b"c"])
    with pytest.raises(ProofError):
        inclusion_path(nodes.get_node, 3, 3)
    with pytest.raises(ProofError):
        inclusion_path(nodes.get_node, True, 3)
    with pytest.raises(ProofError):
        consistency_path(nodes.get_node, 0, 3)
    with pytest.raises(ProofError):
        consistency_path(nodes.get_node, 3, 2)
