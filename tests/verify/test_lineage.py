"""The lineage verdict: a record's history, rebuilt from the bundles of its events."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from okeios._internal.chain.registry import Registry, RegistryView
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.bundle import Bundle, InclusionProof
from okeios._internal.protocol.events import Event
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.store import Store
from okeios._internal.verify.lineage import verify_lineage
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Reason, Status
from tests.helpers import SMALL_RECORD, CountingRng, make_publisher, policy_for

RECORDS = synthetic_records(4, seed=21)


def _chain_store(tmp_path: Path) -> tuple[Store, Registry, Web3]:
    store = Store.init(tmp_path / "home", key=CountingRng(b"lineage")(32))
    w3 = Web3(EthereumTesterProvider())
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": store.address, "value": 10**21})
    return store, Registry.deploy(w3, store.signer), w3


def test_a_whole_history_verifies_and_gaps_are_named(tmp_path: Path) -> None:
    store, registry, w3 = _chain_store(tmp_path)
    rid = store.add(RECORDS[:1])[0].record_id
    ident = "0x" + rid.hex()
    store.amend(ident, RECORDS[0].replace(b"final", b"amended"))
    store.access.receipt(ident, LocalSigner.generate().address, purpose="review")
    store.amend(ident, RECORDS[0].replace(b"final", b"corrected"))
    anchor(store, registry)
    bundles = [store.export("0x" + e.hex(), reveal_all=True) for e in store.event_ids_of(rid)]
    policy = TrustPolicy(
        authors=[store.address],
        publishers=[store.address],
        chain_id=registry.chain_id,
        registry=registry.address,
    )
    report = verify_lineage(reversed(bundles), policy, chain=RegistryView(w3))
    assert report.passed
    assert report.verdict.status is Status.PASS
    assert "4 events (create, amend, access, amend)" in report.verdict.detail
    assert "anchored in time" in report.verdict.detail
    assert "access 0x" in report.verdict.detail  # who read the record, and when
    gap = verify_lineage(bundles[:1] + bundles[2:], policy, chain=RegistryView(w3))
    assert gap.verdict.reason is Reason.MISSING_ENTRY
    twice = verify_lineage([*bundles, bundles[1]], policy)
    assert twice.verdict.reason is Reason.DUPLICATE_ENTRY
    other = store.export("0x" + store.add(RECORDS[1:2])[0].record_id.hex(), reveal_all=True)
    assert verify_lineage([*bundles, other], policy).verdict.reason is Reason.MIXED_RECORDS
    strict = TrustPolicy(authors=["0x" + "11" * 20], publishers=[store.address])
    assert verify_lineage(bundles, strict).verdict.reason is Reason.EVENT_UNVERIFIED
    store.close()


def test_a_fork_is_named() -> None:
    publisher = make_publisher()
    created = publisher.create(SMALL_RECORD)
    amended = publisher.amend(created.record_id, SMALL_RECORD.replace(b"final", b"amended"))
    rival = Event(
        **{
            **{
                f.name: getattr(amended.signed.event, f.name)
                for f in dataclasses.fields(Event)
                if f.init
            },
            "purpose": "rival",
        }
    )
    signed = rival.sign(publisher.signer)
    index = publisher.log.append(signed.leaf_data())
    checkpoint = publisher.checkpoint()
    size = checkpoint.checkpoint.tree_size
    bundles = [publisher.bundle(e.id, checkpoint=checkpoint) for e in (created, amended)]
    bundles.append(
        Bundle(
            signed,
            bundles[1].disclosure,
            InclusionProof(index, size, tuple(publisher.log.inclusion_proof(index))),
            checkpoint,
        )
    )
    report = verify_lineage(bundles, policy_for(publisher))
    assert report.verdict.reason is Reason.FORK
    assert verify_lineage(bundles[:2], policy_for(publisher)).passed


def test_a_backdated_event_is_named(tmp_path: Path) -> None:
    store, registry, w3 = _chain_store(tmp_path)
    with store.transaction():
        logged = store.publisher.create(RECORDS[2], time=int(time.time()) - 3 * 24 * 3600)
    anchor(store, registry)
    policy = TrustPolicy(
        authors=[store.address],
        publishers=[store.address],
        chain_id=registry.chain_id,
        registry=registry.address,
    )
    bundle = store.export("0x" + logged.record_id.hex(), reveal_all=True)
    report = verify_lineage([bundle], policy, chain=RegistryView(w3))
    assert report.verdict.reason is Reason.BACKDATED
    assert verify_lineage([bundle], policy, chain=RegistryView(w3), tolerance=4 * 24 * 3600).passed
    store.close()
