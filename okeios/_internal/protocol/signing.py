"""Signers and signature recovery (secp256k1, Ethereum-style 65-byte signatures).

A :class:`Signer` is anything with an Ethereum ``address`` that can sign EIP-712 typed data:
:class:`LocalSigner` holds a private key in memory and signs the digest with coincurve;
:class:`EthAccountSigner` adapts any eth-account ``LocalAccount``; a hardware key or a wallet
implements the same two members (it receives the full typed data to show its user). Whatever
signs, :func:`sign_typed` recovers the signer from the result and refuses a signature made by
another key.

Signatures are ``r || s || v`` with ``v`` in {27, 28}; :func:`recover_address` accepts only
low-``s`` signatures (EIP-2), so a signature has exactly one valid encoding.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import coincurve

from okeios._internal.protocol.hexcodec import from_hex
from okeios._internal.protocol.keccak import keccak256
from okeios.errors import EventError, SignatureError

__all__ = [
    "SIGNATURE_SIZE",
    "DigestSigner",
    "EthAccountSigner",
    "LocalSigner",
    "Signer",
    "checksum_address",
    "recover_address",
    "sign_typed",
    "signature_from_rs",
]

SIGNATURE_SIZE = 65
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = _SECP256K1_N // 2
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@functools.lru_cache(maxsize=4096)
def _eip55(raw: bytes) -> str:
    """The EIP-55 mixed-case form of a 20-byte address."""
    lower = raw.hex()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and digest[i] in "89abcdef" else c for i, c in enumerate(lower)
    )


@functools.lru_cache(maxsize=4096)
def checksum_address(value: str | bytes) -> str:
    """Validate an address (0x-hex string or 20 bytes) and return its EIP-55 checksummed form."""
    if isinstance(value, bytes | bytearray):
        if len(value) != 20:
            raise EventError(f"an address is 20 bytes, got {len(value)}")
        return _eip55(bytes(value))
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise EventError(f"{value!r} is not a 0x-prefixed 20-byte hex address")
    checksummed = _eip55(from_hex(value, any_case=True))
    if value != value.lower() and value[2:] != value[2:].upper() and value != checksummed:
        raise EventError(f"{value!r} has a wrong EIP-55 checksum (expected {checksummed})")
    return checksummed


def _address_of(public_key: coincurve.PublicKey) -> str:
    raw = public_key.format(compressed=False)[1:]
    return _eip55(keccak256(raw)[-20:])


def recover_address(digest: bytes, signature: bytes) -> str:
    """The checksummed address whose key made ``signature`` over the 32-byte ``digest``.

    Raises :class:`SignatureError` for a malformed, high-``s`` or unrecoverable signature.
    """
    if len(digest) != 32:
        raise SignatureError(f"a signed digest is 32 bytes, got {len(digest)}")
    if not isinstance(signature, bytes | bytearray) or len(signature) != SIGNATURE_SIZE:
        got = len(signature) if isinstance(signature, bytes | bytearray) else "not bytes"
        raise SignatureError(f"a signature is {SIGNATURE_SIZE} bytes, got {got}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v not in (27, 28):
        raise SignatureError(f"signature v must be 27 or 28, got {v}")
    if not 0 < r < _SECP256K1_N or not 0 < s <= _HALF_N:
        raise SignatureError("signature r or s is out of range (high-s signatures are refused)")
    try:
        key = coincurve.PublicKey.from_signature_and_message(
            bytes(signature[:64]) + bytes([v - 27]), digest, hasher=None
        )
    except Exception as exc:  # coincurve raises plain Exception/ValueError on failure
        raise SignatureError(f"no public key recovers from this signature: {exc}") from exc
    return _address_of(key)


@runtime_checkable
class Signer(Protocol):
    """Something that signs EIP-712 typed data for one Ethereum address."""

    @property
    def address(self) -> str:
        """The checksummed address the signatures recover to."""
        ...

    def sign_typed_data(self, typed_data: Mapping[str, Any], digest: bytes) -> bytes:
        """Sign ``typed_data`` (an ``eth_signTypedData_v4`` document) whose EIP-712 digest is
        ``digest``; return the 65-byte ``r || s || v`` signature.

        Local keys sign ``digest`` directly; wallets and hardware keys sign ``typed_data`` so
        they can show it, and the caller checks the result recovers to :attr:`address`.
        """
        ...


@dataclass(frozen=True, slots=True, repr=False)
class LocalSigner:
    """A secp256k1 private key held in memory; signs with coincurve (RFC 6979 nonces)."""

    _key: coincurve.PrivateKey
    address: str

    @classmethod
    def from_key(cls, private_key: bytes | str) -> LocalSigner:
        """A signer from a 32-byte key (bytes or 0x-hex)."""
        raw = (
            from_hex(
                private_key, "a private key", error=SignatureError, prefix=False, any_case=True
            )
            if isinstance(private_key, str)
            else private_key
        )
        if len(raw) != 32:
            raise SignatureError(f"a private key is 32 bytes, got {len(raw)}")
        try:
            key = coincurve.PrivateKey(raw)
        except Exception as exc:
            raise SignatureError(f"invalid secp256k1 private key: {exc}") from exc
        return cls(key, _address_of(key.public_key))

    @classmethod
    def generate(cls, rng: Callable[[int], bytes] = os.urandom) -> LocalSigner:
        """A fresh random key (``rng`` is injectable for reproducible tests)."""
        while True:
            raw = rng(32)
            if 0 < int.from_bytes(raw, "big") < _SECP256K1_N:
                return cls.from_key(raw)

    @property
    def private_key(self) -> bytes:
        """The raw 32-byte private key (handle with care)."""
        return bytes(self._key.secret)

    def sign_typed_data(self, typed_data: Mapping[str, Any], digest: bytes) -> bytes:
        return self.unsafe_sign_digest(digest)

    def unsafe_sign_digest(self, digest: bytes) -> bytes:
        """Sign a raw 32-byte digest. Unsafe: the caller must know what the digest commits to."""
        if len(digest) != 32:
            raise SignatureError(f"a digest is 32 bytes, got {len(digest)}")
        sig = self._key.sign_recoverable(digest, hasher=None)
        return sig[:64] + bytes([sig[64] + 27])

    def __repr__(self) -> str:
        return f"LocalSigner(address={self.address!r})"


class EthAccountSigner:
    """Adapts an eth-account ``LocalAccount`` (or anything with ``sign_typed_data``)."""

    def __init__(self, account: Any) -> None:
        self._account = account
        self._address = checksum_address(account.address)

    @property
    def address(self) -> str:
        return self._address

    def sign_typed_data(self, typed_data: Mapping[str, Any], digest: bytes) -> bytes:
        signed = self._account.sign_typed_data(full_message=dict(typed_data))
        return bytes(signed.signature)


def signature_from_rs(digest: bytes, r: int, s: int, address: str) -> bytes:
    """The 65-byte ``r || s || v`` signature of ``address`` from a bare ECDSA ``(r, s)`` over
    ``digest``, as a KMS or HSM returns it (after DER decoding): ``s`` is brought to the low
    half (EIP-2) and ``v`` found by recovering the key both ways. Raises
    :class:`SignatureError` when neither recovers to ``address``."""
    if not 0 < r < _SECP256K1_N or not 0 < s < _SECP256K1_N:
        raise SignatureError("signature r or s is out of range")
    if s > _HALF_N:
        s = _SECP256K1_N - s
    body = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    want = checksum_address(address)
    for v in (27, 28):
        candidate = body + bytes([v])
        try:
            if recover_address(digest, candidate) == want:
                return candidate
        except SignatureError:
            continue
    raise SignatureError(f"the signature (r, s) was not made by {want}")


class DigestSigner:
    """A :class:`Signer` over any service that signs a 32-byte digest with a secp256k1 key it
    never reveals (a cloud KMS, an HSM through PKCS#11, a smart card): ``sign_digest(digest)``
    returns ``(r, s)``; this class normalises ``s`` and finds ``v`` (``docs/identity.md``).
    """

    def __init__(self, address: str, sign_digest: Callable[[bytes], tuple[int, int]]) -> None:
        self._address = checksum_address(address)
        self._sign_digest = sign_digest

    @property
    def address(self) -> str:
        return self._address

    def sign_typed_data(self, typed_data: Mapping[str, Any], digest: bytes) -> bytes:
        r, s = self._sign_digest(digest)
        return signature_from_rs(digest, r, s, self._address)


def sign_typed(signer: Signer, typed_data: Mapping[str, Any], digest: bytes) -> bytes:
    """Have ``signer`` sign, then check the signature recovers to the signer's address.

    A :class:`LocalSigner` signs with its own key, so its check is skipped; any other signer
    (a wallet, a hardware key) is checked.
    """
    signature = bytes(signer.sign_typed_data(typed_data, digest))
    if isinstance(signer, LocalSigner):
        return signature
    recovered = recover_address(digest, signature)
    if recovered != signer.address:
        raise SignatureError(
            f"the signer for {signer.address} produced a signature that recovers to {recovered}"
        )
    return signature
