"""Salted per-field commitments to a JSON record, and selective disclosure.

Hashed bytes (see ``docs/commitments.md``; kept here and nowhere else):

* every leaf of the record (a scalar, or an empty object/array) is a *field*, named by its
  RFC 6901 JSON Pointer ``path``; its *value* is the leaf's canonical JSON bytes
  (:mod:`okeios.protocol.canonical`, okeios profile);
* each record version has a random 32-byte ``seed``; a field's 16-byte salt is
  ``HMAC-SHA256(seed, "okeios/salt/v1" 0x00 path)[:16]``;
* field digest ``= SHA-256("okeios/field/v1" 0x00 || salt || u32(len path) || path ||
  u32(len value) || value)``;
* record commitment ``= SHA-256("okeios/commitment/v1" 0x00 || u32(n) || d_1 || ... || d_n)``
  over the ``n`` field digests sorted bytewise ascending (no duplicates).

Knowing a field digest without its salt reveals nothing about the value (the salt has 128 bits
of entropy), so the list of digests can travel with every bundle. Disclosing a field means
handing over ``(path, salt, value)``; anyone can recompute its digest, find it in the list and
recompute the commitment. Erasing the seed (crypto-shredding) makes every salt unrecoverable.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from okeios.errors import CommitmentError
from okeios.protocol.canonical import JSONValue, canonicalize, iter_leaves, parse_json

__all__ = [
    "SALT_SIZE",
    "SEED_SIZE",
    "Commitment",
    "DisclosedField",
    "Disclosure",
    "commit",
    "commitment_from_digests",
    "derive_salt",
    "field_digest",
]

SEED_SIZE = 32
SALT_SIZE = 16
MAX_FIELDS = 1 << 20
_SALT_TAG = b"okeios/salt/v1\x00"
_FIELD_TAG = b"okeios/field/v1\x00"
_COMMITMENT_TAG = b"okeios/commitment/v1\x00"


def _u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def derive_salt(seed: bytes, path: str) -> bytes:
    """The 16-byte salt of the field at ``path``, derived from the record version's seed."""
    if len(seed) != SEED_SIZE:
        raise CommitmentError(f"a commitment seed is {SEED_SIZE} bytes, got {len(seed)}")
    return hmac.new(seed, _SALT_TAG + path.encode("utf-8"), hashlib.sha256).digest()[:SALT_SIZE]


def field_digest(salt: bytes, path: str, value: bytes) -> bytes:
    """The salted digest of one field (its canonical value bytes at ``path``)."""
    if len(salt) < SALT_SIZE:
        raise CommitmentError(f"a salt is at least {SALT_SIZE} bytes, got {len(salt)}")
    p = path.encode("utf-8")
    return hashlib.sha256(
        b"".join((_FIELD_TAG, salt, _u32(len(p)), p, _u32(len(value)), value))
    ).digest()


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
    """One field handed over: its path, its salt and its canonical value bytes."""

    path: str
    salt: bytes
    value: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or (self.path and not self.path.startswith("/")):
            raise CommitmentError(f"a field path is a JSON Pointer, got {self.path!r}")
        if not isinstance(self.salt, bytes) or len(self.salt) != SALT_SIZE:
            raise CommitmentError(f"a field salt is {SALT_SIZE} bytes")
        if not isinstance(self.value, bytes):
            raise CommitmentError("a field value is canonical JSON bytes")

    @property
    def digest(self) -> bytes:
        return field_digest(self.salt, self.path, self.value)

    def json_value(self) -> JSONValue:
        """The disclosed value, parsed."""
        return parse_json(self.value)


@dataclass(frozen=True, slots=True)
class Commitment:
    """A record version's commitment, with everything its owner needs to disclose fields."""

    root: bytes
    digests: tuple[bytes, ...]
    fields: Mapping[str, DisclosedField]

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self.fields)

    def disclose(self, paths: Iterable[str] | None = None) -> Disclosure:
        """A disclosure of the given fields (``None``: every field).

        A path that names an object or array (for example ``/valueQuantity``) discloses every
        field beneath it; a path matching nothing raises :class:`CommitmentError`.
        """
        if paths is None:
            chosen = list(self.fields.values())
        else:
            picked: dict[str, DisclosedField] = {}
            for wanted in paths:
                prefix = wanted.rstrip("/") + "/"
                hits = [f for p, f in self.fields.items() if p == wanted or p.startswith(prefix)]
                if not hits:
                    raise CommitmentError(f"the record has no field at {wanted!r}")
                for f in hits:
                    picked[f.path] = f
            chosen = list(picked.values())
        chosen.sort(key=lambda f: f.path)
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
    fields: dict[str, DisclosedField] = {}
    for path, value in iter_leaves(record):
        fields[path] = DisclosedField(path, derive_salt(seed, path), canonicalize(value))
        if len(fields) > MAX_FIELDS:
            raise CommitmentError(f"a record has at most {MAX_FIELDS} fields")
    digests = tuple(sorted(f.digest for f in fields.values()))
    if len(set(digests)) != len(digests):  # pragma: no cover - needs a SHA-256 collision
        raise CommitmentError("two fields have the same digest")
    return Commitment(commitment_from_digests(digests), digests, fields), seed
