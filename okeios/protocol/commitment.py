"""Salted per-field commitments to a JSON record, and selective disclosure (version 2).

Hashed bytes (see ``docs/commitments.md``; kept here and nowhere else):

* every leaf of the record (a scalar, or an empty object/array) is a *field*, named by its
  *typed path*: a tuple of tokens, ``str`` for an object member and ``int`` for an array index
  (its RFC 6901 JSON Pointer is only a display form: ``("a", 0)`` and ``("a", "0")`` are both
  ``/a/0`` but are different paths); its *value* is the leaf's canonical JSON bytes
  (:mod:`okeios.protocol.canonical`, okeios profile);
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
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from okeios.errors import CommitmentError, OkeiosError
from okeios.protocol.canonical import (
    JSONValue,
    canonicalize,
    format_pointer,
    iter_typed_leaves,
    parse_json,
    parse_pointer,
)

__all__ = [
    "SALT_SIZE",
    "SEED_SIZE",
    "Commitment",
    "DisclosedField",
    "Disclosure",
    "FieldPath",
    "commit",
    "commitment_from_digests",
    "derive_salt",
    "disclosures_conflict",
    "field_digest",
    "path_bytes",
    "path_conflict",
    "pointer_matches",
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


def path_bytes(path: FieldPath) -> bytes:
    """The hashed encoding of a typed path (see the module docstring)."""
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

    def __post_init__(self) -> None:
        if isinstance(self.tokens, list):
            object.__setattr__(self, "tokens", tuple(self.tokens))
        _check_path(self.tokens)
        if not isinstance(self.salt, bytes) or len(self.salt) != SALT_SIZE:
            raise CommitmentError(f"a field salt is {SALT_SIZE} bytes")
        if not isinstance(self.value, bytes):
            raise CommitmentError("a field value is canonical JSON bytes")

    @property
    def path(self) -> str:
        """The field's RFC 6901 JSON Pointer (a display form: it does not say which tokens
        are array indices; :attr:`tokens` does)."""
        return format_pointer(self.tokens)

    @property
    def digest(self) -> bytes:
        return field_digest(self.salt, self.tokens, self.value)

    def json_value(self) -> JSONValue:
        """The disclosed value, parsed."""
        return parse_json(self.value)


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
        chosen.sort(key=lambda f: path_bytes(f.tokens))
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
    if seed is None:
        seed = rng(SEED_SIZE)
    if len(seed) != SEED_SIZE:
        raise CommitmentError(f"a commitment seed is {SEED_SIZE} bytes, got {len(seed)}")
    fields: dict[FieldPath, DisclosedField] = {}
    for path, value in iter_typed_leaves(record):
        fields[path] = DisclosedField(path, derive_salt(seed, path), canonicalize(value))
        if len(fields) > MAX_FIELDS:
            raise CommitmentError(f"a record has at most {MAX_FIELDS} fields")
    digests = tuple(sorted(f.digest for f in fields.values()))
    if len(set(digests)) != len(digests):  # pragma: no cover - needs a SHA-256 collision
        raise CommitmentError("two fields have the same digest")
    return Commitment(commitment_from_digests(digests), digests, fields), seed
