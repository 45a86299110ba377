"""The published log file: what a publisher hands auditors (``okeios log -o FILE``).

JSON lines: a header ``{"format": "okeios-log", "version": 1, "publisher", "logId"}``, then one
line per entry in log order ``{"index", "event" (the EIP-712 message), "signature"}``, then one
line per signed checkpoint ``{"checkpoint": {"treeSize", "root", "publisher", "signature"}}``.
Written here (the publisher's side writes it, the auditor's side reads it:
:func:`okeios.verify.audit.read_log`), so neither side imports the other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from okeios.protocol.events import SignedCheckpoint, SignedEvent

__all__ = ["LOG_FORMAT", "write_log"]

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
        out(
            json.dumps(
                {
                    "index": n - 1,
                    "event": signed.event.message(),
                    "signature": "0x" + signed.signature.hex(),
                }
            )
            + "\n"
        )
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
