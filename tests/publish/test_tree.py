"""The stored Merkle tree gives exactly the roots and proofs of the in-memory RFC 9162 log."""

from __future__ import annotations

import pytest

from okeios.errors import ProofError
from okeios.protocol.merkle import MerkleLog, verify_consistency, verify_inclusion
from okeios.publish.tree import MemoryNodes, StoredTree, frontier_positions


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
