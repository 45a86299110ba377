"""Confidentiality: sealed payloads, recipient keys bound to addresses, wrapped data keys and
protected secrets at rest.

Every encrypted byte format okeios writes is defined here, and only here (``docs/encryption.md``
specifies each one byte by byte, with test vectors):

* a **sealed payload** ``"OKC1" || nonce(12) || AES-256-GCM ciphertext || tag(16)`` under a
  fresh 32-byte data key per record version, with ``record id || u64be(version)`` as the
  associated data (:func:`seal_payload`, :func:`open_payload`, :func:`payload_aad`);
* a **recipient key** for HPKE (RFC 9180, base mode) in one of two suites (:class:`Suite`):
  X25519, or the post-quantum hybrid ML-KEM-768 + X25519 (X-Wing), each with HKDF-SHA256 and
  AES-256-GCM; its public half is **bound** to an Ethereum address by an EIP-712 signature of
  the address's key (:class:`RecipientBinding`), so a data key is only ever wrapped to a key
  its owner vouched for;
* a **wrapped data key** ``"OKW1" || suite id || u16be(len(enc)) || enc || ct``
  (:func:`wrap_data_key`, :func:`unwrap_data_key`);
* a **protected secret**: a small JSON document holding a secret sealed with AES-256-GCM under a
  key derived from a passphrase (Argon2id) or from a key file (HKDF-SHA256)
  (:func:`protect_secret`, :func:`protect_secret_with_key`).

Randomness is a parameter (``rng``) wherever the primitive allows it, so sealed payloads,
protected secrets and recipient keys are reproducible from test vectors. HPKE encapsulation
draws its own ephemeral randomness inside ``cryptography`` and cannot be reproduced.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .eip712 import TypedDataEncoder
from .errors import (
    CryptoError,
    DecryptionError,
    EventError,
    KeyProtectionError,
    RecipientError,
    SignatureError,
)
from .events import DOMAIN, TYPES
from .signing import SIGNATURE_SIZE, Signer, checksum_address, recover_address, sign_typed

__all__ = [
    "ARGON2_DEFAULT",
    "BINDING_TYPE",
    "DATA_KEY_SIZE",
    "MAX_ARGON2_ITERATIONS",
    "MAX_ARGON2_LANES",
    "MAX_ARGON2_MEMORY_KIB",
    "PAYLOAD_MAGIC",
    "PRIVATE_KEY_MAGIC",
    "PROTECTED_FORMAT",
    "PUBLIC_KEY_MAGIC",
    "RECIPIENT_KEY_TYPE",
    "WRAP_MAGIC",
    "Argon2Params",
    "RecipientBinding",
    "RecipientPrivateKey",
    "RecipientPublicKey",
    "Suite",
    "bind_recipient_key",
    "new_data_key",
    "open_payload",
    "payload_aad",
    "payload_digest",
    "protect_secret",
    "protect_secret_with_key",
    "seal_payload",
    "unprotect_secret",
    "unprotect_secret_with_key",
    "unwrap_data_key",
    "wrap_data_key",
]

Rng = Callable[[int], bytes]

DATA_KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
_U64 = 1 << 64
_HEX = re.compile(r"^0x(?:[0-9a-fA-F]{2})*\Z")


def _random(rng: Rng, size: int, what: str) -> bytes:
    value = rng(size)
    if not isinstance(value, bytes) or len(value) != size:
        got = len(value) if isinstance(value, bytes) else type(value).__name__
        raise CryptoError(f"the random source gave {got} for a {size}-byte {what}")
    return value


def _check_bytes(value: object, what: str, error: type[CryptoError] = CryptoError) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise error(f"{what} must be bytes, got {type(value).__name__}")
    return bytes(value)


def _check_data_key(data_key: object) -> bytes:
    key = _check_bytes(data_key, "a data key")
    if len(key) != DATA_KEY_SIZE:
        raise CryptoError(f"a data key is {DATA_KEY_SIZE} bytes, got {len(key)}")
    return key


# --- 1. sealed payloads ------------------------------------------------------------------------

PAYLOAD_MAGIC = b"OKC1"
_PAYLOAD_MIN = len(PAYLOAD_MAGIC) + NONCE_SIZE + TAG_SIZE


def new_data_key(rng: Rng = os.urandom) -> bytes:
    """A fresh 32-byte AES-256 data key. Use one per record version, never two."""
    return _random(rng, DATA_KEY_SIZE, "data key")


def payload_aad(record_id: bytes, version: int) -> bytes:
    """The associated data of a record version's payload: ``record id (32) || u64be(version)``."""
    rid = _check_bytes(record_id, "a record id")
    if len(rid) != 32:
        raise CryptoError(f"a record id is 32 bytes, got {len(rid)}")
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < _U64:
        raise CryptoError(f"a version is an integer in 0..2^64-1, got {version!r}")
    return rid + version.to_bytes(8, "big")


def seal_payload(data_key: bytes, plaintext: bytes, *, aad: bytes, rng: Rng = os.urandom) -> bytes:
    """AES-256-GCM: ``"OKC1" || nonce(12) || ciphertext || tag(16)``, the nonce from ``rng``."""
    key = _check_data_key(data_key)
    data = _check_bytes(plaintext, "a plaintext")
    ad = _check_bytes(aad, "aad")
    nonce = _random(rng, NONCE_SIZE, "nonce")
    return PAYLOAD_MAGIC + nonce + AESGCM(key).encrypt(nonce, data, ad)


def open_payload(data_key: bytes, blob: bytes, *, aad: bytes) -> bytes:
    """The plaintext of a sealed payload.

    Raises :class:`DecryptionError` for bytes that are not a sealed payload (bad magic), too
    short to be one, or that fail authentication (wrong key, wrong ``aad``, or tampered).
    """
    key = _check_data_key(data_key)
    ad = _check_bytes(aad, "aad")
    data = _check_bytes(blob, "a sealed payload", DecryptionError)
    head = data[: len(PAYLOAD_MAGIC)]
    if head != PAYLOAD_MAGIC[: len(head)]:
        raise DecryptionError(
            f"not a sealed okeios payload: bad magic {head!r} (expected {PAYLOAD_MAGIC!r})"
        )
    if len(data) < _PAYLOAD_MIN:
        raise DecryptionError(
            f"sealed payload too short: {len(data)} bytes, at least {_PAYLOAD_MIN} expected"
        )
    nonce = data[len(PAYLOAD_MAGIC) : len(PAYLOAD_MAGIC) + NONCE_SIZE]
    try:
        return AESGCM(key).decrypt(nonce, data[len(PAYLOAD_MAGIC) + NONCE_SIZE :], ad)
    except InvalidTag as exc:
        raise DecryptionError(
            "sealed payload authentication failed (wrong data key, wrong aad, or tampered)"
        ) from exc


def payload_digest(blob: bytes) -> bytes:
    """SHA-256 of the whole sealed payload: the ``ciphertextDigest`` a signed event commits to."""
    return hashlib.sha256(_check_bytes(blob, "a sealed payload")).digest()


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
_DOMAIN_SEPARATOR = _ENCODER.domain_separator(DOMAIN)


def _binding_message(owner: str, suite: Suite, public_key: bytes) -> dict[str, Any]:
    return {"owner": owner, "suite": str(suite), "publicKey": "0x" + public_key.hex()}


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
                "publicKey": "0x" + self.public_key.hex(),
                "signature": "0x" + self.signature.hex(),
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


# --- 4. protected secrets at rest --------------------------------------------------------------

PROTECTED_FORMAT = "okeios-protected-secret"
_PROTECTED_VERSION = 1
_PROTECTED_AAD = b"okeios/protected-secret/v1\x00"
_ARGON2ID = "argon2id"
_HKDF_SHA256 = "hkdf-sha256"
_AES_256_GCM = "aes-256-gcm"
_ARGON2_SALT_SIZE = 16
_HKDF_SALT_SIZE = 32
_HKDF_INFO = _PROTECTED_AAD + _HKDF_SHA256.encode("ascii")
_MIN_SALT = 16
_MAX_SALT = 64
_MIN_KEY_FILE = 32
MAX_ARGON2_ITERATIONS = 64
MAX_ARGON2_LANES = 64
MAX_ARGON2_MEMORY_KIB = 1 << 21  # 2 GiB


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """Argon2id cost parameters (RFC 9106). The default is RFC 9106's second recommended
    option: 3 passes, 4 lanes, 64 MiB. Reading a file refuses anything above the caps
    (64 passes, 64 lanes, 2 GiB), so a damaged file cannot ask for unbounded work."""

    iterations: int = 3
    lanes: int = 4
    memory_kib: int = 1 << 16

    def __post_init__(self) -> None:
        for name, value, cap in (
            ("iterations", self.iterations, MAX_ARGON2_ITERATIONS),
            ("lanes", self.lanes, MAX_ARGON2_LANES),
            ("memory_kib", self.memory_kib, MAX_ARGON2_MEMORY_KIB),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= cap:
                raise KeyProtectionError(f"Argon2id {name} must be an integer in 1..{cap}")
        if self.memory_kib < 8 * self.lanes:
            raise KeyProtectionError("Argon2id memory_kib must be at least 8 * lanes")


ARGON2_DEFAULT = Argon2Params()


def _passphrase_bytes(passphrase: str) -> bytes:
    if not isinstance(passphrase, str):
        raise KeyProtectionError(f"a passphrase is a str, got {type(passphrase).__name__}")
    if not passphrase:
        raise KeyProtectionError("the passphrase is empty")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _argon2_key(passphrase: bytes, salt: bytes, params: Argon2Params) -> bytes:
    try:
        kdf = Argon2id(
            salt=salt,
            length=DATA_KEY_SIZE,
            iterations=params.iterations,
            lanes=params.lanes,
            memory_cost=params.memory_kib,
        )
        return kdf.derive(passphrase)
    except ValueError as exc:
        raise KeyProtectionError(f"Argon2id refused its parameters: {exc}") from exc


def _check_key_file(key_file: object) -> bytes:
    material = _check_bytes(key_file, "a key file", KeyProtectionError)
    if len(material) < _MIN_KEY_FILE:
        raise KeyProtectionError(
            f"a key file holds at least {_MIN_KEY_FILE} bytes, got {len(material)}"
        )
    return material


def _hkdf_key(key_file: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=DATA_KEY_SIZE, salt=salt, info=_HKDF_INFO).derive(
        key_file
    )


def _seal_protected(kdf_doc: dict[str, Any], key: bytes, secret: bytes, rng: Rng) -> bytes:
    nonce = _random(rng, NONCE_SIZE, "nonce")
    aad = _PROTECTED_AAD + kdf_doc["name"].encode("ascii")
    ciphertext = AESGCM(key).encrypt(nonce, secret, aad)
    doc = {
        "format": PROTECTED_FORMAT,
        "version": _PROTECTED_VERSION,
        "kdf": kdf_doc,
        "aead": {"name": _AES_256_GCM, "nonce": "0x" + nonce.hex()},
        "ciphertext": "0x" + ciphertext.hex(),
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


def protect_secret(
    secret: bytes,
    passphrase: str,
    *,
    rng: Rng = os.urandom,
    params: Argon2Params = ARGON2_DEFAULT,
) -> bytes:
    """Seal ``secret`` under a key derived from ``passphrase`` with Argon2id.

    The passphrase is NFC-normalised and UTF-8 encoded; the salt (16 bytes) and the nonce
    (12 bytes) come from ``rng``. Returns a JSON document (UTF-8 bytes) that names the KDF
    and its parameters, so they can be raised later without breaking old files.
    """
    data = _check_bytes(secret, "a secret", KeyProtectionError)
    password = _passphrase_bytes(passphrase)
    if not isinstance(params, Argon2Params):
        raise KeyProtectionError(f"expected Argon2Params, got {type(params).__name__}")
    salt = _random(rng, _ARGON2_SALT_SIZE, "salt")
    kdf_doc = {
        "name": _ARGON2ID,
        "iterations": params.iterations,
        "lanes": params.lanes,
        "memoryKiB": params.memory_kib,
        "salt": "0x" + salt.hex(),
    }
    return _seal_protected(kdf_doc, _argon2_key(password, salt, params), data, rng)


def protect_secret_with_key(secret: bytes, key_file: bytes, *, rng: Rng = os.urandom) -> bytes:
    """Seal ``secret`` under ``HKDF-SHA256(key_file)`` (a key file of at least 32 random
    bytes instead of a passphrase); the same container, with kdf ``hkdf-sha256``."""
    data = _check_bytes(secret, "a secret", KeyProtectionError)
    material = _check_key_file(key_file)
    salt = _random(rng, _HKDF_SALT_SIZE, "salt")
    kdf_doc = {"name": _HKDF_SHA256, "salt": "0x" + salt.hex()}
    return _seal_protected(kdf_doc, _hkdf_key(material, salt), data, rng)


@dataclass(frozen=True, slots=True)
class _Protected:
    kdf: str
    kdf_doc: Mapping[str, Any]
    salt: bytes
    nonce: bytes
    ciphertext: bytes


def _parse_protected(blob: bytes | str) -> _Protected:
    doc = _load_json(blob, KeyProtectionError, "a protected secret")
    if doc.get("format") != PROTECTED_FORMAT:
        raise KeyProtectionError(f"not an okeios protected secret (format {doc.get('format')!r})")
    version = doc.get("version")
    if version != _PROTECTED_VERSION or isinstance(version, bool):
        raise KeyProtectionError(f"protected secret version {version!r} is not supported")
    _expect_members(
        doc, {"format", "version", "kdf", "aead", "ciphertext"}, KeyProtectionError, "the file"
    )
    kdf_doc, aead = doc["kdf"], doc["aead"]
    if not isinstance(kdf_doc, dict) or not isinstance(aead, dict):
        raise KeyProtectionError("the file's kdf and aead are JSON objects")
    _expect_members(aead, {"name", "nonce"}, KeyProtectionError, "aead")
    if aead["name"] != _AES_256_GCM:
        raise KeyProtectionError(f"unknown cipher {aead['name']!r} (expected {_AES_256_GCM!r})")
    nonce = _unhex(aead["nonce"], "aead.nonce", KeyProtectionError)
    if len(nonce) != NONCE_SIZE:
        raise KeyProtectionError(f"the nonce is {NONCE_SIZE} bytes, got {len(nonce)}")
    ciphertext = _unhex(doc["ciphertext"], "ciphertext", KeyProtectionError)
    if len(ciphertext) < TAG_SIZE:
        raise KeyProtectionError(f"the ciphertext is shorter than the {TAG_SIZE}-byte tag")
    name = kdf_doc.get("name")
    if name == _ARGON2ID:
        members = {"name", "iterations", "lanes", "memoryKiB", "salt"}
    elif name == _HKDF_SHA256:
        members = {"name", "salt"}
    else:
        raise KeyProtectionError(f"unknown kdf {name!r} (known: {_ARGON2ID}, {_HKDF_SHA256})")
    _expect_members(kdf_doc, members, KeyProtectionError, "kdf")
    salt = _unhex(kdf_doc["salt"], "kdf.salt", KeyProtectionError)
    if not _MIN_SALT <= len(salt) <= _MAX_SALT:
        raise KeyProtectionError(f"the salt is {_MIN_SALT} to {_MAX_SALT} bytes, got {len(salt)}")
    return _Protected(name, kdf_doc, salt, nonce, ciphertext)


def _open_protected(protected: _Protected, key: bytes, what: str) -> bytes:
    aad = _PROTECTED_AAD + protected.kdf.encode("ascii")
    try:
        return AESGCM(key).decrypt(protected.nonce, protected.ciphertext, aad)
    except InvalidTag as exc:
        raise KeyProtectionError(
            f"cannot open the protected secret: wrong {what}, or the file was altered"
        ) from exc


def unprotect_secret(blob: bytes | str, passphrase: str) -> bytes:
    """The secret :func:`protect_secret` sealed (:class:`KeyProtectionError` on a wrong
    passphrase or a damaged file)."""
    protected = _parse_protected(blob)
    if protected.kdf != _ARGON2ID:
        raise KeyProtectionError(
            f"this secret is protected with a key file ({protected.kdf}), not a passphrase"
        )
    params = Argon2Params(
        iterations=protected.kdf_doc["iterations"],
        lanes=protected.kdf_doc["lanes"],
        memory_kib=protected.kdf_doc["memoryKiB"],
    )
    key = _argon2_key(_passphrase_bytes(passphrase), protected.salt, params)
    return _open_protected(protected, key, "passphrase")


def unprotect_secret_with_key(blob: bytes | str, key_file: bytes) -> bytes:
    """The secret :func:`protect_secret_with_key` sealed (:class:`KeyProtectionError` on a
    wrong key file or a damaged file)."""
    protected = _parse_protected(blob)
    if protected.kdf != _HKDF_SHA256:
        raise KeyProtectionError(
            f"this secret is protected with a passphrase ({protected.kdf}), not a key file"
        )
    key = _hkdf_key(_check_key_file(key_file), protected.salt)
    return _open_protected(protected, key, "key file")


# --- JSON helpers ------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate member {key!r}")
        out[key] = value
    return out


def _load_json(text: object, error: type[CryptoError], what: str) -> dict[str, Any]:
    if not isinstance(text, str | bytes | bytearray):
        raise error(f"{what} is JSON text, got {type(text).__name__}")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise error(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise error(f"{what} is a JSON object, got {type(doc).__name__}")
    return doc


def _expect_members(
    doc: Mapping[str, Any], names: set[str], error: type[CryptoError], what: str
) -> None:
    missing = sorted(names - doc.keys())
    extra = sorted(doc.keys() - names)
    if missing or extra:
        raise error(f"{what}: missing members {missing}, unknown members {extra}")


def _unhex(value: object, what: str, error: type[CryptoError]) -> bytes:
    if not isinstance(value, str) or not _HEX.match(value):
        raise error(f"{what} must be a 0x-prefixed string of hex byte pairs")
    return bytes.fromhex(value[2:])
