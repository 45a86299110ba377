"""An independent RFC 9180 (HPKE) base mode, for HKDF-SHA256 only: labeled HKDF written over
``hmac``, DHKEM(X25519) and the key schedule. The crypto tests check the library against it;
the conformance script seals its fixed-key shares with it."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives.asymmetric import x25519


def labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, b"HPKE-v1" + suite_id + label + ikm, hashlib.sha256).digest()


def labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled = length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + labeled + bytes([counter]), hashlib.sha256).digest()
        out, counter = out + block, counter + 1
    return out[:length]


def dhkem_x25519_shared_secret(dh: bytes, enc: bytes, pk_r: bytes) -> bytes:
    kem_suite_id = b"KEM" + (0x0020).to_bytes(2, "big")
    prk = labeled_extract(kem_suite_id, b"", b"eae_prk", dh)
    return labeled_expand(kem_suite_id, prk, b"shared_secret", enc + pk_r, 32)


def key_schedule(
    kem_id: int, aead_id: int, key_size: int, shared_secret: bytes, info: bytes
) -> tuple[bytes, bytes]:
    """(key, base_nonce) of RFC 9180 section 5.1, mode_base, KDF HKDF-SHA256 (0x0001)."""
    suite_id = b"HPKE" + kem_id.to_bytes(2, "big") + b"\x00\x01" + aead_id.to_bytes(2, "big")
    context = (
        b"\x00"
        + labeled_extract(suite_id, b"", b"psk_id_hash", b"")
        + labeled_extract(suite_id, b"", b"info_hash", info)
    )
    secret = labeled_extract(suite_id, shared_secret, b"secret", b"")
    return (
        labeled_expand(suite_id, secret, b"key", context, key_size),
        labeled_expand(suite_id, secret, b"base_nonce", context, 12),
    )


def x25519_raw(private: bytes) -> x25519.X25519PrivateKey:
    return x25519.X25519PrivateKey.from_private_bytes(private)


def x25519_exchange(private: bytes, public: bytes) -> bytes:
    return x25519_raw(private).exchange(x25519.X25519PublicKey.from_public_bytes(public))
