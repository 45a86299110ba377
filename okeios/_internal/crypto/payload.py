"""Sealed payloads: ``"OKC1" || nonce(12) || AES-256-GCM ciphertext || tag(16)`` under a fresh
32-byte data key per record version (``docs/encryption.md``).
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from okeios._internal.crypto._common import (
    _U64,
    DATA_KEY_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
    Rng,
    _check_bytes,
    _check_data_key,
    _random,
)
from okeios.errors import (
    CryptoError,
    DecryptionError,
)

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
