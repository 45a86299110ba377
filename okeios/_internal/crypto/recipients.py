"""Recipient keys for HPKE (RFC 9180), their bindings to Ethereum addresses, and wrapped data
keys (``docs/encryption.md``).
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from okeios._internal.crypto._common import (
    DATA_KEY_SIZE,
    TAG_SIZE,
    Rng,
    _check_bytes,
    _check_data_key,
    _expect_members,
    _load_json,
    _random,
    _unhex,
)
from okeios._internal.protocol.eip712 import TypedDataEncoder
from okeios._internal.protocol.events import TYPES
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.signing import (
    SIGNATURE_SIZE,
    Signer,
    checksum_address,
    recover_address,
    sign_typed,
)
from okeios.errors import (
    DecryptionError,
    EventError,
    RecipientError,
    SignatureError,
)

# --- 2. recipient keys -------------------------------------------------------------------------

PUBLIC_KEY_MAGIC = b"OKP1"
PRIVATE_KEY_MAGIC = b"OKS1"

_X25519_SIZE = 32
_MLKEM768_PUBLIC_SIZE = 1184
_MLKEM768_SEED_SIZE = 64


class Suite(enum.StrEnum):
    """An HPKE (RFC 9180) cipher suite for wrapping data keys.

    ``X25519``: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM (ids 0x0020, 0x0001,
    0x0002). ``HYBRID``: the ML-KEM-768 + X25519 hybrid KEM (X-Wing, HPKE KEM id 0x647a),
    HKDF-SHA256, AES-256-GCM: secret as long as either ML-KEM-768 or X25519 holds.
    """

    X25519 = "x25519"
    HYBRID = "mlkem768-x25519"

    @property
    def wire_id(self) -> int:
        """The suite's byte in key encodings and wrapped keys (1 or 2)."""
        return _SUITE_IDS[self]

    @property
    def public_key_size(self) -> int:
        """Bytes in a raw public key: 32, or 1184 + 32 = 1216 for the hybrid."""
        return _PUBLIC_SIZES[self]

    @property
    def private_key_size(self) -> int:
        """Bytes of private key material: 32, or 64 (ML-KEM seed) + 32 = 96 for the hybrid."""
        return _PRIVATE_SIZES[self]

    @property
    def enc_size(self) -> int:
        """Bytes of the HPKE encapsulated key ``enc``: 32, or 1088 + 32 = 1120."""
        return _KEMS[self].enc_length()


_SUITE_IDS: Mapping[Suite, int] = {Suite.X25519: 0x01, Suite.HYBRID: 0x02}
_SUITES_BY_ID: Mapping[int, Suite] = {v: k for k, v in _SUITE_IDS.items()}
_PUBLIC_SIZES: Mapping[Suite, int] = {
    Suite.X25519: _X25519_SIZE,
    Suite.HYBRID: _MLKEM768_PUBLIC_SIZE + _X25519_SIZE,
}
_PRIVATE_SIZES: Mapping[Suite, int] = {
    Suite.X25519: _X25519_SIZE,
    Suite.HYBRID: _MLKEM768_SEED_SIZE + _X25519_SIZE,
}
_KEMS: Mapping[Suite, hpke.KEM] = {
    Suite.X25519: hpke.KEM.X25519,
    Suite.HYBRID: hpke.KEM.MLKEM768_X25519,
}
_HPKE: Mapping[Suite, hpke.Suite] = {
    suite: hpke.Suite(kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    for suite, kem in _KEMS.items()
}

_PublicKeyObject = x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey
_PrivateKeyObject = x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey

# Clamped X25519 scalars are multiples of the cofactor, so any one of them maps every
# small-order point to the all-zero shared secret; cryptography refuses that with ValueError.
_PROBE = x25519.X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _suite(value: object) -> Suite:
    try:
        return Suite(str(value))
    except ValueError:
        known = ", ".join(repr(str(s)) for s in Suite)
        raise RecipientError(f"unknown recipient key suite {value!r} (known: {known})") from None


def _x25519_public(raw: bytes) -> x25519.X25519PublicKey:
    key = x25519.X25519PublicKey.from_public_bytes(raw)
    try:
        _PROBE.exchange(key)
    except ValueError as exc:
        raise RecipientError("the X25519 public key is a small-order point") from exc
    return key


def _load_public(suite: Suite, raw: bytes) -> _PublicKeyObject:
    if len(raw) != suite.public_key_size:
        raise RecipientError(
            f"a {suite} public key is {suite.public_key_size} bytes, got {len(raw)}"
        )
    if suite is Suite.X25519:
        return _x25519_public(raw)
    try:
        pq = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:_MLKEM768_PUBLIC_SIZE])
    except ValueError as exc:
        raise RecipientError(f"the ML-KEM-768 public key is invalid: {exc}") from exc
    return hpke.MLKEM768X25519PublicKey(pq, _x25519_public(raw[_MLKEM768_PUBLIC_SIZE:]))


def _split_encoding(data: object, magic: bytes, what: str) -> tuple[Suite, bytes]:
    raw = _check_bytes(data, what, RecipientError)
    if len(raw) < len(magic) + 1:
        raise RecipientError(f"{what} too short: {len(raw)} bytes")
    if raw[: len(magic)] != magic:
        raise RecipientError(f"not an okeios {what}: bad magic {raw[: len(magic)]!r}")
    suite = _SUITES_BY_ID.get(raw[len(magic)])
    if suite is None:
        raise RecipientError(f"{what}: unknown suite id {raw[len(magic)]}")
    return suite, raw[len(magic) + 1 :]


@dataclass(frozen=True, slots=True, repr=False)
class RecipientPublicKey:
    """A recipient's HPKE public key: the suite and the raw public key bytes, checked.

    Raw bytes are the X25519 public key (32), or for the hybrid the ML-KEM-768 encapsulation
    key (1184) followed by the X25519 public key (32), as X-Wing orders them.
    """

    suite: Suite
    raw: bytes
    _key: _PublicKeyObject = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        suite = _suite(self.suite)
        object.__setattr__(self, "suite", suite)
        raw = _check_bytes(self.raw, "a public key", RecipientError)
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "_key", _load_public(suite, raw))

    def to_bytes(self) -> bytes:
        """``"OKP1" || suite id || raw public key``."""
        return PUBLIC_KEY_MAGIC + bytes([self.suite.wire_id]) + self.raw

    @classmethod
    def from_bytes(cls, data: bytes) -> RecipientPublicKey:
        """Decode :meth:`to_bytes` (raises :class:`RecipientError`)."""
        suite, raw = _split_encoding(data, PUBLIC_KEY_MAGIC, "recipient public key")
        return cls(suite, raw)

    def fingerprint(self) -> str:
        """First 8 bytes of SHA-256 of :meth:`to_bytes`, as hex (for people, not for checks)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"RecipientPublicKey(suite={str(self.suite)!r}, fingerprint={self.fingerprint()})"


@dataclass(frozen=True, slots=True, repr=False)
class RecipientPrivateKey:
    """A recipient's HPKE private key (handle with care: protect it with
    :func:`protect_secret` before it touches a disk).

    Its material is the X25519 private key (32 bytes), or for the hybrid the ML-KEM-768 seed
    ``d || z`` (64 bytes, FIPS 203) followed by the X25519 private key (32 bytes).
    """

    suite: Suite
    _secret: bytes
    _key: _PrivateKeyObject = field(init=False, compare=False)
    _public: RecipientPublicKey = field(init=False, compare=False)

    def __post_init__(self) -> None:
        suite = _suite(self.suite)
        object.__setattr__(self, "suite", suite)
        secret = _check_bytes(self._secret, "private key material", RecipientError)
        if len(secret) != suite.private_key_size:
            raise RecipientError(
                f"a {suite} private key is {suite.private_key_size} bytes, got {len(secret)}"
            )
        object.__setattr__(self, "_secret", secret)
        key: _PrivateKeyObject
        if suite is Suite.X25519:
            key = x25519.X25519PrivateKey.from_private_bytes(secret)
            public = key.public_key().public_bytes_raw()
        else:
            try:
                pq = mlkem.MLKEM768PrivateKey.from_seed_bytes(secret[:_MLKEM768_SEED_SIZE])
            except ValueError as exc:
                raise RecipientError(f"invalid ML-KEM-768 seed: {exc}") from exc
            classic = x25519.X25519PrivateKey.from_private_bytes(secret[_MLKEM768_SEED_SIZE:])
            key = hpke.MLKEM768X25519PrivateKey(pq, classic)
            public = pq.public_key().public_bytes_raw() + classic.public_key().public_bytes_raw()
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_public", RecipientPublicKey(suite, public))

    @classmethod
    def generate(cls, suite: Suite = Suite.X25519, rng: Rng = os.urandom) -> RecipientPrivateKey:
        """A fresh key: ``rng(32)`` for X25519, ``rng(96)`` for the hybrid."""
        suite = _suite(suite)
        return cls(suite, _random(rng, suite.private_key_size, f"{suite} private key"))

    def public_key(self) -> RecipientPublicKey:
        return self._public

    def to_bytes(self) -> bytes:
        """``"OKS1" || suite id || private key material`` (secret: protect it)."""
        return PRIVATE_KEY_MAGIC + bytes([self.suite.wire_id]) + self._secret

    @classmethod
    def from_bytes(cls, data: bytes) -> RecipientPrivateKey:
        """Decode :meth:`to_bytes` (raises :class:`RecipientError`)."""
        suite, secret = _split_encoding(data, PRIVATE_KEY_MAGIC, "recipient private key")
        return cls(suite, secret)

    def __repr__(self) -> str:
        return (
            f"RecipientPrivateKey(suite={str(self.suite)!r}, public={self._public.fingerprint()})"
        )


# --- 2b. bindings: an address vouches for its recipient key ------------------------------------

RECIPIENT_KEY_TYPE = "RecipientKey"
BINDING_TYPE = "okeios-recipient-key"
_BINDING_TYPES: Mapping[str, Sequence[Mapping[str, str]]] = {
    "EIP712Domain": TYPES["EIP712Domain"],
    RECIPIENT_KEY_TYPE: [
        {"name": "owner", "type": "address"},
        {"name": "suite", "type": "string"},
        {"name": "publicKey", "type": "bytes"},
    ],
}
_ENCODER = TypedDataEncoder(_BINDING_TYPES)
# Bindings keep the version-1 domain: their format did not change when events moved to "2".
DOMAIN: dict[str, str] = {"name": "okeios", "version": "1"}
_DOMAIN_SEPARATOR = _ENCODER.domain_separator(DOMAIN)


def _binding_message(owner: str, suite: Suite, public_key: bytes) -> dict[str, Any]:
    return {"owner": owner, "suite": str(suite), "publicKey": to_hex(public_key)}


@dataclass(frozen=True, slots=True, repr=False)
class RecipientBinding:
    """An owner's signed statement "this is my recipient key" (not yet checked: see
    :meth:`verify`).

    The owner signs the EIP-712 struct ``RecipientKey(address owner,string suite,bytes
    publicKey)`` in the okeios domain ``{name: "okeios", version: "1"}``.
    """

    owner: str
    suite: Suite
    public_key: bytes
    signature: bytes
    digest: bytes = field(init=False, repr=False, compare=False)
    recipient: RecipientPublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            owner = checksum_address(self.owner)
        except EventError as exc:
            raise RecipientError(f"a binding's owner is not an address: {exc}") from exc
        object.__setattr__(self, "owner", owner)
        suite = _suite(self.suite)
        object.__setattr__(self, "suite", suite)
        recipient = RecipientPublicKey(suite, self.public_key)
        object.__setattr__(self, "public_key", recipient.raw)
        object.__setattr__(self, "recipient", recipient)
        signature = _check_bytes(self.signature, "a binding signature", RecipientError)
        if len(signature) != SIGNATURE_SIZE:
            raise RecipientError(
                f"a binding signature is {SIGNATURE_SIZE} bytes, got {len(signature)}"
            )
        object.__setattr__(self, "signature", signature)
        object.__setattr__(
            self,
            "digest",
            _ENCODER.digest(_DOMAIN_SEPARATOR, RECIPIENT_KEY_TYPE, self.message()),
        )

    def message(self) -> dict[str, Any]:
        """The EIP-712 ``message`` (JSON-friendly: bytes as 0x-hex)."""
        return _binding_message(self.owner, self.suite, self.public_key)

    def typed_data(self) -> dict[str, Any]:
        """The full ``eth_signTypedData_v4`` document the owner signs."""
        return _binding_typed_data(self.message())

    def verify(self) -> str:
        """The owner's address, once the signature is checked to recover to it.

        Raises :class:`RecipientError` when the signature is malformed or was made by another
        key (someone else signed, or the public key was swapped after signing).
        """
        try:
            signer = recover_address(self.digest, self.signature)
        except SignatureError as exc:
            raise RecipientError(f"the recipient key binding of {self.owner}: {exc}") from exc
        if signer != self.owner:
            raise RecipientError(
                f"the recipient key binding claims {self.owner} but its signature recovers "
                f"to {signer}: the key was not bound by its owner"
            )
        return self.owner

    def __repr__(self) -> str:
        return (
            f"RecipientBinding(owner={self.owner!r}, suite={str(self.suite)!r}, "
            f"key={self.recipient.fingerprint()})"
        )

    def to_json(self) -> str:
        """The binding as a JSON document, for publishing (sorted keys, 0x-hex bytes)."""
        return json.dumps(
            {
                "type": BINDING_TYPE,
                "version": 1,
                "owner": self.owner,
                "suite": str(self.suite),
                "publicKey": to_hex(self.public_key),
                "signature": to_hex(self.signature),
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> RecipientBinding:
        """Decode :meth:`to_json`. The result is well formed but unchecked: call
        :meth:`verify` (:func:`wrap_data_key` does). Raises :class:`RecipientError`."""
        doc = _load_json(text, RecipientError, "a recipient key binding")
        fields = {"type", "version", "owner", "suite", "publicKey", "signature"}
        _expect_members(doc, fields, RecipientError, "a recipient key binding")
        if doc["type"] != BINDING_TYPE:
            raise RecipientError(f"not an okeios recipient key binding (type {doc['type']!r})")
        if doc["version"] != 1 or isinstance(doc["version"], bool):
            raise RecipientError(f"recipient key binding version {doc['version']!r} unsupported")
        if not isinstance(doc["owner"], str) or not isinstance(doc["suite"], str):
            raise RecipientError("a binding's owner and suite are strings")
        return cls(
            owner=doc["owner"],
            suite=_suite(doc["suite"]),
            public_key=_unhex(doc["publicKey"], "publicKey", RecipientError),
            signature=_unhex(doc["signature"], "signature", RecipientError),
        )


def _binding_typed_data(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "types": {name: [dict(f) for f in fields] for name, fields in _BINDING_TYPES.items()},
        "primaryType": RECIPIENT_KEY_TYPE,
        "domain": dict(DOMAIN),
        "message": message,
    }


def bind_recipient_key(public: RecipientPublicKey, signer: Signer) -> RecipientBinding:
    """Have ``signer`` bind ``public`` to its address (an EIP-712 ``RecipientKey`` signature)."""
    if not isinstance(public, RecipientPublicKey):
        raise RecipientError(f"expected a RecipientPublicKey, got {type(public).__name__}")
    owner = checksum_address(signer.address)
    message = _binding_message(owner, public.suite, public.raw)
    digest = _ENCODER.digest(_DOMAIN_SEPARATOR, RECIPIENT_KEY_TYPE, message)
    signature = sign_typed(signer, _binding_typed_data(message), digest)
    return RecipientBinding(owner, public.suite, public.raw, signature)


# --- 3. wrapped data keys ----------------------------------------------------------------------

WRAP_MAGIC = b"OKW1"
_WRAP_HEADER = len(WRAP_MAGIC) + 1 + 2
_WRAPPED_CT_SIZE = DATA_KEY_SIZE + TAG_SIZE


def wrap_data_key(data_key: bytes, binding: RecipientBinding, *, info: bytes) -> bytes:
    """HPKE-seal a data key to a bound recipient key (base mode, empty aad).

    The binding is verified first (:class:`RecipientError` if its owner did not sign it).
    Output: ``"OKW1" || suite id || u16be(len(enc)) || enc || ct`` where ``ct`` is the
    48-byte AES-256-GCM ciphertext and tag of the data key.
    """
    key = _check_data_key(data_key)
    context = _check_bytes(info, "info")
    if not isinstance(binding, RecipientBinding):
        raise RecipientError(f"expected a RecipientBinding, got {type(binding).__name__}")
    binding.verify()
    suite = binding.suite
    try:
        sealed = _HPKE[suite].encrypt(key, binding.recipient._key, info=context)
    except ValueError as exc:
        raise RecipientError(f"cannot encrypt to this {suite} key: {exc}") from exc
    return WRAP_MAGIC + bytes([suite.wire_id]) + suite.enc_size.to_bytes(2, "big") + sealed


def unwrap_data_key(wrapped: bytes, private: RecipientPrivateKey, *, info: bytes) -> bytes:
    """Open a wrapped data key with the recipient's private key and the same ``info``.

    Raises :class:`DecryptionError` for malformed, truncated or tampered input, another
    recipient's key or another ``info``; :class:`RecipientError` when the wrapped key was made
    for another suite than ``private``'s.
    """
    context = _check_bytes(info, "info")
    if not isinstance(private, RecipientPrivateKey):
        raise RecipientError(f"expected a RecipientPrivateKey, got {type(private).__name__}")
    data = _check_bytes(wrapped, "a wrapped key", DecryptionError)
    head = data[: len(WRAP_MAGIC)]
    if head != WRAP_MAGIC[: len(head)]:
        raise DecryptionError(
            f"not an okeios wrapped key: bad magic {head!r} (expected {WRAP_MAGIC!r})"
        )
    if len(data) < _WRAP_HEADER:
        raise DecryptionError(f"wrapped key too short: {len(data)} bytes")
    suite = _SUITES_BY_ID.get(data[len(WRAP_MAGIC)])
    if suite is None:
        raise DecryptionError(f"wrapped key has an unknown suite id {data[len(WRAP_MAGIC)]}")
    if suite is not private.suite:
        raise RecipientError(f"the key was wrapped for suite {suite}, this key is {private.suite}")
    enc_size = int.from_bytes(data[len(WRAP_MAGIC) + 1 : _WRAP_HEADER], "big")
    if enc_size != suite.enc_size:
        raise DecryptionError(
            f"a {suite} wrapped key has a {suite.enc_size}-byte enc, the header says {enc_size}"
        )
    expected = _WRAP_HEADER + enc_size + _WRAPPED_CT_SIZE
    if len(data) != expected:
        what = "too short" if len(data) < expected else "too long"
        raise DecryptionError(
            f"wrapped key {what}: {len(data)} bytes, a {suite} wrapped key is {expected}"
        )
    try:
        key = _HPKE[suite].decrypt(data[_WRAP_HEADER:], private._key, info=context)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError(
            "wrapped key authentication failed (another recipient's key, other info, or tampered)"
        ) from exc
    if len(key) != DATA_KEY_SIZE:  # only a sender that breaks the format gets here
        raise DecryptionError(f"the wrapped secret is {len(key)} bytes, not a data key")
    return key
