"""Tests of okeios._internal.protocol.canonical: RFC 8785 vectors, the FHIR R4 examples, the
independent ``rfc8785`` package, ECMAScript number forms, hostile input and properties checked with
hypothesis."""

from __future__ import annotations

import copy
import dataclasses
import decimal
import functools
import json
import math
import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okeios._internal.protocol.canonical import (
    MAX_DEPTH,
    JSONNumber,
    JSONValue,
    Profile,
    canonical_bytes,
    canonicalize,
    format_pointer,
    iter_leaves,
    parse_json,
    parse_pointer,
)
from okeios.errors import (
    CanonicalizationError,
    DuplicateKeyError,
    InputError,
    MalformedJSONError,
    NestingError,
    NumberError,
    OkeiosError,
)
from tests.helpers import with_floats

JCS = Profile.JCS
OKEIOS = Profile.OKEIOS
MISSING = "(shared data missing)"


# --- shared data ------------------------------------------------------------------------------


def _shared_dir() -> Path:
    """The project's shared data folder, ``../shared`` beside the checkout.

    Skips the calling test when it is missing, except under CI (``CI=true``), where a missing
    folder is a failure.
    """
    shared = Path(__file__).resolve().parents[3] / "shared"
    if not shared.is_dir():
        message = f"../shared not found: the shared test data is expected at {shared}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return shared


def _shared_names(folder: str, pattern: str) -> list[str]:
    """File names for parametrising, listed at collection time. When the folder is missing the
    single name MISSING stands in, so the test runs and ``_shared_dir`` skips or fails it."""
    try:
        base = _shared_dir()
    except (pytest.skip.Exception, pytest.fail.Exception):
        return [MISSING]
    return sorted(p.name for p in (base / folder).glob(pattern))


@functools.cache
def _read(folder: str, name: str) -> bytes:
    return (_shared_dir() / folder / name).read_bytes()


JCS_DIR = "vectors/jcs"
JCS_VECTORS = _shared_names(f"{JCS_DIR}/input", "*.json")
FHIR_DIR = "fhir/r4-examples"
FHIR_EXAMPLES = _shared_names(FHIR_DIR, "*.json")


def _fhir(name: str) -> bytes:
    _shared_dir()
    return _read(FHIR_DIR, name)


# --- helpers ----------------------------------------------------------------------------------


def _dump(
    value: JSONValue,
    *,
    order: Callable[[list[str]], list[str]],
    space: Callable[[], str],
    ascii_only: Callable[[], bool],
) -> str:
    """A JSON text of ``value`` with the members in ``order`` and ``space()`` around every token.

    JSONNumber is written as its raw token, floats in the ECMAScript form, so the text means the
    same document for parse_json (json.dumps would write JSONNumber as an error, floats as repr).
    """
    if isinstance(value, dict):
        members = [
            f"{space()}{json.dumps(k, ensure_ascii=ascii_only())}{space()}:"
            f"{_dump(value[k], order=order, space=space, ascii_only=ascii_only)}"
            for k in order(list(value))
        ]
        return "{" + ",".join(members) + space() + "}"
    if isinstance(value, list):
        items = [_dump(v, order=order, space=space, ascii_only=ascii_only) for v in value]
        return "[" + ",".join(items) + space() + "]"
    if isinstance(value, JSONNumber):
        token = value.token
    elif isinstance(value, str):
        token = json.dumps(value, ensure_ascii=ascii_only())
    elif value is None or isinstance(value, bool):
        token = json.dumps(value)
    elif isinstance(value, int):
        token = str(value)
    elif isinstance(value, float):
        token = canonicalize(value).decode()
    else:
        token = str(value)
    return space() + token + space()


def _dump_reversed(value: JSONValue) -> str:
    """Reversed member order, newlines and indentation, every non-ASCII character escaped."""
    return _dump(
        value, order=lambda names: names[::-1], space=lambda: "\n  ", ascii_only=lambda: True
    )


def _dump_shuffled(value: JSONValue, rng: random.Random) -> str:
    """Random member order, random JSON whitespace, non-ASCII escaped at random."""

    def order(names: list[str]) -> list[str]:
        rng.shuffle(names)
        return names

    def space() -> str:
        return "".join(rng.choice(" \t\n\r") for _ in range(rng.randrange(3)))

    return _dump(value, order=order, space=space, ascii_only=lambda: rng.random() < 0.5)


def _utf16(name: str) -> bytes:
    return name.encode("utf-16-be")


def _reference_leaves(value: JSONValue, path: str = "") -> Iterator[tuple[str, JSONValue]]:
    """A plain recursive enumeration of leaves, to check iter_leaves against."""
    if isinstance(value, dict) and value:
        for k in sorted(value, key=_utf16):
            yield from _reference_leaves(
                value[k], path + "/" + k.replace("~", "~0").replace("/", "~1")
            )
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _reference_leaves(v, f"{path}/{i}")
    else:
        yield path, value


def _resolve(document: JSONValue, pointer: str) -> JSONValue:
    node = document
    for token in parse_pointer(pointer):
        if isinstance(node, list):
            node = node[int(token)]
        else:
            assert isinstance(node, dict)
            node = node[token]
    return node


def _numbers(value: JSONValue) -> Iterator[JSONValue]:
    for _, leaf in iter_leaves(value):
        if isinstance(leaf, bool):
            continue
        if isinstance(leaf, int | float | JSONNumber | decimal.Decimal):
            yield leaf


_STRING_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _outside_strings(data: bytes) -> bytes:
    return _STRING_TOKEN.sub(b'""', data)


# --- RFC 8785 test vectors --------------------------------------------------------------------


@pytest.mark.parametrize("name", JCS_VECTORS)
def test_jcs_vector(name: str) -> None:
    _shared_dir()
    source = _read(f"{JCS_DIR}/input", name)
    expected = _read(f"{JCS_DIR}/output", name)
    hex_dump = _read(f"{JCS_DIR}/outhex", name.replace(".json", ".txt")).decode()
    assert bytes.fromhex(hex_dump) == expected
    assert canonical_bytes(source, profile=JCS) == expected
    assert canonicalize(parse_json(source), profile=JCS) == expected
    assert canonical_bytes(source.decode("utf-8"), profile=JCS) == expected
    # the independent implementation agrees on the vector, so both are checked against it
    assert rfc8785.dumps(json.loads(source)) == expected


def test_jcs_vectors_present() -> None:
    _shared_dir()
    assert JCS_VECTORS == [
        "arrays.json",
        "french.json",
        "structures.json",
        "unicode.json",
        "values.json",
        "weird.json",
    ]


def test_jcs_vector_numbers_differ_from_okeios_profile() -> None:
    _shared_dir()
    source = _read(f"{JCS_DIR}/input", "values.json")
    okeios = canonical_bytes(source)
    assert b"[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001]" in okeios
    assert b"[333333333.3333333,1e+30,4.5,0.002,1e-27]" in canonical_bytes(source, profile=JCS)


# --- the FHIR R4 examples ---------------------------------------------------------------------


def test_fhir_examples_present() -> None:
    _shared_dir()
    assert len(FHIR_EXAMPLES) == 618


@pytest.mark.parametrize("name", FHIR_EXAMPLES)
def test_fhir_example_canonical_form(name: str) -> None:
    raw = _fhir(name)
    value = parse_json(raw)
    canonical = canonicalize(value)
    assert canonical == canonical_bytes(raw)
    # member order, whitespace and escaping of the text do not matter
    assert canonical_bytes(_dump_reversed(value)) == canonical
    assert canonical_bytes(_dump_shuffled(value, random.Random(name)).encode()) == canonical
    # canonical bytes are a fixed point and re-parse to the same document
    assert parse_json(canonical) == value
    assert canonicalize(parse_json(canonical)) == canonical
    # the stdlib reads the same document from both; no whitespace is left outside strings
    assert json.loads(canonical) == json.loads(raw)
    assert not re.search(rb"[ \t\n\r]", _outside_strings(canonical))
    # the parser keeps every non-integer number as its token
    assert all(not isinstance(n, float | decimal.Decimal) for n in _numbers(value))


@pytest.mark.parametrize("name", FHIR_EXAMPLES)
def test_fhir_example_jcs_matches_rfc8785_package(name: str) -> None:
    raw = _fhir(name)
    value = parse_json(raw)
    floats = json.loads(raw)  # what an RFC 8785 user gets: doubles for non-integers
    assert with_floats(value) == floats
    ints = [n for n in _numbers(value) if isinstance(n, int)]
    if all(abs(n) < 2**53 for n in ints):
        expected = rfc8785.dumps(floats)
        assert canonicalize(value, profile=JCS) == expected
        assert canonicalize(floats, profile=JCS) == expected
        assert canonicalize(floats) == expected  # floats are written as in RFC 8785 by both
    else:
        with pytest.raises(rfc8785.IntegerDomainError):
            rfc8785.dumps(floats)


@pytest.mark.parametrize("name", FHIR_EXAMPLES)
def test_fhir_example_profiles_agree_on_shortest_numbers(name: str) -> None:
    """The documented claim: OKEIOS == RFC 8785 when the numbers are already in JCS form."""
    value = parse_json(_fhir(name))
    numbers = list(_numbers(value))
    shortest = all(
        (isinstance(n, int) and abs(n) < 2**53)
        or (isinstance(n, JSONNumber) and canonicalize(float(n)).decode() == n.token)
        for n in numbers
    )
    # 579 of the 618 examples are in that form; the others carry decimals such as 6.0 or 1.50,
    # whose text RFC 8785 changes
    assert (canonicalize(value) == canonicalize(value, profile=JCS)) is shortest


@pytest.mark.parametrize("name", FHIR_EXAMPLES)
def test_fhir_example_leaves(name: str) -> None:
    value = parse_json(_fhir(name))
    leaves = list(iter_leaves(value))
    assert leaves == list(_reference_leaves(value))
    for pointer, leaf in leaves:
        assert _resolve(value, pointer) is leaf
        assert format_pointer(parse_pointer(pointer)) == pointer
        assert not isinstance(leaf, dict | list) or not leaf


def test_fhir_decimals_keep_their_exact_text() -> None:
    _shared_dir()
    raw = _fhir("Observation-decimal.json")
    value = parse_json(raw)
    tokens = [_resolve(value, f"/component/{i}/valueQuantity/value") for i in range(7)]
    assert tokens == [
        JSONNumber("1.0"),
        JSONNumber("1.00"),
        JSONNumber("1.0"),
        JSONNumber("1E-22"),
        1000000000000000000,
        JSONNumber("1.000000000000000000E-245"),
        JSONNumber("-1.000000000000000000E+245"),
    ]
    okeios = canonicalize(value)
    for text in (
        b'"value":1.0}',
        b'"value":1.00}',
        b'"value":1E-22}',
        b'"value":1000000000000000000}',
        b'"value":1.000000000000000000E-245}',
        b'"value":-1.000000000000000000E+245}',
    ):
        assert text in okeios, text
    assert okeios.count(b'"value":1.0}') == 2
    # RFC 8785 itself turns them into doubles: the precision FHIR keeps is lost
    jcs = canonicalize(value, profile=JCS)
    assert jcs != okeios
    values = re.findall(rb'"value":([^,}]+)', jcs)
    assert values == [b"1", b"1", b"1", b"1e-22", b"1000000000000000000", b"1e-245", b"-1e+245"]


# --- the independent implementation -----------------------------------------------------------

_plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
plain_json = st.recursive(
    _plain_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(deadline=None)
@given(plain_json)
def test_jcs_matches_rfc8785_package(value: JSONValue) -> None:
    expected = rfc8785.dumps(value)  # type: ignore[arg-type]
    assert canonicalize(value, profile=JCS) == expected
    assert canonicalize(value) == expected  # no JSONNumber or big integer: the profiles agree


@settings(deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_form_matches_rfc8785_and_round_trips(x: float) -> None:
    text = canonicalize(x, profile=JCS)
    assert text == rfc8785.dumps(x)
    assert float(text) == x
    assert re.fullmatch(rb"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?(e[+-][1-9][0-9]*)?", text)


def test_every_code_point_matches_rfc8785_package() -> None:
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert canonicalize(text) == rfc8785.dumps(text)
    names: dict[str, Any] = {text[i : i + 997]: i for i in range(0, len(text), 997)}
    names.update({chr(c): c for c in range(0, 0x110000, 251) if not 0xD800 <= c <= 0xDFFF})
    assert canonicalize(names) == rfc8785.dumps(names)


# --- numbers ----------------------------------------------------------------------------------

ECMASCRIPT_FORMS = [
    (0.0, "0"),
    (-0.0, "0"),
    (1.0, "1"),
    (-1.5, "-1.5"),
    (100.0, "100"),
    (0.1, "0.1"),
    (0.002, "0.002"),
    (4.5, "4.5"),
    (1e-6, "0.000001"),
    (1e-7, "1e-7"),
    (-1e-7, "-1e-7"),
    (1.5e-7, "1.5e-7"),
    (123e-20, "1.23e-18"),
    (1e-27, "1e-27"),
    (5e-324, "5e-324"),
    (1e16, "10000000000000000"),
    (1e20, "100000000000000000000"),
    (123456789012345680000.0, "123456789012345680000"),
    (1e21, "1e+21"),
    (1.5e21, "1.5e+21"),
    (1e30, "1e+30"),
    (333333333.33333329, "333333333.3333333"),
    (float(2**53), "9007199254740992"),
    (float(2**60), "1152921504606847000"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (-1.7976931348623157e308, "-1.7976931348623157e+308"),
]


@pytest.mark.parametrize(("x", "expected"), ECMASCRIPT_FORMS)
def test_ecmascript_number_form(x: float, expected: str) -> None:
    assert canonicalize(x, profile=JCS) == expected.encode()
    assert canonicalize(x) == expected.encode()  # floats are written alike in both profiles
    assert canonicalize([x], profile=JCS) == b"[" + expected.encode() + b"]"


@pytest.mark.parametrize(
    ("value", "jcs", "okeios"),
    [
        (100, "100", "100"),
        (-(2**53), "-9007199254740992", "-9007199254740992"),
        (2**53, "9007199254740992", "9007199254740992"),
        (2**60, "1152921504606847000", "1152921504606846976"),  # a double holds 2**60 exactly
        (10**18, "1000000000000000000", "1000000000000000000"),
        (JSONNumber("1.0"), "1", "1.0"),
        (JSONNumber("-0.0"), "0", "-0.0"),
        (JSONNumber("1E-22"), "1e-22", "1E-22"),
        (JSONNumber("1e-400"), "0", "1e-400"),  # RFC 8785 rounds to the nearest double
        (JSONNumber("12"), "12", "12"),
        (JSONNumber("0.30000000000000000001"), "0.3", "0.30000000000000000001"),
        (decimal.Decimal("1.500"), "1.5", "1.500"),
        (decimal.Decimal("-0"), "0", "-0"),
        (decimal.Decimal("1E+3"), "1000", "1E+3"),
        (decimal.Decimal("0.0000001"), "1e-7", "1E-7"),
    ],
)
def test_number_forms_of_each_profile(value: JSONValue, jcs: str, okeios: str) -> None:
    assert canonicalize(value, profile=JCS) == jcs.encode()
    assert canonicalize(value) == okeios.encode()


@pytest.mark.parametrize(
    "value",
    [
        9007199254740993,
        -9007199254740993,
        2**60 + 1,
        10**400,
        JSONNumber("9007199254740993"),
        JSONNumber("1e400"),
        JSONNumber("-1E+400"),
        decimal.Decimal("9007199254740993"),
        decimal.Decimal("1E+400"),
    ],
)
def test_jcs_refuses_numbers_it_would_change(value: JSONValue) -> None:
    with pytest.raises(NumberError) as info:
        canonicalize({"n": [value]}, profile=JCS)
    assert "(at /n/0)" in str(info.value)
    assert "double" in str(info.value)
    canonicalize(value)  # the okeios profile writes them exactly


def test_large_numbers_survive_in_okeios_profile() -> None:
    assert canonical_bytes(b"[1e400, -1E+400, 1e-400]") == b"[1e400,-1E+400,1e-400]"
    assert (
        canonical_bytes(b"[123456789012345678901234567890]") == b"[123456789012345678901234567890]"
    )
    assert canonical_bytes(b"[-0, -0.0, 0E0]") == b"[0,-0.0,0E0]"
    with pytest.raises(NumberError, match="1e400"):
        canonical_bytes(b"[1e400]", profile=JCS)


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        decimal.Decimal("NaN"),
        decimal.Decimal("sNaN"),
        decimal.Decimal("Infinity"),
        decimal.Decimal("-Infinity"),
    ],
)
@pytest.mark.parametrize("profile", list(Profile))
def test_non_finite_numbers_are_refused(value: JSONValue, profile: Profile) -> None:
    with pytest.raises(NumberError, match="finite"):
        canonicalize({"x": value}, profile=profile)


def test_bool_is_not_an_integer() -> None:
    assert canonicalize([True, False, 1, 0, None]) == b"[true,false,1,0,null]"
    assert canonicalize([True, 1], profile=JCS) == b"[true,1]"


@pytest.mark.parametrize("token", ["0", "-0", "1", "-1.5", "1.0", "1.00", "1E-22", "1e+5", "0.5e5"])
def test_json_number_accepts_the_json_grammar(token: str) -> None:
    number = JSONNumber(token)
    assert number.token == token
    assert float(number) == float(token)
    assert number.decimal() == decimal.Decimal(token)
    assert str(number.decimal()) == str(decimal.Decimal(token))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "01",
        "-01",
        "1.",
        ".5",
        "+1",
        "1e",
        "1e+",
        "0x10",
        "NaN",
        "Infinity",
        " 1",
        "1 ",
        "1_000",
        "\u0661",
        "1\n",
    ],
)
def test_json_number_rejects_other_text(token: str) -> None:
    with pytest.raises(NumberError, match="not a JSON number token"):
        JSONNumber(token)


def test_json_number_is_a_frozen_slotted_value() -> None:
    number = JSONNumber("1.00")
    with pytest.raises(dataclasses.FrozenInstanceError):
        number.token = "2"  # type: ignore[misc]
    assert not hasattr(number, "__dict__")
    assert number == JSONNumber("1.00")
    assert number != JSONNumber("1.0")
    assert hash(number) == hash(JSONNumber("1.00"))
    assert number.decimal().as_tuple().exponent == -2
    with pytest.raises(NumberError):
        JSONNumber(1.0)  # type: ignore[arg-type]
    assert math.isinf(float(JSONNumber("1e400")))


# --- strings and member order -----------------------------------------------------------------


def test_string_escapes_follow_rfc8785() -> None:
    short = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
    expected = '"' + "".join(short.get(c, f"\\u{c:04x}") for c in range(0x20))
    expected += '\\"\\\\/\x7f\x80\u2028\u2029\ufeff\U0001f602"'
    text = "".join(map(chr, range(0x20))) + '"\\/\x7f\x80\u2028\u2029\ufeff\U0001f602'
    assert canonicalize(text) == expected.encode("utf-8")
    assert canonicalize({text: text}) == ("{" + expected + ":" + expected + "}").encode("utf-8")
    assert b"\\u001f" in canonicalize(text)
    assert b"\\u001F" not in canonicalize(text)


def test_members_are_sorted_by_utf16_code_units() -> None:
    # U+1F600 is D83D DE00 in UTF-16, so it sorts before U+E000 although its code point is larger
    value: dict[str, Any] = {
        "\ue000": 1,
        "\U0001f600": 2,
        "a": 3,
        "B": 4,
        "": 5,
        "ab": 6,
        "\x7f": 7,
        "é": 8,
    }
    expected = '{"":5,"B":4,"a":3,"ab":6,"\x7f":7,"é":8,"\U0001f600":2,"\ue000":1}'
    assert canonicalize(value) == expected.encode("utf-8")
    assert [p for p, _ in iter_leaves(value)] == [
        "/",
        "/B",
        "/a",
        "/ab",
        "/\x7f",
        "/é",
        "/\U0001f600",
        "/\ue000",
    ]
    assert canonicalize(value) == rfc8785.dumps(value)


def test_canonical_output_has_no_whitespace() -> None:
    assert canonical_bytes(b' { "b" : [ 1 , 2 ] ,\n\t"a" : { } }\r\n') == b'{"a":{},"b":[1,2]}'
    assert canonical_bytes("[]") == b"[]"
    assert canonical_bytes(b'"x y"') == b'"x y"'


# --- the strict parser ------------------------------------------------------------------------

DEEP = 10_000


@pytest.mark.parametrize(
    ("data", "error", "fragments"),
    [
        (b'{"a": }', MalformedJSONError, ["Expecting value", "line 1, column 7"]),
        (b'{\n  "a": 1,\n}', MalformedJSONError, ["line 3, column 1"]),
        (b"[1, 2] x", MalformedJSONError, ["Extra data"]),
        (b"", MalformedJSONError, ["line 1, column 1"]),
        (b"{'a': 1}", MalformedJSONError, ["property name"]),
        (b'"abc', MalformedJSONError, ["Unterminated string"]),
        (b'"\x01"', MalformedJSONError, ["control character"]),
        (b"[01]", MalformedJSONError, ["malformed JSON"]),
        (b"[1.]", MalformedJSONError, ["malformed JSON"]),
        (b"[.5]", MalformedJSONError, ["malformed JSON"]),
        (b"[+1]", MalformedJSONError, ["malformed JSON"]),
        (b"[nan]", MalformedJSONError, ["malformed JSON"]),
        (b"[1,\x0c2]", MalformedJSONError, ["malformed JSON"]),
        (b"[1,\xc2\xa02]", MalformedJSONError, ["malformed JSON"]),
        (b'["\\x41"]', MalformedJSONError, ["Invalid \\escape"]),
        (b"\xff\xfe[]", MalformedJSONError, ["not valid UTF-8", "byte 0"]),
        (b'{"a": "\xc3"}', MalformedJSONError, ["not valid UTF-8", "byte 7"]),
        (b'"\xed\xa0\x80"', MalformedJSONError, ["not valid UTF-8"]),  # encoded surrogate
        (b'"\xc0\xaf"', MalformedJSONError, ["not valid UTF-8"]),  # overlong
        (b"\xef\xbb\xbf{}", MalformedJSONError, ["byte order mark"]),
        ("\ufeff{}", MalformedJSONError, ["byte order mark"]),
        (b'["\\ud800"]', MalformedJSONError, ["lone surrogate", "/0"]),
        (b'{"a": {"\\udfff": 1}}', MalformedJSONError, ["lone surrogate", "/a/"]),
        (b'["ok", "\\ud83d\\u0041"]', MalformedJSONError, ["lone surrogate", "/1"]),
        ('["\ud800"]', MalformedJSONError, ["lone surrogate"]),
        (b'{"a": 1, "a": 2}', DuplicateKeyError, ['"a"', "at /a"]),
        (b'{"x": [{"k": 1}, {"k": 1, "j": 0, "k": 1}]}', DuplicateKeyError, ['"k"', "/x/1/k"]),
        (b'{"a/b": {"~": 1, "~": 2}}', DuplicateKeyError, ['"~"', "/a~1b/~0"]),
        (b'{"a": {"b": 1}, "a": {"b": 1}}', DuplicateKeyError, ['"a"']),
        (b'{"\\u00e9": 1, "\xc3\xa9": 2}', DuplicateKeyError, ['"\\u00e9"']),
        (b'{"a": NaN}', NumberError, ["NaN"]),
        (b"[Infinity]", NumberError, ["Infinity"]),
        (b"[-Infinity]", NumberError, ["-Infinity"]),
        (b"[" + b"7" * 5000 + b"]", NumberError, ["5000 digits"]),
        (b"-" + b"7" * 5000, NumberError, ["5000 digits"]),
        (b"[" * DEEP + b"]" * DEEP, NestingError, ["100"]),
        (b'{"a":' * DEEP + b"1" + b"}" * DEEP, NestingError, ["100"]),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), NestingError, ["100"]),
        (b'{"a":' * (MAX_DEPTH + 1) + b"{}" + b"}" * (MAX_DEPTH + 1), NestingError, ["100"]),
    ],
)
def test_parser_rejects(data: bytes | str, error: type[OkeiosError], fragments: list[str]) -> None:
    with pytest.raises(CanonicalizationError) as info:
        parse_json(data)
    assert type(info.value) is error
    for fragment in fragments:
        assert fragment in str(info.value)
    with pytest.raises(error):
        canonical_bytes(data)


def test_parser_chains_foreign_causes() -> None:
    with pytest.raises(MalformedJSONError) as info:
        parse_json(b'{"a": }')
    assert isinstance(info.value.__cause__, json.JSONDecodeError)
    with pytest.raises(MalformedJSONError) as info:
        parse_json(b"\xff")
    assert isinstance(info.value.__cause__, UnicodeDecodeError)
    with pytest.raises(NestingError) as too_deep:
        parse_json(b"[" * DEEP + b"]" * DEEP)
    # Whether the stdlib scanner itself runs out of stack depends on the interpreter's current
    # recursion limit (other libraries raise it); either way the error is the typed one.
    cause = too_deep.value.__cause__
    assert cause is None or isinstance(cause, RecursionError)


def test_nesting_limit_is_inclusive() -> None:
    arrays = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    value = parse_json(arrays)
    assert canonicalize(value) == arrays
    objects = b'{"a":' * (MAX_DEPTH - 1) + b"[]" + b"}" * (MAX_DEPTH - 1)
    assert canonical_bytes(objects) == objects
    assert list(iter_leaves(value)) == [("/0" * (MAX_DEPTH - 1), [])]
    # brackets inside strings do not count
    assert parse_json(json.dumps(["[" * 500, "{" * 500]).encode()) == ["[" * 500, "{" * 500]
    # the limit can be changed per call
    assert parse_json(b"[[[]]]", max_depth=3) == [[[]]]
    with pytest.raises(NestingError):
        parse_json(b"[[[]]]", max_depth=2)
    with pytest.raises(NestingError):
        canonicalize([[[]]], max_depth=2)
    assert parse_json(b"1", max_depth=0) == 1
    # more brackets than the limit, spread wide: the depth, not the count, decides
    assert parse_json(b"[[[]],[[]],[[]]]", max_depth=3) == [[[]], [[]], [[]]]
    assert parse_json(b'[{"a":"]]]]"},{"b":[1]}]', max_depth=3) == [{"a": "]]]]"}, {"b": [1]}]
    with pytest.raises(NestingError):
        parse_json(b"[[],[],[[[]]]]", max_depth=3)
    with pytest.raises(NestingError):
        parse_json(b'[{"a":"[[["},[{"b":[{}]}]]', max_depth=3)


def test_parser_results() -> None:
    value = parse_json(b'{"i": -0, "f": 1.50, "e": 1E3, "s": "\\u00e9\\ud83d\\ude02", "n": null}')
    assert value == {"i": 0, "f": JSONNumber("1.50"), "e": JSONNumber("1E3"), "s": "é😂", "n": None}
    assert isinstance(value, dict)
    assert type(value["i"]) is int
    assert parse_json(b'"\\\\ud800"') == "\\ud800"  # an escaped backslash, not a surrogate
    assert parse_json("[1]") == parse_json(b"[1]") == [1]


_json_ish = st.lists(
    st.sampled_from(
        ["{", "}", "[", "]", ",", ":", '"', "\\", "\\u", "d800", "0", "1", ".", "e", "-", "+",
         "true", "null", "NaN", " ", "\n", "a", "é", "\ud800", "\x00"]
    )
).map("".join)  # fmt: skip


@settings(deadline=None)
@given(st.binary() | _json_ish | _json_ish.map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_parser_raises_only_its_own_errors(data: bytes | str) -> None:
    try:
        value = parse_json(data)
    except CanonicalizationError:
        return  # any other exception fails the test
    assert parse_json(canonicalize(value)) == value


@pytest.mark.parametrize("data", [None, 12, bytearray(b"[]"), ["[]"]])
def test_parser_wants_bytes_or_str(data: object) -> None:
    with pytest.raises(CanonicalizationError, match="bytes or str"):
        parse_json(data)  # type: ignore[arg-type]


# --- values with no canonical form ------------------------------------------------------------


def _self_containing() -> list[object]:
    loop: list[object] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize(
    ("value", "error", "fragments"),
    [
        ({"a": [1, (2, 3)]}, CanonicalizationError, ["tuple", "(at /a/1)"]),
        ({"a": {1, 2}}, CanonicalizationError, ["set", "(at /a)"]),
        ({"a": b"bytes"}, CanonicalizationError, ["bytes", "(at /a)"]),
        ([object()], CanonicalizationError, ["object", "(at /0)"]),
        ({"c": 1j}, CanonicalizationError, ["complex"]),
        ((1, 2), CanonicalizationError, ["tuple"]),
        ({"a": {1: "x"}}, CanonicalizationError, ["member names must be str", "(at /a)"]),
        ({("a",): 1}, CanonicalizationError, ["member names must be str"]),
        ({"x": ["ok", "\ud800"]}, CanonicalizationError, ["lone surrogate", "/x/1"]),
        ({"\udfff": 1}, CanonicalizationError, ["lone surrogate"]),
        ({"x/y": [math.nan]}, NumberError, ["finite", "(at /x~1y/0)"]),
        ([10**5000], NumberError, ["integer", "(at /0)"]),
        (_self_containing(), NestingError, ["100"]),
        (json.loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)), NestingError, ["100"]),
    ],
)
def test_canonicalize_rejects(
    value: object, error: type[OkeiosError], fragments: list[str]
) -> None:
    for profile in Profile:
        with pytest.raises(CanonicalizationError) as info:
            canonicalize(value, profile=profile)  # type: ignore[arg-type]
        assert type(info.value) is error
        for fragment in fragments:
            assert fragment in str(info.value)


def test_canonicalize_checks_its_arguments() -> None:
    with pytest.raises(InputError, match="Profile"):
        canonicalize({}, profile="jcs")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="max_depth"):
        canonicalize({}, max_depth=-1)
    with pytest.raises(InputError, match="max_depth"):
        parse_json(b"{}", max_depth=True)


def test_subclasses_of_json_types_are_written_as_their_base() -> None:
    class Name(str):
        def __str__(self) -> str:
            return "wrong"

    class Count(int):
        def __repr__(self) -> str:
            return "wrong"

        __str__ = __repr__

    class Ordered(dict):  # type: ignore[type-arg]
        pass

    value = Ordered(b=[Name("x")], a=Count(3))
    assert canonicalize(value) == b'{"a":3,"b":["x"]}'


# --- JSON Pointer and leaves ------------------------------------------------------------------

RFC6901_DOCUMENT = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


def test_rfc6901_examples() -> None:
    leaves = dict(iter_leaves(RFC6901_DOCUMENT))  # type: ignore[arg-type]
    assert leaves == {
        "/": 0,
        "/ ": 7,
        "/a~1b": 1,
        "/c%d": 2,
        "/e^f": 3,
        "/foo/0": "bar",
        "/foo/1": "baz",
        "/g|h": 4,
        "/i\\j": 5,
        '/k"l': 6,
        "/m~0n": 8,
    }
    assert list(leaves) == sorted(leaves, key=lambda p: parse_pointer(p)[0].encode("utf-16-be"))
    assert parse_pointer("") == []
    assert parse_pointer("/") == [""]
    assert parse_pointer("/a~1b") == ["a/b"]
    assert parse_pointer("/m~0n") == ["m~n"]
    assert parse_pointer("/~01") == ["~1"]  # ~0 is undone last
    assert parse_pointer("/foo/0") == ["foo", "0"]
    assert format_pointer(["a/b", "m~n", 0, "", 12]) == "/a~1b/m~0n/0//12"
    assert format_pointer([]) == ""


@pytest.mark.parametrize("pointer", ["a", "#/a", "/~", "/a~2", "/a~", "~0", " /a"])
def test_parse_pointer_rejects(pointer: str) -> None:
    with pytest.raises(CanonicalizationError, match="JSON Pointer"):
        parse_pointer(pointer)


@pytest.mark.parametrize("token", [-1, True, 1.5, None, b"a"])
def test_format_pointer_rejects(token: object) -> None:
    with pytest.raises(CanonicalizationError, match="JSON Pointer token"):
        format_pointer(["ok", token])  # type: ignore[list-item]


def test_example_of_the_documentation() -> None:
    """docs/canonicalization.md section 5 shows this document, its bytes and its leaves."""
    value = parse_json(
        b'{"resourceType": "Observation", "status": "final",\n'
        b' "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},\n'
        b' "valueQuantity": {"value": 7.20, "unit": "g/dL"}, "note": [], "a/b": {"~x": true}}'
    )
    assert canonicalize(value) == (
        b'{"a/b":{"~x":true},"code":{"coding":[{"code":"718-7","system":"http://loinc.org"}]},'
        b'"note":[],"resourceType":"Observation","status":"final",'
        b'"valueQuantity":{"unit":"g/dL","value":7.20}}'
    )
    assert b'"value":7.2}' in canonicalize(value, profile=JCS)
    assert list(iter_leaves(value)) == [
        ("/a~1b/~0x", True),
        ("/code/coding/0/code", "718-7"),
        ("/code/coding/0/system", "http://loinc.org"),
        ("/note", []),
        ("/resourceType", "Observation"),
        ("/status", "final"),
        ("/valueQuantity/unit", "g/dL"),
        ("/valueQuantity/value", JSONNumber("7.20")),
    ]
    assert parse_pointer("/a~1b/~01") == ["a/b", "~1"]


def test_iter_leaves_keeps_empty_containers_and_scalars() -> None:
    assert list(iter_leaves(5)) == [("", 5)]
    assert list(iter_leaves(None)) == [("", None)]
    assert list(iter_leaves({})) == [("", {})]
    assert list(iter_leaves([])) == [("", [])]
    value = {"b": [], "a": {"x/y": JSONNumber("1.0"), "t~": [None, {}]}, "é": "x"}
    assert list(iter_leaves(value)) == [  # type: ignore[arg-type]
        ("/a/t~0/0", None),
        ("/a/t~0/1", {}),
        ("/a/x~1y", JSONNumber("1.0")),
        ("/b", []),
        ("/é", "x"),
    ]


def test_iter_leaves_rejects() -> None:
    with pytest.raises(CanonicalizationError, match="tuple at /a/0"):
        list(iter_leaves({"a": [(1,)]}))  # type: ignore[list-item]
    with pytest.raises(CanonicalizationError, match="member names must be str"):
        list(iter_leaves({"a": {1: 2}}))  # type: ignore[dict-item]
    with pytest.raises(NestingError):
        list(iter_leaves(_self_containing()))  # type: ignore[arg-type]


@given(st.lists(st.text() | st.integers(min_value=0)))
def test_pointer_round_trip(tokens: list[str | int]) -> None:
    pointer = format_pointer(tokens)
    assert parse_pointer(pointer) == [str(t) for t in tokens]
    assert format_pointer(parse_pointer(pointer)) == pointer


# --- properties -------------------------------------------------------------------------------

_tokens = st.from_regex(
    r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
).filter(lambda t: any(c in t for c in ".eE"))
_exact_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.builds(JSONNumber, _tokens)
    | st.text()
)
exact_json = st.recursive(
    _exact_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)
any_json = st.recursive(
    _exact_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(deadline=None)
@given(any_json, st.randoms(use_true_random=False))
def test_member_order_and_whitespace_never_matter(value: JSONValue, rng: random.Random) -> None:
    canonical = canonicalize(value)
    text = _dump_shuffled(value, rng)
    assert canonical_bytes(text) == canonical
    assert canonical_bytes(text.encode("utf-8")) == canonical


@settings(deadline=None)
@given(exact_json)
def test_canonical_bytes_parse_back_to_the_same_document(value: JSONValue) -> None:
    # parse_json is a function, so equal re-parsing means different documents give different bytes
    canonical = canonicalize(value)
    assert parse_json(canonical) == value
    assert canonicalize(parse_json(canonical)) == canonical


def _changed(leaf: JSONValue) -> JSONValue:
    """A value whose canonical form differs from ``leaf``'s."""
    if isinstance(leaf, bool):
        return not leaf
    if isinstance(leaf, int):
        return leaf + 1
    if isinstance(leaf, JSONNumber):
        return JSONNumber(leaf.token + "0")  # 1.5 -> 1.50, 1e5 -> 1e50
    if isinstance(leaf, str):
        return leaf + "x"
    if leaf == {}:
        return {"": None}
    if leaf == []:
        return [None]
    return 0


def _objects(value: JSONValue) -> list[dict[str, JSONValue]]:
    """Every object in ``value``, itself included."""
    if isinstance(value, dict):
        return [value, *(o for child in value.values() for o in _objects(child))]
    if isinstance(value, list):
        return [o for child in value for o in _objects(child)]
    return []


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exact_json.filter(lambda v: isinstance(v, dict | list)), st.data())
def test_any_change_changes_the_bytes(value: JSONValue, data: st.DataObject) -> None:
    before = canonicalize(value)
    changed = copy.deepcopy(value)
    objects = _objects(changed)
    kinds = (
        ["value"] + (["add"] if objects else []) + (["rename", "remove"] if any(objects) else [])
    )
    kind = data.draw(st.sampled_from(kinds))
    if kind == "value":
        pointer, leaf = data.draw(st.sampled_from(list(iter_leaves(changed))))
        tokens = parse_pointer(pointer)
        if not tokens:
            changed = _changed(leaf)
        else:
            parent = _resolve(changed, format_pointer(tokens[:-1]))
            if isinstance(parent, list):
                parent[int(tokens[-1])] = _changed(leaf)
            else:
                assert isinstance(parent, dict)
                parent[tokens[-1]] = _changed(leaf)
    elif kind == "rename":
        target = data.draw(st.sampled_from([o for o in objects if o]))
        key = data.draw(st.sampled_from(sorted(target)))
        new_key = key + "x"
        while new_key in target:
            new_key += "x"
        target[new_key] = target.pop(key)
    elif kind == "add":
        target = data.draw(st.sampled_from(objects))
        new_key = data.draw(st.text().filter(lambda k: k not in target))
        target[new_key] = data.draw(exact_json)
    else:
        target = data.draw(st.sampled_from([o for o in objects if o]))
        del target[data.draw(st.sampled_from(sorted(target)))]
    assert canonicalize(changed) != before
