"""Issue 9, "one history per publisher, no equivocation": one regression test per finding, each
an attack by a signer who misbehaves, and each failing for the attacker with a named reason.

Every test here passed for the attacker on the version-1 code (the bundle, lineage or audit
said "pass"); the names say which finding they pin down.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okeios._internal.config import TrustConfig
from okeios._internal.protocol.bundle import Bundle, InclusionProof
from okeios._internal.protocol.canonical import canonicalize, parse_json
from okeios._internal.protocol.commitment import (
    DisclosedField,
    Disclosure,
    commit,
    commitment_from_digests,
    derive_salt,
)
from okeios._internal.protocol.events import (
    ZERO_ADDRESS,
    ZERO_HASH,
    Checkpoint,
    Event,
    EventKind,
    SignedEvent,
    derive_log_id,
)
from okeios._internal.protocol.logfile import write_log
from okeios._internal.protocol.merkle import MerkleLog
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.publisher import Entry, Publisher
from okeios._internal.verify.audit import audit_log
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.lineage import verify_lineage
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Property, Reason
from okeios.errors import CommitmentError, EncodingError, InputError, NonCanonicalEncodingError
from tests.fakechain import FakeChain, FakeRegistry
from tests.helpers import CountingRng, make_publisher, policy_for

RECIPIENT = LocalSigner.from_key(hashlib.sha256(b"recipient").digest()).address
RECORD = b'{"resourceType": "Observation", "status": "final", "code": {"coding": [{"code": "x"}]}}'
T0 = 1_750_000_000


def _history(publisher: Publisher, *, revoke: bool) -> tuple[bytes, list[bytes]]:
    """CREATE, GRANT, and (if ``revoke``) REVOKE of one record; its id and event ids."""
    rid = hashlib.sha256(b"the record").digest()
    ids = [publisher.create(RECORD, record_id=rid, time=T0).id]
    ids.append(publisher.record_event(EventKind.GRANT, rid, subject=RECIPIENT, time=T0 + 10).id)
    if revoke:
        ids.append(
            publisher.record_event(EventKind.REVOKE, rid, subject=RECIPIENT, time=T0 + 20).id
        )
    return rid, ids


def _force(
    publisher: Publisher, kind: EventKind, rid: bytes, *, time: int, subject: str = ZERO_ADDRESS
) -> bytes:
    """Log an event the honest publisher refuses to write (a misbehaving signer's event), right
    after the record's current head; return its id."""
    head = publisher.event(publisher.head(rid)).signed.event
    event = Event(
        kind=kind,
        log_id=publisher.log_id,
        record_id=rid,
        version=head.version + (1 if kind is EventKind.AMEND else 0),
        previous=head.id,
        commitment=head.commitment,
        ciphertext_digest=head.ciphertext_digest,
        author=publisher.address,
        time=time,
        subject=subject,
    )
    signed = event.sign(publisher.signer)
    publisher.event_log.append([Entry.of(signed)])  # past the publisher's chain rules
    return signed.id


def _bundles(publisher: Publisher, ids: Sequence[bytes]) -> list[Bundle]:
    checkpoint = publisher.checkpoint()
    return [publisher.bundle(i, checkpoint=checkpoint) for i in ids]


def _reason(bundle: Bundle, policy: TrustPolicy, prop: Property = Property.INCLUSION) -> object:
    return verify_bundle(bundle, policy).verdict(prop).reason


# --- finding 1: split view through a second log id ----------------------------------------


def test_finding_1_a_second_log_id_of_the_same_publisher_is_log_not_bound() -> None:
    main = make_publisher()
    _, main_ids = _history(main, revoke=True)
    shadow = make_publisher()
    shadow.log_id = hashlib.sha256(b"shadow").digest()  # the same key, another log id
    _, shadow_ids = _history(shadow, revoke=False)
    policy = policy_for(main)

    assert verify_lineage(_bundles(main, main_ids), policy).passed
    for bundle in _bundles(shadow, shadow_ids):
        assert _reason(bundle, policy) is Reason.LOG_NOT_BOUND
    shadow_lineage = verify_lineage(_bundles(shadow, shadow_ids), policy)
    assert not shadow_lineage.passed
    assert shadow_lineage.verdict.reason is Reason.LOG_NOT_BOUND


def test_finding_1_variant_a_replay_by_another_trusted_publisher_is_log_not_bound() -> None:
    first = make_publisher()
    _, ids = _history(first, revoke=True)
    # A second trusted publisher re-publishes the first one's public log without its REVOKE:
    # the same signed events (same log id, same record id), in a log it checkpoints itself.
    second = Publisher(LocalSigner.from_key(hashlib.sha256(b"second").digest()), rng=CountingRng())
    log = MerkleLog()
    replayed = [first.event(i).signed for i in ids[:2]]
    for signed in replayed:
        log.append(signed.leaf_data())
    checkpoint = Checkpoint(first.log_id, log.size, log.root()).sign(second.signer)
    policy = TrustPolicy(
        authors=[first.address, second.address], publishers=[first.address, second.address]
    )
    reference = first.bundle(ids[1])
    for index, signed in enumerate(replayed):
        forged = Bundle(
            signed,
            first.disclosure(signed.id),
            InclusionProof(index, log.size, tuple(log.inclusion_proof(index))),
            checkpoint,
        )
        assert forged.event.event.record_id == reference.event.event.record_id
        assert _reason(forged, policy) is Reason.LOG_NOT_BOUND


def _anchored(chain_id: int, publisher: Publisher, *, bind_logs: bool = True) -> FakeRegistry:
    """A registry on a fake chain ``chain_id`` holding one anchor of the publisher's whole log
    (``bind_logs=False``: a registry that did not enforce binding, a version-1 registry)."""
    registry = FakeChain(chain_id, genesis_time=T0).deploy(bind_logs=bind_logs)
    log = publisher.log
    registry.anchor(publisher.address, publisher.log_id, log.size, log.root(), timestamp=T0 + 60)
    return registry


def _log_lines(publisher: Publisher) -> list[str]:
    lines: list[str] = []
    write_log(
        lines.append,
        publisher.address,
        publisher.log_id,
        [e.signed for e in publisher.events],
        [publisher.checkpoint()],
    )
    return lines


def test_finding_1_the_audit_reports_every_other_log_of_the_publisher() -> None:
    main = make_publisher()
    _history(main, revoke=True)
    shadow_id = hashlib.sha256(b"shadow").digest()
    # A registry that did not enforce binding: the publisher's main log and a second one.
    source = _anchored(7, main, bind_logs=False)
    source.anchor(main.address, shadow_id, 1, hashlib.sha256(b"shadow root").digest())
    report = audit_log(_log_lines(main), publisher=main.address, chain=source, chain_id=7)
    assert report.defect_kinds() == {"second-log"}
    assert shadow_id.hex() in report.defects[0].detail
    clean = _anchored(7, main)
    assert audit_log(_log_lines(main), publisher=main.address, chain=clean, chain_id=7).passed
    # The shadow log's own file is refused outright.
    shadow = make_publisher()
    shadow.log_id = shadow_id
    _history(shadow, revoke=False)
    report = audit_log(_log_lines(shadow), publisher=shadow.address, chain=None)
    assert "log-not-bound" in report.defect_kinds()


# --- finding 2: author equivocation --------------------------------------------------------


def _signed_commitment_bundles(
    fields: Sequence[DisclosedField], disclose: Sequence[Sequence[int]]
) -> list[Bundle]:
    """An author who builds the commitment by hand: one signed event over ``fields``' digests,
    and one bundle per entry of ``disclose`` (indices into ``fields``)."""
    publisher = make_publisher()
    digests = tuple(sorted(f.digest for f in fields))
    event = Event(
        kind=EventKind.CREATE,
        log_id=publisher.log_id,
        record_id=hashlib.sha256(b"equivocal").digest(),
        version=1,
        previous=ZERO_HASH,
        commitment=commitment_from_digests(digests),
        ciphertext_digest=hashlib.sha256(b"ciphertext").digest(),
        author=publisher.address,
        time=T0,
    )
    signed = event.sign(publisher.signer)
    log = MerkleLog()
    log.append(signed.leaf_data())
    checkpoint = Checkpoint(publisher.log_id, 1, log.root()).sign(publisher.signer)
    return [
        Bundle(
            signed,
            Disclosure(digests, tuple(fields[i] for i in chosen)),
            InclusionProof(0, 1, ()),
            checkpoint,
        )
        for chosen in disclose
    ]


def _field(
    tokens: tuple[str | int, ...], value: bytes, salt: bytes | None = None
) -> DisclosedField:
    seed = hashlib.sha256(b"seed").digest()
    return DisclosedField(tokens, salt or derive_salt(seed, tokens), value)


def test_finding_2_two_values_for_one_path_are_caught() -> None:
    final = _field(("status",), b'"final"')
    cancelled = _field(("status",), b'"cancelled"', salt=b"\x07" * 16)
    policy = policy_for(make_publisher())
    one, other, both = _signed_commitment_bundles([final, cancelled], [[0], [1], [0, 1]])
    # Two bundles of one signed event that disagree are evidence of equivocation.
    lineage = verify_lineage([one, other], policy)
    assert lineage.verdict.reason is Reason.EQUIVOCATION
    # The complete disclosure is no document, and no record opens the commitment.
    assert _reason(both, policy, Property.INTEGRITY) is Reason.FIELD_CONFLICT
    for text in (b'{"status": "final"}', b'{"status": "cancelled"}'):
        report = verify_bundle(both, policy, record=text)
        assert report.verdict(Property.INTEGRITY).reason is Reason.FIELD_CONFLICT


# --- finding 3: two records, one commitment ------------------------------------------------


def test_finding_3_an_array_index_and_an_object_member_never_share_a_commitment() -> None:
    as_array = parse_json(b'{"coding": [{"code": "x"}]}')
    as_object = parse_json(b'{"coding": {"0": {"code": "x"}}}')
    seed = hashlib.sha256(b"seed").digest()
    assert commit(as_array, seed=seed)[0].root != commit(as_object, seed=seed)[0].root
    publisher = make_publisher()
    logged = publisher.create(canonicalize(as_array))
    policy = policy_for(publisher)
    bundle = publisher.bundle(logged.id)
    assert verify_bundle(bundle, policy, record=canonicalize(as_array)).passed
    report = verify_bundle(bundle, policy, record=canonicalize(as_object))
    assert report.verdict(Property.INTEGRITY).reason is Reason.RECORD_MISMATCH
    # A disclosure mixing both readings of /coding/0 is no document.
    mixed = [_field(("coding", 0, "code"), b'"x"'), _field(("coding", "0", "system"), b'"y"')]
    (b,) = _signed_commitment_bundles(mixed, [[0, 1]])
    assert _reason(b, policy, Property.INTEGRITY) is Reason.FIELD_CONFLICT


# --- finding 4: times that run backwards ---------------------------------------------------


def test_finding_4_an_access_dated_before_the_revoke_it_follows_is_time_reversed() -> None:
    publisher = make_publisher()
    rid, ids = _history(publisher, revoke=True)
    # The honest publisher refuses to write it ...
    with pytest.raises(InputError, match="never decrease"):
        publisher.record_event(EventKind.ACCESS, rid, subject=RECIPIENT, time=T0 + 15)
    # ... a misbehaving signer writes it anyway.
    late = _force(publisher, EventKind.ACCESS, rid, time=T0 + 15, subject=RECIPIENT)
    report = verify_lineage(_bundles(publisher, [*ids, late]), policy_for(publisher))
    assert report.verdict.reason is Reason.TIME_REVERSED
    assert "before the revoke" in report.verdict.detail
    # The tolerance is explicit: a caller may allow some clock skew between authors.
    lenient = verify_lineage(
        _bundles(publisher, [*ids, late]), policy_for(publisher), order_tolerance=10
    )
    assert lenient.passed
    # The audit names it the same way.
    report = audit_log(_log_lines(publisher), publisher=publisher.address, chain=None)
    assert "time-reversed" in report.defect_kinds()


# --- finding 5: the audit pins the chain id --------------------------------------------------


def test_finding_5_an_audit_against_another_chain_is_chain_mismatch() -> None:
    publisher = make_publisher()
    _history(publisher, revoke=True)
    elsewhere = _anchored(31337, publisher)
    report = audit_log(_log_lines(publisher), publisher=publisher.address, chain=elsewhere,
                       chain_id=1)  # fmt: skip
    assert report.defect_kinds() == {"chain-mismatch"}
    assert report.anchors == []
    with pytest.raises(InputError, match="chain id"):
        audit_log(_log_lines(publisher), publisher=publisher.address, chain=elsewhere)


# --- finding 6: lifecycle gaps and strict readers --------------------------------------------


def test_finding_6_an_event_after_erase_is_refused() -> None:
    publisher = make_publisher()
    rid, ids = _history(publisher, revoke=False)
    erased = publisher.record_event(EventKind.ERASE, rid, time=T0 + 30)
    with pytest.raises(InputError, match="terminal"):
        publisher.amend(rid, RECORD.replace(b"final", b"amended"), time=T0 + 40)
    with pytest.raises(InputError, match="terminal"):
        publisher.record_event(EventKind.ACCESS, rid, subject=RECIPIENT, time=T0 + 40)
    after = _force(publisher, EventKind.ACCESS, rid, time=T0 + 40, subject=RECIPIENT)
    report = verify_lineage(_bundles(publisher, [*ids, erased.id, after]), policy_for(publisher))
    assert report.verdict.reason is Reason.AFTER_ERASE
    ok = verify_lineage(_bundles(publisher, [*ids, erased.id]), policy_for(publisher))
    assert ok.passed


def test_finding_6_a_derived_record_lineage_verifies() -> None:
    publisher = make_publisher()
    source = publisher.create(RECORD, time=T0)
    derived = publisher.create(b'{"summary": "x"}', sources=[source.id], time=T0 + 5)
    amended = publisher.amend(derived.record_id, b'{"summary": "y"}', time=T0 + 6)
    report = verify_lineage(_bundles(publisher, [derived.id, amended.id]), policy_for(publisher))
    assert report.passed, report.verdict
    # The audit, which has the whole log, still checks that the sources exist.
    assert audit_log(
        _log_lines(publisher), publisher=publisher.address, chain=None
    ).defect_kinds() == {"no-chain"}


def _json_bundle() -> tuple[Publisher, str]:
    publisher = make_publisher()
    logged = publisher.create(RECORD, time=T0)
    return publisher, publisher.bundle(logged.id, fields=["/status"]).to_json()


def test_finding_6_a_json_bundle_with_a_repeated_member_is_refused() -> None:
    _, text = _json_bundle()
    doubled = text.replace('"purpose": ""', '"purpose": "",\n    "purpose": "shown"', 1)
    assert doubled != text
    with pytest.raises(EncodingError, match="twice"):
        Bundle.from_json(doubled)


def test_finding_6_a_json_bundle_has_one_member_order() -> None:
    _, text = _json_bundle()
    raw = json.loads(text)
    raw["event"] = dict(reversed(list(raw["event"].items())))
    with pytest.raises(NonCanonicalEncodingError, match="order"):
        Bundle.from_json(json.dumps(raw))
    raw = json.loads(text)
    reordered = {"version": raw.pop("version"), **raw}
    with pytest.raises(NonCanonicalEncodingError, match="order"):
        Bundle.from_json(json.dumps(reordered))
    # Disclosed fields come in one order too.
    publisher = make_publisher()
    logged = publisher.create(RECORD, time=T0)
    full = publisher.bundle(logged.id)
    flipped = replace(
        full,
        disclosure=Disclosure(full.disclosure.digests, tuple(reversed(full.disclosure.fields))),
    )
    with pytest.raises(NonCanonicalEncodingError, match="ascending"):
        Bundle.from_bytes(flipped.to_bytes())
    with pytest.raises(NonCanonicalEncodingError, match="ascending"):
        Bundle.from_json(flipped.to_json())


def test_finding_6_a_disclosed_field_must_be_a_leaf() -> None:
    subtree = _field(("code",), b'{"coding":[{"code":"x"}]}')
    (bundle,) = _signed_commitment_bundles([subtree], [[0]])
    report = verify_bundle(bundle, policy_for(make_publisher()))
    assert report.verdict(Property.INTEGRITY).reason is Reason.FIELD_MALFORMED
    assert "not a leaf" in report.verdict(Property.INTEGRITY).detail


def test_finding_6_disclosure_pointers_are_exact() -> None:
    publisher = make_publisher()
    logged = publisher.create(b'{"a": {"b": 1}, "ab": 2, "": {"x": 3}}', time=T0)
    commitment = publisher.commitment(logged.id)
    # "/" is the member named "", not the whole record.
    assert [f.path for f in commitment.disclose(["/"]).fields] == ["//x"]
    # "/a" is the member "a" and what is under it, never the member "ab".
    assert [f.path for f in commitment.disclose(["/a"]).fields] == ["/a/b"]
    assert len(commitment.disclose([""]).fields) == 3
    other = publisher.create(RECORD, time=T0)
    with pytest.raises(CommitmentError, match="no field"):
        publisher.commitment(other.id).disclose(["/"])
    with pytest.raises(CommitmentError, match="no field"):
        publisher.commitment(other.id).disclose(["/code/coding/00"])
    with pytest.raises(CommitmentError, match="RFC 6901"):
        publisher.commitment(other.id).disclose(["status"])


def test_finding_6_every_json_okeios_reads_refuses_repeated_members(tmp_path: Path) -> None:
    (tmp_path / "trust.json").write_text(
        '{"authors": [], "publishers": ["0x' + "11" * 20 + '"], "publishers": []}'
    )
    with pytest.raises(InputError, match="twice"):
        TrustConfig.load(tmp_path)
    publisher = make_publisher()
    _history(publisher, revoke=True)
    lines = _log_lines(publisher)
    item = json.loads(lines[2])
    lines[2] = json.dumps(item)[:-1] + ', "signature": "0x00"}'
    report = audit_log(lines, publisher=publisher.address, chain=None)
    assert "malformed-entry" in report.defect_kinds()
    header = lines[0][:-2] + ', "logId": "0x00"}\n'
    with pytest.raises(InputError):
        audit_log([header, *lines[1:]], publisher=publisher.address, chain=None)
    from okeios._internal.crypto.share import Share

    with pytest.raises(EncodingError):
        Share.from_json('{"mediaType": "x", "mediaType": "y"}')


# --- properties ------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.text(max_size=5),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
_PROPERTY_PUBLISHER = make_publisher()
_PROPERTY_POLICY = policy_for(_PROPERTY_PUBLISHER)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signed=_json, other=_json)
def test_property_a_commitment_never_opens_to_a_different_document(
    signed: object, other: object
) -> None:
    a, b = canonicalize(signed), canonicalize(other)  # type: ignore[arg-type]
    logged = _PROPERTY_PUBLISHER.create(a)
    bundle = _PROPERTY_PUBLISHER.bundle(logged.id)
    assert verify_bundle(bundle, _PROPERTY_POLICY, record=a).passed
    report = verify_bundle(bundle, _PROPERTY_POLICY, record=b)
    assert report.verdict(Property.INTEGRITY).passed is (a == b)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shadow_id=st.binary(min_size=32, max_size=32),
    events=st.lists(st.sampled_from(["grant", "revoke", "access", "amend"]), max_size=4),
    replay=st.booleans(),
)
def test_property_a_second_history_of_a_trusted_publisher_is_always_reported(
    shadow_id: bytes, events: list[str], replay: bool
) -> None:
    trusted = make_publisher()
    other = LocalSigner.from_key(hashlib.sha256(b"other trusted").digest())
    policy = TrustPolicy(
        authors=[trusted.address, other.address], publishers=[trusted.address, other.address]
    )
    second = Publisher(other if replay else trusted.signer, rng=CountingRng(b"second"))
    if replay:  # another trusted key republishing the first one's log id
        second.log_id = trusted.log_id
    elif shadow_id == trusted.log_id:
        return
    else:  # the same key, any other log id
        second.log_id = shadow_id
    rid = hashlib.sha256(b"record").digest()
    ids = [second.create(RECORD, record_id=rid, time=T0).id]
    for n, kind in enumerate(events, 1):
        if kind == "amend":
            ids.append(second.amend(rid, RECORD.replace(b"final", b"v%d" % n), time=T0 + n).id)
        else:
            ids.append(second.record_event(EventKind(kind), rid, subject=RECIPIENT, time=T0 + n).id)
    bundles = _bundles(second, ids)
    for bundle in bundles:
        assert _reason(bundle, policy) is Reason.LOG_NOT_BOUND
    assert verify_lineage(bundles, policy).verdict.reason is Reason.LOG_NOT_BOUND
    lines: list[str] = []
    write_log(lines.append, second.address, second.log_id, [e.signed for e in second.events])
    assert "log-not-bound" in audit_log(lines, publisher=second.address, chain=None).defect_kinds()


def test_the_signed_event_names_a_zero_subject_unless_about_someone() -> None:
    # Sanity for the helpers above: the grant names its recipient, the create no one.
    publisher = make_publisher()
    _, ids = _history(publisher, revoke=False)
    events: list[SignedEvent] = [publisher.event(i).signed for i in ids]
    assert events[0].event.subject == ZERO_ADDRESS
    assert events[1].event.subject == RECIPIENT
    assert derive_log_id(publisher.address) == events[0].event.log_id


# --- the same, against a real registry (embedded py-evm chain) -----------------------------


def test_finding_1_a_real_registry_holds_one_log_per_publisher(tmp_path: Path) -> None:
    from web3 import Web3
    from web3.providers.eth_tester import EthereumTesterProvider

    from okeios._internal.chain.registry import Registry
    from okeios._internal.publish.anchoring import anchor
    from okeios._internal.publish.store import Store
    from okeios.errors import ChainError

    store = Store.init(tmp_path / "home", key=CountingRng(b"registry")(32))
    w3 = Web3(EthereumTesterProvider())
    successor = LocalSigner.from_key(hashlib.sha256(b"successor").digest())
    for to in (store.address, successor.address):
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": to, "value": 10**21})
    registry = Registry.deploy(w3, store.signer)
    store.add([RECORD])
    anchor(store, registry)
    assert registry.log_ids(store.address) == [derive_log_id(store.address)]
    assert registry.log_of(store.address) == derive_log_id(store.address)
    lines: list[str] = []
    store.write_log(lines.append)
    report = audit_log(lines, publisher=store.address, chain=registry, chain_id=registry.chain_id)
    assert report.passed, report.defects

    # A shadow log cannot be anchored: the registry refuses it before anything is sent.
    shadow = MerkleLog()
    shadow.append(b"shadow entry")
    with pytest.raises(ChainError, match="AnchorRegistryLogNotBound"):
        registry.prepare_anchor(store.signer, hashlib.sha256(b"shadow").digest(), 1,
                                shadow.root(), [])  # fmt: skip
    # The audit against the pinned chain id fails on any other chain id.
    report = audit_log(lines, publisher=store.address, chain=registry, chain_id=1)
    assert report.defect_kinds() == {"chain-mismatch"}

    # A handover is on chain: the successor holds the same log id, the old key is out.
    registry.handover(store.signer, store.log_id, successor.address)
    assert registry.successor_of(store.address, store.log_id) == successor.address
    assert registry.log_ids(successor.address) == [store.log_id]
    assert registry.log_of(successor.address) == store.log_id
    assert registry.latest(successor.address, store.log_id) is not None
    with pytest.raises(ChainError, match="AnchorRegistryLogHandedOver"):
        registry.handover(store.signer, store.log_id, successor.address)
