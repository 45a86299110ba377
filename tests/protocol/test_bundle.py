"""The bundle format: round trips, strict decoding, and every kind of damaged input."""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okeios._internal.protocol.bundle import MAGIC, Bundle
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.report import Property, Reason
from okeios.errors import (
    BadMagicError,
    BundleError,
    EncodingError,
    NonCanonicalEncodingError,
    TrailingGarbageError,
    TruncationError,
    UnknownFieldError,
    UnsupportedVersionError,
)
from tests.conftest import shared_dir
from tests.helpers import SMALL_RECORD, make_publisher, policy_for

PUBLISHER = make_publisher()
for _i in range(6):
    PUBLISHER.create(SMALL_RECORD.replace(b"hba1c", b"hba1c-%d" % _i))
EVENT = PUBLISHER.events[3]
BUNDLE = PUBLISHER.bundle(EVENT.id)
DATA = BUNDLE.to_bytes()
POLICY = policy_for(PUBLISHER)


def _body() -> dict:
    return msgpack.unpackb(DATA[8:], raw=False)


def _encode(body: dict, header: bytes = MAGIC + b"\x02") -> bytes:
    return header + msgpack.packb(body, use_bin_type=True)


def test_binary_and_json_round_trips() -> None:
    assert Bundle.from_bytes(DATA) == BUNDLE
    assert Bundle.from_json(BUNDLE.to_json()) == BUNDLE
    assert Bundle.load(BUNDLE.to_json().encode()) == BUNDLE
    assert Bundle.load(DATA).to_bytes() == DATA
    as_json = BUNDLE.to_json_dict()
    assert as_json["mediaType"] == "application/vnd.okeios.bundle+json"
    assert as_json["version"] == 2
    # Disclosed values keep their exact canonical text, decimals included.
    values = {tuple(f["path"]): f["value"] for f in as_json["disclosure"]["fields"]}
    assert values[("valueQuantity", "value")] == "6.10"
    assert DATA.startswith(b"\x89OKEIOS\x02")


def test_fhir_examples_round_trip_and_verify() -> None:
    folder = shared_dir("fhir", "r4-examples")
    publisher = make_publisher()
    paths = sorted(folder.glob("*.json"))
    assert len(paths) == 618
    records = {p.name: p.read_bytes() for p in paths}
    ids = {name: publisher.create(raw).id for name, raw in records.items()}
    checkpoint = publisher.checkpoint()
    policy = policy_for(publisher)
    for name, raw in records.items():
        bundle = publisher.bundle(ids[name], checkpoint=checkpoint)
        data = bundle.to_bytes()
        assert Bundle.from_bytes(data) == bundle
        report = verify_bundle(data, policy, record=raw)
        assert report.passed, (name, report.failures)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", BadMagicError, "magic"),
        (b"{not json", EncodingError, "JSON"),
        (b"hello world, not a bundle", BadMagicError, "neither"),
        (b"\x89OKE", TruncationError, "header"),
        (b"\x89OKEIOZ\x01\x80", BadMagicError, "magic"),
        (MAGIC + b"\x03" + DATA[8:], UnsupportedVersionError, "major version 3"),
        (MAGIC + b"\x01" + DATA[8:], UnsupportedVersionError, "version 1 is no longer verified"),
        (MAGIC + b"\x00" + DATA[8:], UnsupportedVersionError, "major version 0"),
        (DATA + b"\x00", TrailingGarbageError, "1 bytes follow"),
        (DATA + DATA, TrailingGarbageError, "follow"),
        (DATA[:-1], TruncationError, "truncated"),
        (DATA[:9], TruncationError, "truncated"),
        (MAGIC + b"\x02", TruncationError, "truncated"),
        (MAGIC + b"\x02\xc1", EncodingError, "msgpack"),
        (MAGIC + b"\x02" + b"\x91" * 100_000 + b"\xc0", EncodingError, "msgpack"),
        (MAGIC + b"\x02\x93\x01\x02\x03", EncodingError, "expected a map"),
    ],
)
def test_damaged_bundles_raise_typed_errors(data: bytes, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Bundle.load(data)


def test_truncation_at_every_length() -> None:
    for n in range(len(DATA)):
        with pytest.raises(BundleError):
            Bundle.from_bytes(DATA[:n])


def test_non_canonical_and_unknown_fields() -> None:
    body = _body()
    reordered = dict(reversed(list(body.items())))
    with pytest.raises(NonCanonicalEncodingError):
        Bundle.from_bytes(_encode(reordered))
    # The same integer in a wider msgpack form (uint64 instead of a fixint).
    wide = DATA.replace(b"\xa7version\x01", b"\xa7version\xcf" + (1).to_bytes(8, "big"), 1)
    assert wide != DATA
    with pytest.raises(NonCanonicalEncodingError):
        Bundle.from_bytes(wide)
    with pytest.raises(UnknownFieldError, match="extra"):
        Bundle.from_bytes(_encode({**body, "extra": 1}))
    broken = {**body, "event": {**body["event"], "colour": "blue"}}
    with pytest.raises(UnknownFieldError, match="colour"):
        Bundle.from_bytes(_encode(broken))
    missing = {k: v for k, v in body.items() if k != "checkpoint"}
    with pytest.raises(EncodingError, match="missing"):
        Bundle.from_bytes(_encode(missing))
    bad_kind = {**body, "event": {**body["event"], "kind": "delete"}}
    with pytest.raises(EncodingError, match="unknown kind"):
        Bundle.from_bytes(_encode(bad_kind))
    float_size = {**body, "inclusion": {**body["inclusion"], "treeSize": 6.0}}
    with pytest.raises(EncodingError, match="unsigned 64-bit"):
        Bundle.from_bytes(_encode(float_size))
    short_sig = {**body, "signature": body["signature"][:64]}
    with pytest.raises(EncodingError, match="65 bytes"):
        Bundle.from_bytes(_encode(short_sig))
    with pytest.raises(UnsupportedVersionError):
        Bundle.from_json(json.dumps({**BUNDLE.to_json_dict(), "version": 3}))


def test_wrong_proof_lengths_are_named() -> None:
    body = _body()
    path = body["inclusion"]["path"]
    for bad in (path[:-1], [*path, path[0]], []):
        data = _encode({**body, "inclusion": {**body["inclusion"], "path": bad}})
        verdict = verify_bundle(data, POLICY).verdict(Property.INCLUSION)
        assert verdict.reason is Reason.PROOF_MALFORMED
        assert "hashes" in verdict.detail
    data = _encode({**body, "inclusion": {**body["inclusion"], "treeSize": 5}})
    assert (
        verify_bundle(data, POLICY).verdict(Property.INCLUSION).reason is Reason.TREE_SIZE_MISMATCH
    )
    data = _encode({**body, "inclusion": {**body["inclusion"], "index": 9}})
    assert verify_bundle(data, POLICY).verdict(Property.INCLUSION).reason is Reason.PROOF_MALFORMED


def _regions() -> dict[str, tuple[int, int]]:
    """Byte ranges of each top-level section inside the encoded bundle."""
    body = _body()
    regions = {}
    for key, value in body.items():
        encoded = msgpack.packb(key, use_bin_type=True) + msgpack.packb(value, use_bin_type=True)
        start = DATA.index(encoded)
        regions[key] = (start, start + len(encoded))
    return regions


EXPECTED = {
    "event": Property.AUTHENTICITY,
    "signature": Property.AUTHENTICITY,
    "disclosure": Property.INTEGRITY,
    "inclusion": Property.INCLUSION,
    "checkpoint": Property.INCLUSION,
}


def _check_flip(position: int, mask: int) -> None:
    damaged = bytearray(DATA)
    damaged[position] ^= mask
    try:
        report = verify_bundle(
            bytes(damaged), POLICY, record=SMALL_RECORD.replace(b"hba1c", b"hba1c-3")
        )
    except BundleError:
        return  # refused at decoding, with a typed error
    assert not report.passed, f"flip at {position} with {mask:#x} went unnoticed"
    for name, (start, end) in _regions().items():
        if start <= position < end and name in EXPECTED:
            failed = {v.property for v in report.failures}
            assert EXPECTED[name] in failed, (name, position, report.failures)


def test_every_single_bit_flip_is_detected() -> None:
    for position in range(len(DATA)):
        for mask in (0x01, 0x80):
            _check_flip(position, mask)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, len(DATA) - 1), mask=st.integers(1, 255))
def test_any_flipped_byte_is_detected_with_the_right_reason(position: int, mask: int) -> None:
    _check_flip(position, mask)


def test_a_json_bundle_is_utf8_only() -> None:
    """docs/spec/bundle.md rule 4: the JSON form is UTF-8. Python's json guesses UTF-16 and
    UTF-32 from bytes, so the same bundle in UTF-16 used to be accepted."""
    from okeios.errors import EncodingError

    text = json.loads((Path(__file__).resolve().parents[2] / "vectors/v2/bundles.json").read_text())
    [case] = [c for c in text["cases"] if c["name"] == "pass-json"]
    good = case["bundle"]["json"]
    assert Bundle.from_json(good.encode("utf-8")) == Bundle.from_json(good)
    for encoding in ("utf-16-le", "utf-16", "utf-32"):
        with pytest.raises(EncodingError):
            Bundle.from_json(good.encode(encoding))
