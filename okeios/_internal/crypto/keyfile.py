"""Protected secrets at rest: a secret sealed under a key derived from a passphrase (Argon2id)
or a key file (HKDF-SHA256) (``docs/encryption.md``).
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from okeios._internal.crypto._common import (
    DATA_KEY_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
    Rng,
    _check_bytes,
    _expect_members,
    _load_json,
    _random,
    _unhex,
)
from okeios._internal.protocol.hexcodec import to_hex
from okeios.errors import (
    KeyProtectionError,
)

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
        "aead": {"name": _AES_256_GCM, "nonce": to_hex(nonce)},
        "ciphertext": to_hex(ciphertext),
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
        "salt": to_hex(salt),
    }
    return _seal_protected(kdf_doc, _argon2_key(password, salt, params), data, rng)


def protect_secret_with_key(secret: bytes, key_file: bytes, *, rng: Rng = os.urandom) -> bytes:
    """Seal ``secret`` under ``HKDF-SHA256(key_file)`` (a key file of at least 32 random
    bytes instead of a passphrase); the same container, with kdf ``hkdf-sha256``."""
    data = _check_bytes(secret, "a secret", KeyProtectionError)
    material = _check_key_file(key_file)
    salt = _random(rng, _HKDF_SALT_SIZE, "salt")
    kdf_doc = {"name": _HKDF_SHA256, "salt": to_hex(salt)}
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
