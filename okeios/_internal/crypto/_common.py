"""Helpers shared by the encrypted formats: randomness, byte checks, strict JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from okeios._internal.protocol.hexcodec import from_hex
from okeios._internal.protocol.jsonlimits import nesting_exceeds
from okeios.errors import (
    CryptoError,
)

Rng = Callable[[int], bytes]

DATA_KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
_U64 = 1 << 64


def _random(rng: Rng, size: int, what: str) -> bytes:
    value = rng(size)
    if not isinstance(value, bytes) or len(value) != size:
        got = len(value) if isinstance(value, bytes) else type(value).__name__
        raise CryptoError(f"the random source gave {got} for a {size}-byte {what}")
    return value


def _check_bytes(value: object, what: str, error: type[CryptoError] = CryptoError) -> bytes:
    if type(value) is bytes:  # immutable already: no copy
        return value
    if not isinstance(value, bytes | bytearray | memoryview):
        raise error(f"{what} must be bytes, got {type(value).__name__}")
    return bytes(value)


def _check_data_key(data_key: object) -> bytes:
    key = _check_bytes(data_key, "a data key")
    if len(key) != DATA_KEY_SIZE:
        raise CryptoError(f"a data key is {DATA_KEY_SIZE} bytes, got {len(key)}")
    return key


# --- JSON helpers ------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate member {key!r}")
        out[key] = value
    return out


#: The largest small JSON document (key files, bindings) okeios decodes.
MAX_SMALL_JSON = 1 << 20


def _load_json(text: object, error: type[CryptoError], what: str) -> dict[str, Any]:
    if not isinstance(text, str | bytes | bytearray):
        raise error(f"{what} is JSON text, got {type(text).__name__}")
    if len(text) > MAX_SMALL_JSON:
        raise error(f"{what} is larger than {MAX_SMALL_JSON} bytes")
    if nesting_exceeds(text, 16):
        raise error(f"{what} nests deeper than 16 levels")
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
    return from_hex(value, what, error=error)
