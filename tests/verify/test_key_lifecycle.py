"""The edges of a key's life a verifier must get right (docs/identity.md): a trimmed key
history no longer lets a thief's event pass, an organisation's revocation and expiry outrank
the policy's explicit lists, and notBefore is judged on the proven (anchored) time."""

from __future__ import annotations

import json

from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.identity import Authority
from okeios._internal.verify.keyhistory import load_authority
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Report
from tests.helpers import CountingRng
from tests.verify.test_identity import HOUR, RECORDS, World, _export, world

__all__ = ["world"]  # the fixture, imported for pytest

DAY = 24 * HOUR


def _auth(report: Report) -> tuple[str, str | None]:
    v = report.verdict("authenticity")
    return str(v.status), v.reason and str(v.reason)


def _stolen_key_world(world: World) -> tuple[LocalSigner, bytes, bytes]:
    """A doctor signs once, the key is stolen, the thief signs, the organisation revokes the
    key from before the theft (its last identity event). Returns the doctor and both ids."""
    store, t0 = world.store, world.clock.now
    doctor = LocalSigner.generate(CountingRng(b"lifecycle doctor"))
    world.at(t0 + 1)
    store.keys.authorise(doctor.address, "physician")
    honest = store.add(RECORDS[:1], author=doctor)[0]
    world.anchor(t0 + 60)
    world.at(t0 + 2 * HOUR)
    thief = store.add(RECORDS[1:2], author=doctor)[0]
    world.anchor(t0 + 2 * HOUR + 60)
    world.at(t0 + 3 * HOUR)
    store.keys.deauthorise(doctor.address, effective=t0 + HOUR, purpose="key compromised")
    store.add(RECORDS[2:3])  # the log goes on after the revocation
    world.anchor(t0 + 3 * HOUR + 60)
    return doctor, honest.id, thief.id


def test_a_trimmed_key_history_no_longer_lets_a_thief_pass(world: World) -> None:
    _, honest, thief = _stolen_key_world(world)
    store, policy, view = world.store, world.policy(), world.view()
    full = store.keys.key_history()
    authority = load_authority(full, policy, chain=view)
    assert authority.complete, authority.completeness
    for event_id, verdict in ((honest, ("pass", None)), (thief, ("fail", "author-revoked"))):
        report = verify_bundle(_export(store, event_id), policy, chain=view, authorities=authority)
        assert _auth(report) == verdict

    # The presenter deletes the key's DEAUTHORISE (its last identity event) from the file.
    doc = json.loads(full)
    kept = [b for b in doc["bundles"] if b["event"]["kind"] != "deauthorise"]
    assert len(kept) == len(doc["bundles"]) - 1
    trimmed = load_authority(json.dumps({**doc, "bundles": kept}), policy, chain=view)
    assert not trimmed.complete
    report = verify_bundle(_export(store, thief), policy, chain=view, authorities=trimmed)
    assert _auth(report) == ("undecided", "key-history-incomplete")
    assert str(report.outcome) == "undecided"
    # ... or, holding the published log, shows every later entry as the tail, the
    # deauthorisation among them as if it were any other entry
    size = doc["treeSize"]
    start = max(b["inclusion"]["index"] for b in kept) + 1
    tail = [
        {
            "index": logged.index,
            "event": logged.signed.event.message(),
            "signature": "0x" + logged.signed.signature.hex(),
            "proof": ["0x" + p.hex() for p in store.tree.inclusion_proof(logged.index, size)],
        }
        for logged in store.events.between(start, size)
    ]
    hidden = load_authority(json.dumps({**doc, "bundles": kept, "tail": tail}), policy, chain=view)
    assert not hidden.complete
    assert "identity event the key history leaves out" in hidden.completeness
    # ... or drops the tail: nothing shows what follows the last identity event
    bare = {k: v for k, v in doc.items() if k != "tail"}
    assert not load_authority(json.dumps(bare), policy, chain=view).complete


def test_revocation_outranks_an_explicit_author_list(world: World) -> None:
    doctor, honest, thief = _stolen_key_world(world)
    store, view = world.store, world.view()
    policy = world.policy(authors=[doctor.address])
    authority = load_authority(store.keys.key_history(), world.policy(), chain=view)
    report = verify_bundle(_export(store, thief), policy, chain=view, authorities=authority)
    assert _auth(report) == ("fail", "author-revoked")
    report = verify_bundle(_export(store, honest), policy, chain=view, authorities=authority)
    assert _auth(report) == ("pass", None)


def test_a_retired_publisher_key_listed_explicitly_is_not_trusted_after_its_handover(
    world: World,
) -> None:
    from okeios._internal.publish.anchoring import RegistryHandover

    store, t0 = world.store, world.clock.now
    old = store.signer
    store.add(RECORDS[:2])
    world.anchor(t0 + 60)
    world.at(t0 + HOUR)
    store.keys.rotate(chain=RegistryHandover(store, world.registry))
    world.node.fund(store.address)
    # a copy of the old key (okeios init listed it as author and publisher) signs on
    late = store.add(RECORDS[2:3], author=old)[0]
    world.anchor(t0 + HOUR + 60)
    policy = world.policy(authors=[old.address], publishers=[old.address])
    authority = load_authority(store.keys.key_history(), world.policy(), chain=world.view())
    report = verify_bundle(
        _export(store, late.id), policy, chain=world.view(), authorities=authority
    )
    status, reason = _auth(report)
    assert (status, reason) == ("fail", "author-not-authorised")
    assert "held the log before" in report.verdict("authenticity").detail


def test_not_before_is_judged_on_the_anchored_time(world: World) -> None:
    store, t0 = world.store, world.clock.now
    locum = LocalSigner.generate(CountingRng(b"future locum"))
    world.at(t0 + 1)
    store.keys.authorise(locum.address, "physician", not_before=t0 + 30 * DAY)
    world.clock.now = t0 + 31 * DAY  # signs today, dates the event next month
    early = store.add(RECORDS[:1], author=locum)[0]
    world.anchor(t0 + 60)  # ... and it is anchored today
    policy, view = world.policy(), world.view()
    authority = load_authority(store.keys.key_history(), policy, chain=view)
    report = verify_bundle(_export(store, early.id), policy, chain=view, authorities=authority)
    assert _auth(report) == ("fail", "author-not-authorised")
    assert "anchored" in report.verdict("authenticity").detail


def test_identity_events_are_numbered_across_the_log(world: World) -> None:
    store = world.store
    a, b = LocalSigner.generate(CountingRng(b"a")), LocalSigner.generate(CountingRng(b"b"))
    store.keys.authorise(a.address, "nurse")
    store.add(RECORDS[:1])
    store.keys.authorise(b.address, "nurse")
    store.keys.deauthorise(a.address)
    assert [e.signed.event.version for e in store.keys.events()] == [1, 2, 3]
    authority = Authority.from_events(
        store.address, ((e.index, e.signed) for e in store.keys.events()), size=store.size
    )
    assert authority.numbered
    assert TrustPolicy(organisations=[store.address])
