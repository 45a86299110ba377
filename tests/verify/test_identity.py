"""Identity on a real Anvil node: a clinician authorised, signing and leaving; a stolen key
revoked with events on both sides of the revocation time; the publisher key rotated mid-history;
old and new bundles verified against the chain with the right verdict each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from okeios._internal.chain.registry import Registry, RegistryView
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.events import SignedEvent, derive_log_id
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.anchoring import RegistryHandover, anchor
from okeios._internal.publish.publisher import Publisher
from okeios._internal.publish.store import Store
from okeios._internal.verify.audit import audit_log
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.identity import Authority, affected_events
from okeios._internal.verify.identity_audit import audit_identity
from okeios._internal.verify.keyhistory import dump_key_history, load_authority
from okeios._internal.verify.lineage import verify_lineage
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Reason, Report
from okeios.errors import ChainError, IdentityError, PolicyError
from tests.fakechain import FakeChain
from tests.helpers import CountingRng
from tests.nodes import Node

RECORDS = synthetic_records(40)
HOUR = 3600


def _auth(report: Report) -> tuple[str, str | None]:
    v = report.verdict("authenticity")
    return str(v.status), v.reason and str(v.reason)


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)


@dataclass
class World:
    node: Node
    store: Store
    registry: Registry
    clock: Clock
    org: str

    def at(self, t: int) -> None:
        """The local clock and the next block's timestamp both at ``t``."""
        self.clock.now = t
        self.node.rpc("evm_setNextBlockTimestamp", hex(t))

    def anchor(self, t: int) -> int:
        self.at(t)
        result = anchor(self.store, self.registry)
        assert result.final
        assert result.entry is not None
        assert result.entry.timestamp == t
        return result.tree_size

    def policy(self, **kw: object) -> TrustPolicy:
        return TrustPolicy(
            organisations=kw.pop("organisations", [self.org]),  # type: ignore[arg-type]
            chain_id=self.registry.chain_id,
            registry=self.registry.address,
            **kw,  # type: ignore[arg-type]
        )

    def view(self) -> RegistryView:
        return RegistryView(self.node.web3())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    node = Node("anvil").start()
    try:
        w3 = node.web3()
        t0 = int(w3.eth.get_block("latest")["timestamp"]) + 10 * HOUR
        clock = Clock(t0)
        store = Store.init(tmp_path / "home", key=CountingRng(b"org")(32), clock=clock)
        node.fund(store.address)
        node.rpc("evm_setNextBlockTimestamp", hex(t0))
        registry = Registry.deploy(w3, store.signer, label="anvil")
        world = World(node, store, registry, clock, store.address)
        yield world
        world.store.close()
    finally:
        node.stop()


def _export(store: Store, logged_id: bytes) -> Bundle:
    return store.export("0x" + logged_id.hex(), reveal_all=True)


def test_clinician_joins_signs_leaves_and_a_stolen_key_is_revoked(world: World) -> None:
    store, t0 = world.store, world.clock.now
    doctor = LocalSigner.generate(CountingRng(b"doctor"))
    nurse = LocalSigner.generate(CountingRng(b"nurse"))
    locum = LocalSigner.generate(CountingRng(b"locum"))
    stranger = LocalSigner.generate(CountingRng(b"stranger"))

    # Before any authorisation: a key the organisation never authorised.
    world.at(t0 + 1)
    early = store.add(RECORDS[:1], author=doctor)[0]
    store.keys.authorise(doctor.address, "physician")
    store.keys.authorise(nurse.address, "nurse")
    store.keys.authorise(locum.address, "physician", not_after=t0 + 2 * HOUR)
    by_doctor = store.add(RECORDS[1:2], author=doctor)[0]
    by_nurse = store.add(RECORDS[2:3], author=nurse)[0]
    by_locum = store.add(RECORDS[3:4], author=locum)[0]
    by_stranger = store.add(RECORDS[4:5], author=stranger)[0]
    by_org = store.add(RECORDS[5:6])[0]
    world.anchor(t0 + 60)

    # The nurse leaves (effective now); the doctor's key is stolen at t0 + 3h and the theft
    # noticed at t0 + 5h. The doctor signed one event before the theft (anchored before it);
    # the thief signs one dated before the theft, but it can only be anchored after.
    world.at(t0 + HOUR)
    before_theft = store.add(RECORDS[6:7], author=doctor)[0]
    world.anchor(t0 + HOUR + 60)
    world.at(t0 + 2 * HOUR)
    store.keys.deauthorise(nurse.address, purpose="left the hospital")
    world.at(t0 + 4 * HOUR)
    after_leaving = store.add(RECORDS[7:8], author=nurse)[0]
    locum_late = store.add(RECORDS[8:9], author=locum)[0]
    world.clock.now = t0 + 2 * HOUR  # the thief backdates
    backdated = store.add(RECORDS[9:10], author=doctor)[0]
    world.anchor(t0 + 4 * HOUR)
    world.at(t0 + 5 * HOUR)
    theft = t0 + 3 * HOUR
    store.keys.deauthorise(doctor.address, effective=theft, purpose="key compromised")
    world.at(t0 + 5 * HOUR + 10)
    after_revocation = store.add(RECORDS[10:11], author=doctor)[0]
    world.anchor(t0 + 5 * HOUR + 60)

    policy = world.policy()
    authority = load_authority(store.keys.key_history(), policy, chain=world.view())
    assert authority.size == store.size

    expected = {
        early.id: ("fail", "author-not-authorised"),
        by_doctor.id: ("pass", None),
        by_nurse.id: ("pass", None),
        by_locum.id: ("pass", None),
        by_stranger.id: ("fail", "author-not-authorised"),
        by_org.id: ("pass", None),
        before_theft.id: ("pass", None),  # anchored before the theft: still valid
        after_leaving.id: ("fail", "author-revoked"),
        locum_late.id: ("fail", "author-expired"),
        backdated.id: ("fail", "author-revoked"),  # dated before, anchored after the theft
        after_revocation.id: ("fail", "author-revoked"),
    }
    for event_id, verdict in expected.items():
        bundle = _export(store, event_id)
        report = verify_bundle(bundle, policy, chain=world.view(), authorities=authority)
        assert _auth(report) == verdict, (event_id.hex(), report.verdict("authenticity"))
        for prop in ("integrity", "inclusion", "anchoring", "consistency"):
            assert report.verdict(prop).passed, (prop, report.verdict(prop))

    # The audit of the revocation lists exactly the doctor's events it invalidates.
    events = _all_events(store, world)
    affected = affected_events(authority, events, doctor.address)
    assert [(i, r) for i, _, r, _ in affected] == [
        (0, "author-not-authorised"),
        (_index(store, backdated.id), "author-revoked"),
        (_index(store, after_revocation.id), "author-revoked"),
    ]

    # A record's lineage verifies under the organisation's policy too.
    amended = store.amend("0x" + by_nurse.record_id.hex(), RECORDS[11])
    world.anchor(t0 + 5 * HOUR + 120)
    authority = load_authority(store.keys.key_history(), policy, chain=world.view())
    lineage = verify_lineage(
        [_export(store, by_nurse.id), _export(store, amended.id)],
        policy,
        chain=world.view(),
        authorities=authority,
    )
    assert lineage.passed, lineage.verdict
    without = verify_lineage([_export(store, by_nurse.id)], policy, chain=world.view())
    assert not without.passed

    # The whole-log identity audit finds exactly the events that fail, from the log alone.
    lines: list[str] = []
    store.write_log(lines.append)
    audit = audit_identity(lines, organisation=world.org, chain=world.registry)
    assert audit.chain_checked
    found = {f.event_id: f.kind for f in audit.findings}
    assert found == {eid: reason for eid, (status, reason) in expected.items() if status == "fail"}
    assert [f.event_id for f in audit.affected(doctor.address)] == [
        early.id,
        backdated.id,
        after_revocation.id,
    ]
    # One finding shape: the JSON form names the event, its author and its record.
    first = audit.to_dict()["findings"][0]
    assert first["event"] == "0x" + early.id.hex()
    assert first["author"] == doctor.address
    assert first["record"].startswith("0x")
    # Without a chain nothing proves when events were made: every event of a revoked key fails.
    offline_audit = audit_identity(lines, organisation=world.org, chain=None)
    assert before_theft.id in {f.event_id for f in offline_audit.findings}

    # Roles pinned: only physicians (and the publisher itself) are accepted.
    physicians = world.policy(organisations={world.org: ["physician", "publisher"]})
    auth = load_authority(store.keys.key_history(), physicians, chain=world.view())
    nurse_report = verify_bundle(
        _export(store, by_nurse.id), physicians, chain=world.view(), authorities=auth
    )
    assert _auth(nurse_report) == ("fail", "author-role-not-trusted")
    assert verify_bundle(
        _export(store, by_doctor.id), physicians, chain=world.view(), authorities=auth
    ).passed

    # Without the key history the verifier cannot decide, and says so.
    report = verify_bundle(_export(store, by_doctor.id), policy, chain=world.view())
    assert _auth(report) == ("fail", "authorisations-missing")
    # Offline (no chain), a revoked key's events cannot be proven to predate the revocation.
    offline = TrustPolicy(organisations=[world.org])
    offline_auth = load_authority(store.keys.key_history(), offline)
    report = verify_bundle(_export(store, before_theft.id), offline, authorities=offline_auth)
    assert _auth(report) == ("fail", "author-revoked")
    # The explicit author list stays an option.
    listed = TrustPolicy(
        authors=[doctor.address],
        publishers=[world.org],
        chain_id=world.registry.chain_id,
        registry=world.registry.address,
    )
    assert verify_bundle(_export(store, after_revocation.id), listed, chain=world.view()).passed


def _index(store: Store, event_id: bytes) -> int:
    return store.publisher.event(event_id).index


def _proven_time(store: Store, world: World, index: int) -> int | None:
    entry = store.journal.anchored_for(index)
    return None if entry is None else entry.timestamp


def _all_events(store: Store, world: World) -> list[tuple[int, SignedEvent, int | None]]:
    out = []
    for signed in store.iter_events():
        index = _index(store, signed.id)
        out.append((index, signed, _proven_time(store, world, index)))
    return out


def test_publisher_key_rotated_mid_history(world: World) -> None:
    store, t0 = world.store, world.clock.now
    old_key = store.address
    doctor = LocalSigner.generate(CountingRng(b"doctor"))
    world.at(t0 + 1)
    store.keys.authorise(doctor.address, "physician")
    old_records = store.add(RECORDS[:5])
    old_by_doctor = store.add(RECORDS[5:6], author=doctor)[0]
    world.anchor(t0 + 60)

    world.at(t0 + HOUR)
    anchored: list[int] = []

    class Step(RegistryHandover):
        def anchor_old(self) -> None:  # the old key's last anchor holds the handover
            s = self.store
            assert s.address == old_key
            world.at(t0 + HOUR + 30)
            anchored.append(anchor(s, world.registry).tree_size)

        def hand_over(self, new: str) -> None:
            world.at(t0 + HOUR + 40)
            super().hand_over(new)

    handover = store.keys.rotate(purpose="yearly rotation", chain=Step(store, world.registry))
    assert store.address != old_key
    assert store.keys.organisation == old_key
    assert handover.signed.event.author == old_key
    size_old = handover.index + 1
    assert anchored == [size_old]
    latest_old = world.registry.latest(old_key, store.log_id)
    assert latest_old is not None
    assert latest_old.tree_size == size_old
    world.node.fund(store.address)

    new_records = store.add(RECORDS[6:9])
    new_by_doctor = store.add(RECORDS[9:10], author=doctor)[0]
    world.anchor(t0 + 2 * HOUR)

    # The store reopens with the new key, same log.
    home = store.home
    store.close()
    reopened = Store.open(home, clock=world.clock)
    world.store = reopened
    assert reopened.address != old_key
    assert reopened.keys.organisation == old_key
    assert reopened.log_id == handover.signed.event.log_id

    policy = world.policy()
    authority = load_authority(reopened.keys.key_history(), policy, chain=world.view())
    assert authority.publishers() == [old_key, reopened.address]
    for logged in [*old_records, old_by_doctor, *new_records, new_by_doctor]:
        bundle = _export(reopened, logged.id)
        report = verify_bundle(bundle, policy, chain=world.view(), authorities=authority)
        assert report.passed, (logged.index, report.failures)
        expected_signer = old_key if logged.index < size_old else reopened.address
        assert report.publisher == expected_signer

    # The old key signing (and anchoring) beyond its handover is refused: it retired.
    retired = Publisher(LocalSigner.from_key(CountingRng(b"org")(32)))
    for signed in reopened.iter_events():
        retired.log.append(signed.leaf_data())
    forged = retired.checkpoint()
    bundle = _export(reopened, new_records[0].id)
    stale = Bundle(bundle.event, bundle.disclosure, bundle.inclusion, forged, None)
    report = verify_bundle(stale, policy, authorities=authority)
    inclusion = report.verdict("inclusion")
    assert (str(inclusion.status), str(inclusion.reason)) == ("fail", "publisher-retired")
    # The old events still verify once the old key is gone for good (nothing needs it).
    assert verify_bundle(
        _export(reopened, old_records[0].id), policy, chain=world.view(), authorities=authority
    ).passed

    # The whole-log audit sees one history across both keys.
    lines_before: list[str] = []
    reopened.write_log(lines_before.append)
    clean = audit_identity(lines_before, organisation=world.org, chain=world.registry)
    assert clean.passed, clean.findings
    assert clean.publishers == [old_key, reopened.address]
    full = audit_log(
        lines_before,
        publisher=world.org,
        chain=world.registry,
        chain_id=world.registry.chain_id,
    )
    assert full.passed, full.defects
    assert {a.tree_size for a in full.anchors} >= {size_old, reopened.size}

    # A key history whose continuity link is forged or dropped is refused.
    history = json.loads(reopened.keys.key_history())
    assert [c["publisher"] for c in history["continuity"]] == [old_key]
    assert history["continuity"][0]["treeSize"] == size_old
    forged_link = json.loads(json.dumps(history))
    forged_link["continuity"][0]["root"] = "0x" + "00" * 32
    with pytest.raises(IdentityError, match="does not extend"):
        load_authority(json.dumps(forged_link), policy, chain=world.view())
    dropped = {**history, "continuity": []}
    with pytest.raises(IdentityError, match="does not link"):
        load_authority(json.dumps(dropped), policy, chain=world.view())
    # The old key, stolen after it retired, cannot anchor again: the registry closed its log.
    thief = LocalSigner.from_key(CountingRng(b"org")(32))
    size_now = reopened.size
    proof = reopened.publisher.log.consistency_proof(size_old, size_now)
    with pytest.raises(ChainError, match="AnchorRegistryLogHandedOver"):
        world.registry.prepare_anchor(
            thief, reopened.log_id, size_now, reopened.publisher.log.root(size_now), proof
        )
    # A registry that did not enforce it (or a forged chain view) is caught by the verifier
    # and the auditor all the same.
    lax_view = FakeChain.copy_of(
        world.registry, [(old_key, reopened.log_id), (reopened.address, reopened.log_id)]
    )
    lax = lax_view.registry(world.registry.address)
    lax.anchor(old_key, reopened.log_id, size_now, reopened.publisher.log.root(size_now))
    with pytest.raises(IdentityError, match="retired key kept anchoring"):
        load_authority(reopened.keys.key_history(), policy, chain=lax_view)
    lines: list[str] = []
    reopened.write_log(lines.append)
    audit = audit_identity(lines, organisation=world.org, chain=lax)
    assert [(f.kind, f.publisher) for f in audit.findings] == [(Reason.PUBLISHER_RETIRED, old_key)]
    reopened.close()


def test_identity_rules_refuse_a_forged_key_history() -> None:
    org = LocalSigner.generate(CountingRng(b"org"))
    mallory = LocalSigner.generate(CountingRng(b"mallory"))
    clock = Clock(10_000)
    pub = Publisher(org, clock=clock)
    pub.authorise(mallory.address, "physician")
    # An authorisation signed by someone else than the organisation, in its log.
    rogue = Publisher(mallory, clock=clock, organisation=org.address)
    forged = rogue.authorise(mallory.address, "physician")
    with pytest.raises(IdentityError, match="only the log's publisher key"):
        Authority.from_events(org.address, [(0, forged.signed)])
    cp = pub.checkpoint()
    history = dump_key_history(org.address, cp.checkpoint.tree_size, [pub.bundle(pub.events[0].id)])
    with pytest.raises(IdentityError, match="does not pin"):
        load_authority(history, TrustPolicy(organisations=[mallory.address]))
    # Hiding a deauthorisation between two authorisations of a key breaks the key's chain.
    nurse = LocalSigner.generate(CountingRng(b"nurse"))
    pub.authorise(nurse.address, "nurse")
    pub.deauthorise(nurse.address, purpose="key compromised")
    pub.authorise(nurse.address, "nurse")
    cp = pub.checkpoint()
    identity = [pub.bundle(e.id, checkpoint=cp) for e in pub.events]
    size = cp.checkpoint.tree_size
    policy = TrustPolicy(organisations=[org.address])
    assert load_authority(dump_key_history(org.address, size, identity), policy)
    hidden = [b for b in identity if b.event.event.kind != "deauthorise"]
    with pytest.raises(IdentityError, match="identity event of this key is missing"):
        load_authority(dump_key_history(org.address, size, hidden), policy)
    # Out of order, against another tree, mixed with an older tree, or a record's event.
    with pytest.raises(IdentityError, match="log order"):
        load_authority(dump_key_history(org.address, size, identity[::-1]), policy)
    with pytest.raises(IdentityError, match="another tree size"):
        load_authority(dump_key_history(org.address, size + 1, identity), policy)
    older = pub.bundle(pub.events[0].id, checkpoint=pub.checkpoint(size - 1))
    mixed = dump_key_history(org.address, size - 1, [older, *identity[1:]])
    with pytest.raises(IdentityError, match="another tree size"):
        load_authority(mixed, policy)
    record = pub.create({"resourceType": "Observation", "status": "final"})
    with pytest.raises(IdentityError, match="not an identity event"):
        load_authority(dump_key_history(org.address, pub.log.size, [pub.bundle(record.id)]), policy)
    tampered = json.loads(dump_key_history(org.address, size, identity))
    tampered["bundles"][0]["event"]["role"] = "chief physician"
    with pytest.raises(IdentityError):
        load_authority(json.dumps(tampered), policy)
    # A handover: the tree ending with it may be signed by both keys, no other by the new one
    # before it or by the old one after it.
    successor = LocalSigner.generate(CountingRng(b"successor"))
    handover = pub.handover(successor)
    after = pub.create({"resourceType": "Observation", "status": "final"})
    authority = Authority.from_events(
        org.address, [(e.index, e.signed) for e in pub.events if e.index < pub.log.size]
    )
    h = handover.index
    assert authority.check_checkpoint(org.address, h + 1) is None
    assert authority.check_checkpoint(successor.address, h + 1) is None
    assert authority.check_checkpoint(successor.address, h + 2) is None
    assert "handed the log over" in str(authority.check_checkpoint(org.address, h + 2))
    assert "did not hold the log yet" in str(authority.check_checkpoint(successor.address, h))
    assert authority.check_author(
        successor.address, index=after.index, time=after.signed.event.time, proven_time=None
    ).ok
    retired = authority.check_author(
        org.address, index=after.index, time=after.signed.event.time, proven_time=None
    )
    assert retired.reason == "author-not-authorised"
    with pytest.raises(PolicyError):
        TrustPolicy(organisations={org.address: []})
    with pytest.raises(PolicyError):
        TrustPolicy()


def test_requiring_more_keeps_the_pinned_organisations() -> None:
    """``TrustPolicy.requiring`` copies the whole policy: an organisation-only policy stays one
    (no author or publisher list appears), with its roles and the added requirement."""
    org = LocalSigner.generate().address
    policy = TrustPolicy(organisations={org: ["physician"]}, chain_id=1, registry=org)
    strict = policy.requiring("anchoring", "consistency")
    assert strict.organisations == {org: frozenset({"physician"})}
    assert strict.organisation_of(derive_log_id(org)) == org
    assert strict.authors == frozenset()
    assert strict.publishers == frozenset()
    assert {"anchoring", "consistency"} <= {str(p) for p in strict.required}
    both = TrustPolicy(authors=[org], publishers=[org], organisations=[org]).requiring("anchoring")
    assert both.authors == frozenset({org})
    assert both.organisations == {org: None}
