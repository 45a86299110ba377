"""The shared fake chain (``tests/fakechain.py``) answers as the AnchorRegistry contract on the
embedded chain does, for the same anchoring sequence, so tests that use it test okeios and not
the fake: the same reads (modulo absolute block numbers and times), the same refusals, the
same verdicts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from okeios._internal.chain.embedded import CHAIN_ID, EmbeddedChain
from okeios._internal.chain.registry import Registry, RegistryView
from okeios._internal.protocol.anchors import AnchorEntry
from okeios._internal.protocol.bundle import AnchorRef, Extension
from okeios._internal.protocol.events import derive_log_id
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.publisher import Publisher
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.policy import TrustPolicy
from okeios.errors import ChainError, RegistryMissingError
from tests.fakechain import FakeChain, FakeRegistry
from tests.helpers import CountingRng

SIZES = (3, 5, 9)
OTHER = "0x" + "5a" * 20


def _grow(publisher: Publisher, count: int) -> None:
    for _ in range(count):
        n = publisher.log.size
        publisher.create({"resourceType": "Observation", "id": str(n)}, record_id=bytes([n]) * 32)


class Real:
    """The embedded chain and a deployed AnchorRegistry, written through okeios' Registry."""

    def __init__(self, chain: EmbeddedChain, signer: LocalSigner) -> None:
        self.w3: Web3 = chain.web3
        chain.fund(signer.address, Web3.to_wei(10, "ether"))
        self.signer = signer
        self.registry = Registry.deploy(self.w3, signer)

    def anchor(self, log_id: bytes, size: int, root: bytes, proof: list[bytes]) -> None:
        raw, tx, _ = self.registry.prepare_anchor(self.signer, log_id, size, root, proof)
        self.registry.broadcast(raw)
        receipt = self.registry.wait_for_receipt(tx)
        assert receipt is not None
        assert receipt.success


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    """The same publisher, log and anchoring sequence on the embedded chain and on the fake."""
    signer = LocalSigner.from_key(hashlib.sha256(b"fake chain publisher").digest())
    publisher = Publisher(signer, clock=lambda: 1_750_000_000.0, rng=CountingRng(b"fake"))
    fake = FakeChain(CHAIN_ID)
    with EmbeddedChain.open(tmp_path_factory.mktemp("embedded")) as chain:
        real = Real(chain, signer)
        fake_registry = fake.deploy(real.registry.address)
        previous = 0
        for size in SIZES:
            _grow(publisher, size - publisher.log.size)
            root = publisher.log.root()
            proof = publisher.log.consistency_proof(previous) if previous else []
            real.anchor(publisher.log_id, size, root, proof)
            fake_registry.anchor(publisher.address, publisher.log_id, size, root, proof)
            previous = size
        _grow(publisher, 2)  # 11 entries, the last two never anchored
        yield publisher, real, fake, fake_registry


def _shape(entry: AnchorEntry | None) -> tuple[Any, ...] | None:
    """An anchor without its absolute block number and time."""
    return None if entry is None else (entry.index, entry.tree_size, entry.root)


def test_the_fake_reads_as_the_registry_does(both: tuple[Any, ...]) -> None:
    publisher, real, fake, fake_registry = both
    view = RegistryView(real.w3)
    reg, address, log_id = real.registry, real.registry.address, publisher.log_id
    assert fake.chain_id() == view.chain_id() == CHAIN_ID
    assert fake_registry.chain_id == reg.chain_id
    for size in (*SIZES, 4, 10, 11):
        assert _shape(fake.anchor_at(address, publisher.address, log_id, size)) == _shape(
            view.anchor_at(address, publisher.address, log_id, size)
        )
    assert _shape(fake.latest(address, publisher.address, log_id)) == _shape(
        view.latest(address, publisher.address, log_id)
    )
    real_anchors = reg.anchors(publisher.address, log_id)
    fake_anchors = fake_registry.anchors(publisher.address, log_id)
    assert [_shape(a) for a in fake_anchors] == [_shape(a) for a in real_anchors]
    assert [_shape(a) for a in fake_registry.anchors(publisher.address, log_id, 2)] == [
        _shape(a) for a in reg.anchors(publisher.address, log_id, 2)
    ]
    assert fake_registry.log_ids(publisher.address) == reg.log_ids(publisher.address)
    assert fake_registry.log_ids(OTHER) == reg.log_ids(OTHER) == []
    # One block per anchor, times that never go back, the head at the last anchor.
    for anchors, head in ((real_anchors, view.head()), (fake_anchors, fake.head())):
        blocks = [a.block_number for a in anchors]
        assert blocks == list(range(blocks[0], blocks[0] + len(SIZES)))
        assert [a.timestamp for a in anchors] == sorted(a.timestamp for a in anchors)
        assert head == blocks[-1]
    for anchors, source in ((real_anchors, reg), (fake_anchors, fake)):
        assert source.block_hash(anchors[-1].block_number) is not None
        assert source.block_hash(anchors[-1].block_number + 5) is None
        assert source.block_timestamp(anchors[-1].block_number) == anchors[-1].timestamp


def test_the_fake_fails_where_the_registry_does(both: tuple[Any, ...]) -> None:
    publisher, real, fake, fake_registry = both
    view = RegistryView(real.w3)
    log_id = publisher.log_id
    for source in (view, fake):
        with pytest.raises(RegistryMissingError):
            source.anchor_at(OTHER, publisher.address, log_id, 3)
    for source in (RegistryView(real.w3), fake):
        # Every read of anchors first checks that the registry exists (version 3 reads).
        with pytest.raises(RegistryMissingError):
            source.latest(OTHER, publisher.address, log_id)
    # The contract's refusals: a size that does not grow, another log than the bound one, a
    # history that is not an extension of the anchored one.
    size, root = publisher.log.size, publisher.log.root()
    proof = publisher.log.consistency_proof(SIZES[-1])
    refusals = [
        (log_id, SIZES[-1], publisher.log.root(SIZES[-1]), [], "TreeSizeNotIncreasing"),
        (hashlib.sha256(b"a second log").digest(), 1, root, [], "LogNotBound"),
        (log_id, size, hashlib.sha256(b"another history").digest(), proof, "InconsistentHistory"),
    ]
    for other_log, other_size, other_root, other_proof, name in refusals:
        with pytest.raises(ChainError, match=name):
            real.anchor(other_log, other_size, other_root, other_proof)
        with pytest.raises(ChainError, match=name):
            fake_registry.anchor(publisher.address, other_log, other_size, other_root, other_proof)
    assert len(fake_registry.anchors(publisher.address, log_id)) == len(SIZES)


def test_bundles_get_the_same_verdicts_from_either(both: tuple[Any, ...]) -> None:
    publisher, real, fake, _ = both
    address = real.registry.address
    policy = TrustPolicy(
        authors=[publisher.address],
        publishers=[publisher.address],
        chain_id=CHAIN_ID,
        registry=address,
        confirmations=2,
    )
    ref = AnchorRef(CHAIN_ID, bytes.fromhex(address[2:]), b"\x00" * 32, 1)
    cases = []
    for size in (*SIZES, 4, 11):
        for index in (0, size - 1):
            signed = publisher.events[index].signed
            bundle = publisher.bundle(signed.id, checkpoint=publisher.checkpoint(size), anchor=ref)
            cases.append(bundle)
            if size < SIZES[-1]:
                later = Extension(
                    SIZES[-1],
                    publisher.log.root(SIZES[-1]),
                    tuple(publisher.log.consistency_proof(size, SIZES[-1])),
                )
                cases.append(
                    publisher.bundle(
                        signed.id,
                        checkpoint=publisher.checkpoint(size),
                        anchor=AnchorRef(ref.chain_id, ref.registry, ref.transaction, 1, later),
                    )
                )
    outcomes = set()
    for bundle in cases:
        got = verify_bundle(bundle, policy, chain=fake)
        want = verify_bundle(bundle, policy, chain=RegistryView(real.w3))
        assert [(v.property, v.status, v.reason) for v in got.verdicts] == [
            (v.property, v.status, v.reason) for v in want.verdicts
        ]
        outcomes.add((got.verdict("anchoring").reason, got.verdict("consistency").reason))
    # The cases cover anchored and final, anchored but not final, never anchored, extended.
    assert len(outcomes) >= 3, outcomes


def test_reorg_drops_blocks_and_their_anchors() -> None:
    fake = FakeChain()
    registry = fake.deploy()
    publisher = LocalSigner.from_key(hashlib.sha256(b"reorg").digest()).address
    log_id = derive_log_id(publisher)
    first = registry.anchor(publisher, log_id, 1, b"\x01" * 32)
    second = registry.anchor(publisher, log_id, 2, b"\x02" * 32)
    old_hash = fake.block_hash(second.block_number)
    fake.reorg(1)
    assert fake.head() == first.block_number
    assert fake.block_hash(second.block_number) is None
    assert fake.latest(registry.address, publisher, log_id) == first
    again = registry.anchor(publisher, log_id, 2, b"\x03" * 32)
    assert again.block_number == second.block_number
    assert fake.block_hash(again.block_number) != old_hash
    with pytest.raises(ChainError, match="before its parent"):
        fake.mine(timestamp=0)


def test_failures_and_counters() -> None:
    fake = FakeChain(7)
    registry: FakeRegistry = fake.deploy()
    fake.fail("anchor_at", ChainError("timed out"), lambda args: args[3] == 2)
    assert fake.anchor_at(registry.address, OTHER, b"\x00" * 32, 1) is None
    with pytest.raises(ChainError, match="timed out"):
        fake.anchor_at(registry.address, OTHER, b"\x00" * 32, 2)
    assert fake.calls["anchor_at"] == 2
    assert fake.keys[("anchor_at", registry.address, OTHER, b"\x00" * 32, 2)] == 1
    fake.heal()
    assert fake.anchor_at(registry.address, OTHER, b"\x00" * 32, 2) is None


def test_copy_of_a_real_registry(both: tuple[Any, ...], tmp_path: Path) -> None:
    publisher, real, _, _ = both
    copy = FakeChain.copy_of(real.registry, [(publisher.address, publisher.log_id)])
    view = RegistryView(real.w3)
    assert copy.chain_id() == view.chain_id()
    assert copy.head() == view.head()
    address, log_id = real.registry.address, publisher.log_id
    for size in (*SIZES, 4):
        assert copy.anchor_at(address, publisher.address, log_id, size) == view.anchor_at(
            address, publisher.address, log_id, size
        )
    assert copy.latest(address, publisher.address, log_id) == view.latest(
        address, publisher.address, log_id
    )
