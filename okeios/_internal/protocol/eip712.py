"""EIP-712 typed structured data: type encoding, struct hashing and the signing digest.

This module defines signed bytes, so it is small and kept apart. It implements ``encodeType``,
``typeHash``, ``encodeData``, ``hashStruct`` and the final digest
``keccak256(0x19 0x01 || domainSeparator || hashStruct(message))`` as EIP-712 specifies, for
any set of types: atomic (``uintN``, ``intN``, ``bool``, ``address``, ``bytesN``), dynamic
(``bytes``, ``string``), struct references and arrays (``T[]`` and ``T[n]``).

A :class:`TypedDataEncoder` compiles a type set once (type hashes and one encoder function per
field), so hashing many messages of the same types costs only the encoding and keccak calls.
The EIP's own example (``Mail``) and okeios's event and checkpoint types go through the same
code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from okeios._internal.protocol.hexcodec import from_hex
from okeios._internal.protocol.keccak import keccak256
from okeios.errors import EventError

__all__ = [
    "TypedDataEncoder",
    "typed_data_digest",
]

Types = Mapping[str, Sequence[Mapping[str, str]]]
_FieldEncoder = Callable[[Any], bytes]

_ARRAY = re.compile(r"^(.+)\[(\d*)\]$")
_UINT = re.compile(r"^uint(\d{0,3})$")
_INT = re.compile(r"^int(\d{0,3})$")
_BYTES_N = re.compile(r"^bytes(\d{1,2})$")
_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_HEX40 = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _as_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return from_hex(value, what, error=EventError)
        except ValueError as exc:
            raise EventError(f"{what}: {value!r} is not hex") from exc
    raise EventError(f"{what}: expected bytes or 0x-hex, got {type(value).__name__}")


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise EventError(f"{what}: expected an integer, got a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError as exc:
            raise EventError(f"{what}: {value!r} is not an integer") from exc
    raise EventError(f"{what}: expected an integer, got {type(value).__name__}")


class TypedDataEncoder:
    """EIP-712 hashing for one set of struct types, compiled once.

    ``types`` maps a struct name to its ordered ``[{"name": ..., "type": ...}, ...]`` fields,
    exactly as in an ``eth_signTypedData_v4`` request (an ``EIP712Domain`` entry is allowed and
    used for the domain separator).
    """

    def __init__(self, types: Types) -> None:
        self._types: dict[str, tuple[tuple[str, str], ...]] = {}
        for name, fields in types.items():
            if not _IDENT.match(name):
                raise EventError(f"EIP-712 type name {name!r} is not an identifier")
            pairs = tuple((f["name"], f["type"]) for f in fields)
            if len({n for n, _ in pairs}) != len(pairs):
                raise EventError(f"EIP-712 type {name} has a duplicate field name")
            self._types[name] = pairs
        self._type_hashes = {
            name: keccak256(self.encode_type(name).encode()) for name in self._types
        }
        self._encoders: dict[str, tuple[tuple[str, _FieldEncoder], ...]] = {}
        for name in self._types:
            self._encoders[name] = tuple(
                (field, self._compile(ftype, f"{name}.{field}"))
                for field, ftype in self._types[name]
            )

    # -- type encoding -------------------------------------------------------------------------

    def _dependencies(self, name: str, found: set[str]) -> None:
        if name in found or name not in self._types:
            return
        found.add(name)
        for _, ftype in self._types[name]:
            base = ftype
            while (m := _ARRAY.match(base)) is not None:
                base = m.group(1)
            self._dependencies(base, found)

    def encode_type(self, name: str) -> str:
        """``encodeType``: the primary type, then its dependencies sorted by name."""
        if name not in self._types:
            raise EventError(f"unknown EIP-712 type {name!r}")
        deps: set[str] = set()
        self._dependencies(name, deps)
        deps.discard(name)
        return "".join(
            f"{n}({','.join(f'{t} {f}' for f, t in self._types[n])})" for n in [name, *sorted(deps)]
        )

    def type_hash(self, name: str) -> bytes:
        """``typeHash = keccak256(encodeType(name))``."""
        try:
            return self._type_hashes[name]
        except KeyError:
            raise EventError(f"unknown EIP-712 type {name!r}") from None

    # -- data encoding -------------------------------------------------------------------------

    def _compile(self, ftype: str, what: str) -> _FieldEncoder:
        if (m := _ARRAY.match(ftype)) is not None:
            inner = self._compile(m.group(1), f"{what}[]")
            length = int(m.group(2)) if m.group(2) else None

            def encode_array(value: Any) -> bytes:
                if not isinstance(value, list | tuple):
                    raise EventError(f"{what}: expected an array")
                if length is not None and len(value) != length:
                    raise EventError(f"{what}: expected {length} items, got {len(value)}")
                return keccak256(b"".join(inner(v) for v in value))

            return encode_array
        if ftype in self._types:
            name = ftype
            return lambda value: self.hash_struct(name, value)
        if ftype == "string":

            def encode_string(value: Any) -> bytes:
                if not isinstance(value, str):
                    raise EventError(f"{what}: expected a string")
                return keccak256(value.encode("utf-8"))

            return encode_string
        if ftype == "bytes":
            return lambda value: keccak256(_as_bytes(value, what))
        if ftype == "bool":

            def encode_bool(value: Any) -> bytes:
                if not isinstance(value, bool):
                    raise EventError(f"{what}: expected a bool")
                return (1 if value else 0).to_bytes(32, "big")

            return encode_bool
        if ftype == "address":

            def encode_address(value: Any) -> bytes:
                if isinstance(value, str):
                    if not _HEX40.match(value):
                        raise EventError(f"{what}: {value!r} is not a 20-byte hex address")
                    raw = from_hex(value, what, error=EventError, any_case=True)
                else:
                    raw = _as_bytes(value, what)
                    if len(raw) != 20:
                        raise EventError(f"{what}: an address is 20 bytes, got {len(raw)}")
                return raw.rjust(32, b"\x00")

            return encode_address
        if (m := _BYTES_N.match(ftype)) is not None:
            size = int(m.group(1))
            if not 1 <= size <= 32:
                raise EventError(f"{what}: invalid type {ftype}")

            def encode_fixed(value: Any) -> bytes:
                raw = _as_bytes(value, what)
                if len(raw) != size:
                    raise EventError(f"{what}: expected {size} bytes, got {len(raw)}")
                return raw.ljust(32, b"\x00")

            return encode_fixed
        for pattern, signed in ((_UINT, False), (_INT, True)):
            if (m := pattern.match(ftype)) is not None:
                bits = int(m.group(1) or 256)
                if bits % 8 or not 8 <= bits <= 256:
                    raise EventError(f"{what}: invalid type {ftype}")
                lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)

                def encode_int(value: Any, lo: int = lo, hi: int = hi) -> bytes:
                    n = _as_int(value, what)
                    if not lo <= n < hi:
                        raise EventError(f"{what}: {n} is out of range for {ftype}")
                    return (n % (1 << 256)).to_bytes(32, "big")

                return encode_int
        raise EventError(f"{what}: unknown EIP-712 type {ftype!r}")

    def encode_data(self, name: str, value: Mapping[str, Any]) -> bytes:
        """``encodeData``: the type hash followed by each field's 32-byte encoding."""
        try:
            encoders = self._encoders[name]
        except KeyError:
            raise EventError(f"unknown EIP-712 type {name!r}") from None
        if not isinstance(value, Mapping):
            raise EventError(f"{name}: expected a mapping, got {type(value).__name__}")
        parts = [self._type_hashes[name]]
        for field, encode in encoders:
            try:
                item = value[field]
            except KeyError:
                raise EventError(f"{name}.{field} is missing") from None
            parts.append(encode(item))
        if len(value) != len(encoders):
            extra = sorted(set(value) - {f for f, _ in encoders})
            raise EventError(f"{name} has fields its type does not declare: {extra}")
        return b"".join(parts)

    def hash_struct(self, name: str, value: Mapping[str, Any]) -> bytes:
        """``hashStruct = keccak256(encodeData(name, value))``."""
        return keccak256(self.encode_data(name, value))

    def domain_separator(self, domain: Mapping[str, Any]) -> bytes:
        """``hashStruct("EIP712Domain", domain)``."""
        return self.hash_struct("EIP712Domain", domain)

    def digest(
        self, domain_separator: bytes, primary_type: str, message: Mapping[str, Any]
    ) -> bytes:
        """The 32 bytes a signer signs: ``keccak256(0x1901 || domainSeparator || hashStruct)``."""
        return keccak256(b"\x19\x01" + domain_separator + self.hash_struct(primary_type, message))


def typed_data_digest(typed_data: Mapping[str, Any]) -> bytes:
    """The EIP-712 digest of a full ``eth_signTypedData_v4``-style document."""
    try:
        types = typed_data["types"]
        primary = typed_data["primaryType"]
        domain = typed_data["domain"]
        message = typed_data["message"]
    except (KeyError, TypeError) as exc:
        raise EventError(f"typed data lacks {exc}") from exc
    encoder = TypedDataEncoder(types)
    return encoder.digest(encoder.domain_separator(domain), primary, message)
