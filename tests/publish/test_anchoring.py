"""Anchoring through the registry and chain-backed verification: on the in-process chain for
the logic, on a real Anvil node for crashes, a dead RPC, a restarted node and a reorg."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from okeios._internal.chain.registry import Registry, RegistryView
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.bundle import AnchorRef, Bundle
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.store import Store
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Property, Status
from okeios.errors import ChainError, PolicyError
from tests.helpers import CountingRng
from tests.nodes import Node

RECORDS = synthetic_records(30)


def _fund_embedded(w3: Web3, address: str) -> None:
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": 10**21})


@pytest.fixture
def embedded_w3() -> Web3:
    return Web3(EthereumTesterProvider())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.init(tmp_path / "home", key=CountingRng(b"publisher")(32)) as s:
        yield s


def _policy(store: Store, registry: Registry, **kw: Any) -> TrustPolicy:
    return TrustPolicy(
        authors=[store.address],
        publishers=[store.address],
        chain_id=registry.chain_id,
        registry=registry.address,
        **kw,
    )


def _verdicts(report: Any) -> dict[str, tuple[str, str | None]]:
    return {str(v.property): (str(v.status), v.reason and str(v.reason)) for v in report.verdicts}


def test_anchor_export_verify_against_the_chain(store: Store, embedded_w3: Web3) -> None:
    _fund_embedded(embedded_w3, store.address)
    registry = Registry.deploy(embedded_w3, store.signer)
    first = store.add(RECORDS[:10])
    result = anchor(store, registry)
    assert result.final
    assert result.tree_size == 10
    unanchored_bundle = None
    later = store.add(RECORDS[10:25])
    unanchored_bundle = store.export("0x" + later[0].record_id.hex(), reveal_all=True)
    assert unanchored_bundle.anchor is None
    second = anchor(store, registry)
    assert second.final
    assert second.tree_size == 25
    assert registry.anchor_count(store.address, store.log_id) == 2
    # Running again with nothing new to anchor sends nothing.
    again = anchor(store, registry)
    assert again.entry is not None
    assert again.entry.id == second.entry.id  # type: ignore[union-attr]
    assert registry.anchor_count(store.address, store.log_id) == 2

    view = RegistryView(embedded_w3)
    policy = _policy(store, registry)
    bundle = store.export("0x" + first[3].record_id.hex(), reveal_all=True)
    assert bundle.anchor is not None
    assert bundle.checkpoint.checkpoint.tree_size == 10
    assert bundle.anchor.extension is not None
    assert bundle.anchor.extension.tree_size == 25
    report = verify_bundle(bundle.to_bytes(), policy, record=RECORDS[3], chain=view)
    assert report.passed, report.failures
    assert all(v.status is Status.PASS for v in report.verdicts)
    assert report.anchored_block == result.entry.block_number  # type: ignore[union-attr]
    assert report.anchored_time is not None

    # A bundle exported before its checkpoint was anchored: its checkpoint (size 25) was
    # anchored later, so it is anchored now; one from size 26 would not be.
    assert verify_bundle(unanchored_bundle, policy, chain=view).passed
    store.add(RECORDS[25:26])
    fresh = store.export("0x" + store.record_ids()[-1].hex(), reveal_all=True)
    report = verify_bundle(fresh, policy, chain=RegistryView(embedded_w3))
    # Newer than every anchor and claiming none: pending (undecided), not failed.
    assert _verdicts(report)["anchoring"] == ("undecided", "anchor-pending")
    assert _verdicts(report)["consistency"] == ("undecided", "anchor-pending")
    assert str(report.outcome) == "undecided"
    assert report.verdict(Property.INCLUSION).passed


def test_pinned_chain_registry_and_confirmations(store: Store, embedded_w3: Web3) -> None:
    _fund_embedded(embedded_w3, store.address)
    registry = Registry.deploy(embedded_w3, store.signer)
    logged = store.add(RECORDS[:5])
    anchor(store, registry)
    bundle = store.export("0x" + logged[0].record_id.hex(), reveal_all=True)
    view = RegistryView(embedded_w3)

    wrong_chain = TrustPolicy(
        authors=[store.address], publishers=[store.address], chain_id=1, registry=registry.address
    )
    assert _verdicts(verify_bundle(bundle, wrong_chain, chain=view))["anchoring"] == (
        "fail",
        "chain-mismatch",
    )
    # An attacker deploys a look-alike registry and points the bundle at it.
    attacker = LocalSigner.generate()
    _fund_embedded(embedded_w3, attacker.address)
    fake = Registry.deploy(embedded_w3, attacker)
    assert bundle.anchor is not None
    lookalike = dataclasses.replace(
        bundle, anchor=dataclasses.replace(bundle.anchor, registry=bytes.fromhex(fake.address[2:]))
    )
    report = verify_bundle(lookalike, _policy(store, registry), chain=view)
    assert _verdicts(report)["anchoring"] == ("fail", "registry-not-trusted")
    # Pinning the look-alike instead finds nothing anchored there by this publisher.
    report = verify_bundle(lookalike, _policy(store, fake), chain=RegistryView(embedded_w3))
    assert _verdicts(report)["anchoring"] == ("fail", "not-anchored")
    # Finality: one more confirmation than the chain has is not there yet.
    depth = embedded_w3.eth.block_number - bundle.anchor.block + 1
    report = verify_bundle(
        bundle, _policy(store, registry, confirmations=depth + 1), chain=RegistryView(embedded_w3)
    )
    assert _verdicts(report)["anchoring"] == ("fail", "not-final")
    report = verify_bundle(
        bundle, _policy(store, registry, confirmations=depth), chain=RegistryView(embedded_w3)
    )
    assert _verdicts(report)["anchoring"] == ("pass", None)
    with pytest.raises(PolicyError):
        verify_bundle(
            bundle, TrustPolicy(authors=[store.address], publishers=[store.address]), chain=view
        )


def test_forked_checkpoint_and_bad_extension_are_named(store: Store, embedded_w3: Web3) -> None:
    _fund_embedded(embedded_w3, store.address)
    registry = Registry.deploy(embedded_w3, store.signer)
    logged = store.add(RECORDS[:8])
    anchor(store, registry)
    store.add(RECORDS[8:12])
    anchor(store, registry)
    bundle = store.export("0x" + logged[0].record_id.hex(), reveal_all=True)
    policy, view = _policy(store, registry), RegistryView(embedded_w3)
    assert verify_bundle(bundle, policy, chain=view).passed
    # The publisher signs a second, different history of the same size (a fork).
    from okeios._internal.protocol.events import Checkpoint

    forked = Checkpoint(store.log_id, 8, b"\x42" * 32).sign(store.signer)
    report = verify_bundle(dataclasses.replace(bundle, checkpoint=forked), policy, chain=view)
    verdicts = _verdicts(report)
    assert verdicts["inclusion"] == ("fail", "root-mismatch")
    assert verdicts["anchoring"] == ("fail", "anchor-root-mismatch")
    # An extension whose proof does not hold, or that points at an unanchored head.
    assert bundle.anchor is not None
    assert bundle.anchor.extension is not None
    ext = bundle.anchor.extension
    bad_proof = dataclasses.replace(ext, proof=(b"\x00" * 32, *ext.proof[1:]))
    report = verify_bundle(
        dataclasses.replace(bundle, anchor=dataclasses.replace(bundle.anchor, extension=bad_proof)),
        policy,
        chain=view,
    )
    assert _verdicts(report)["consistency"] == ("fail", "inconsistent-history")
    store.add(RECORDS[12:14])
    log = store.publisher.log
    unanchored = dataclasses.replace(
        ext, tree_size=14, root=log.root(14), proof=tuple(log.consistency_proof(8, 14))
    )
    report = verify_bundle(
        dataclasses.replace(
            bundle, anchor=dataclasses.replace(bundle.anchor, extension=unanchored)
        ),
        policy,
        chain=view,
    )
    assert _verdicts(report)["consistency"] == ("fail", "extension-not-anchored")
    # Offline, the carried proof is still checked; the chain verdicts say they were skipped.
    offline = verify_bundle(bundle, policy)
    assert _verdicts(offline)["anchoring"] == ("skipped", "no-chain")
    assert "claims anchoring in block" in offline.verdict(Property.ANCHORING).detail


def test_an_unreachable_chain_is_reported_as_such(store: Store) -> None:
    logged = store.add(RECORDS[:2])
    bundle = store.export("0x" + logged[0].record_id.hex(), reveal_all=True)
    bundle = dataclasses.replace(bundle, anchor=AnchorRef(1, b"\x01" * 20, b"\x02" * 32, 5))
    dead = Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 2}))
    policy = TrustPolicy(
        authors=[store.address], publishers=[store.address], chain_id=1, registry="0x" + "01" * 20
    )
    report = verify_bundle(bundle, policy, chain=RegistryView(dead, label="a dead node"))
    # An outage is not a forgery: undecided, neither pass nor fail, and the report does not pass.
    assert _verdicts(report)["anchoring"] == ("undecided", "chain-unavailable")
    assert report.outcome == "undecided"
    assert not report.passed
    assert not report.failures
    assert report.headline().startswith("UNDECIDED (required but not checked: anchoring")
    assert "a dead node" in report.verdict(Property.ANCHORING).detail
    with pytest.raises(ChainError, match="a dead node"):
        anchor(store, Registry(dead, "0x" + "01" * 20, label="a dead node"), timeout=1)
    assert store.size == 2  # nothing lost


# --- crashes, dead RPCs, restarted nodes and reorgs on a real Anvil --------------------------


@pytest.fixture(params=["anvil", "ganache"])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    """A real node whose state survives a restart."""
    started = Node(request.param).persist(tmp_path / "node-state").start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[Node]:
    started = Node("anvil").persist(tmp_path / "node-state").start()
    try:
        yield started
    finally:
        started.stop()


def _node_store(tmp_path: Path, node: Node) -> tuple[Store, Registry]:
    store = Store.init(tmp_path / "home")
    node.fund(store.address)
    registry = Registry.deploy(node.web3(), store.signer, label=node.name)
    return store, registry


def test_killed_between_journal_and_transaction(tmp_path: Path, node: Node) -> None:
    store, registry = _node_store(tmp_path, node)
    store.add(RECORDS[:6])
    store.close()
    # A separate process journals the signed transaction, then dies before sending it.
    script = textwrap.dedent(f"""
        import os
        from okeios._internal.publish.anchoring import anchor
        from okeios._internal.chain.registry import Registry
        from okeios._internal.publish.store import Store
        from web3 import Web3
        store = Store.open({str(tmp_path / "home")!r})
        w3 = Web3(Web3.HTTPProvider({node.url!r}))
        registry = Registry(w3, {registry.address!r})
        registry.broadcast = lambda raw: os._exit(9)
        anchor(store, registry)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()
    with Store.open(tmp_path / "home") as store:
        (entry,) = store.journal.entries(registry.chain_id, registry.address)
        assert entry.state == "prepared"
        assert entry.raw_tx is not None
        assert registry.anchor_count(store.address, store.log_id) == 0
        result = anchor(store, registry)
        assert result.final
        assert result.entry.tx_hash == entry.tx_hash  # type: ignore[union-attr]  # the same tx
        assert registry.anchor_count(store.address, store.log_id) == 1


def test_killed_before_the_transaction_was_signed(
    tmp_path: Path, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, registry = _node_store(tmp_path, node)
    store.add(RECORDS[:3])

    def die(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "prepare_anchor", die)
    with pytest.raises(KeyboardInterrupt):
        anchor(store, registry)
    monkeypatch.undo()
    (entry,) = store.journal.entries(registry.chain_id, registry.address)
    assert entry.state == "prepared"
    assert entry.raw_tx is None
    result = anchor(store, registry)
    assert result.final
    states = [e.state for e in store.journal.entries(registry.chain_id, registry.address)]
    assert states == ["dropped", "final"]
    assert registry.anchor_count(store.address, store.log_id) == 1
    store.close()


def test_dead_rpc_and_restarted_node_lose_nothing(tmp_path: Path, node: Node) -> None:
    store, registry = _node_store(tmp_path, node)
    store.add(RECORDS[:4])
    assert anchor(store, registry).final
    store.add(RECORDS[4:9])
    node.stop()  # the node goes away (it dumps its state on the way out)
    with pytest.raises(ChainError, match=node.name):
        anchor(store, registry, timeout=2)
    assert store.size == 9
    node.start()  # and comes back with the same chain
    result = anchor(store, registry)
    assert result.final
    assert result.tree_size == 9
    assert registry.anchor_count(store.address, store.log_id) == 2
    bundle = store.export("0x" + store.record_ids()[6].hex(), reveal_all=True)
    report = verify_bundle(bundle, _policy(store, registry), chain=RegistryView(node.web3()))
    assert report.passed, report.failures
    store.close()


def test_a_reorg_that_drops_the_anchor_is_detected_and_reanchored(
    tmp_path: Path, anvil: Node
) -> None:
    store, registry = _node_store(tmp_path, anvil)
    store.add(RECORDS[:5])
    first = anchor(store, registry)
    assert first.final
    anvil.rpc("anvil_reorg", 1, [])  # replace the anchoring block with an empty one
    assert registry.root_at(store.address, store.log_id, 5) is None
    policy = _policy(store, registry)
    bundle = store.export("0x" + store.record_ids()[0].hex(), reveal_all=True)
    report = verify_bundle(bundle, policy, chain=RegistryView(anvil.web3()))
    assert _verdicts(report)["anchoring"] == ("fail", "not-anchored")
    again = anchor(store, registry)
    assert again.final
    assert any("reorg" in a for a in again.actions)
    assert registry.anchor_count(store.address, store.log_id) == 1
    assert registry.root_at(store.address, store.log_id, 5) is not None
    assert verify_bundle(bundle, policy, chain=RegistryView(anvil.web3())).passed
    store.close()


def test_bundle_json_round_trip_keeps_the_anchor(store: Store, embedded_w3: Web3) -> None:
    _fund_embedded(embedded_w3, store.address)
    registry = Registry.deploy(embedded_w3, store.signer)
    store.add(RECORDS[:3])
    anchor(store, registry)
    store.add(RECORDS[3:6])
    anchor(store, registry)
    bundle = store.export("0x" + store.record_ids()[0].hex(), reveal_all=True)
    assert Bundle.from_json(bundle.to_json()) == bundle
    assert Bundle.from_bytes(bundle.to_bytes()) == bundle


def test_an_empty_receipt_read_of_a_mined_anchor_is_not_a_drop(
    store: Store, embedded_w3: Web3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anvil can answer an empty receipt for a transaction whose block it is still indexing,
    while the nonce already reads as used: the anchor must be re-read, not marked dropped."""
    _fund_embedded(embedded_w3, store.address)
    registry = Registry.deploy(embedded_w3, store.signer)
    store.add(RECORDS[:4])
    real_receipt, real_root_at = registry.receipt, registry.root_at
    misses = {"receipt": 1, "root_at": 0}

    def receipt(tx_hash: bytes) -> Any:
        if misses["receipt"]:
            misses["receipt"] -= 1
            misses["root_at"] = 1  # the node's view lags too, as on Anvil
            return None
        return real_receipt(tx_hash)

    def root_at(*args: Any) -> Any:
        if misses["root_at"]:
            misses["root_at"] -= 1
            return None
        return real_root_at(*args)

    monkeypatch.setattr(registry, "receipt", receipt)
    monkeypatch.setattr(registry, "root_at", root_at)
    result = anchor(store, registry)
    assert misses == {"receipt": 0, "root_at": 0}  # the empty read did happen
    assert result.final
    assert not any("dropped" in a for a in result.actions)
    (entry,) = store.journal.entries(registry.chain_id, registry.address)
    assert entry.state == "final"
    assert entry.error is None
    assert registry.anchor_count(store.address, store.log_id) == 1


def test_a_transaction_really_gone_is_still_dropped(
    store: Store, embedded_w3: Web3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The re-read does not hide a real drop: no receipt however often it is read, the nonce
    used, and the checkpoint not on chain."""
    import okeios._internal.publish.anchoring as anchoring

    monkeypatch.setattr(anchoring, "RECEIPT_RETRIES", (0.0, 0.0))
    _fund_embedded(embedded_w3, store.address)
    registry = Registry.deploy(embedded_w3, store.signer)
    store.add(RECORDS[:4])
    reads: list[bytes] = []

    def never(tx_hash: bytes) -> None:
        reads.append(tx_hash)

    monkeypatch.setattr(registry, "receipt", never)
    monkeypatch.setattr(registry, "root_at", lambda *a: None)
    monkeypatch.setattr(registry, "anchored_by", lambda *a: None)
    with pytest.raises(ChainError, match="nonce was used"):
        anchor(store, registry)
    assert len(reads) >= 4  # read, then re-read after the nonce, before giving up
    states = [e.state for e in store.journal.entries(registry.chain_id, registry.address)]
    assert states == ["dropped"]


def test_issue_25_item_7_its_own_mined_anchor_is_not_already_anchored(
    store: Store, embedded_w3: Web3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anvil can answer an empty receipt while the registry's state already shows the anchor:
    the run must recognise its own transaction (the Anchored event names it), not report the
    checkpoint as "already anchored" by another one and journal an error."""
    _fund_embedded(embedded_w3, store.address)
    registry = Registry.deploy(embedded_w3, store.signer)
    store.add(RECORDS[:4])
    real_receipt = registry.receipt
    misses = {"receipt": 1}

    def receipt(tx_hash: bytes) -> Any:
        if misses["receipt"]:
            misses["receipt"] -= 1
            return None
        return real_receipt(tx_hash)

    monkeypatch.setattr(registry, "receipt", receipt)
    result = anchor(store, registry)
    assert misses == {"receipt": 0}
    assert result.final
    assert not any("already anchored" in a for a in result.actions), result.actions
    (entry,) = store.journal.entries(registry.chain_id, registry.address)
    assert (entry.state, entry.error) == ("final", None)
    assert entry.block_hash is not None


def test_issue_24_item_17_nonce_too_low_for_its_own_mined_transaction(
    store: Store, embedded_w3: Web3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-send answered with "nonce too low" because the block holding the very same
    transaction landed in between is a success, not an error; another transaction holding the
    nonce is still an error."""
    _fund_embedded(embedded_w3, store.address)
    registry = Registry.deploy(embedded_w3, store.signer)
    store.add(RECORDS[:4])
    cp = store.checkpoints.current().checkpoint
    raw, tx_hash, _ = registry.prepare_anchor(store.signer, store.log_id, cp.tree_size, cp.root, [])
    assert registry.broadcast(raw) == tx_hash
    assert registry.wait_for_receipt(tx_hash) is not None

    def nonce_too_low(_raw: bytes) -> None:
        raise ValueError({"code": -32003, "message": "nonce too low"})

    monkeypatch.setattr(embedded_w3.eth, "send_raw_transaction", nonce_too_low)
    assert registry.broadcast(raw) == tx_hash
    other = raw[:-1] + bytes([raw[-1] ^ 1])  # another transaction, never mined
    with pytest.raises(ChainError, match="nonce too low"):
        registry.broadcast(other)
