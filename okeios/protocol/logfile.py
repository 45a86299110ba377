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

from okeios.errors import InputError, OkeiosError
from okeios.protocol.canonical import load_json_strict
from okeios.protocol.events import Checkpoint, SignedCheckpoint, SignedEvent, event_from_message
from okeios.protocol.signing import checksum_address

__all__ = ["LOG_FORMAT", "LogFile", "entry_line", "read_log", "write_log"]

LOG_FORMAT = "okeios-log"


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
                "logId": "0x" + log_id.hex(),
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
                        "root": "0x" + c.root.hex(),
                        "publisher": cp.publisher,
                        "signature": "0x" + cp.signature.hex(),
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
            "signature": "0x" + signed.signature.hex(),
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
    """Parse a log file; malformed lines become defects, not exceptions."""
    it: Iterator[str] = iter(lines)
    try:
        header = load_json_strict(next(it))
        if header.get("format") != LOG_FORMAT or header.get("version") != 1:
            raise InputError("not an okeios log file (format/version)")
        publisher = checksum_address(header["publisher"])
        log_id = bytes.fromhex(header["logId"][2:])
    except StopIteration:
        raise InputError("the log file is empty") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"bad log file header: {exc}") from exc
    parsed = LogFile(publisher, log_id, [], [], [])
    for position, line in enumerate(it):
        if not line.strip():
            continue
        try:
            item = load_json_strict(line)
            if "checkpoint" in item:
                c = item["checkpoint"]
                cp = SignedCheckpoint(
                    Checkpoint(log_id, int(c["treeSize"]), bytes.fromhex(c["root"][2:])),
                    c["publisher"],
                    bytes.fromhex(c["signature"][2:]),
                )
                parsed.checkpoints.append((position, cp))
                continue
            signed = SignedEvent(
                event_from_message(item["event"]), bytes.fromhex(item["signature"][2:])
            )
            parsed.entries.append((position, signed, signed.leaf_data()))
        except (ValueError, KeyError, TypeError, AttributeError, OkeiosError) as exc:
            parsed.malformed.append((position, f"line {position + 2}: {exc}"))
            parsed.entries.append((position, None, None))
    return parsed
