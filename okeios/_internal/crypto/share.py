"""Shares: how a granted recipient receives a record, and opens and checks it.

A share file (``application/vnd.okeios.share+json``) carries, for one record version and one
recipient:

* ``payload``: the sealed record exactly as the owner's store holds it (its SHA-256 is the
  ``ciphertextDigest`` the signed event commits to);
* ``wrappedKey``: the version's data key, HPKE-sealed to the recipient's bound public key with
  ``info = "okeios/grant/v1" 0x00 || record id || u64be(version)``;
* ``seed``: the version's commitment seed, sealed under the data key (AES-256-GCM, aad
  ``"okeios/share/seed/v1" 0x00 || record id || u64be(version)``);
* ``bundle``: the proof bundle of the version's content event, disclosing no field.

Nothing in it is readable without the recipient's private key. :func:`open_share` decrypts,
checks the ciphertext against the signed digest and the record against the signed commitment
(by recomputing every salted field digest from the seed), then verifies the bundle.

"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from okeios._internal.crypto.payload import payload_aad, seal_payload
from okeios._internal.protocol.bundle import MAX_BUNDLE_SIZE, MAX_ELEMENTS, MAX_JSON_DEPTH, Bundle
from okeios._internal.protocol.canonical import load_json_strict
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.jsonlimits import nesting_exceeds
from okeios.errors import (
    BadMagicError,
    EncodingError,
    NonCanonicalEncodingError,
    UnknownFieldError,
    UnsupportedVersionError,
)

__all__ = ["SHARE_MEDIA_TYPE", "Share", "grant_info", "seal_seed"]

SHARE_MEDIA_TYPE = "application/vnd.okeios.share+json"
#: A share carries a JSON bundle and the record's ciphertext, both hex: about twice a bundle.
MAX_SHARE_SIZE = 2 * MAX_BUNDLE_SIZE + 1024 * 1024
_SEED_LABEL = b"okeios/share/seed/v1\x00"
_GRANT_LABEL = b"okeios/grant/v1\x00"
_SHARE_MEMBERS = (
    "mediaType",
    "version",
    "recipient",
    "suite",
    "wrappedKey",
    "payload",
    "seed",
    "bundle",
)


def grant_info(record_id: bytes, version: int) -> bytes:
    """The HPKE ``info`` binding a wrapped data key to one record version."""
    return _GRANT_LABEL + payload_aad(record_id, version)


def seal_seed(data_key: bytes, seed: bytes, record_id: bytes, version: int, rng: Any) -> bytes:
    return seal_payload(data_key, seed, aad=_SEED_LABEL + payload_aad(record_id, version), rng=rng)


@dataclass(frozen=True, slots=True)
class Share:
    """One record version, sealed for one recipient."""

    recipient: str
    suite: str
    wrapped_key: bytes
    payload: bytes
    seed: bytes
    bundle: Bundle

    def to_json(self) -> str:
        return json.dumps(
            {
                "mediaType": SHARE_MEDIA_TYPE,
                "version": 1,
                "recipient": self.recipient,
                "suite": self.suite,
                "wrappedKey": to_hex(self.wrapped_key),
                "payload": to_hex(self.payload),
                "seed": to_hex(self.seed),
                "bundle": self.bundle.to_json_dict(),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Share:
        if not isinstance(text, str | bytes | bytearray):
            raise EncodingError(f"a share is JSON text, got {type(text).__name__}")
        if len(text) > MAX_SHARE_SIZE:
            raise EncodingError(f"a share is at most {MAX_SHARE_SIZE} bytes")
        if (
            text.count(b",") if isinstance(text, bytes | bytearray) else text.count(",")
        ) > MAX_ELEMENTS:
            raise EncodingError(f"a share has at most {MAX_ELEMENTS} elements")
        if nesting_exceeds(text, MAX_JSON_DEPTH):
            raise EncodingError(f"a share nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(text, bytes | bytearray):
            # UTF-8 only: Python's json would also guess UTF-16 and UTF-32 from the bytes.
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EncodingError(f"a share is UTF-8 text: {exc}") from exc
        try:
            raw = load_json_strict(text)
        except (ValueError, RecursionError) as exc:
            raise EncodingError(f"a share is JSON: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("mediaType") != SHARE_MEDIA_TYPE:
            raise BadMagicError("not an okeios share file")
        if raw.get("version") != 1:
            raise UnsupportedVersionError(f"share version {raw.get('version')!r} is not supported")
        unknown = sorted(set(raw) - set(_SHARE_MEMBERS))
        if unknown:
            raise UnknownFieldError(f"a share has no member {unknown[0]!r}")
        for name in ("wrappedKey", "payload", "seed"):
            value = raw.get(name)
            # One spelling per value, as in a bundle: 0x and lower-case digits only.
            if isinstance(value, str) and value != value.lower():
                raise NonCanonicalEncodingError(f"{name}: hex digits must be lower case")
        try:
            return cls(
                recipient=str(raw["recipient"]),
                suite=str(raw["suite"]),
                wrapped_key=from_hex(raw["wrappedKey"], "wrappedKey", error=EncodingError),
                payload=from_hex(raw["payload"], "payload", error=EncodingError),
                seed=from_hex(raw["seed"], "seed", error=EncodingError),
                bundle=Bundle.from_json(json.dumps(raw["bundle"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, EncodingError):
                raise
            raise EncodingError(f"malformed share: {exc!r}") from exc
