"""Canonical bytes for JSON records: a strict parser, RFC 8785 (JCS) and the okeios profile.

This module defines the bytes that okeios hashes, commits to and signs, so it is kept small and
changes only together with new test vectors. ``docs/canonicalization.md`` is its specification.

Two profiles share everything except the way numbers are written:

* :attr:`Profile.JCS` is exactly RFC 8785: every number becomes an IEEE-754 double written in its
  shortest ECMAScript form. It is meant for interoperability and is lossy by the RFC's own
  definition (``1.00`` becomes ``1``, ``1.000000000000000000E-245`` becomes ``1e-245``).
* :attr:`Profile.OKEIOS`, the default and the one used for records, writes integers with all
  their digits and other numbers with the exact text they were parsed from, because FHIR treats
  the precision of a decimal as meaningful. On a document whose non-integer numbers are already
  in ECMAScript shortest form and whose integers lie within +-2**53 it gives the same bytes as
  RFC 8785.

:func:`parse_json` is the matching strict parser for untrusted input: UTF-8 only, no byte order
mark, no duplicate member names, no NaN or infinities, at most :data:`MAX_DEPTH` levels of
nesting, no lone surrogates. Every problem is reported as a
:class:`~okeios.errors.CanonicalizationError` subclass.
"""

from __future__ import annotations

import decimal
import enum
import itertools
import json
import json.encoder
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias

from okeios._internal.protocol.jsonlimits import nesting_exceeds
from okeios.errors import (
    CanonicalizationError,
    DuplicateKeyError,
    InputError,
    MalformedJSONError,
    NestingError,
    NumberError,
)

__all__ = [
    "MAX_DEPTH",
    "JSONNumber",
    "JSONValue",
    "Profile",
    "canonical_bytes",
    "canonicalize",
    "dumps_exact",
    "format_pointer",
    "is_plain_canonical_leaf",
    "iter_leaves",
    "iter_typed_leaves",
    "load_json_strict",
    "parse_json",
    "parse_pointer",
    "to_plain",
]

MAX_DEPTH = 100
"""Default limit on nesting: how many arrays and objects may enclose one another.

``[]`` and ``{}`` have depth 1, ``[[]]`` depth 2, a lone scalar depth 0. 100 is far above what
FHIR needs (the deepest R4 example nests 21 levels) and far below the interpreter's recursion
limit, so neither the parser nor the serialiser can be driven into a ``RecursionError``.
"""

# The number grammar of RFC 8259 section 6. [0-9], not \d: \d also matches non-ASCII digits.
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

_TWO_53 = 2**53
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class JSONNumber:
    """A JSON number kept as the exact text it was written with, such as ``1.00`` or ``1E-22``.

    :func:`parse_json` returns one for every number token with a fraction or an exponent, so that
    the okeios profile can write it back unchanged. The token is checked against the JSON number
    grammar (RFC 8259 section 6); anything else raises :class:`~okeios.errors.NumberError`.
    Two instances are equal when their tokens are: ``JSONNumber("1.0") != JSONNumber("1.00")``.
    """

    token: str

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or _NUMBER_RE.fullmatch(self.token) is None:
            raise NumberError(f"not a JSON number token: {self.token!r}")

    def __float__(self) -> float:
        """The nearest IEEE-754 double (``inf`` or ``0.0`` when the token is out of range)."""
        return float(self.token)

    def decimal(self) -> decimal.Decimal:
        """The exact value, with the token's precision, as a :class:`decimal.Decimal`."""
        return decimal.Decimal(self.token)


JSONValue: TypeAlias = (
    bool
    | int
    | float
    | str
    | JSONNumber
    | decimal.Decimal
    | list["JSONValue"]
    | dict[str, "JSONValue"]
    | None
)
"""A JSON document as Python values. :func:`parse_json` returns neither ``float`` nor
``Decimal``; code that builds a document may use them."""


class Profile(enum.Enum):
    """How :func:`canonicalize` writes numbers; everything else is RFC 8785 in both."""

    JCS = "jcs"
    """Exactly RFC 8785: numbers as IEEE-754 doubles in ECMAScript shortest form (lossy)."""

    OKEIOS = "okeios"
    """RFC 8785 with exact numbers: all digits of integers, the original text of the others."""


def _check_max_depth(max_depth: int) -> None:
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
        raise InputError(f"max_depth must be a non-negative int, not {max_depth!r}")


def _where(pointer: str) -> str:
    """A JSON Pointer for a message: "the root" for ``""``, lone surrogates shown escaped."""
    if not pointer:
        return "the root"
    return pointer.encode("utf-8", "backslashreplace").decode("utf-8")


def _escape_token(token: str) -> str:
    """One RFC 6901 reference token: ``~`` becomes ``~0``, then ``/`` becomes ``~1``."""
    return token.replace("~", "~0").replace("/", "~1")


# --- strict parsing ---------------------------------------------------------------------------


class _RepeatedNameError(Exception):
    """Internal: raised by the object hook; parse_json turns it into DuplicateKeyError."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_hook(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedNameError(key)
            seen.add(key)
    return obj


def _strict_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(f"the JSON object has the member {key!r} twice")
            seen.add(key)
    return obj


def load_json_strict(text: str | bytes, *, parse_int: Callable[[str], Any] | None = None) -> Any:
    """Parse a JSON document okeios reads (a share, a log file line, trust.json, a key file)
    with Python's usual types, but refuse an object with a repeated member name
    (:class:`~okeios.errors.DuplicateKeyError`, a ``ValueError``): a reader must never see
    other data than what was checked, and ``json.loads`` silently keeps the last one."""
    return json.loads(text, object_pairs_hook=_strict_pairs, parse_int=parse_int)


def _parse_constant(name: str) -> NoReturn:
    raise NumberError(f"{name} is not a JSON number (RFC 8259 section 6 has no NaN or infinity)")


# One decoder for all calls, as json.loads shares its default one: the scanner keeps no state
# between calls that matters (only a cache of member names).
_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_hook, parse_float=JSONNumber, parse_constant=_parse_constant
)

# The same decoder without the hook that looks for a repeated member name: for text that is
# shown canonical afterwards (canonical text names each member once), as
# okeios._internal.protocol.commitment.canonical_leaves does.
_PLAIN_DECODER = json.JSONDecoder(parse_float=JSONNumber, parse_constant=_parse_constant)

# An escape that may encode half of a surrogate pair: only then can a parsed string hold one.
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        if data.startswith("\ufeff"):
            raise MalformedJSONError("JSON text starts with a byte order mark (U+FEFF)")
        if not data.isascii():
            try:
                data.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise MalformedJSONError(
                    f"JSON text holds a lone surrogate at character {exc.start}"
                ) from exc
        return data
    if isinstance(data, bytes):
        if data.startswith(_UTF8_BOM):
            raise MalformedJSONError(
                "JSON text starts with a UTF-8 byte order mark, which RFC 8259 section 8.1 forbids"
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSONError(
                f"JSON text is not valid UTF-8: {exc.reason} at byte {exc.start}"
            ) from exc
    raise CanonicalizationError(f"parse_json expects bytes or str, not {type(data).__name__}")


def parse_json(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> JSONValue:
    """Parse untrusted JSON text strictly (RFC 8259 plus the rules below).

    Integers become ``int``; numbers with a fraction or an exponent become :class:`JSONNumber`
    holding their exact text. Rejected, each with its own
    :class:`~okeios.errors.CanonicalizationError` subclass:

    * bytes that are not UTF-8, text that starts with a byte order mark, text that is not exactly
      one well-formed JSON value, and strings holding a lone surrogate (``"\\ud800"``):
      :class:`~okeios.errors.MalformedJSONError`, with line and column where there are some;
    * an object with the same member name twice, at any depth:
      :class:`~okeios.errors.DuplicateKeyError`, naming the key and its JSON Pointer;
    * ``NaN``, ``Infinity``, ``-Infinity``, and integers longer than the interpreter's limit on
      integer digits (4300 by default): :class:`~okeios.errors.NumberError`;
    * more than ``max_depth`` nested arrays and objects: :class:`~okeios.errors.NestingError`.
    """
    _check_max_depth(max_depth)
    text = _decode(data)
    if nesting_exceeds(text, max_depth):  # before the C scanner can recurse too deep
        raise NestingError(f"JSON text nests more than {max_depth} arrays and objects deep")
    try:
        value: JSONValue = _DECODER.decode(text)
    except CanonicalizationError:
        raise
    except _RepeatedNameError as exc:
        where = _locate_duplicate(text)
        at = "" if where is None else f" at {_where(where)}"
        raise DuplicateKeyError(
            f"duplicate member name {json.dumps(exc.key)} in a JSON object{at}"
        ) from None
    except json.JSONDecodeError as exc:
        raise MalformedJSONError(
            f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}, char {exc.pos})"
        ) from exc
    except RecursionError as exc:
        raise NestingError(
            f"JSON text nests deeper than the interpreter can parse (the limit is {max_depth})"
        ) from exc
    except ValueError as exc:  # from int(): a token longer than the limit on integer digits
        raise NumberError(f"integer token too long: {exc}") from exc
    # The nesting of the parsed value needs no walk: nesting_exceeds measured it on the text
    # (the brackets outside strings, which for text the parser accepted are its structure).
    if "\\u" in text and _SURROGATE_ESCAPE_RE.search(text) is not None:
        where = _find_lone_surrogate(value)
        if where is not None:
            raise MalformedJSONError(
                f"JSON string at {_where(where)} holds a lone surrogate (an unpaired "
                "\\uD800-\\uDFFF escape) and is not Unicode text"
            )
    return value


class _Repeated:
    """Internal: what the lenient second pass leaves where an object repeats a member name."""

    __slots__ = ("key", "pairs", "seq")

    def __init__(self, seq: int, key: str, pairs: list[tuple[str, object]]) -> None:
        self.seq = seq
        self.key = key
        self.pairs = pairs


def _locate_duplicate(text: str) -> str | None:
    """JSON Pointer of the repeated member the strict parser stopped at (error path only).

    Objects are completed in the same order by both passes, so the repeated name found first
    (lowest ``seq``) is the one the strict pass met.
    """
    counter = itertools.count()

    def hook(pairs: list[tuple[str, object]]) -> object:
        seq = next(counter)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                return _Repeated(seq, key, pairs)
            seen.add(key)
        return dict(pairs)

    try:
        doc = json.loads(
            text, object_pairs_hook=hook, parse_int=str, parse_float=str, parse_constant=str
        )
    except (ValueError, RecursionError):
        return None
    best: tuple[int, str] | None = None
    stack: list[tuple[str, object]] = [("", doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _Repeated):
            if best is None or node.seq < best[0]:
                best = (node.seq, f"{path}/{_escape_token(node.key)}")
            stack.extend((f"{path}/{_escape_token(k)}", v) for k, v in node.pairs)
        elif isinstance(node, dict):
            stack.extend((f"{path}/{_escape_token(k)}", v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}/{i}", v) for i, v in enumerate(node))
    return None if best is None else best[1]


def _is_unicode(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _find_lone_surrogate(value: object) -> str | None:
    """JSON Pointer of a string (member name or value) that is not Unicode text, if any."""
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if not _is_unicode(node):
                return path
        elif isinstance(node, dict):
            for key, child in node.items():
                member = f"{path}/{_escape_token(str(key))}"
                if isinstance(key, str) and not _is_unicode(key):
                    return member
                stack.append((member, child))
        elif isinstance(node, list):
            stack.extend((f"{path}/{i}", v) for i, v in enumerate(node))
    return None


# --- numbers ----------------------------------------------------------------------------------


def _ecmascript_number(x: float) -> str:
    """A finite double as ECMAScript's Number::toString writes it (RFC 8785 section 3.2.2.3).

    ``repr`` already gives the shortest digit string that reads back as the same double; only
    where the decimal point goes and how the exponent is written differ from ECMAScript.
    """
    if math.isnan(x) or math.isinf(x):
        raise NumberError(f"{x!r} is not a finite number and has no JSON form")
    if x == 0:
        return "0"  # +0 and -0 alike
    if -_TWO_53 < x < _TWO_53 and x.is_integer():
        return int.__repr__(int(x))  # such doubles are integers whose shortest form is exact
    sign = "-" if x < 0 else ""
    mantissa, _, exponent = float.__repr__(abs(x)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    significant = digits.lstrip("0")
    # x == 0.<significant> * 10**n; s is the digit string and k its length, as in ECMA-262.
    n = len(whole) + (int(exponent) if exponent else 0) - (len(digits) - len(significant))
    s = significant.rstrip("0")
    k = len(s)
    if k <= n <= 21:
        return sign + s + "0" * (n - k)
    if 0 < n <= 21:
        return sign + s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + s
    e = n - 1
    exp = ("e+" if e >= 0 else "e-") + str(abs(e))
    return sign + s[0] + ("." + s[1:] if k > 1 else "") + exp


def _jcs_int(n: int) -> str:
    if -_TWO_53 <= n <= _TWO_53:
        return int.__repr__(n)
    try:
        x = float(n)
    except OverflowError as exc:
        raise NumberError(
            f"integer of {n.bit_length()} bits is beyond the IEEE-754 double range of RFC 8785"
        ) from exc
    if x != n:
        raise NumberError(
            f"integer {n} has no exact IEEE-754 double; RFC 8785 would change it to {x!r}"
        )
    return _ecmascript_number(x)


def _jcs_token(token: str) -> str:
    if "." not in token and "e" not in token and "E" not in token:
        try:
            n = int(token)
        except ValueError as exc:
            raise NumberError(f"integer token too long: {exc}") from exc
        return _jcs_int(n)
    x = float(token)
    if math.isinf(x):
        raise NumberError(
            f"number {token} is beyond the IEEE-754 double range and has no RFC 8785 form"
        )
    return _ecmascript_number(x)


def _decimal_text(d: decimal.Decimal) -> str:
    if not d.is_finite():
        raise NumberError(f"Decimal {d} is not a finite number and has no JSON form")
    return decimal.Decimal.__str__(d)  # [-]digits[.digits][E+-digits]: always a JSON number


def _jcs_decimal(d: decimal.Decimal) -> str:
    return _jcs_token(_decimal_text(d))


def _okeios_int(n: int) -> str:
    try:
        return int.__repr__(n)
    except ValueError as exc:
        raise NumberError(f"integer too long to write: {exc}") from exc


def _verbatim(token: str) -> str:
    return token


@dataclass(frozen=True, slots=True)
class _NumberWriters:
    int_: Callable[[int], str]
    float_: Callable[[float], str]
    token: Callable[[str], str]
    decimal: Callable[[decimal.Decimal], str]


_WRITERS = {
    Profile.OKEIOS: _NumberWriters(_okeios_int, _ecmascript_number, _verbatim, _decimal_text),
    Profile.JCS: _NumberWriters(_jcs_int, _ecmascript_number, _jcs_token, _jcs_decimal),
}


# --- strings and member order -----------------------------------------------------------------

_ESCAPE_RE = re.compile(r'["\\\x00-\x1f]')
_ESCAPES = {chr(c): f"\\u{c:04x}" for c in range(0x20)}
_ESCAPES.update({'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n"})
_ESCAPES.update({"\f": "\\f", "\r": "\\r"})


def _escape_match(match: re.Match[str]) -> str:
    return _ESCAPES[match.group()]


def _rfc8785_quote(s: str) -> str:
    """A JSON string literal as RFC 8785 section 3.2.2.2 writes it (still as str).

    Only ``"``, ``\\`` and U+0000..U+001F are escaped: ``\\b \\t \\n \\f \\r`` in their short
    forms, the others as ``\\u00xx`` in lowercase hex. Everything else is written as it is.
    """
    if _ESCAPE_RE.search(s) is None:
        return '"' + s + '"'
    return '"' + _ESCAPE_RE.sub(_escape_match, s) + '"'


def _pick_quote() -> Callable[[str], str]:
    """The stdlib's C string writer if it agrees with :func:`_rfc8785_quote`, else that one.

    ``json.encoder.encode_basestring`` (the ``ensure_ascii=False`` writer) escapes the same
    characters in the same way and is several times faster. It is used only after checking, at
    import, that it agrees on every ASCII character and on samples beyond.
    """
    fast: Callable[[str], str] = json.encoder.encode_basestring
    sample = "".join(map(chr, range(0x80))) + "\x80\xa0\u2028\u2029\ud7ff\ue000\ufeff\U0001f602"
    probes = [sample, *sample, "", 'a"b\\c\x00d']
    if all(fast(p) == _rfc8785_quote(p) for p in probes):
        return fast
    return _rfc8785_quote  # pragma: no cover - only on an interpreter whose json differs


_quote = _pick_quote()


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _sorted_keys(obj: dict[str, JSONValue]) -> list[str]:
    """Member names in RFC 8785 order: by their UTF-16 code units."""
    try:
        ascii_only = "".join(obj).isascii()
    except TypeError:
        bad = next(k for k in obj if not isinstance(k, str))
        raise CanonicalizationError(
            f"object member names must be str, not {type(bad).__name__} ({bad!r})"
        ) from None
    if ascii_only:  # code point order, Python's, is UTF-16 order here
        return sorted(obj)
    return sorted(obj, key=_utf16_key)


# --- serialisation ----------------------------------------------------------------------------


class _LocatedError(Exception):
    """Internal: carries an error up the recursion, collecting its JSON Pointer on the way."""

    def __init__(self, error: CanonicalizationError, token: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.path = [token]


def _encode(value: JSONValue, writers: _NumberWriters, max_depth: int) -> str:
    """The canonical text of ``value``; the caller encodes it to UTF-8 in one step."""
    parts: list[str] = []
    append = parts.append
    quote = _quote
    write_int = writers.int_
    write_float = writers.float_
    write_token = writers.token
    write_decimal = writers.decimal

    def scalar(v: object) -> str:
        if isinstance(v, JSONNumber):
            return write_token(v.token)
        if isinstance(v, str):
            return quote(v)
        if isinstance(v, bool):  # before int: bool is an int subclass
            return "true" if v else "false"
        if isinstance(v, int):
            return write_int(v)
        if v is None:
            return "null"
        if isinstance(v, float):
            return write_float(v)
        if isinstance(v, decimal.Decimal):
            return write_decimal(v)
        raise CanonicalizationError(
            f"{type(v).__name__} is not a JSON value type (use dict, list, str, int, float, "
            "bool, None, JSONNumber or Decimal)"
        )

    def enc(v: object, depth: int, sep: str) -> None:
        # Appends sep, then v, which sits inside `depth` arrays and objects. Strings, the most
        # common values, are written inside the loops without a call. A try block costs
        # nothing until something raises; errors collect their location on the way up.
        if isinstance(v, dict):
            if depth >= max_depth:
                raise NestingError(f"value nests more than {max_depth} arrays and objects deep")
            if not v:
                append(sep + "{}")
                return
            sep += "{"
            for key in _sorted_keys(v):
                item = v[key]
                try:
                    if type(item) is str:
                        append(f"{sep}{quote(key)}:{quote(item)}")
                    else:
                        enc(item, depth + 1, f"{sep}{quote(key)}:")
                except _LocatedError as located:
                    located.path.append(_escape_token(key))
                    raise
                except CanonicalizationError as error:
                    raise _LocatedError(error, _escape_token(key)) from error.__cause__
                sep = ","
            append("}")
        elif isinstance(v, list):
            if depth >= max_depth:
                raise NestingError(f"value nests more than {max_depth} arrays and objects deep")
            if not v:
                append(sep + "[]")
                return
            sep += "["
            for index, item in enumerate(v):
                try:
                    if type(item) is str:
                        append(sep + quote(item))
                    else:
                        enc(item, depth + 1, sep)
                except _LocatedError as located:
                    located.path.append(str(index))
                    raise
                except CanonicalizationError as error:
                    raise _LocatedError(error, str(index)) from error.__cause__
                sep = ","
            append("]")
        else:
            append(sep + scalar(v))

    try:
        enc(value, 0, "")
    except _LocatedError as located:
        error = located.error
        where = _where("/".join(["", *reversed(located.path)]))
        raise type(error)(f"{error} (at {where})") from error.__cause__
    except RecursionError as exc:
        raise NestingError(
            f"value nests deeper than the interpreter can serialise (the limit is {max_depth})"
        ) from exc
    return "".join(parts)


def canonicalize(
    value: JSONValue, *, profile: Profile = Profile.OKEIOS, max_depth: int = MAX_DEPTH
) -> bytes:
    """The canonical UTF-8 bytes of ``value`` under ``profile``, without any whitespace.

    Member names are sorted by their UTF-16 code units and strings are escaped as RFC 8785
    prescribes; numbers follow ``profile`` (see :class:`Profile`). A value without a canonical
    form raises :class:`~okeios.errors.CanonicalizationError` or a subclass, with the JSON
    Pointer of the offending place: a member name that is not ``str``, a type outside
    :data:`JSONValue` (tuples and sets included), a string holding a lone surrogate, a
    non-finite number or one the profile cannot write exactly
    (:class:`~okeios.errors.NumberError`), more than ``max_depth`` nested arrays and objects
    (:class:`~okeios.errors.NestingError`).
    """
    _check_max_depth(max_depth)
    writers = _WRITERS.get(profile) if isinstance(profile, Profile) else None
    if writers is None:
        raise InputError(f"profile must be a Profile, not {profile!r}")
    text = _encode(value, writers, max_depth)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        where = _find_lone_surrogate(value)
        raise CanonicalizationError(
            f"string at {_where(where or '')} holds a lone surrogate and is not Unicode text"
        ) from exc


def canonical_bytes(data: bytes | str, *, profile: Profile = Profile.OKEIOS) -> bytes:
    """The canonical bytes of a JSON text: ``canonicalize(parse_json(data), profile=profile)``."""
    return canonicalize(parse_json(data), profile=profile)


# A leaf's canonical bytes that need no parsing to be recognised: a string with nothing to
# escape, an integer of at most 15 digits (never -0), a number with a fraction or an exponent
# (the okeios profile writes its token as read), a literal, an empty object or array.
_PLAIN_LEAF_RE = re.compile(
    rb'"[^"\\\x00-\x1f]*"|-?(?:0|[1-9][0-9]{0,14})'
    rb"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)"
    rb"|true|false|null|\{\}|\[\]"
)


def is_plain_canonical_leaf(value: bytes) -> bool:
    """Whether ``value`` (UTF-8 bytes) is shown, without parsing, to be the canonical bytes of
    a JSON leaf in the okeios profile: then ``canonicalize(parse_json(value)) == value`` and
    the parsed value is a scalar or an empty object or array. False says only "not shown":
    parse strictly to know (a string with escapes, for one, is left to the parser)."""
    return value != b"-0" and _PLAIN_LEAF_RE.fullmatch(value) is not None


# --- JSON Pointer (RFC 6901) and leaves -------------------------------------------------------

_BAD_TILDE_RE = re.compile(r"~(?![01])")


def format_pointer(tokens: Iterable[str | int]) -> str:
    """The RFC 6901 JSON Pointer of a path of member names (``str``) and array indices (``int``).

    ``format_pointer([]) == ""`` (the whole document); in names ``~`` is written ``~0`` and
    ``/`` is written ``~1``. Raises :class:`~okeios.errors.CanonicalizationError` for a token
    that is neither a ``str`` nor a non-negative ``int``.
    """
    out: list[str] = []
    for token in tokens:
        if type(token) is str and "~" not in token and "/" not in token:
            out.append("/" + token)  # nothing to escape
        elif isinstance(token, str):
            out.append("/" + _escape_token(token))
        elif isinstance(token, int) and not isinstance(token, bool) and token >= 0:
            out.append("/" + int.__repr__(token))
        else:
            raise CanonicalizationError(
                f"a JSON Pointer token is a str or a non-negative int, not {token!r}"
            )
    return "".join(out)


def parse_pointer(path: str) -> list[str]:
    """The unescaped reference tokens of an RFC 6901 JSON Pointer; ``""`` gives ``[]``.

    Raises :class:`~okeios.errors.CanonicalizationError` for a pointer that does not start with
    ``/`` or has a ``~`` not followed by ``0`` or ``1``. Array indices come back as strings.
    """
    if not isinstance(path, str):
        raise CanonicalizationError(f"a JSON Pointer is a str, not {type(path).__name__}")
    if path == "":
        return []
    if not path.startswith("/"):
        raise CanonicalizationError(f"JSON Pointer {path!r} does not start with '/'")
    bad = _BAD_TILDE_RE.search(path)
    if bad is not None:
        raise CanonicalizationError(
            f"JSON Pointer {path!r} has a '~' not followed by 0 or 1 at character {bad.start()}"
        )
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


_SCALAR_TYPES = (str, int, float, JSONNumber, decimal.Decimal)


def iter_typed_leaves(
    value: JSONValue, *, max_depth: int = MAX_DEPTH
) -> Iterator[tuple[tuple[str | int, ...], JSONValue]]:
    """Every leaf of ``value`` with its *typed* path, in canonical document order.

    A typed path is a tuple of tokens: ``str`` for an object member, ``int`` for an array
    index, so ``{"a": [x]}`` (path ``("a", 0)``) and ``{"a": {"0": x}}`` (path ``("a", "0")``)
    never share a path. Same order, leaves and errors as :func:`iter_leaves`.
    """
    _check_max_depth(max_depth)
    stack: list[tuple[tuple[str | int, ...], JSONValue, int]] = [((), value, 0)]
    pop = stack.pop
    push = stack.append
    while stack:
        path, node, depth = pop()
        if isinstance(node, dict | list):
            if depth >= max_depth:
                raise NestingError(
                    f"value at {_where(format_pointer(path))} nests more than {max_depth} "
                    "arrays and objects deep"
                )
            if not node:
                yield path, node
            elif isinstance(node, dict):
                for key in reversed(_sorted_keys(node)):
                    push(((*path, key), node[key], depth + 1))
            else:
                for index in range(len(node) - 1, -1, -1):
                    push(((*path, index), node[index], depth + 1))
        elif node is None or isinstance(node, _SCALAR_TYPES):
            yield path, node
        else:
            raise CanonicalizationError(
                f"{type(node).__name__} at {_where(format_pointer(path))} is not a JSON value type"
            )


def iter_leaves(value: JSONValue, *, max_depth: int = MAX_DEPTH) -> Iterator[tuple[str, JSONValue]]:
    """Every leaf of ``value`` with its RFC 6901 JSON Pointer, in canonical document order.

    Leaves are scalars and empty objects and arrays, so the leaves and their pointers determine
    the document. Members are visited in RFC 8785 order (UTF-16 order of their names), array
    elements by index; a scalar root yields ``("", value)``. Raises
    :class:`~okeios.errors.CanonicalizationError` for a member name that is not ``str`` or a
    type outside :data:`JSONValue`, and :class:`~okeios.errors.NestingError` for more than
    ``max_depth`` nested arrays and objects.
    """
    for path, leaf in iter_typed_leaves(value, max_depth=max_depth):
        yield format_pointer(path), leaf


def _plain_number(token: str) -> float | decimal.Decimal:
    value = float(token)
    if math.isfinite(value) and decimal.Decimal(repr(value)) == decimal.Decimal(token):
        return value
    return decimal.Decimal(token)


def to_plain(value: JSONValue) -> Any:
    """``value`` with every :class:`JSONNumber` replaced by a plain Python number of the same
    value: a ``float`` when one holds it exactly (``6.3``, ``1.00`` as ``1.0``), else a
    :class:`decimal.Decimal` (a token of more than 17 significant digits, or out of the
    double's range). What :func:`json.dumps` serialises, except for such rare tokens; use
    :func:`dumps_exact` for the exact text."""
    if isinstance(value, JSONNumber):
        return _plain_number(value.token)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def dumps_exact(value: Any, *, indent: int | None = None, ensure_ascii: bool = True) -> str:
    """:func:`json.dumps` of ``value`` that also writes :class:`JSONNumber` (its token, as
    written) and :class:`decimal.Decimal` (all its digits) exactly, anywhere in ``value``."""
    import json
    import secrets

    tag = "okeios-number-" + secrets.token_hex(8) + ":"
    tokens: list[str] = []

    def mark(node: Any) -> Any:
        if isinstance(node, JSONNumber | decimal.Decimal):
            tokens.append(node.token if isinstance(node, JSONNumber) else _decimal_text(node))
            return tag + str(len(tokens) - 1)
        if isinstance(node, dict):
            return {k: mark(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [mark(v) for v in node]
        return node

    text = json.dumps(mark(value), indent=indent, ensure_ascii=ensure_ascii)
    if not tokens:
        return text
    return re.sub('"' + re.escape(tag) + r'([0-9]+)"', lambda m: tokens[int(m.group(1))], text)
