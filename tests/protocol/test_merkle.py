"""RFC 9162 Merkle log: the shared RFC 6962 vectors, and a cross-check against the RFC's
recursive definitions."""

from __future__ import annotations

import base64
import json
from hashlib import sha256
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okeios._internal.protocol.merkle import (
    EMPTY_ROOT,
    MerkleLog,
    ProofMismatchError,
    consistency_proof_length,
    inclusion_proof_length,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from okeios.errors import ProofError
from tests.conftest import shared_dir

README_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
README_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _cases(kind: str) -> list[Path]:
    root = shared_dir("vectors", "rfc6962", "testdata", kind)
    return sorted(root.rglob("*.json"))


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


# Collected lazily so that a missing ../shared skips (or fails under CI) instead of erroring.
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for kind in ("inclusion", "consistency"):
        name = f"{kind}_case"
        if name in metafunc.fixturenames:
            base = Path(__file__).resolve().parents[3] / "shared/vectors/rfc6962/testdata" / kind
            paths = sorted(base.rglob("*.json")) if base.exists() else []
            metafunc.parametrize(name, paths or [None], ids=_ids(paths) or ["missing"])


def test_vector_counts() -> None:
    # The folder holds both kinds with their negative cases; none may be silently dropped.
    inclusion, consistency = _cases("inclusion"), _cases("consistency")
    assert len(inclusion) + len(consistency) == 196
    assert any(json.loads(p.read_text())["wantErr"] for p in inclusion)
    assert any(json.loads(p.read_text())["wantErr"] for p in consistency)


def test_inclusion_vector(inclusion_case: Path | None) -> None:
    if inclusion_case is None:
        shared_dir("vectors", "rfc6962")
        return
    case = json.loads(inclusion_case.read_text())
    args = (
        case["leafIdx"],
        case["treeSize"],
        _b64(case["leafHash"]),
        [_b64(p) for p in case["proof"] or []],
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


def test_consistency_vector(consistency_case: Path | None) -> None:
    if consistency_case is None:
        shared_dir("vectors", "rfc6962")
        return
    case = json.loads(consistency_case.read_text())
    args = (
        case["size1"],
        case["size2"],
        _b64(case["root1"]),
        _b64(case["root2"]),
        [_b64(p) for p in case["proof"] or []],
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_readme_roots() -> None:
    log = MerkleLog()
    assert log.root() == EMPTY_ROOT == bytes.fromhex(README_ROOTS[0])
    for i, leaf in enumerate(README_LEAVES):
        log.append(bytes.fromhex(leaf))
        assert log.root().hex() == README_ROOTS[i + 1]
    for size, expected in enumerate(README_ROOTS):
        assert log.root(size).hex() == expected


# --- the RFC's recursive definitions, written naively, as the independent reference --------


def _mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return sha256(b"").digest()
    if n == 1:
        return sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return _path(m, leaves[:k]) + [_mth(leaves[k:])]
    return _path(m - k, leaves[k:]) + [_mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return _subproof(m, leaves[:k], b) + [_mth(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [_mth(leaves[:k])]


leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_matches_rfc_definitions(leaves: list[bytes], data: st.DataObject) -> None:
    log = MerkleLog()
    half = data.draw(st.integers(0, len(leaves)))
    for leaf in leaves[:half]:
        log.append(leaf)
    log.extend(leaves[half:])
    n = len(leaves)
    size = data.draw(st.integers(1, n))
    assert log.root(size) == _mth(leaves[:size])
    index = data.draw(st.integers(0, size - 1))
    proof = log.inclusion_proof(index, size)
    assert proof == _path(index, leaves[:size])
    assert len(proof) == inclusion_proof_length(index, size)
    verify_inclusion(index, size, leaf_hash(leaves[index]), proof, log.root(size))
    old = data.draw(st.integers(1, size))
    cproof = log.consistency_proof(old, size)
    assert cproof == _subproof(old, leaves[:size], True)
    assert len(cproof) == consistency_proof_length(old, size)
    verify_consistency(old, size, log.root(old), log.root(size), cproof)


@settings(max_examples=100, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_any_flipped_proof_bit_is_rejected(leaves: list[bytes], data: st.DataObject) -> None:
    log = MerkleLog()
    log.extend(leaves)
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    proof = log.inclusion_proof(index)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = bytearray(proof[which])
        bad[bit // 8] ^= 1 << (bit % 8)
        proof[which] = bytes(bad)
        with pytest.raises(ProofMismatchError):
            verify_inclusion(index, n, leaf_hash(leaves[index]), proof, log.root())
    old = data.draw(st.integers(1, n))
    cproof = log.consistency_proof(old)
    if cproof:
        which = data.draw(st.integers(0, len(cproof) - 1))
        bad = bytearray(cproof[which])
        bad[0] ^= 0x80
        cproof[which] = bytes(bad)
        with pytest.raises(ProofMismatchError):
            verify_consistency(old, n, log.root(old), log.root(), cproof)


def test_wrong_lengths_are_refused_before_hashing() -> None:
    log = MerkleLog()
    log.extend(bytes([i]) for i in range(10))
    proof = log.inclusion_proof(3)
    with pytest.raises(ProofError, match="has 4 hashes, got 5"):
        verify_inclusion(3, 10, leaf_hash(b"\x03"), [*proof, proof[0]], log.root())
    with pytest.raises(ProofError, match="must be 32 bytes"):
        verify_inclusion(3, 10, leaf_hash(b"\x03"), [proof[0][:31], *proof[1:]], log.root())
    with pytest.raises(ProofError, match="outside"):
        log.inclusion_proof(10)
    with pytest.raises(ProofError, match="outside"):
        log.root(11)
    with pytest.raises(ProofError):
        log.consistency_proof(0, 5)
    with pytest.raises(ProofError):
        verify_consistency(5, 4, log.root(5), log.root(4), [])


def test_leaf_hash_roundtrip_and_rebuild() -> None:
    log = MerkleLog()
    log.extend(bytes([i]) * i for i in range(33))
    again = MerkleLog.from_leaf_hashes(log.leaf_hash_at(i) for i in range(33))
    assert again.root() == log.root()
    assert again.consistency_proof(7) == log.consistency_proof(7)
    with pytest.raises(ProofError):
        log.append_leaf_hash(b"short")
