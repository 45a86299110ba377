"""Gather witness cosignatures on a checkpoint note (the client side of C2SP tlog-witness).

For each witness URL the publisher posts ``add-checkpoint`` with the size it last had cosigned
there (0 at first) and a consistency proof from it. A witness that answers 409 says which size
it holds: the publisher retries once from that size, with the matching proof.

A publisher checks what it publishes. An answer is only text from a server: one garbage line
under the log's own note key name would make the published note fail the signed-note rules for
every reader, and a line dated in the future would make every verifier refuse the note. So
every line a witness answers is verified here before it is kept: it must be a
``cosignature/v1`` by one of the witness keys the publisher was given (``witness_keys``), over
this very checkpoint text (hence this origin, size and root), dated no later than
:data:`FUTURE_SKEW` seconds from now. Anything else is dropped and reported in
:attr:`WitnessOutcome.dropped` with its reason (a :class:`~okeios._internal.verify.report.Reason`
value):

* ``unknown-cosigner``: the line names a key that is not one of ``witness_keys`` (a foreign
  line, or one under the log's own note key);
* ``bad-cosignature``: a given witness key whose signature does not verify over this checkpoint;
* ``future-cosignature``: dated more than :data:`FUTURE_SKEW` seconds ahead of the clock.
"""

from __future__ import annotations

import time as _time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field

from okeios._internal.protocol.merkle import MerkleLog
from okeios._internal.protocol.note import (
    CosignatureVerifier,
    NoteSignature,
    SignedNote,
    add_checkpoint_request,
    parse_checkpoint,
    parse_cosignatures,
    parse_decimal,
)
from okeios._internal.protocol.reasons import Reason
from okeios.errors import NoteError

__all__ = [
    "DROP_REASONS",
    "FUTURE_SKEW",
    "WitnessOutcome",
    "check_cosignature",
    "request_cosignatures",
]

FUTURE_SKEW = 300  # seconds; the same allowance verifiers give (okeios._internal.verify.witness)
UNKNOWN_COSIGNER = Reason.UNKNOWN_COSIGNER
BAD_COSIGNATURE = Reason.BAD_COSIGNATURE
FUTURE_COSIGNATURE = Reason.FUTURE_COSIGNATURE
#: The reasons a witness's line is dropped: members of the one ``Reason`` vocabulary.
DROP_REASONS = (UNKNOWN_COSIGNER, BAD_COSIGNATURE, FUTURE_COSIGNATURE)


@dataclass
class WitnessOutcome:
    """What each witness answered: verified cosignature lines, the lines dropped (per URL:
    ``(reason, detail)``), or the HTTP status and message of a refusal."""

    cosignatures: list[NoteSignature] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def check_cosignature(
    text: str, line: NoteSignature, witness_keys: Sequence[CosignatureVerifier], now: float
) -> tuple[str, str] | None:
    """Why ``line`` must not be published on the checkpoint note ``text`` (a reason and a
    detail), or None when it is a good cosignature by one of ``witness_keys``."""
    key = next((k for k in witness_keys if (k.name, k.key_id) == (line.name, line.key_id)), None)
    if key is None:
        return UNKNOWN_COSIGNER, f"{line.name} ({line.key_id.hex()}) is not a given witness key"
    ts = key.timestamp(text, line.signature)
    if ts is None:
        return BAD_COSIGNATURE, f"the cosignature of {line.name} does not verify on this checkpoint"
    if ts > now + FUTURE_SKEW:
        return FUTURE_COSIGNATURE, f"{line.name} cosigned at {ts}, in the future"
    return None


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
    witness_keys: Sequence[CosignatureVerifier],
    known_sizes: dict[str, int] | None = None,
    timeout: float = 30.0,
    now: float | None = None,
) -> WitnessOutcome:
    """Ask each witness (base URL) to cosign ``note``, a checkpoint of ``log``; keep only the
    lines that verify under ``witness_keys`` (see the module docstring)."""
    if not witness_keys:
        raise NoteError("give the witnesses' keys: a publisher checks every line it publishes")
    size = parse_checkpoint(note.text).tree_size
    sizes = known_sizes if known_sizes is not None else {}
    clock = _time.time() if now is None else now
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
        good = []
        for line in lines:
            problem = check_cosignature(note.text, line, witness_keys, clock)
            if problem is None:
                good.append(line)
            else:
                outcome.dropped.setdefault(url, []).append(problem)
        if good:
            sizes[url] = size
        outcome.cosignatures.extend(s for s in good if s not in outcome.cosignatures)
    return outcome
