"""The one hex codec of okeios: ``0x``-prefixed lowercase hex for bytes in JSON and on screen.

:func:`to_hex` writes it and is the only place that spells ``0x`` before hex digits;
:func:`from_hex` reads it strictly and is the only place in okeios that turns hex text into
bytes (``tests/architecture/test_layers.py`` refuses ``bytes.fromhex`` and a hand-written
``"0x" + x.hex()`` anywhere else). Record, event and log ids are typed on top of it
(:mod:`okeios._internal.protocol.ids`). Strict means the one canonical form: the ``0x`` prefix,
whole byte pairs of **lower-case** digits, and the exact size when one is given. An upper-case,
short or long form of an identifier is refused, never folded into the canonical one: two
spellings of one log id would otherwise let a mirror present one log as two (issue 19, rollback
by re-casing). Only Ethereum addresses, whose case carries the EIP-55 checksum (checked by
:func:`okeios._internal.protocol.signing.checksum_address`), and a key the owner types at the
command line are read with ``any_case=True``. Errors are the caller's typed error, never a bare
``ValueError``.
"""

from __future__ import annotations

import re

from okeios.errors import InputError, OkeiosError

__all__ = ["from_hex", "hex_repr", "is_canonical_hex", "to_hex"]

_HEX = re.compile(r"0x(?:[0-9a-f]{2})*")
_ANY_CASE = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


def to_hex(value: bytes) -> str:
    """``0x`` followed by two lowercase hex digits per byte."""
    return "0x" + bytes(value).hex()


def is_canonical_hex(value: object, size: int | None = None) -> bool:
    """Whether ``value`` is the canonical text of some bytes (of ``size`` bytes if given)."""
    return (
        isinstance(value, str)
        and _HEX.fullmatch(value) is not None
        and (size is None or len(value) == 2 + 2 * size)
    )


def from_hex(
    value: object,
    what: str = "a hex value",
    *,
    size: int | None = None,
    error: type[OkeiosError] = InputError,
    prefix: bool = True,
    any_case: bool = False,
) -> bytes:
    """The bytes of a ``0x``-prefixed lower-case hex string (``prefix=False`` also takes it
    bare; ``any_case=True`` also takes upper-case digits, for addresses and typed keys only).

    Raises ``error`` (an :class:`~okeios.errors.OkeiosError` subclass) naming ``what`` for a
    non-string, a missing prefix, an odd, upper-case or non-hex digit, or a length other than
    ``size``.
    """
    if not isinstance(value, str):
        raise error(f"{what} must be a 0x-prefixed hex string, got {type(value).__name__}")
    text = value if value.startswith("0x") or prefix else "0x" + value
    if (_ANY_CASE if any_case else _HEX).fullmatch(text) is None:
        shown = value if len(value) <= 20 else value[:20] + "…"
        raise error(
            f"{what} must be a 0x-prefixed string of lower-case hex byte pairs, got {shown!r}"
        )
    raw = bytes.fromhex(text[2:])
    if size is not None and len(raw) != size:
        raise error(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


_SHOWN_BYTES = 40  # longer byte strings are shown by their start and length


def _shown(value: object) -> str:
    import dataclasses
    import enum

    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) > _SHOWN_BYTES:
            return f"{to_hex(raw[:8])}…({len(raw)} bytes)"
        return to_hex(raw)
    if isinstance(value, enum.Enum):
        return repr(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return hex_repr(value)
    if isinstance(value, tuple | list):
        inner = ", ".join(_shown(v) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def hex_repr(obj: object) -> str:
    """A dataclass's repr with bytes as ``0x`` hex (long ones cut to their start and length)
    and enums as their values, at any depth: what a result prints as in a REPL or a log."""
    import dataclasses

    fields = dataclasses.fields(obj)  # type: ignore[arg-type]
    inner = ", ".join(f"{f.name}={_shown(getattr(obj, f.name))}" for f in fields if f.repr)
    return f"{type(obj).__name__}({inner})"
