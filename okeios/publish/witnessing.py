"""Gather witness cosignatures on a checkpoint note (the client side of C2SP tlog-witness).

For each witness URL the publisher posts ``add-checkpoint`` with the size it last had cosigned
there (0 at first) and a consistency proof from it. A witness that answers 409 says which size
it holds: the publisher retries once from that size, with the matching proof. Whatever a
witness answers, nothing it says is trusted here: cosignatures are checked by the verifiers that
hold the witness keys.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field

from okeios.errors import NoteError
from okeios.protocol.merkle import MerkleLog
from okeios.protocol.note import (
    NoteSignature,
    SignedNote,
    add_checkpoint_request,
    parse_checkpoint,
    parse_cosignatures,
    parse_decimal,
)

__all__ = ["WitnessOutcome", "request_cosignatures"]


@dataclass
class WitnessOutcome:
    """What each witness answered: cosignature lines, or the HTTP status and message."""

    cosignatures: list[NoteSignature] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)


def _post(url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    target = url.rstrip("/") + "/add-checkpoint"
    request = urllib.request.Request(target, data=body, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), bytes(resp.read(1 << 16))
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read(1 << 16))


def _request(old: int, log: MerkleLog, note: SignedNote) -> bytes:
    size = parse_checkpoint(note.text).tree_size
    proof = log.consistency_proof(old, size) if 0 < old < size else []
    return add_checkpoint_request(old, proof, note)


def request_cosignatures(
    note: SignedNote,
    log: MerkleLog,
    witnesses: Sequence[str],
    *,
    known_sizes: dict[str, int] | None = None,
    timeout: float = 30.0,
) -> WitnessOutcome:
    """Ask each witness (base URL) to cosign ``note``, a checkpoint of ``log``."""
    size = parse_checkpoint(note.text).tree_size
    sizes = known_sizes if known_sizes is not None else {}
    outcome = WitnessOutcome()
    for url in witnesses:
        old = sizes.get(url, 0)
        try:
            status, body = _post(url, _request(old, log, note), timeout)
            if status == 409:
                old = parse_decimal(body.decode("ascii").strip(), "the witness's tree size")
                if old > size:
                    outcome.refusals[url] = f"the witness holds size {old}, above {size}"
                    continue
                status, body = _post(url, _request(old, log, note), timeout)
            if status != 200:
                outcome.refusals[url] = f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
                continue
            lines = parse_cosignatures(body)
        except (OSError, urllib.error.URLError, UnicodeDecodeError, NoteError) as exc:
            outcome.refusals[url] = str(exc)
            continue
        sizes[url] = size
        outcome.cosignatures.extend(lines)
    return outcome
