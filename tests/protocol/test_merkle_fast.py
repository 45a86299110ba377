"""The one-pass inclusion check gives the same answer as the fully checked one, on good and on
broken proofs (too long, too short, a hash of the wrong size or type, bad indexes)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okeios._internal.protocol.merkle import MerkleLog, _root_checked, root_from_inclusion_proof
from okeios.errors import ProofError

LOG = MerkleLog()
for _ in range(70):
    LOG.append(os.urandom(20))


def _outcome(fn: object, *args: object) -> tuple[str, object]:
    try:
        return "root", fn(*args)  # type: ignore[operator]
    except ProofError as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=400, deadline=None)
@given(
    size=st.integers(1, 70),
    data=st.data(),
    mutation=st.sampled_from(["none", "drop", "extra", "short", "bytearray", "index", "str"]),
)
def test_fast_and_checked_paths_agree(size: int, data: st.DataObject, mutation: str) -> None:
    index = data.draw(st.integers(0, size - 1))
    leaf = LOG.leaf_hash_at(index)
    proof: list[object] = list(LOG.inclusion_proof(index, size))
    args: list[object] = [index, size, leaf, proof]
    if mutation == "drop" and proof:
        proof.pop()
    elif mutation == "extra":
        proof.append(b"\x00" * 32)
    elif mutation == "short" and proof:
        proof[0] = bytes(31)
    elif mutation == "bytearray" and proof:
        proof[-1] = bytearray(proof[-1])  # type: ignore[arg-type]
    elif mutation == "index":
        args[0] = size + data.draw(st.integers(0, 3))
    elif mutation == "str":
        args[2] = leaf.hex()
    fast = _outcome(root_from_inclusion_proof, *args)
    checked = _outcome(_root_checked, *args)
    assert fast == checked
    if mutation == "none":
        assert fast == ("root", LOG.root(size))


def test_a_boolean_index_is_refused() -> None:
    proof = LOG.inclusion_proof(1, 4)
    with pytest.raises(ProofError):
        root_from_inclusion_proof(True, 4, LOG.leaf_hash_at(1), proof)
