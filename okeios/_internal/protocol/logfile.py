"""The published log file (``okeios log -o FILE``): what a publisher hands to auditors.

JSON lines: a header ``{"format": "okeios-log", "version": 1, "publisher", "logId"}``, then one
line per entry in log order (``{"index", "event", "signature"}``: the EIP-712 event message and
its 65-byte signature, 0x-hex), then the signed checkpoints
(``{"checkpoint": {"treeSize", "root", "publisher", "signature"}}``). ``docs/audit.md`` has the
details. Reading never raises on a bad entry line: it is reported as malformed, so an audit
can name it and go on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from okeios._internal.protocol.canonical import load_json_strict
from okeios._internal.protocol.events import (
    Checkpoint,
    SignedCheckpoint,
    SignedEvent,
    event_from_message,
)
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.jsonlimits import nesting_exceeds
from okeios._internal.protocol.signing import checksum_address
from okeios.errors import InputError, OkeiosError

__all__ = ["LOG_FORMAT", "MAX_LOG_LINE", "LogFile", "entry_line", "read_log", "write_log"]

LOG_FORMAT = "okeios-log"
MAX_LOG_LINE = 1 << 20  # one entry or checkpoint is about a kilobyte


def write_log(
    out: Callable[[str], object],
    publisher: str,
    log_id: bytes,
    events: Iterable[SignedEvent],
    checkpoints: Iterable[SignedCheckpoint] = (),
) -> int:
    """Write a log file through ``out`` (one call per line); return the number of entries."""
    out(
        json.dumps(
            {
                "format": LOG_FORMAT,
                "version": 1,
                "publisher": publisher,
                "logId": to_hex(log_id),
            }
        )
        + "\n"
    )
    n = 0
    for n, signed in enumerate(events, 1):
        out(entry_line(n - 1, signed) + "\n")
    for cp in checkpoints:
        c = cp.checkpoint
        out(
            json.dumps(
                {
                    "checkpoint": {
                        "treeSize": c.tree_size,
                        "root": to_hex(c.root),
                        "publisher": cp.publisher,
                        "signature": to_hex(cp.signature),
                    }
                }
            )
            + "\n"
        )
    return n


def entry_line(index: int, signed: SignedEvent) -> str:
    """The JSON line (without its newline) of the entry at ``index``; a tiled log serves the
    same lines in its okeios event bundles (``docs/interop.md``)."""
    return json.dumps(
        {
            "index": index,
            "event": signed.event.message(),
            "signature": to_hex(signed.signature),
        }
    )


@dataclass
class LogFile:
    """A parsed log file: entries in file order, checkpoints, and the lines that did not parse."""

    publisher: str
    log_id: bytes
    entries: list[tuple[int, SignedEvent | None, bytes | None]]  # (position, event, leaf data)
    checkpoints: list[tuple[int, SignedCheckpoint | None]]
    malformed: list[tuple[int, str]]  # (position, what is wrong)


def read_log(lines: Iterable[str]) -> LogFile:
    """Parse a log file; malformed lines become defects, not exceptions. Every line is bounded
    (:data:`MAX_LOG_LINE` characters, 16 levels of nesting) before a JSON parser sees it, and an
    object with a repeated member name is refused."""
    it: Iterator[str] = iter(lines)
    try:
        first = next(it)
        if len(first) > MAX_LOG_LINE:
            raise InputError(f"the header line is longer than {MAX_LOG_LINE} characters")
        if nesting_exceeds(first, 16):
            raise InputError("the header line nests deeper than 16 levels")
        header = load_json_strict(first)
        if header.get("format") != LOG_FORMAT or header.get("version") != 1:
            raise InputError("not an okeios log file (format/version)")
        publisher = checksum_address(header["publisher"])
        log_id = from_hex(header["logId"])
    except StopIteration:
        raise InputError("the log file is empty") from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"bad log file header: {exc}") from exc
    parsed = LogFile(publisher, log_id, [], [], [])
    for position, line in enumerate(it):
        if not line.strip():
            continue
        try:
            if len(line) > MAX_LOG_LINE:
                raise InputError(f"the line is longer than {MAX_LOG_LINE} characters")
            if nesting_exceeds(line, 16):
                raise InputError("the line nests deeper than 16 levels")
            item = load_json_strict(line)
            if "checkpoint" in item:
                c = item["checkpoint"]
                cp = SignedCheckpoint(
                    Checkpoint(log_id, int(c["treeSize"]), from_hex(c["root"])),
                    c["publisher"],
                    from_hex(c["signature"]),
                )
                parsed.checkpoints.append((position, cp))
                continue
            signed = SignedEvent(event_from_message(item["event"]), from_hex(item["signature"]))
            parsed.entries.append((position, signed, signed.leaf_data()))
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            RecursionError,
            OkeiosError,
        ) as exc:
            parsed.malformed.append((position, f"line {position + 2}: {exc}"))
            parsed.entries.append((position, None, None))
    return parsed
