"""The AnchorRegistry contract, deployed from the shipped artifact and driven through web3.

Every test runs on the embedded eth-tester chain (py-evm). The core tests also run on a real
Anvil and a real Ganache node, each started on a free loopback port for this module and stopped
afterwards, when ``scripts/install-tools`` has installed them; without them those runs are
skipped, and under ``CI=true`` they fail instead.

Proofs come from :mod:`okeios._internal.protocol.merkle`; proofs for logs far too large to build
(up to ``2**64 - 1`` entries) come from a log whose leaves all have the same hash, where every
subtree's hash depends only on its width.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.providers.eth_tester import EthereumTesterProvider

from okeios._internal.chain.artifacts import load_anchor_registry
from okeios._internal.protocol.merkle import (
    MerkleLog,
    consistency_proof_length,
    inclusion_proof_length,
    leaf_hash,
)
from tests.nodes import Node

ARTIFACT = load_anchor_registry()
UINT64_MAX = 2**64 - 1


# --- chains ---------------------------------------------------------------------------------


@dataclass
class Chain:
    """A chain to test on: its web3 handle and a few funded, unlocked accounts."""

    name: str
    w3: Web3

    @functools.cached_property
    def accounts(self) -> list[str]:
        return list(self.w3.eth.accounts[:3])

    def deploy(self) -> Any:
        """A fresh AnchorRegistry deployed from the shipped artifact."""
        factory = self.w3.eth.contract(abi=ARTIFACT["abi"], bytecode=ARTIFACT["bytecode"])
        tx = factory.constructor().transact({"from": self.accounts[0]})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        assert receipt["status"] == 1
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=ARTIFACT["abi"])

    def transact(self, call: Any, sender: str) -> Any:
        """Send a transaction that must succeed; return its receipt."""
        tx = call.transact({"from": sender, "gas": 2_000_000})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        assert receipt["status"] == 1, f"transaction failed on {self.name}"
        return receipt


@pytest.fixture(scope="module", params=["embedded", "anvil", "ganache"])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """The embedded chain, then (when installed) a real Anvil and a real Ganache node."""
    name = request.param
    if name == "embedded":
        yield Chain(name, Web3(EthereumTesterProvider()))
        return
    node = Node(name).start()
    try:
        yield Chain(name, node.web3())
    finally:
        node.stop()


@pytest.fixture(scope="module")
def embedded() -> Chain:
    """The embedded chain alone, for the long exhaustive and gas tests."""
    return Chain("embedded", Web3(EthereumTesterProvider()))


# --- custom errors --------------------------------------------------------------------------

ERRORS: dict[bytes, tuple[str, list[str]]] = {}
for _item in ARTIFACT["abi"]:
    if _item["type"] == "error":
        _types = [i["type"] for i in _item["inputs"]]
        _selector = keccak(text=f"{_item['name']}({','.join(_types)})")[:4]
        ERRORS[_selector] = (_item["name"], _types)


def _revert_data(exc: Exception) -> bytes:
    """The raw revert data from a failed call, whichever chain answered."""
    if isinstance(exc, ContractLogicError):
        data = exc.data
        assert isinstance(data, str), f"no revert data in {exc!r}"
        return bytes.fromhex(data.removeprefix("0x"))
    # eth-tester reports the revert data as the repr of a bytes object after this prefix.
    message = str(exc.args[0])
    prefix = "execution reverted: "
    assert message.startswith(prefix), message
    data = ast.literal_eval(message[len(prefix) :])
    assert isinstance(data, bytes), message
    return data


def decode_error(data: bytes) -> tuple[str, tuple[Any, ...]]:
    """Decode revert data into the custom error's name and arguments."""
    assert data[:4] in ERRORS, f"unknown revert data {data.hex()}"
    name, types = ERRORS[data[:4]]
    values = abi_decode(types, data[4:])
    return name, tuple(
        Web3.to_checksum_address(v) if t == "address" else v
        for t, v in zip(types, values, strict=True)
    )


def call_error(call: Any, sender: str | None = None) -> tuple[str, tuple[Any, ...]]:
    """Run ``call`` with eth_call; it must revert with a custom error, which is returned."""
    with pytest.raises((ContractLogicError, TransactionFailed)) as info:
        call.call({"from": sender} if sender else {})
    return decode_error(_revert_data(info.value))


def refused(chain: Chain, call: Any, sender: str) -> tuple[str, tuple[Any, ...]]:
    """A transaction that must be refused: decode its error, then check it fails on-chain."""
    error = call_error(call, sender)
    tx = call.transact({"from": sender, "gas": 1_000_000})
    assert chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 0
    return error


# --- logs and proofs ------------------------------------------------------------------------


def history(registry: Any, publisher: str, lid: bytes, size: int | None = None) -> list[tuple]:
    """The log's anchors from its ``Anchored`` events (the registry's history), oldest first:
    (treeSize, root, blockNumber, timestamp, index); only those of ``size`` if given."""
    filters: dict[str, Any] = {"publisher": publisher, "logId": lid}
    if size is not None:
        filters["treeSize"] = size
    found = registry.events.Anchored().get_logs(argument_filters=filters, from_block=0)
    return [
        (
            e["args"]["treeSize"],
            e["args"]["root"],
            e["blockNumber"],
            e["args"]["timestamp"],
            e["args"]["index"],
        )
        for e in sorted(found, key=lambda e: (e["blockNumber"], e["logIndex"]))
    ]


def make_log(n: int, tag: bytes = b"entry") -> MerkleLog:
    """A log of ``n`` distinct entries."""
    log = MerkleLog()
    log.extend([tag + b" %d" % i for i in range(n)])
    return log


def log_id(publisher: str) -> bytes:
    """The one log id a key may open: SHA-256("okeios/log/v2" 0x00 || address)."""
    return hashlib.sha256(b"okeios/log/v2\x00" + bytes.fromhex(publisher[2:])).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


UNIFORM_LEAF = leaf_hash(b"the same entry everywhere")


@functools.cache
def uniform_root(width: int) -> bytes:
    """Root of a log of ``width`` entries that all have the leaf hash ``UNIFORM_LEAF``."""
    if width == 1:
        return UNIFORM_LEAF
    k = 1 << ((width - 1).bit_length() - 1)
    return _node(uniform_root(k), uniform_root(width - k))


def uniform_consistency_proof(m: int, n: int, complete: bool = True) -> list[bytes]:
    """RFC 9162 PROOF(m, D[n]) over the uniform log (section 2.1.4.1's SUBPROOF)."""
    if m == n:
        return [] if complete else [uniform_root(n)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*uniform_consistency_proof(m, k, complete), uniform_root(n - k)]
    return [*uniform_consistency_proof(m - k, n - k, False), uniform_root(k)]


def flip(digest: bytes, bit: int = 0) -> bytes:
    """``digest`` with one bit flipped."""
    b = bytearray(digest)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


# --- anchoring ------------------------------------------------------------------------------


def test_first_anchor_is_stored_and_announced(chain: Chain) -> None:
    registry = chain.deploy()
    alice = chain.accounts[0]
    log, lid = make_log(5), log_id(alice)
    assert registry.functions.anchorCount(alice, lid).call() == 0

    receipt = chain.transact(registry.functions.anchor(lid, 5, log.root(), []), alice)

    block = chain.w3.eth.get_block(receipt["blockNumber"])
    expected = (5, log.root(), receipt["blockNumber"], block["timestamp"])
    assert registry.functions.latest(alice, lid).call() == list(expected)
    assert history(registry, alice, lid) == [(*expected, 0)]
    assert registry.functions.anchorCount(alice, lid).call() == 1
    assert history(registry, alice, lid, 5) == [(*expected, 0)]
    assert history(registry, alice, lid, 4) == []
    assert registry.functions.VERSION().call() == 3
    (event,) = registry.events.Anchored().process_receipt(receipt)
    assert event["args"]["publisher"] == alice
    assert event["args"]["logId"] == lid
    assert event["args"]["treeSize"] == 5
    assert event["args"]["root"] == log.root()
    assert event["args"]["index"] == 0
    assert event["args"]["timestamp"] == block["timestamp"]


def test_second_anchor_needs_and_accepts_a_consistency_proof(chain: Chain) -> None:
    registry = chain.deploy()
    alice = chain.accounts[0]
    log, lid = make_log(12), log_id(alice)
    first = chain.transact(registry.functions.anchor(lid, 5, log.root(5), []), alice)

    # Without the proof the second anchor is refused before anything is hashed.
    assert refused(chain, registry.functions.anchor(lid, 12, log.root(12), []), alice) == (
        "AnchorRegistryProofLength",
        (consistency_proof_length(5, 12), 0),
    )

    proof = log.consistency_proof(5, 12)
    second = chain.transact(registry.functions.anchor(lid, 12, log.root(12), proof), alice)

    (event,) = registry.events.Anchored().process_receipt(second)
    assert (event["args"]["treeSize"], event["args"]["root"], event["args"]["index"]) == (
        12,
        log.root(12),
        1,
    )
    assert registry.functions.anchorCount(alice, lid).call() == 2
    assert registry.functions.latest(alice, lid).call()[:3] == [
        12,
        log.root(12),
        second["blockNumber"],
    ]
    assert [h[:3] for h in history(registry, alice, lid)] == [
        (5, log.root(5), first["blockNumber"]),
        (12, log.root(12), second["blockNumber"]),
    ]
    assert history(registry, alice, lid, 5)[0][1] == log.root(5)
    assert history(registry, alice, lid, 12)[0][1] == log.root(12)


def test_size_zero_is_refused(chain: Chain) -> None:
    registry = chain.deploy()
    alice = chain.accounts[0]
    call = registry.functions.anchor(log_id(alice), 0, make_log(1).root(0), [])
    assert refused(chain, call, alice) == ("AnchorRegistryEmptyTree", ())
    assert registry.functions.anchorCount(alice, log_id(alice)).call() == 0


def test_first_anchor_with_a_proof_is_refused(chain: Chain) -> None:
    registry = chain.deploy()
    alice = chain.accounts[0]
    log, lid = make_log(6), log_id(alice)
    proof = log.consistency_proof(3, 6)
    call = registry.functions.anchor(lid, 6, log.root(), proof)
    assert refused(chain, call, alice) == ("AnchorRegistryUnexpectedProof", (len(proof),))
    assert registry.functions.anchorCount(alice, lid).call() == 0


def test_shrinking_equal_and_replayed_sizes_are_refused(chain: Chain) -> None:
    registry = chain.deploy()
    alice = chain.accounts[0]
    log, lid = make_log(9), log_id(alice)
    chain.transact(registry.functions.anchor(lid, 4, log.root(4), []), alice)
    proof = log.consistency_proof(4, 9)
    chain.transact(registry.functions.anchor(lid, 9, log.root(9), proof), alice)
    latest = registry.functions.latest(alice, lid).call()

    cases = [
        # shrinking, with a genuine proof between the two sizes (in the wrong direction)
        registry.functions.anchor(lid, 4, log.root(4), proof),
        registry.functions.anchor(lid, 7, log.root(7), []),
        # equal size with the same root: refused, not ignored
        registry.functions.anchor(lid, 9, log.root(9), []),
        # the exact call that was accepted before, replayed
        registry.functions.anchor(lid, 9, log.root(9), proof),
    ]
    for call in cases:
        name, (previous, proposed) = refused(chain, call, alice)
        assert name == "AnchorRegistryTreeSizeNotIncreasing"
        assert previous == 9
        assert proposed in (4, 7, 9)
    assert registry.functions.anchorCount(alice, lid).call() == 2
    assert registry.functions.latest(alice, lid).call() == latest


def test_a_proof_of_the_wrong_length_is_refused(chain: Chain) -> None:
    registry = chain.deploy()
    alice = chain.accounts[0]
    log, lid = make_log(21), log_id(alice)
    chain.transact(registry.functions.anchor(lid, 6, log.root(6), []), alice)
    proof = log.consistency_proof(6, 21)
    expected = consistency_proof_length(6, 21)
    assert len(proof) == expected
    for bad in (proof[:-1], [*proof, proof[0]], [], proof * 3):
        call = registry.functions.anchor(lid, 21, log.root(21), bad)
        assert refused(chain, call, alice) == (
            "AnchorRegistryProofLength",
            (expected, len(bad)),
        )
    assert registry.functions.anchorCount(alice, lid).call() == 1


def test_rewritten_or_forked_history_cannot_be_anchored(chain: Chain) -> None:
    registry = chain.deploy()
    alice = chain.accounts[0]
    lid = log_id(alice)
    honest = make_log(13)
    chain.transact(registry.functions.anchor(lid, 7, honest.root(7), []), alice)
    old_root = honest.root(7)

    # The same log, with entry 2 rewritten.
    rewritten_entries = [b"entry %d" % i for i in range(13)]
    rewritten_entries[2] = b"entry 2, rewritten"
    rewritten = MerkleLog()
    rewritten.extend(rewritten_entries)

    # A fork: shares the first 4 entries, then goes its own way.
    forked = MerkleLog()
    forked.extend([b"entry %d" % i for i in range(4)] + [b"fork %d" % i for i in range(9)])

    attempts = [
        (rewritten.root(13), rewritten.consistency_proof(7, 13)),
        (forked.root(13), forked.consistency_proof(7, 13)),
        # the honest proof, but a new root that is not the honest one
        (flip(honest.root(13)), honest.consistency_proof(7, 13)),
    ]
    # the honest new root with each hash of the honest proof tampered in turn
    honest_proof = honest.consistency_proof(7, 13)
    for i in range(len(honest_proof)):
        tampered = list(honest_proof)
        tampered[i] = flip(tampered[i], 255)
        attempts.append((honest.root(13), tampered))

    for new_root, proof in attempts:
        call = registry.functions.anchor(lid, 13, new_root, proof)
        assert refused(chain, call, alice) == (
            "AnchorRegistryInconsistentHistory",
            (7, old_root, 13, new_root),
        )
    assert registry.functions.anchorCount(alice, lid).call() == 1
    assert registry.functions.latest(alice, lid).call()[:2] == [7, old_root]

    # The honest extension still goes through afterwards.
    chain.transact(registry.functions.anchor(lid, 13, honest.root(13), honest_proof), alice)
    assert registry.functions.latest(alice, lid).call()[:2] == [13, honest.root(13)]


def test_finding_1_a_publisher_opens_exactly_one_log(chain: Chain) -> None:
    """A key can open only the log id bound to it: no second history (finding 1) and no
    replay of another publisher's log under another key (finding 1, variant)."""
    registry = chain.deploy()
    alice, bob, carol = chain.accounts[0], chain.accounts[1], chain.accounts[2]
    lid = log_id(alice)
    assert registry.functions.logIdOf(alice).call() == lid
    main, shadow = make_log(10, b"main"), make_log(10, b"shadow")
    chain.transact(registry.functions.anchor(lid, 6, main.root(6), []), alice)

    # A shadow log under any other id is refused, before any proof is looked at.
    for other in (log_id(bob), hashlib.sha256(b"shadow").digest()):
        assert refused(chain, registry.functions.anchor(other, 6, shadow.root(6), []), alice) == (
            "AnchorRegistryLogNotBound",
            (alice, other, lid),
        )
    # Bob cannot replay Alice's log (same id, same roots) under his key, nor extend it.
    replay = registry.functions.anchor(lid, 6, main.root(6), [])
    assert refused(chain, replay, bob) == ("AnchorRegistryLogNotBound", (bob, lid, log_id(bob)))
    alice_next = registry.functions.anchor(lid, 10, main.root(10), main.consistency_proof(6, 10))
    assert refused(chain, alice_next, carol)[0] == "AnchorRegistryLogNotBound"
    assert registry.functions.anchorCount(bob, lid).call() == 0
    assert registry.functions.anchorCount(alice, hashlib.sha256(b"shadow").digest()).call() == 0

    # Bob's own log is his, and independent.
    bob_log = make_log(4, b"bob")
    chain.transact(registry.functions.anchor(log_id(bob), 4, bob_log.root(4), []), bob)
    chain.transact(alice_next, alice)
    assert registry.functions.latest(alice, lid).call()[:2] == [10, main.root(10)]
    assert registry.functions.latest(bob, log_id(bob)).call()[:2] == [4, bob_log.root(4)]
    assert registry.functions.logOf(alice).call() == lid
    assert registry.functions.logOf(bob).call() == log_id(bob)
    assert registry.functions.logOf(carol).call() == bytes(32)


def test_a_log_is_handed_over_to_a_new_key(chain: Chain) -> None:
    """Publisher key rotation: the old key hands the log over; it can no longer anchor it, the
    new key continues the same history under the same log id, and the chain records both."""
    registry = chain.deploy()
    alice, bob, carol = chain.accounts[0], chain.accounts[1], chain.accounts[2]
    lid = log_id(alice)
    log = make_log(12)
    never = registry.functions.handover(lid, bob)
    assert refused(chain, never, alice) == ("AnchorRegistryNoAnchor", (alice, lid))
    chain.transact(registry.functions.anchor(lid, 5, log.root(5), []), alice)
    for bad in (alice, "0x" + "00" * 20):
        bad = Web3.to_checksum_address(bad)
        assert refused(chain, registry.functions.handover(lid, bad), alice) == (
            "AnchorRegistryBadSuccessor",
            (bad,),
        )
    receipt = chain.transact(registry.functions.handover(lid, bob), alice)
    (event,) = registry.events.HandedOver().process_receipt(receipt)
    assert (event["args"]["publisher"], event["args"]["successor"]) == (alice, bob)
    assert (event["args"]["treeSize"], event["args"]["root"]) == (5, log.root(5))
    assert registry.functions.successorOf(alice, lid).call() == bob
    assert registry.functions.predecessorOf(bob, lid).call() == alice
    assert registry.functions.latest(bob, lid).call()[:2] == [5, log.root(5)]

    # The old key is out: no anchor, no second handover.
    late = registry.functions.anchor(lid, 12, log.root(12), log.consistency_proof(5, 12))
    assert refused(chain, late, alice) == ("AnchorRegistryLogHandedOver", (alice, lid, bob))
    assert refused(chain, registry.functions.handover(lid, carol), alice)[0] == (
        "AnchorRegistryLogHandedOver"
    )
    # The new key continues the same history, with a consistency proof from the old head.
    forked = make_log(12, b"fork")
    bad = registry.functions.anchor(lid, 12, forked.root(12), log.consistency_proof(5, 12))
    assert refused(chain, bad, bob)[0] == "AnchorRegistryInconsistentHistory"
    chain.transact(late, bob)
    assert registry.functions.latest(bob, lid).call()[:2] == [12, log.root(12)]
    assert history(registry, alice, lid, 5)[0][1] == log.root(5)
    # The successor's history starts with the handed-over head (index 0), then its own.
    assert [(h[0], h[4]) for h in history(registry, bob, lid)] == [(5, 0), (12, 1)]
    assert registry.functions.anchorCount(bob, lid).call() == 2
    # A key holds one log in its lifetime: bob, who now holds alice's, cannot open his own,
    # and a key that holds a log cannot receive another.
    assert registry.functions.logOf(bob).call() == lid
    own = registry.functions.anchor(log_id(bob), 1, make_log(1, b"bob").root(1), [])
    assert refused(chain, own, bob) == ("AnchorRegistryLogNotBound", (bob, log_id(bob), lid))
    chain.transact(registry.functions.anchor(log_id(carol), 2, make_log(2).root(2), []), carol)
    assert refused(chain, registry.functions.handover(lid, carol), bob) == (
        "AnchorRegistryBadSuccessor",
        (carol,),
    )


def test_storage_layout_is_the_documented_one(embedded: Chain) -> None:
    """Two slots per log, the latest head only, packed as docs/contract.md says; a handover
    sets the closed bit."""
    registry = embedded.deploy()
    alice, bob = embedded.accounts[0], embedded.accounts[1]
    log, lid = make_log(9), log_id(alice)
    embedded.transact(registry.functions.anchor(lid, 4, log.root(4), []), alice)
    receipt = embedded.transact(
        registry.functions.anchor(lid, 9, log.root(9), log.consistency_proof(4, 9)), alice
    )
    block = embedded.w3.eth.get_block(receipt["blockNumber"])

    def word(value: int | bytes) -> bytes:
        return value.rjust(32, b"\0") if isinstance(value, bytes) else value.to_bytes(32, "big")

    def slot(n: int) -> int:
        return int.from_bytes(embedded.w3.eth.get_storage_at(registry.address, n), "big")

    inner = keccak(word(bytes.fromhex(alice[2:])) + word(0))
    head = int.from_bytes(keccak(lid + inner), "big")
    assert slot(head) == int.from_bytes(log.root(9), "big")
    packed = 9 | (receipt["blockNumber"] << 64) | (block["timestamp"] << 128) | (2 << 192)
    assert slot(head + 1) == packed
    # Nothing else was written for the first anchor: no per-anchor entries.
    assert slot(head + 2) == 0
    embedded.transact(registry.functions.handover(lid, bob), alice)
    assert slot(head + 1) == packed | (1 << 255)


# --- reading -------------------------------------------------------------------------------


def test_views_refuse_what_was_never_anchored(chain: Chain) -> None:
    registry = chain.deploy()
    alice = chain.accounts[0]
    log, lid, other = make_log(8), log_id(alice), log_id(chain.accounts[1])
    assert call_error(registry.functions.latest(alice, other)) == (
        "AnchorRegistryNoAnchor",
        (alice, other),
    )
    assert registry.functions.anchorCount(alice, other).call() == 0
    chain.transact(registry.functions.anchor(lid, 8, log.root(), []), alice)
    for size in (1, 7, 9, UINT64_MAX):
        assert history(registry, alice, lid, size) == []
    assert len(history(registry, alice, lid, 8)) == 1


def test_raw_proof_checkers(chain: Chain) -> None:
    registry = chain.deploy()
    f = registry.functions
    log = make_log(17)
    proof = log.consistency_proof(5, 17)
    r5, r17 = log.root(5), log.root(17)

    assert f.verifyConsistency(5, 17, r5, r17, proof).call() is True
    assert f.tryVerifyConsistency(5, 17, r5, r17, proof).call() is True
    assert f.verifyConsistency(5, 17, flip(r5), r17, proof).call() is False
    assert f.tryVerifyConsistency(5, 17, r5, flip(r17), proof).call() is False
    # Equal sizes: empty proof, roots compared.
    assert f.verifyConsistency(17, 17, r17, r17, []).call() is True
    assert f.verifyConsistency(17, 17, r17, r5, []).call() is False
    assert call_error(f.verifyConsistency(17, 17, r17, r17, [r5])) == (
        "AnchorRegistryProofLength",
        (0, 1),
    )
    assert f.tryVerifyConsistency(17, 17, r17, r17, [r5]).call() is False
    # Impossible sizes and wrong lengths: the verify form reverts, the try form says false.
    for old, new in ((0, 17), (18, 17)):
        assert call_error(f.verifyConsistency(old, new, r5, r17, proof)) == (
            "AnchorRegistryConsistencySizes",
            (old, new),
        )
        assert f.tryVerifyConsistency(old, new, r5, r17, proof).call() is False
    assert call_error(f.verifyConsistency(5, 17, r5, r17, proof[1:])) == (
        "AnchorRegistryProofLength",
        (len(proof), len(proof) - 1),
    )
    assert f.tryVerifyConsistency(5, 17, r5, r17, proof[1:]).call() is False

    path, leaf = log.inclusion_proof(9, 17), log.leaf_hash_at(9)
    assert f.verifyInclusionProof(17, 9, leaf, r17, path).call() is True
    assert f.tryVerifyInclusionProof(17, 9, leaf, r17, path).call() is True
    assert f.verifyInclusionProof(17, 9, leaf, r5, path).call() is False
    assert f.tryVerifyInclusionProof(17, 10, leaf, r17, path).call() is False
    assert call_error(f.verifyInclusionProof(17, 17, leaf, r17, path)) == (
        "AnchorRegistryLeafIndexOutOfRange",
        (17, 17),
    )
    assert f.tryVerifyInclusionProof(17, 17, leaf, r17, path).call() is False
    assert call_error(f.verifyInclusionProof(17, 9, leaf, r17, [*path, leaf])) == (
        "AnchorRegistryProofLength",
        (len(path), len(path) + 1),
    )
    assert f.tryVerifyInclusionProof(17, 9, leaf, r17, [*path, leaf]).call() is False
    # A one-entry tree: the empty proof, and the leaf hash is the root.
    assert f.verifyInclusionProof(1, 0, leaf, leaf, []).call() is True


def test_huge_logs_up_to_the_uint64_limit(chain: Chain) -> None:
    """Sizes beyond 2**32 and up to 2**64 - 1, with genuine proofs over a uniform log."""
    registry = chain.deploy()
    alice = chain.accounts[0]
    lid = log_id(alice)
    sizes = [3, 2**33 + 7, 2**40, 2**63 + 12345, UINT64_MAX]
    chain.transact(registry.functions.anchor(lid, sizes[0], uniform_root(sizes[0]), []), alice)
    for old, new in itertools.pairwise(sizes):
        proof = uniform_consistency_proof(old, new)
        assert len(proof) == consistency_proof_length(old, new)
        chain.transact(registry.functions.anchor(lid, new, uniform_root(new), proof), alice)
    assert registry.functions.latest(alice, lid).call()[:2] == [
        UINT64_MAX,
        uniform_root(UINT64_MAX),
    ]
    for size in sizes:
        assert history(registry, alice, lid, size)[0][1] == uniform_root(size)


# --- the Python log and the contract agree -------------------------------------------------


@settings(
    # each example deploys a registry (1.2 M gas on the in-process EVM, ~6 s): 8 in CI, more
    # with OKEIOS_CONTRACT_EXAMPLES=N
    max_examples=int(os.environ.get("OKEIOS_CONTRACT_EXAMPLES", "8")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=6),
    anchor_after=st.lists(st.booleans(), min_size=6, max_size=6),
    picks=st.lists(st.integers(min_value=0, max_value=10**9), min_size=4, max_size=4),
)
def test_python_log_and_contract_agree(
    chain: Chain, batches: list[int], anchor_after: list[bool], picks: list[int]
) -> None:
    registry = chain.deploy()
    alice = chain.accounts[0]
    lid = log_id(alice)
    log = MerkleLog()
    anchored: list[int] = []
    for i, batch in enumerate(batches):
        log.extend([b"record %d" % (log.size + j) for j in range(batch)])
        if not anchor_after[i] and i != len(batches) - 1:
            continue
        proof = log.consistency_proof(anchored[-1]) if anchored else []
        chain.transact(registry.functions.anchor(lid, log.size, log.root(), proof), alice)
        anchored.append(log.size)

    assert registry.functions.anchorCount(alice, lid).call() == len(anchored)
    assert registry.functions.latest(alice, lid).call()[:2] == [log.size, log.root()]
    events = history(registry, alice, lid)
    assert [(h[0], h[1], h[4]) for h in events] == [
        (size, log.root(size), i) for i, size in enumerate(anchored)
    ]
    for size in anchored:
        assert history(registry, alice, lid, size)[0][1] == log.root(size)
    for pick in picks:
        size = anchored[pick % len(anchored)]
        index = pick % size
        path = log.inclusion_proof(index, size)
        root = history(registry, alice, lid, size)[0][1]
        verify = registry.functions.verifyInclusionProof
        assert verify(size, index, log.leaf_hash_at(index), root, path).call() is True
        wrong = leaf_hash(b"not record %d" % index)
        assert verify(size, index, wrong, root, path).call() is False


def test_every_small_proof_matches_the_python_log(embedded: Chain) -> None:
    """All consistency and inclusion proofs of logs up to 24 entries, and their lengths."""
    registry = embedded.deploy()
    f = registry.functions
    log = make_log(24)
    for n in range(1, 25):
        root = log.root(n)
        for m in range(1, n):
            proof = log.consistency_proof(m, n)
            assert len(proof) == consistency_proof_length(m, n)
            assert f.verifyConsistency(m, n, log.root(m), root, proof).call() is True
            assert f.verifyConsistency(m, n, log.root(m), root, proof[::-1]).call() is (
                len(proof) == 1
            )
            # The proof for m does not prove a neighbouring old size of the same length.
            for other in {m - 1, m + 1, n - m} - {0, m, n}:
                if consistency_proof_length(other, n) == len(proof):
                    ok = f.tryVerifyConsistency(other, n, log.root(other), root, proof).call()
                    assert ok is False
        for index in range(n):
            path = log.inclusion_proof(index, n)
            leaf = log.leaf_hash_at(index)
            assert f.verifyInclusionProof(n, index, leaf, root, path).call() is True
            for other in {index - 1, index + 1, n - 1 - index} - {-1, index, n}:
                if inclusion_proof_length(other, n) == len(path):
                    assert f.tryVerifyInclusionProof(n, other, leaf, root, path).call() is False


# --- gas -----------------------------------------------------------------------------------


def test_gas_per_anchor_stays_within_the_documented_figures(embedded: Chain) -> None:
    """The figures in docs/contract.md, with a little slack for harmless code changes."""
    registry = embedded.deploy()
    alice = embedded.accounts[0]
    budgets = {
        (None, 1_000_000): 95_000,
        # at a million entries: at most 60,000 gas, the longest possible proof included
        (999_900, 1_000_000): 60_000,
        (917_505, 1_000_000): 60_000,
        (999_999_900, 1_000_000_000): 62_000,
    }
    for n, ((old, new), budget) in enumerate(budgets.items()):
        alice = embedded.w3.eth.accounts[n]
        lid = log_id(alice)
        if old is not None:
            embedded.transact(registry.functions.anchor(lid, old, uniform_root(old), []), alice)
        proof = [] if old is None else uniform_consistency_proof(old, new)
        receipt = embedded.transact(
            registry.functions.anchor(lid, new, uniform_root(new), proof), alice
        )
        assert 21_000 < receipt["gasUsed"] <= budget, (old, new, receipt["gasUsed"])
