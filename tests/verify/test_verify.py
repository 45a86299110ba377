"""Offline verification: each verdict, each named reason, and tampering found by property tests."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.canonical import iter_leaves, parse_json
from okeios._internal.protocol.commitment import DisclosedField, Disclosure
from okeios._internal.protocol.events import EventKind, SignedEvent
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.publisher import Publisher
from okeios._internal.verify.bundle import verify_bundle, verify_bundle_or_raise
from okeios._internal.verify.policy import ANYONE, TrustPolicy
from okeios._internal.verify.report import Property, Reason, Status
from okeios.errors import CommitmentError, PolicyError, VerificationError
from tests.helpers import (
    AUTHOR_KEY,
    SMALL_RECORD,
    STRANGER_KEY,
    CountingRng,
    make_publisher,
    policy_for,
)

AUTHOR = LocalSigner.from_key(AUTHOR_KEY)
STRANGER = LocalSigner.from_key(STRANGER_KEY)


def _setup() -> tuple[Publisher, Any, TrustPolicy]:
    publisher = make_publisher()
    logged = publisher.create(SMALL_RECORD, author=AUTHOR)
    publisher.create(b'{"resourceType":"Patient","id":"p"}')
    return publisher, logged, policy_for(publisher, AUTHOR.address)


def _reason(report: Any, prop: Property) -> Reason | None:
    verdict = report.verdict(prop)
    return verdict.reason


def test_all_pass_and_report_shape() -> None:
    publisher, logged, policy = _setup()
    report = verify_bundle(publisher.bundle(logged.id).to_bytes(), policy, record=SMALL_RECORD)
    assert report.passed
    assert [v.property for v in report.verdicts] == [
        Property.INTEGRITY,
        Property.AUTHENTICITY,
        Property.INCLUSION,
        Property.ANCHORING,
        Property.CONSISTENCY,
        Property.CONFIDENTIALITY,
    ]
    offline, chain = report.verdicts[:3], report.verdicts[3:5]
    assert report.verdicts[5].status is Status.PASS  # the payload was sealed before logging
    assert all(v.status is Status.PASS and v.reason is None for v in offline)
    # Without a chain, anchoring and consistency are listed as not checked, never as passed.
    assert all(v.status is Status.SKIPPED and v.reason is Reason.NO_CHAIN for v in chain)
    as_dict = report.to_dict()
    assert as_dict["result"] == "pass"
    assert set(as_dict["verdicts"]) == {
        "integrity",
        "authenticity",
        "inclusion",
        "anchoring",
        "consistency",
        "confidentiality",
    }
    assert as_dict["author"] == AUTHOR.address
    assert verify_bundle_or_raise(publisher.bundle(logged.id), policy) == verify_bundle(
        publisher.bundle(logged.id), policy
    )


def test_trust_policy_reasons() -> None:
    publisher, logged, _ = _setup()
    bundle = publisher.bundle(logged.id)
    only_publisher = TrustPolicy(authors=[publisher.address], publishers=[publisher.address])
    report = verify_bundle(bundle, only_publisher)
    assert _reason(report, Property.AUTHENTICITY) is Reason.AUTHOR_NOT_TRUSTED
    assert report.verdict(Property.INCLUSION).passed
    other_publisher = TrustPolicy(authors=ANYONE, publishers=[STRANGER.address])
    report = verify_bundle(bundle, other_publisher)
    assert _reason(report, Property.INCLUSION) is Reason.PUBLISHER_NOT_TRUSTED
    assert report.verdict(Property.AUTHENTICITY).passed
    with pytest.raises(VerificationError, match="author-not-trusted") as caught:
        verify_bundle_or_raise(bundle, only_publisher)
    assert caught.value.report == verify_bundle(bundle, only_publisher)


@pytest.mark.parametrize("bad", [[], (), set(), "0x" + "11" * 20, ["not an address"]])
def test_misused_policies_are_refused(bad: Any) -> None:
    with pytest.raises(PolicyError):
        TrustPolicy(authors=bad, publishers=ANYONE)
    with pytest.raises(PolicyError):
        TrustPolicy(authors=ANYONE, publishers=bad)


def test_forged_signatures_and_checkpoints() -> None:
    publisher, logged, policy = _setup()
    bundle = publisher.bundle(logged.id)
    # An event re-signed by a stranger who claims the author's name.
    forged_sig = STRANGER.unsafe_sign_digest(logged.id)
    forged = dataclasses.replace(bundle, event=SignedEvent(bundle.event.event, forged_sig))
    report = verify_bundle(forged, policy)
    assert _reason(report, Property.AUTHENTICITY) is Reason.SIGNATURE_MISMATCH
    # The leaf includes the signature, so the forged event is not in the log either.
    assert _reason(report, Property.INCLUSION) is Reason.ROOT_MISMATCH
    # A checkpoint whose signature was made by someone else than the named publisher.
    cp = bundle.checkpoint
    fake_cp = dataclasses.replace(cp, signature=STRANGER.unsafe_sign_digest(cp.checkpoint.id))
    report = verify_bundle(dataclasses.replace(bundle, checkpoint=fake_cp), policy)
    assert _reason(report, Property.INCLUSION) is Reason.CHECKPOINT_SIGNATURE_MISMATCH
    # A stranger's own log and checkpoint, with a valid signature, for the same event.
    stranger_pub = Publisher(STRANGER, rng=CountingRng(b"s"))
    other = stranger_pub.checkpoint()
    report = verify_bundle(dataclasses.replace(bundle, checkpoint=other), policy)
    assert _reason(report, Property.INCLUSION) is Reason.PUBLISHER_NOT_TRUSTED
    report = verify_bundle(
        dataclasses.replace(bundle, checkpoint=other),
        TrustPolicy(authors=ANYONE, publishers=ANYONE),
    )
    assert _reason(report, Property.INCLUSION) is Reason.LOG_MISMATCH
    # An older checkpoint, before the event was logged, with a proof that cannot fit.
    old = publisher.checkpoint(tree_size=1)
    report = verify_bundle(dataclasses.replace(bundle, checkpoint=old), policy)
    assert _reason(report, Property.INCLUSION) is Reason.TREE_SIZE_MISMATCH


def test_disclosure_reasons() -> None:
    publisher, logged, policy = _setup()
    bundle = publisher.bundle(logged.id, fields=["/valueQuantity/value"])
    report = verify_bundle(bundle, policy)
    assert report.passed
    assert dict(report.disclosed) == {"/valueQuantity/value": "6.10"}
    field = bundle.disclosure.fields[0]
    lie = dataclasses.replace(field, value=b"6.1")
    report = verify_bundle(
        dataclasses.replace(bundle, disclosure=Disclosure(bundle.disclosure.digests, (lie,))),
        policy,
    )
    assert _reason(report, Property.INTEGRITY) is Reason.FIELD_NOT_COMMITTED
    moved = dataclasses.replace(field, tokens=("valueQuantity", "unit"))
    report = verify_bundle(
        dataclasses.replace(bundle, disclosure=Disclosure(bundle.disclosure.digests, (moved,))),
        policy,
    )
    assert _reason(report, Property.INTEGRITY) is Reason.FIELD_NOT_COMMITTED
    dropped = Disclosure(bundle.disclosure.digests[1:], bundle.disclosure.fields)
    report = verify_bundle(dataclasses.replace(bundle, disclosure=dropped), policy)
    assert _reason(report, Property.INTEGRITY) is Reason.COMMITMENT_MISMATCH
    unsorted = Disclosure(tuple(reversed(bundle.disclosure.digests)), ())
    report = verify_bundle(dataclasses.replace(bundle, disclosure=unsorted), policy)
    assert _reason(report, Property.INTEGRITY) is Reason.DIGESTS_MALFORMED
    twice = Disclosure(bundle.disclosure.digests, (field, field))
    report = verify_bundle(dataclasses.replace(bundle, disclosure=twice), policy)
    assert _reason(report, Property.INTEGRITY) is Reason.FIELD_CONFLICT
    # A partial bundle cannot vouch for a whole record.
    report = verify_bundle(bundle, policy, record=SMALL_RECORD)
    assert _reason(report, Property.INTEGRITY) is Reason.RECORD_NOT_VERIFIABLE
    report = verify_bundle(publisher.bundle(logged.id), policy, record=b"{oops")
    assert _reason(report, Property.INTEGRITY) is Reason.RECORD_MALFORMED
    with pytest.raises(CommitmentError, match="no field"):
        publisher.bundle(logged.id, fields=["/nope"])


def test_disclosure_bytes_hold_no_hidden_value() -> None:
    publisher, logged, _policy = _setup()
    data = publisher.bundle(logged.id, fields=["/status"]).to_bytes()
    for hidden in (b"4548-4", b"6.10", b"Patient/example", b"hba1c", b"loinc"):
        assert hidden not in data
    assert b"final" in data


def test_lineage_events_verify() -> None:
    publisher, logged, policy = _setup()
    amended = publisher.amend(logged.record_id, SMALL_RECORD.replace(b"6.10", b"6.20"))
    grant = publisher.record_event(
        EventKind.GRANT, logged.record_id, subject=STRANGER.address, purpose="second opinion"
    )
    derived = publisher.create(b'{"summary":"ok"}', sources=[amended.id])
    assert amended.signed.event.previous == logged.id
    assert grant.signed.event.previous == amended.id
    assert grant.signed.event.version == 2
    assert derived.signed.event.kind is EventKind.DERIVE
    checkpoint = publisher.checkpoint()
    for item in (logged, amended, grant, derived):
        assert verify_bundle(publisher.bundle(item.id, checkpoint=checkpoint), policy).passed
    report = verify_bundle(publisher.bundle(amended.id), policy, record=SMALL_RECORD)
    assert _reason(report, Property.INTEGRITY) is Reason.RECORD_MISMATCH


# --- property tests: any change to a record's content is caught --------------------------------

RECORD = parse_json(SMALL_RECORD)
PUBLISHER, LOGGED, POLICY = _setup()
BUNDLE = PUBLISHER.bundle(LOGGED.id)
LEAF_PATHS = [path for path, _ in iter_leaves(RECORD)]


def _set(doc: Any, tokens: list[str], value: Any) -> None:
    for t in tokens[:-1]:
        doc = doc[int(t)] if isinstance(doc, list) else doc[t]
    if isinstance(doc, list):
        doc[int(tokens[-1])] = value
    else:
        doc[tokens[-1]] = value


def _rename(doc: Any, tokens: list[str], new: str) -> None:
    for t in tokens[:-1]:
        doc = doc[int(t)] if isinstance(doc, list) else doc[t]
    if isinstance(doc, dict) and new not in doc:
        doc[new] = doc.pop(tokens[-1])
    else:
        doc.append("renamed")


def _delete(doc: Any, tokens: list[str]) -> None:
    for t in tokens[:-1]:
        doc = doc[int(t)] if isinstance(doc, list) else doc[t]
    del doc[int(tokens[-1]) if isinstance(doc, list) else tokens[-1]]


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=12),
    st.floats(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=200, deadline=None)
@given(
    path=st.sampled_from(LEAF_PATHS),
    mutation=st.sampled_from(["value", "key", "add", "remove"]),
    scalar=json_scalars,
    name=st.text(min_size=1, max_size=8),
)
def test_any_content_change_is_caught(path: str, mutation: str, scalar: Any, name: str) -> None:
    doc = parse_json(SMALL_RECORD)
    tokens = path.split("/")[1:]
    if mutation == "value":
        _set(doc, tokens, scalar)
    elif mutation == "key":
        _rename(doc, tokens, tokens[-1] + "_" + name)
    elif mutation == "add":
        doc["x" + name] = scalar
    else:
        _delete(doc, tokens)
    if doc == RECORD:
        return  # the drawn change happened to rewrite a value with itself
    report = verify_bundle(BUNDLE, POLICY, record=doc)
    assert report.verdict(Property.INTEGRITY).reason is Reason.RECORD_MISMATCH
    assert report.verdict(Property.AUTHENTICITY).passed
    assert report.verdict(Property.INCLUSION).passed


def test_disclosed_field_objects_are_validated() -> None:
    with pytest.raises(CommitmentError):
        DisclosedField(["a", True], b"\x00" * 16, b"1")
    with pytest.raises(CommitmentError):
        DisclosedField(("a",), b"\x00" * 15, b"1")
    assert Bundle.from_bytes(BUNDLE.to_bytes()) == BUNDLE
