"""Salted per-field commitments to a JSON record, and selective disclosure (version 2).

Hashed bytes (see ``docs/commitments.md``; kept here and nowhere else):

* every leaf of the record (a scalar, or an empty object/array) is a *field*, named by its
  *typed path*: a tuple of tokens, ``str`` for an object member and ``int`` for an array index
  (its RFC 6901 JSON Pointer is only a display form: ``("a", 0)`` and ``("a", "0")`` are both
  ``/a/0`` but are different paths); its *value* is the leaf's canonical JSON bytes
  (:mod:`okeios._internal.protocol.canonical`, okeios profile);
* ``path_bytes = u32(k) || token_1 || ... || token_k`` where a member token is
  ``0x01 || u32(len name) || UTF-8 name`` and an index token is ``0x02 || u64(index)``;
* each record version has a random 32-byte ``seed``; a field's 16-byte salt is
  ``HMAC-SHA256(seed, "okeios/salt/v2" 0x00 || path_bytes)[:16]``;
* field digest ``= SHA-256("okeios/field/v2" 0x00 || salt || u32(len path_bytes) ||
  path_bytes || u32(len value) || value)``;
* record commitment ``= SHA-256("okeios/commitment/v2" 0x00 || u32(n) || d_1 || ... || d_n)``
  over the ``n`` field digests sorted bytewise ascending (no duplicates).

Knowing a field digest without its salt reveals nothing about the value (the salt has 128 bits
of entropy), so the list of digests can travel with every bundle. Disclosing a field means
handing over ``(path, salt, value)``; anyone can recompute its digest, find it in the list and
recompute the commitment. Erasing the seed (crypto-shredding) makes every salt unrecoverable.

A set of disclosed fields must be the leaves of one document: no typed path twice, no path
that is a prefix of another, and every inner node either an object or an array for all of
them (:func:`path_conflict`). A complete disclosure therefore opens a commitment to exactly one
document; ``docs/commitments.md`` explains what a partial one proves.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import operator
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from okeios._internal.protocol.canonical import (
    _PLAIN_DECODER,
    MAX_DEPTH,
    JSONNumber,
    JSONValue,
    _quote,
    _sorted_keys,
    canonicalize,
    format_pointer,
    iter_typed_leaves,
    parse_json,
    parse_pointer,
)
from okeios._internal.protocol.jsonlimits import nesting_exceeds
from okeios.errors import CommitmentError, OkeiosError

__all__ = [
    "REMEMBERED_SIZE",
    "SALT_SIZE",
    "SEED_SIZE",
    "Commitment",
    "DisclosedField",
    "Disclosure",
    "FieldPath",
    "canonical_leaves",
    "commit",
    "commit_canonical",
    "commitment_from_digests",
    "derive_salt",
    "disclose_stored",
    "disclosures_conflict",
    "field_digest",
    "field_digests",
    "path_bytes",
    "path_conflict",
    "pointer_matches",
    "record_leaves",
    "record_leaves_of",
]

FieldPath = tuple[str | int, ...]
"""A typed path: ``str`` tokens are object members, ``int`` tokens array indices."""

SEED_SIZE = 32
SALT_SIZE = 16
MAX_FIELDS = 1 << 20
MAX_PATH_TOKENS = 4096
_SALT_TAG = b"okeios/salt/v2\x00"
_FIELD_TAG = b"okeios/field/v2\x00"
_COMMITMENT_TAG = b"okeios/commitment/v2\x00"
_MEMBER = b"\x01"
_INDEX = b"\x02"
_U64 = 1 << 64
_sha256 = hashlib.sha256
_LEN32 = frozenset((32,))
#: The pointers of field paths met so far (a report names every disclosed field, and the
#: paths recur from record to record). Bounded: past the bound, pointers are formatted each
#: time. A field's tokens are checked when it is made, so only text and integer tokens are
#: keys here.
_POINTERS: dict[tuple[str | int, ...], str] = {}
_POINTERS_MAX = 1 << 14
#: The largest path, pointer or member name (in bytes or characters) the module-level
#: caches keep: input may be crafted, and what a cache keeps stays for the process's life.
REMEMBERED_SIZE = 256


def _u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def _check_path(path: object) -> FieldPath:
    if not isinstance(path, tuple):
        raise CommitmentError(f"a field path is a tuple of tokens, got {type(path).__name__}")
    if len(path) > MAX_PATH_TOKENS:
        raise CommitmentError(f"a field path has at most {MAX_PATH_TOKENS} tokens")
    for token in path:
        if isinstance(token, bool) or not isinstance(token, str | int):
            raise CommitmentError(f"a path token is a str or an int, got {token!r}")
        if isinstance(token, int) and not 0 <= token < _U64:
            raise CommitmentError(f"an array index is in 0..2^64-1, got {token}")
    return path


def _checked_path_bytes(path: FieldPath) -> bytes:
    out = [_u32(len(_check_path(path)))]
    for token in path:
        if isinstance(token, str):
            try:
                name = token.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise CommitmentError(f"member name {token!r} is not valid Unicode") from exc
            out += (_MEMBER, _u32(len(name)), name)
        else:
            out += (_INDEX, token.to_bytes(8, "big"))
    return b"".join(out)


def path_bytes(path: FieldPath) -> bytes:
    """The hashed encoding of a typed path (see the module docstring)."""
    if type(path) is not tuple or len(path) > MAX_PATH_TOKENS:
        return _checked_path_bytes(path)
    out = [len(path).to_bytes(4, "big")]
    members = _MEMBERS
    token: Any
    for token in path:
        kind = type(token)
        if kind is str:
            known = members.get(token)
            if known is None:
                try:
                    known = _remember_member(token)
                except UnicodeEncodeError:
                    return _checked_path_bytes(path)  # raises, naming the member
            out.append(known[0])
        elif kind is int and 0 <= token < 1024:
            out.append(_INDEXES[token])
        else:
            return _checked_path_bytes(path)
    return b"".join(out)


def derive_salt(seed: bytes, path: FieldPath) -> bytes:
    """The 16-byte salt of the field at ``path``, derived from the record version's seed."""
    if len(seed) != SEED_SIZE:
        raise CommitmentError(f"a commitment seed is {SEED_SIZE} bytes, got {len(seed)}")
    return hmac.new(seed, _SALT_TAG + path_bytes(path), hashlib.sha256).digest()[:SALT_SIZE]


def field_digest(salt: bytes, path: FieldPath, value: bytes) -> bytes:
    """The salted digest of one field (its canonical value bytes at ``path``)."""
    if len(salt) != SALT_SIZE:
        raise CommitmentError(f"a salt is {SALT_SIZE} bytes, got {len(salt)}")
    p = path_bytes(path)
    return hashlib.sha256(
        b"".join((_FIELD_TAG, salt, _u32(len(p)), p, _u32(len(value)), value))
    ).digest()


def path_conflict(paths: Iterable[FieldPath]) -> str | None:
    """Why ``paths`` cannot all be leaves of one JSON document, or None if they can.

    Refused: the same path twice; a path that is a proper prefix of another (a leaf has no
    children); an inner node that is an array for one path (next token an ``int``) and an
    object for another (next token a ``str``).
    """
    leaves: set[FieldPath] = set()
    inner: dict[FieldPath, type] = {}
    for path in paths:
        if path in leaves:
            return f"the path {format_pointer(path)!r} appears twice"
        if path in inner:
            return f"{format_pointer(path)!r} is both a leaf and an inner node"
        leaves.add(path)
        for k in range(len(path)):
            prefix = path[:k]
            if prefix in leaves:
                return f"{format_pointer(prefix)!r} is both a leaf and an inner node"
            kind = type(path[k])
            seen = inner.setdefault(prefix, kind)
            if seen is not kind:
                return f"the node at {format_pointer(prefix)!r} is both an array and an object"
    return None


def disclosures_conflict(
    disclosures: Iterable[Iterable[tuple[FieldPath, object]]],
) -> str | None:
    """Why several disclosures of one commitment (each an iterable of ``(typed path, value)``)
    cannot all open it to one document, or None if they can: a path disclosed with two values,
    or paths that are no document together (:func:`path_conflict`). Two disclosures of one
    signed commitment that conflict are the author's equivocation."""
    values: dict[FieldPath, object] = {}
    for fields in disclosures:
        for path, value in fields:
            if values.setdefault(path, value) != value:
                return f"{format_pointer(path)!r} is disclosed with two values"
    return path_conflict(values)


def pointer_matches(pointer: str, path: FieldPath) -> bool:
    """Whether the RFC 6901 ``pointer`` names the node at ``path`` or one of its ancestors.

    Exact token comparison: ``""`` is the whole document, ``"/"`` the member named ``""``
    (never a prefix of every path), and an index token matches only ``int`` tokens written in
    RFC 6901 decimal form (no sign, no leading zero).
    """
    tokens = parse_pointer(pointer)
    if len(tokens) > len(path):
        return False
    for wanted, token in zip(tokens, path, strict=False):
        if isinstance(token, int):
            if wanted != str(token):
                return False
        elif wanted != token:
            return False
    return True


def commitment_from_digests(digests: Sequence[bytes]) -> bytes:
    """The record commitment over field digests, which must be sorted and distinct."""
    if len(digests) > MAX_FIELDS:
        raise CommitmentError(f"a record has at most {MAX_FIELDS} fields")
    if _LEN32.issuperset(map(len, digests)) and all(
        map(operator.lt, digests, itertools.islice(digests, 1, None))
    ):  # what the loop below accepts, in one go
        return _sha256(_COMMITMENT_TAG + _u32(len(digests)) + b"".join(digests)).digest()
    previous = b""
    for i, d in enumerate(digests):
        if len(d) != 32:
            raise CommitmentError(f"field digest {i} is not 32 bytes")
        if d <= previous:
            raise CommitmentError("field digests must be sorted ascending without duplicates")
        previous = d
    return hashlib.sha256(_COMMITMENT_TAG + _u32(len(digests)) + b"".join(digests)).digest()


@dataclass(frozen=True, slots=True)
class DisclosedField:
    """One field handed over: its typed path, its salt and its canonical value bytes."""

    tokens: FieldPath
    salt: bytes
    value: bytes
    encoded_path: bytes = field(init=False, repr=False, compare=False)
    """:func:`path_bytes` of :attr:`tokens`, computed (and the path checked) once."""

    def __post_init__(self) -> None:
        if isinstance(self.tokens, list):
            object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "encoded_path", path_bytes(self.tokens))
        if not isinstance(self.salt, bytes) or len(self.salt) != SALT_SIZE:
            raise CommitmentError(f"a field salt is {SALT_SIZE} bytes")
        if not isinstance(self.value, bytes):
            raise CommitmentError("a field value is canonical JSON bytes")

    @classmethod
    def _known(cls, tokens: FieldPath, salt: bytes, value: bytes, encoded: bytes) -> DisclosedField:
        """A field whose parts were just computed from a record by :func:`commit` (valid by
        construction: not checked again)."""
        self = object.__new__(cls)
        _SET_TOKENS(self, tokens)  # the slots' own setters: a frozen dataclass's fields
        _SET_SALT(self, salt)
        _SET_VALUE(self, value)
        _SET_ENCODED(self, encoded)
        return self

    @property
    def path(self) -> str:
        """The field's RFC 6901 JSON Pointer (a display form: it does not say which tokens
        are array indices; :attr:`tokens` does)."""
        tokens = self.tokens
        pointer = _POINTERS.get(tokens)
        if pointer is None:
            pointer = format_pointer(tokens)
            if len(_POINTERS) < _POINTERS_MAX and len(pointer) <= REMEMBERED_SIZE:
                _POINTERS[tokens] = pointer
        return pointer

    @property
    def digest(self) -> bytes:
        p, v = self.encoded_path, self.value
        return _sha256(
            b"".join((_FIELD_TAG, self.salt, len(p).to_bytes(4, "big"), p,
                      len(v).to_bytes(4, "big"), v))
        ).digest()  # fmt: skip

    def json_value(self) -> JSONValue:
        """The disclosed value, parsed."""
        return parse_json(self.value)


def field_digests(fields: Sequence[DisclosedField]) -> list[bytes]:
    """``[f.digest for f in fields]``, hashed without a Python call per field."""
    encoded = list(map(_ENCODED_OF, fields))
    values = list(map(_VALUE_OF, fields))
    return list(
        map(
            _DIGEST_OF,
            map(
                _sha256,
                map(
                    b"".join,
                    zip(
                        itertools.repeat(_FIELD_TAG),
                        map(_SALT_OF, fields),
                        map(_U32_OF, map(len, encoded)),
                        encoded,
                        map(_U32_OF, map(len, values)),
                        values,
                    ),
                ),
            ),
        )
    )


_ENCODED_OF = operator.attrgetter("encoded_path")
_VALUE_OF = operator.attrgetter("value")
_SALT_OF = operator.attrgetter("salt")
_DIGEST_OF = operator.methodcaller("digest")
_U32_OF = operator.methodcaller("to_bytes", 4, "big")

_SET_TOKENS, _SET_SALT, _SET_VALUE, _SET_ENCODED = (
    vars(DisclosedField)[name].__set__ for name in ("tokens", "salt", "value", "encoded_path")
)


@dataclass(frozen=True, slots=True)
class Commitment:
    """A record version's commitment, with everything its owner needs to disclose fields."""

    root: bytes
    digests: tuple[bytes, ...]
    fields: Mapping[FieldPath, DisclosedField]

    @property
    def paths(self) -> tuple[str, ...]:
        """The RFC 6901 pointers of the fields, in canonical document order."""
        return tuple(f.path for f in self.fields.values())

    def disclose(self, paths: Iterable[str] | None = None) -> Disclosure:
        """A disclosure of the given fields (``None``: every field).

        Each wanted path is an RFC 6901 JSON Pointer resolved exactly, token by token
        (:func:`pointer_matches`): a pointer to a leaf discloses that field, a pointer to an
        object or array (for example ``/valueQuantity``) every field beneath it, ``""`` the
        whole record. ``"/"`` names the member ``""``, not the root. A pointer that is not
        valid RFC 6901 or names no node raises :class:`CommitmentError`.
        """
        if paths is None:
            chosen = list(self.fields.values())
        else:
            picked: dict[FieldPath, DisclosedField] = {}
            for wanted in paths:
                try:
                    hits = [f for p, f in self.fields.items() if pointer_matches(wanted, p)]
                except OkeiosError as exc:
                    raise CommitmentError(f"{wanted!r} is not an RFC 6901 pointer: {exc}") from exc
                if not hits:
                    raise CommitmentError(f"the record has no field at {wanted!r}")
                for f in hits:
                    picked[f.tokens] = f
            chosen = list(picked.values())
        chosen.sort(key=lambda f: f.encoded_path)
        return Disclosure(self.digests, tuple(chosen))


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What a bundle carries about a record: every field digest, and the disclosed fields."""

    digests: tuple[bytes, ...]
    fields: tuple[DisclosedField, ...]

    def commitment(self) -> bytes:
        """The record commitment these digests produce (raises if the digests are malformed)."""
        return commitment_from_digests(self.digests)

    @property
    def is_complete(self) -> bool:
        """Whether every field is disclosed."""
        return len(self.fields) == len(self.digests)

    def undisclosed_digest_count(self) -> int:
        return len(self.digests) - len(self.fields)


def _decode_path(encoded: bytes) -> FieldPath:
    """The typed path whose :func:`path_bytes` are ``encoded`` (bytes this module made)."""
    out: list[str | int] = []
    at = 4
    for _ in range(int.from_bytes(encoded[:4], "big")):
        if encoded[at] == 1:
            size = int.from_bytes(encoded[at + 1 : at + 5], "big")
            out.append(encoded[at + 5 : at + 5 + size].decode("utf-8"))
            at += 5 + size
        else:
            out.append(int.from_bytes(encoded[at + 1 : at + 9], "big"))
            at += 9
    return tuple(out)


#: Typed paths decoded from their path bytes so far (the paths recur from record to record).
#: Bounded: past the bound, paths are decoded each time.
_DECODED: dict[bytes, FieldPath] = {}
_DECODED_MAX = 1 << 14


def _tokens_of(encoded: bytes) -> FieldPath:
    """:func:`_decode_path`, remembered."""
    tokens = _DECODED.get(encoded)
    if tokens is None:
        tokens = _decode_path(encoded)
        if len(_DECODED) < _DECODED_MAX and len(encoded) <= REMEMBERED_SIZE:
            _DECODED[encoded] = tokens
    return tokens


class _Fields(Mapping[FieldPath, DisclosedField]):
    """The fields of a fresh commitment, in canonical document order, made into
    :class:`DisclosedField` objects (and their typed paths decoded from their path bytes) only
    when asked for: adding a record never asks."""

    __slots__ = ("_encoded", "_index", "_paths", "_salts", "_values")

    def __init__(self, encoded: list[bytes], salts: list[bytes], values: list[bytes]) -> None:
        self._encoded, self._salts, self._values = encoded, salts, values
        self._paths: list[FieldPath] | None = None
        self._index: dict[FieldPath, int] | None = None

    def _all_paths(self) -> list[FieldPath]:
        if self._paths is None:
            self._paths = [_tokens_of(p) for p in self._encoded]
        return self._paths

    def __len__(self) -> int:
        return len(self._encoded)

    def __iter__(self) -> Iterator[FieldPath]:
        return iter(self._all_paths())

    def __contains__(self, key: object) -> bool:
        return key in self._lookup()

    def _lookup(self) -> dict[FieldPath, int]:
        if self._index is None:
            self._index = {p: i for i, p in enumerate(self._all_paths())}
        return self._index

    def _field(self, i: int) -> DisclosedField:
        paths = self._all_paths()
        return DisclosedField._known(paths[i], self._salts[i], self._values[i], self._encoded[i])

    def __getitem__(self, key: FieldPath) -> DisclosedField:
        return self._field(self._lookup()[key])

    def values(self) -> Iterator[DisclosedField]:  # type: ignore[override]
        return (self._field(i) for i in range(len(self._encoded)))

    def items(self) -> Iterator[tuple[FieldPath, DisclosedField]]:  # type: ignore[override]
        return ((p, self._field(i)) for i, p in enumerate(self._all_paths()))


_U32 = [n.to_bytes(4, "big") for n in range(MAX_DEPTH + 1)]
_INDEXES = [_INDEX + n.to_bytes(8, "big") for n in range(1024)]
_SMALL_INT = 10**15
_MEMBERS: dict[str, tuple[bytes, str]] = {}  # member name -> (its path token, its JSON text)
_MEMBERS_MAX = 1 << 14


def _remember_member(name: str) -> tuple[bytes, str]:
    """A member name's path token and JSON text (``"name":``), kept for the next time."""
    raw = name.encode("utf-8")
    known = (_MEMBER + len(raw).to_bytes(4, "big") + raw, _quote(name) + ":")
    if len(_MEMBERS) < _MEMBERS_MAX and len(raw) <= REMEMBERED_SIZE:
        _MEMBERS[name] = known
    return known


class _NeedsCareError(Exception):
    """Internal: the fast walk met something it leaves to the careful one (which then gives
    the same result, or the error the record deserves)."""


def _fast_walk(record: JSONValue, encoded: list[bytes], values: list[bytes]) -> str:
    """The canonical text of ``record``; appends each leaf's path bytes and value bytes, in
    canonical document order. Handles what :func:`~okeios._internal.protocol.canonical.parse_json`
    returns (str member names, str, int, :class:`~okeios._internal.protocol.canonical.JSONNumber`,
    bool, None, dict, list); raises :class:`_NeedsCareError` for anything else or anything wrong."""
    quote = _quote
    add_path = encoded.append
    add_value = values.append
    members = _MEMBERS
    u32 = _U32
    indexes = _INDEXES

    def enc(v: Any, prefix: bytes, depth: int) -> str:
        kind = type(v)
        if kind is str:
            text = quote(v)
        elif kind is dict:
            if depth >= MAX_DEPTH:
                raise _NeedsCareError
            if not v:
                add_path(u32[depth] + prefix)
                add_value(b"{}")
                return "{}"
            parts = []
            for key in _sorted_keys(v):
                known = members.get(key)
                if known is None:
                    known = _remember_member(key)  # a lone surrogate raises: careful walk
                parts.append(known[1] + enc(v[key], prefix + known[0], depth + 1))
            return "{" + ",".join(parts) + "}"
        elif kind is list:
            if depth >= MAX_DEPTH:
                raise _NeedsCareError
            if not v:
                add_path(u32[depth] + prefix)
                add_value(b"[]")
                return "[]"
            return (
                "["
                + ",".join(
                    [
                        enc(
                            item,
                            prefix + (indexes[i] if i < 1024 else _INDEX + i.to_bytes(8, "big")),
                            depth + 1,
                        )
                        for i, item in enumerate(v)
                    ]
                )
                + "]"
            )
        elif kind is JSONNumber:
            text = v.token
        elif v is None:
            text = "null"
        elif v is True:
            text = "true"
        elif v is False:
            text = "false"
        elif kind is int and -_SMALL_INT < v < _SMALL_INT:
            text = int.__repr__(v)
        else:
            raise _NeedsCareError
        add_path(u32[depth] + prefix)
        add_value(text.encode("utf-8"))  # a lone surrogate raises: careful walk
        return text

    return enc(record, b"", 0)


def _careful_walk(record: JSONValue, encoded: list[bytes], values: list[bytes]) -> None:
    """The leaves by the general functions, with their checks and errors."""
    for path, value in iter_typed_leaves(record):
        encoded.append(path_bytes(path))
        values.append(canonicalize(value))
        if len(encoded) > MAX_FIELDS:
            raise CommitmentError(f"a record has at most {MAX_FIELDS} fields")


def _walk(record: JSONValue) -> tuple[list[bytes], list[bytes], bytes | None]:
    """Every leaf's path bytes and canonical value bytes in canonical document order, and
    the record's canonical bytes when the fast walk made them (else None)."""
    encoded: list[bytes] = []
    values: list[bytes] = []
    try:
        text = _fast_walk(record, encoded, values)
        canonical: bytes | None = text.encode("utf-8")
    except (_NeedsCareError, OkeiosError, UnicodeEncodeError, RecursionError):
        encoded.clear()
        values.clear()
        _careful_walk(record, encoded, values)
        canonical = None
    if len(encoded) > MAX_FIELDS:
        raise CommitmentError(f"a record has at most {MAX_FIELDS} fields")
    return encoded, values, canonical


def record_leaves(record: JSONValue) -> list[tuple[bytes, bytes]]:
    """Every leaf of ``record`` as (:func:`path_bytes` of its path, its canonical bytes), in
    canonical document order (errors as :func:`commit`'s)."""
    encoded, values, _ = _walk(record)
    return list(zip(encoded, values, strict=True))


def canonical_leaves(data: bytes) -> list[tuple[bytes, bytes]] | None:
    """:func:`record_leaves` of ``parse_json(data)`` when ``data`` is exactly the canonical
    bytes of the record it holds (what okeios stores and exports), else None.

    The fast way: the plain JSON decoder (no hook per object) and the canonical walk, whose
    text must give ``data`` back. Canonical text has no repeated member name, byte order mark,
    lone surrogate or number the strict parser refuses, so on such input
    :func:`~okeios._internal.protocol.canonical.parse_json` returns the same value; the nesting
    limit is checked first, as the strict parser does, before the decoder can recurse. None
    says only "not shown canonical": the caller then parses strictly."""
    if b"\n" in data:  # canonical text escapes every control character: pretty-printed
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if nesting_exceeds(data, MAX_DEPTH):
        return None
    encoded: list[bytes] = []
    values: list[bytes] = []
    try:
        if _fast_walk(_PLAIN_DECODER.decode(text), encoded, values) != text:
            return None
    except (ValueError, _NeedsCareError, OkeiosError, UnicodeEncodeError, RecursionError):
        return None  # json.JSONDecodeError and an over-long integer are ValueErrors
    if len(encoded) > MAX_FIELDS:
        return None
    return list(zip(encoded, values, strict=True))


def record_leaves_of(data: bytes) -> list[tuple[bytes, bytes]]:
    """:func:`record_leaves` of ``parse_json(data)``: the same leaves, or the same error,
    taking the fast way (:func:`canonical_leaves`) when ``data`` is canonical."""
    leaves = canonical_leaves(data)
    if leaves is None:
        leaves = record_leaves(parse_json(data))
    return leaves


def disclose_stored(
    canonical: bytes,
    seed: bytes,
    digests: Sequence[bytes],
    paths: Iterable[str] | None = None,
) -> Disclosure:
    """What ``commit(parse_json(canonical), seed=seed)[0].disclose(paths)`` gives, from what a
    store keeps of a record version (its canonical bytes, its seed and its sorted field
    digests), without deriving the commitment again: the record is walked once for its leaves,
    and only the chosen fields get a salt (HMAC keyed once, copied per field). The digests are
    the stored ones; the caller checks that they give the event's commitment. Pointers are
    resolved as :meth:`Commitment.disclose` resolves them, with its errors."""
    if len(seed) != SEED_SIZE:
        raise CommitmentError(f"a commitment seed is {SEED_SIZE} bytes, got {len(seed)}")
    leaves = record_leaves_of(canonical)
    if len(leaves) != len(digests):
        raise CommitmentError(
            f"the record has {len(leaves)} fields, its stored digests {len(digests)}"
        )
    if paths is None:
        chosen = leaves
    else:
        tokens = [_tokens_of(p) for p, _ in leaves]
        picked: dict[FieldPath, int] = {}
        for wanted in paths:
            try:
                hits = [i for i, t in enumerate(tokens) if pointer_matches(wanted, t)]
            except OkeiosError as exc:
                raise CommitmentError(f"{wanted!r} is not an RFC 6901 pointer: {exc}") from exc
            if not hits:
                raise CommitmentError(f"the record has no field at {wanted!r}")
            for i in hits:
                picked[tokens[i]] = i
        chosen = [leaves[i] for i in picked.values()]
    chosen.sort()  # by path bytes: no two leaves share them
    inner, outer = _salt_states(bytes(seed))
    inner_copy, outer_copy, known = inner.copy, outer.copy, DisclosedField._known
    fields = []
    for p, v in chosen:
        h = inner_copy()
        h.update(p)
        o = outer_copy()
        o.update(h.digest())
        fields.append(known(_tokens_of(p), o.digest()[:SALT_SIZE], v, p))
    return Disclosure(tuple(digests), tuple(fields))


def _salt_states(seed: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 keyed by ``seed`` (RFC 2104), as its inner state after ``_SALT_TAG`` and its
    outer state: each salt is then two SHA-256 copies, not a fresh HMAC."""
    key = int.from_bytes(seed.ljust(64, b"\x00"), "big")
    inner = hashlib.sha256((key ^ _IPAD).to_bytes(64, "big"))
    inner.update(_SALT_TAG)
    return inner, hashlib.sha256((key ^ _OPAD).to_bytes(64, "big"))


_IPAD = int.from_bytes(b"\x36" * 64, "big")
_OPAD = int.from_bytes(b"\x5c" * 64, "big")


class Canonical:
    """A parsed record with its canonical bytes and its leaves, made by one walk over it on
    first use and then kept: what the write path carries down, so that a record is
    canonicalised once whether its identity check, its commitment, its sealed payload or its
    content check needs the bytes first."""

    __slots__ = ("_walked", "value")

    def __init__(self, value: JSONValue) -> None:
        self.value = value
        self._walked: tuple[list[bytes], list[bytes], bytes] | None = None

    def walked(self) -> tuple[list[bytes], list[bytes], bytes]:
        """The leaves' path bytes, their canonical value bytes and the record's canonical
        bytes (errors as :func:`commit`'s)."""
        if self._walked is None:
            encoded, values, canonical = _walk(self.value)
            if canonical is None:
                canonical = canonicalize(self.value)
            self._walked = (encoded, values, canonical)
        return self._walked

    @property
    def bytes(self) -> bytes:
        """The record's canonical bytes."""
        return self.walked()[2]


def commit(
    record: JSONValue,
    *,
    seed: bytes | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> tuple[Commitment, bytes]:
    """Commit to a parsed record. Returns the commitment and the seed used.

    ``seed`` (32 bytes) or ``rng`` make the result reproducible in tests; by default the seed
    comes from the operating system's CSPRNG.
    """
    commitment, seed, _ = commit_canonical(record, seed=seed, rng=rng)
    return commitment, seed


def commit_canonical(
    record: JSONValue | Canonical,
    *,
    seed: bytes | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> tuple[Commitment, bytes, bytes]:
    """:func:`commit`, and the record's canonical bytes (``canonicalize(record)``), made in
    the same walk over the record: what adding a record needs. A :class:`Canonical` record
    is walked only if it was not walked before."""
    if seed is None:
        seed = rng(SEED_SIZE)
    if len(seed) != SEED_SIZE:
        raise CommitmentError(f"a commitment seed is {SEED_SIZE} bytes, got {len(seed)}")
    form = record if isinstance(record, Canonical) else Canonical(record)
    encoded, values, canonical = form.walked()
    inner, outer = _salt_states(bytes(seed))
    sha256 = hashlib.sha256
    salts: list[bytes] = []
    digests: list[bytes] = []
    inner_copy, outer_copy, add_salt = inner.copy, outer.copy, salts.append
    for p, v in zip(encoded, values, strict=True):
        h = inner_copy()
        h.update(p)
        o = outer_copy()
        o.update(h.digest())
        salt = o.digest()[:SALT_SIZE]
        add_salt(salt)
        digests.append(
            sha256(
                b"".join((_FIELD_TAG, salt, len(p).to_bytes(4, "big"), p,
                          len(v).to_bytes(4, "big"), v))
            ).digest()
        )  # fmt: skip
    digests.sort()
    if len(set(digests)) != len(digests):  # pragma: no cover - needs a SHA-256 collision
        raise CommitmentError("two fields have the same digest")
    root = sha256(_COMMITMENT_TAG + _u32(len(digests)) + b"".join(digests)).digest()
    return Commitment(root, tuple(digests), _Fields(encoded, salts, values)), seed, canonical
