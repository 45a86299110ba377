"""The one hex codec of okeios: ``0x``-prefixed lowercase hex for bytes in JSON and on screen.

:func:`to_hex` writes it; :func:`from_hex` reads it strictly (the prefix, whole byte pairs,
an optional exact size) and raises the caller's typed error, never a bare ``ValueError``.
"""

from __future__ import annotations

import re

from okeios.errors import InputError, OkeiosError

__all__ = ["from_hex", "to_hex"]

_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


def to_hex(value: bytes) -> str:
    """``0x`` followed by two lowercase hex digits per byte."""
    return "0x" + bytes(value).hex()


def from_hex(
    value: object,
    what: str = "a hex value",
    *,
    size: int | None = None,
    error: type[OkeiosError] = InputError,
    prefix: bool = True,
) -> bytes:
    """The bytes of a ``0x``-prefixed hex string (``prefix=False`` also takes it bare).

    Raises ``error`` (an :class:`~okeios.errors.OkeiosError` subclass) naming ``what`` for a
    non-string, a missing prefix, an odd or non-hex digit, or a length other than ``size``.
    """
    if not isinstance(value, str):
        raise error(f"{what} must be a 0x-prefixed hex string, got {type(value).__name__}")
    text = value if value.startswith("0x") or prefix else "0x" + value
    if _HEX.fullmatch(text) is None:
        shown = value if len(value) <= 20 else value[:20] + "…"
        raise error(f"{what} must be a 0x-prefixed string of hex byte pairs, got {shown!r}")
    raw = bytes.fromhex(text[2:])
    if size is not None and len(raw) != size:
        raise error(f"{what} must be {size} bytes, got {len(raw)}")
    return raw
