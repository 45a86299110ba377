"""The fast paths of reading and checking a bundle, and of exporting one, give what the plain
code gives: the same values, and on bad input the same error with the same message.

* :meth:`Bundle.from_bytes` (field paths looked up, the canonical test on the decoded body)
  against the plain reading (``_read_binary(fast=False)``: every field by the general code,
  the canonical test by encoding the bundle again), on structurally and bytewise mutated
  bundles;
* a record's leaves from its canonical bytes (:func:`canonical_leaves`, no hook per object)
  against :func:`parse_json` and :func:`record_leaves`, on canonical, re-spaced and mutated
  texts; and the integrity verdict with the fast path against the verdict without it;
* a disclosed value shown a canonical leaf without parsing (:func:`is_plain_canonical_leaf`)
  against the strict parser, and the integrity verdict without the record with and without it;
* the nesting check's string expression against the one it replaced;
* :func:`commitment_from_digests` against its plain loop, and the map and hash-array checks
  both readings of a bundle share against their plain forms;
* a disclosure from the stored version (:func:`disclose_stored`, as export makes it) against
  ``commit(...).disclose(...)``, and the remembered pointers against :func:`format_pointer`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from okeios._internal.protocol import bundle as bundle_module
from okeios._internal.protocol import commitment as commitment_module
from okeios._internal.protocol.bundle import Bundle, _read_binary
from okeios._internal.protocol.canonical import (
    JSONNumber,
    canonicalize,
    format_pointer,
    is_plain_canonical_leaf,
    parse_json,
)
from okeios._internal.protocol.commitment import (
    DisclosedField,
    Disclosure,
    canonical_leaves,
    commit,
    commitment_from_digests,
    disclose_stored,
    field_digests,
    record_leaves,
    record_leaves_of,
)
from okeios._internal.protocol.jsonlimits import nesting_exceeds
from okeios._internal.verify import bundle as verify_module
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Reason
from okeios.errors import (
    CommitmentError,
    EncodingError,
    NonCanonicalEncodingError,
    UnknownFieldError,
)
from tests.helpers import SMALL_RECORD, json_paths, make_publisher, replace_at
from tests.test_fuzz_decoders import FUZZ

PROPERTY = settings(FUZZ, max_examples=300)  # the fuzzers' settings, more examples


def _outcome(fn: Callable[[Any], Any], arg: Any) -> tuple[Any, ...]:
    """What ``fn(arg)`` gives: its value, or its error's type and message."""
    try:
        return ("value", fn(arg))
    except Exception as exc:  # the error itself is what is compared
        return ("error", type(exc), str(exc))


# --- bundles ----------------------------------------------------------------------------------

RICH = (
    b'{"resourceType":"Observation","id":"rich","a":[1,2,[3,{"b":true}]],"e":{},"f":[],'
    b'"g":-0.5E+3,"h":null,"\\u00e9":"caf\\u00e9","k":{"~/":"x"},"n":123456789012345678901}'
)


def _seed_bundles() -> list[bytes]:
    publisher = make_publisher()
    out = []
    for record in (SMALL_RECORD, RICH):
        logged = publisher.create(record)
        out.append(publisher.bundle(logged.id).to_bytes())
        out.append(
            publisher.bundle(logged.id, fields=["/a", "/k"] if record is RICH else []).to_bytes()
        )
    return out


SEEDS = _seed_bundles()
ODD_VALUES = st.sampled_from(
    [True, False, 1.0, 0.0, -1, 0, 1, 3, 2**63, 2**64 - 1, None, "", "a", "/a", b"", b"\xff",
     b"\x00" * 16, b"\x00" * 32, b'"x"', [], [1], ["a"], [True], [1.0], [-1], [[]], {}, {"a": 1}]
)  # fmt: skip


def _remove(doc: Any, path: tuple[Any, ...]) -> Any:
    head, rest = path[0], path[1:]
    if rest:
        if isinstance(doc, dict):
            return {k: (_remove(v, rest) if k == head else v) for k, v in doc.items()}
        return [(_remove(v, rest) if i == head else v) for i, v in enumerate(doc)]
    if isinstance(doc, dict):
        return {k: v for k, v in doc.items() if k != head}
    return [v for i, v in enumerate(doc) if i != head]


def _same_reading(data: bytes) -> None:
    fast = _outcome(Bundle.from_bytes, data)
    plain = _outcome(lambda d: _read_binary(d, fast=False), data)
    assert fast == plain
    if fast[0] == "value":  # the path bytes too (not part of a field's equality)
        assert [f.encoded_path for f in fast[1].disclosure.fields] == [
            f.encoded_path for f in plain[1].disclosure.fields
        ]


@PROPERTY
@given(
    seed=st.sampled_from(SEEDS),
    picks=st.lists(st.tuples(st.integers(0, 10**6), ODD_VALUES, st.booleans()), max_size=3),
)
def test_the_fast_reading_of_a_mutated_bundle_is_the_plain_one(
    seed: bytes, picks: list[tuple[int, Any, bool]]
) -> None:
    body = msgpack.unpackb(seed[8:], raw=False)
    for where, value, remove in picks:
        paths = json_paths(body)
        path = paths[where % len(paths)]
        body = _remove(body, path) if remove and path else replace_at(body, path, value)
    _same_reading(seed[:8] + msgpack.packb(body, use_bin_type=True))


@PROPERTY
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    cut=st.none() | st.integers(0, 10**6),
)
def test_the_fast_reading_of_edited_bytes_is_the_plain_one(
    seed: bytes, edits: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(seed)
    for at, byte in edits:
        data[at % len(data)] = byte
    if cut is not None:
        del data[cut % len(data) :]
    _same_reading(bytes(data))


def test_a_remembered_path_does_not_admit_a_bool_or_a_float_equal_to_its_index() -> None:
    """(1,) == (True,) == (1.0,) as tuples: the lookup must not accept what the plain reading
    refuses because an equal path was met before."""
    body = msgpack.unpackb(SEEDS[2][8:], raw=False)  # RICH, every field: /a/1 is a path
    fields = body["disclosure"]["fields"]
    at = next(i for i, f in enumerate(fields) if f[0] == ["a", 1])
    Bundle.from_bytes(SEEDS[2])  # the path ("a", 1) is now remembered
    for odd in (True, 1.0):
        fields[at][0] = ["a", odd]
        data = SEEDS[2][:8] + msgpack.packb(body, use_bin_type=True)
        _same_reading(data)
        with pytest.raises(Exception, match=r"disclosure\.fields"):
            Bundle.from_bytes(data)


def test_the_seeds_decode_by_the_fast_path() -> None:
    for seed in SEEDS:
        _same_reading(seed)
        assert Bundle.from_bytes(seed).to_bytes() == seed
    assert bundle_module._PATHS  # the lookup is what was used


# --- records ----------------------------------------------------------------------------------

NUMBERS = st.from_regex(
    r"-?(0|[1-9][0-9]{0,4})(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?", fullmatch=True
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.text(max_size=8)
    | NUMBERS.filter(lambda t: not re.fullmatch(r"-?[0-9]+", t)).map(JSONNumber)
)
RECORDS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)
EDIT_BYTES = st.sampled_from(list(b' \n\t"\\{}[],:0e.-u') + [0xEF, 0xBB, 0xBF, 0xC3, 0xFF])


def _leaves_plainly(data: bytes) -> list[tuple[bytes, bytes]]:
    return record_leaves(parse_json(data))


@PROPERTY
@given(record=RECORDS)
def test_a_canonical_record_takes_the_fast_path_and_gets_its_leaves(record: Any) -> None:
    data = canonicalize(record)
    got = canonical_leaves(data)
    if got is None:  # the canonical walk leaves integers of 16 digits and more to the careful one
        assert _has_long_integer(record)
        got = record_leaves_of(data)
    assert got == record_leaves(record) == _leaves_plainly(data)


def _has_long_integer(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_long_integer(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_long_integer(v) for v in value)
    return type(value) is int and abs(value) >= 10**15


def _edited(record: Any, edits: list[tuple[int, int, bool]]) -> bytes:
    """A record's canonical text with bytes inserted or overwritten at the edits' offsets."""
    data = bytearray(canonicalize(record))
    for at, byte, insert in edits:
        at %= len(data) + 1
        if insert:
            data[at:at] = bytes([byte])
        elif at < len(data):
            data[at] = byte
    return bytes(data)


@PROPERTY
@given(
    record=RECORDS,
    edits=st.lists(st.tuples(st.integers(0, 10**6), EDIT_BYTES, st.booleans()), max_size=3),
)
def test_the_leaves_of_any_text_are_those_of_the_strict_parser(
    record: Any, edits: list[tuple[int, int, bool]]
) -> None:
    text = _edited(record, edits)
    assert _outcome(record_leaves_of, text) == _outcome(_leaves_plainly, text)
    if canonical_leaves(text) is not None:  # the fast path takes canonical text only
        assert canonicalize(parse_json(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1,"a":1}',  # a repeated name: json.loads keeps one, the strict parser refuses
        b'{"a":{"b":2,"b":2}}',
        b'\xef\xbb\xbf{"a":1}',
        b'{"a":"\\ud800"}',
        b'{"\\ud800":1}',
        b'{"a":NaN}',
        b'{"a":1} ',
        b'{"a":1}{}',
        b"[" * 101 + b"]" * 101,
        b'{"a":1' + b"0" * 5000 + b"}",
        b'{"a": 1}',
        b'{"b":1,"a":2}',
        b'{"a":"\\u0041"}',
        b'{"a":"\xff"}',
    ],
    ids=range(14),
)
def test_what_the_strict_parser_refuses_is_refused_on_the_fast_path_too(text: bytes) -> None:
    """Refused, or not canonical: the fast path declines, the strict parser decides."""
    assert canonical_leaves(text) is None
    assert _outcome(record_leaves_of, text) == _outcome(_leaves_plainly, text)


def _integrity(bundle: Bundle, record: bytes) -> Any:
    return verify_module._check_integrity(bundle, record)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    record=RECORDS.filter(lambda r: isinstance(r, dict) and r),
    edits=st.lists(st.tuples(st.integers(0, 10**6), EDIT_BYTES, st.booleans()), max_size=2),
)
def test_the_integrity_verdict_with_the_record_is_the_one_without_the_fast_path(
    record: Any, edits: list[tuple[int, int, bool]]
) -> None:
    publisher = make_publisher()
    bundle = publisher.bundle(publisher.create(record).id)
    text = _edited(record, edits)
    fast = _integrity(bundle, text)
    verify_module.record_leaves_of = _leaves_plainly  # type: ignore[assignment]
    try:
        plain = _integrity(bundle, text)
    finally:
        verify_module.record_leaves_of = commitment_module.record_leaves_of
    assert fast == plain
    if not edits:
        assert fast.passed


def test_a_record_with_a_repeated_name_fails_the_integrity_check() -> None:
    """The fast path must not pass a record whose repeated member json.loads would drop."""
    record = {"a": 1, "b": "x"}
    publisher = make_publisher()
    bundle = publisher.bundle(publisher.create(record).id)
    policy = TrustPolicy(authors=[publisher.signer.address], publishers=[publisher.signer.address])
    assert verify_bundle(bundle, policy, record=b'{"a":1,"b":"x"}').verdicts[0].passed
    report = verify_bundle(bundle, policy, record=b'{"a":1,"a":1,"b":"x"}')
    assert not report.verdicts[0].passed
    assert report.verdicts[0].reason is Reason.RECORD_MALFORMED


# --- the nesting check ------------------------------------------------------------------------

_OLD_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OLD_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def _old_nesting_exceeds(data: bytes, limit: int) -> bool:
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _OLD_NOT_BRACKET.sub(b"", _OLD_STRING.sub(b"", data))
    for _ in range(limit):
        if not brackets:
            return False
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(brackets):
            return True
        brackets = shorter
    return bool(brackets)


@PROPERTY
@given(
    data=st.lists(
        st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b"a", b"\n", b"\xc3\xa9"]),
        max_size=200,
    ).map(b"".join),
    limit=st.integers(0, 8),
)
def test_the_nesting_check_answers_as_the_expression_it_replaced(data: bytes, limit: int) -> None:
    assert nesting_exceeds(data, limit) == _old_nesting_exceeds(data, limit)


# --- digests, disclosures, pointers -----------------------------------------------------------


def _commitment_plainly(digests: list[bytes]) -> bytes:
    previous = b""
    for i, d in enumerate(digests):
        if len(d) != 32:
            raise CommitmentError(f"field digest {i} is not 32 bytes")
        if d <= previous:
            raise CommitmentError("field digests must be sorted ascending without duplicates")
        previous = d
    return hashlib.sha256(
        b"okeios/commitment/v2\x00" + len(digests).to_bytes(4, "big") + b"".join(digests)
    ).digest()


@PROPERTY
@given(
    digests=st.lists(
        st.sampled_from(
            [
                b"\x00" * 32,
                b"\x01" * 32,
                b"\x02" * 32,
                b"\xff" * 32,
                b"\x01" * 31,
                b"\x01" * 33,
                b"",
            ]
        ),
        max_size=5,
    ),
    sort=st.booleans(),
)
def test_the_commitment_over_digests_is_the_plain_loop(digests: list[bytes], sort: bool) -> None:
    if sort:
        digests = sorted(digests)
    assert _outcome(commitment_from_digests, digests) == _outcome(_commitment_plainly, digests)


POINTERS = st.sampled_from(["", "/", "/a", "/a/0", "/a/1", "/a/2/1/b", "/e", "/k/~0~1", "/n",
                            "/resourceType", "a", "/~2", "/missing", "/a/01", "/a/-"])  # fmt: skip


@PROPERTY
@given(
    record=RECORDS | st.sampled_from([parse_json(RICH), parse_json(SMALL_RECORD)]),
    seed=st.binary(min_size=32, max_size=32),
    wanted=st.none() | st.lists(POINTERS, max_size=3),
)
def test_a_disclosure_from_the_stored_version_is_the_commitments(
    record: Any, seed: bytes, wanted: list[str] | None
) -> None:
    commitment, _ = commit(record, seed=seed)
    stored = canonicalize(record)
    assume(wanted is None or wanted)  # an empty list is the publisher's own case
    plain = _outcome(lambda w: commitment.disclose(w), wanted)
    fast = _outcome(lambda w: disclose_stored(stored, seed, commitment.digests, w), wanted)
    assert fast == plain
    if fast[0] == "value":
        fields = fast[1].fields
        assert [f.encoded_path for f in fields] == [f.encoded_path for f in plain[1].fields]
        assert [f.path for f in fields] == [format_pointer(f.tokens) for f in fields]
        assert [f.path for f in fields] == [f.path for f in fields]  # from the remembered ones
        assert all(f.digest in commitment.digests for f in fields)
        assert field_digests(fields) == [f.digest for f in fields]


def test_a_disclosure_from_a_version_whose_digests_are_not_its_own_is_refused() -> None:
    record = parse_json(RICH)
    commitment, seed = commit(record)
    with pytest.raises(CommitmentError, match="fields"):
        disclose_stored(canonicalize(record), seed, commitment.digests[1:])
    with pytest.raises(CommitmentError, match="seed"):
        disclose_stored(canonicalize(record), seed[1:], commitment.digests)


# --- disclosed values without the record ----------------------------------------------------

LEAF_BYTES = st.sampled_from(list(b'"\\ -+.0123456789eEtrufalsn{}[]x') + [0x01, 0x1F, 0xC3, 0xA9])


def _is_canonical_leaf_strictly(value: bytes) -> bool:
    try:
        parsed = parse_json(value)
        return canonicalize(parsed) == value and not (isinstance(parsed, dict | list) and parsed)
    except Exception:
        return False


@PROPERTY
@given(
    value=st.lists(LEAF_BYTES, max_size=20).map(bytes)
    | SCALARS.map(canonicalize)
    | st.sampled_from([b"{}", b"[]", b"-0", b"-0.0", b"1" * 15, b"1" * 16, b"1" * 5000])
)
def test_a_value_shown_a_canonical_leaf_without_parsing_is_one(value: bytes) -> None:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        assume(False)
    if is_plain_canonical_leaf(value):
        assert _is_canonical_leaf_strictly(value)


@pytest.mark.parametrize(
    "value",
    [
        b'"final"',
        b'"caf\xc3\xa9 \xe2\x80\xa8"',
        b"0",
        b"-12",
        b"123456789012345",
        b"6.10",
        b"-0.5E+3",
        b"1e400",
        b"true",
        b"false",
        b"null",
        b"{}",
        b"[]",
    ],
)
def test_the_common_leaves_need_no_parsing(value: bytes) -> None:
    assert is_plain_canonical_leaf(value)
    assert _is_canonical_leaf_strictly(value)


def _committed_to(values: list[bytes]) -> Bundle:
    """A bundle whose author committed to these values (whatever they are) at /v/0, /v/1..."""
    fields = tuple(
        DisclosedField(("v", i), bytes([i]) * 16, value) for i, value in enumerate(values)
    )
    fields = tuple(sorted(fields, key=lambda f: f.encoded_path))
    digests = tuple(sorted(f.digest for f in fields))
    seed = Bundle.from_bytes(SEEDS[0])
    event = dataclasses.replace(seed.event.event, commitment=commitment_from_digests(digests))
    return dataclasses.replace(
        seed,
        event=dataclasses.replace(seed.event, event=event),
        disclosure=Disclosure(digests, fields),
    )


@PROPERTY
@given(values=st.lists(st.lists(LEAF_BYTES, max_size=12).map(bytes), min_size=1, max_size=3))
def test_the_integrity_verdict_without_the_record_is_the_one_without_the_fast_path(
    values: list[bytes],
) -> None:
    try:
        [v.decode("utf-8") for v in values]
    except UnicodeDecodeError:
        assume(False)
    bundle = _committed_to(values)
    fast = verify_module._check_integrity(bundle, None)
    verify_module.is_plain_canonical_leaf = lambda value: False  # type: ignore[assignment]
    try:
        plain = verify_module._check_integrity(bundle, None)
    finally:
        verify_module.is_plain_canonical_leaf = is_plain_canonical_leaf
    assert fast == plain
    assert fast.passed == all(_is_canonical_leaf_strictly(v) for v in values)


# --- the shape checks both readings share -----------------------------------------------------

_KEYS = ("logId", "treeSize", "root")


def _map_plainly(value: Any, keys: tuple[str, ...], where: str) -> list[Any]:
    """The map check as written before its one-go case: unknown, missing, order, values."""
    if not isinstance(value, dict):
        raise EncodingError(f"{where}: expected a map, got {type(value).__name__}")
    unknown = [k for k in value if k not in keys]
    if unknown:
        raise UnknownFieldError(f"{where}: unknown field(s) {unknown!r}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise EncodingError(f"{where}: missing field(s) {missing!r}")
    if len(value) == len(keys) and all(k in keys for k in value) and tuple(value) != tuple(keys):
        raise NonCanonicalEncodingError(
            f"{where}: members must come in the order {', '.join(keys)}"
        )
    return [value[k] for k in keys]


@PROPERTY
@given(
    pairs=st.lists(
        st.tuples(st.sampled_from([*_KEYS, "extra", b"root"]), st.integers(0, 3)), max_size=5
    )
    | st.just([(k, 1) for k in _KEYS]),
    other=st.sampled_from([None, [], "x", 1]),
    as_map=st.booleans(),
)
def test_a_map_is_read_as_the_plain_check_reads_it(
    pairs: list[tuple[Any, int]], other: Any, as_map: bool
) -> None:
    value = dict(pairs) if as_map else other
    assert _outcome(lambda v: bundle_module._map(v, _KEYS, "checkpoint"), value) == _outcome(
        lambda v: _map_plainly(v, _KEYS, "checkpoint"), value
    )


def _hashes_plainly(value: Any, where: str) -> tuple[bytes, ...]:
    listed = bundle_module._list(value, where)
    return tuple(
        bundle_module._fixed(bundle_module._bin, h, f"{where}[{i}]", 32)
        for i, h in enumerate(listed)
    )


@PROPERTY
@given(
    value=st.lists(
        st.sampled_from([b"\x00" * 32, b"\x01" * 32, b"\x01" * 31, b"", "0x00", 32, None, [b"a"]]),
        max_size=4,
    )
    | st.sampled_from([None, b"\x00" * 32, {}, "x"])
)
def test_an_array_of_hashes_is_read_as_the_plain_check_reads_it(value: Any) -> None:
    assert _outcome(
        lambda v: bundle_module._hashes(bundle_module._bin, v, "inclusion.path"), value
    ) == _outcome(lambda v: _hashes_plainly(v, "inclusion.path"), value)


def test_the_caches_keep_no_long_path_or_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a module-level cache keeps stays for the process's life: a long path, pointer or
    member name from crafted input is used, not kept."""
    for module, name in (
        (bundle_module, "_PATHS"),
        (commitment_module, "_POINTERS"),
        (commitment_module, "_MEMBERS"),
    ):
        monkeypatch.setattr(module, name, {})  # empty (other tests may have filled them)
    long_name = "n" * (commitment_module.REMEMBERED_SIZE + 1)
    _, encoded = bundle_module._remember_path((long_name, 1))
    assert encoded == commitment_module.path_bytes((long_name, 1))
    assert (long_name, 1) not in bundle_module._PATHS
    field = DisclosedField((long_name,), bytes(16), b"1")
    assert field.path == "/" + long_name
    assert (long_name,) not in commitment_module._POINTERS
    assert canonical_leaves(b'{"' + long_name.encode() + b'":1}') is not None
    assert long_name not in commitment_module._MEMBERS
    short = DisclosedField(("short",), bytes(16), b"1")
    assert short.path == "/short"
    assert ("short",) in commitment_module._POINTERS
