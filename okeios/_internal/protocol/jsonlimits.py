"""A cheap nesting check to run before any JSON parser sees untrusted text.

Python's C JSON scanner recurses once per nested array or object and stops only at the
interpreter's recursion limit. Some libraries okeios loads (web3's) raise that limit to 100,000,
far past what the C stack holds, so ``json.loads("[" * 10**6)`` can crash the process instead of
raising. :func:`nesting_exceeds` answers, without parsing, whether text nests deeper than a
limit: strings are dropped (their brackets do not count), the remaining brackets are matched
innermost first, one level per pass, at most ``limit`` passes. Text with few brackets returns at
once.
"""

from __future__ import annotations

import re

__all__ = ["nesting_exceeds"]

# A JSON string: a quote, then characters other than a quote or a backslash and escapes (a
# backslash and the byte after it), then a quote. The strings ``"(?:[^"\\]|\\.)*"`` matches,
# written unrolled: one step of the matcher per run of plain characters rather than per
# character, about three times faster.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_exceeds(text: str | bytes | bytearray, limit: int) -> bool:
    """Whether ``text`` nests arrays and objects more than ``limit`` deep (or its brackets do
    not balance, which no parser would accept either)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(brackets):
            return True  # unbalanced
        brackets = shorter
    return bool(brackets)
