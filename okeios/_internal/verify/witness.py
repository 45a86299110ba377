"""Witness cosignatures (C2SP tlog-cosignature, tlog-witness): a k-of-n policy and a witness.

A *witness* is a third party that keeps, per log, the latest checkpoint it cosigned. It
cosigns a new checkpoint only when the log's signature verifies and a consistency proof shows
the new tree extends the old one, so everything one witness cosigned for one log is one
history. That holds per *log* only because the witness keys its state by the log id bytes,
which it reads from the checkpoint's origin
(:func:`~okeios._internal.protocol.note.log_id_from_origin`: one canonical spelling, everything
else refused with 404), and trusts one note key per log: a publisher cannot open a second state at
the same witness under a second origin or a second key. Two verifiers that both require a
cosignature by one honest witness therefore never accept two trees of one log that are not prefixes
of each other; with disjoint witness sets they can (see ``docs/threat-model.md``).

:class:`WitnessPolicy` is what a verifier configures: the witnesses it trusts (cosignature/v1
verifier keys) and how many of them must have cosigned (``quorum``). :func:`check_witnessed`
applies it to a signed checkpoint note. It proves that ``quorum`` witnesses saw this checkpoint
consistent with everything they saw before; it does not prove that the entries are valid
events, nor anything about time beyond each witness's own timestamp.

:class:`Witness` implements the ``add-checkpoint`` call of tlog-witness (status codes 200, 400,
403, 404, 409, 422 as the spec defines them); :func:`serve_witness` serves it over HTTP.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import threading
import time as _time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from okeios._internal.faults import fault_point
from okeios._internal.files import write_atomic
from okeios._internal.protocol.events import SignedCheckpoint
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.ids import LogId
from okeios._internal.protocol.merkle import EMPTY_ROOT, verify_consistency
from okeios._internal.protocol.note import (
    COSIGNATURE_V1,
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Verifier,
    NoteCheckpoint,
    NoteKeyBinding,
    NoteVerifier,
    SignedNote,
    add_checkpoint_request,
    b64decode,
    b64encode,
    log_id_from_origin,
    log_origin,
    parse_checkpoint,
    parse_cosignatures,
    parse_decimal,
    parse_note,
    parse_vkey,
    verify_note,
)
from okeios._internal.verify.report import Property, Reason, Status, Verdict
from okeios.errors import NoteError, NoteVerificationError, PolicyError, ProofError

__all__ = [
    "MAX_PROOF_LINES",
    "Witness",
    "WitnessPolicy",
    "Witnessed",
    "add_checkpoint_request",
    "check_witnessed",
    "parse_cosignatures",
    "parse_witness_key",
    "serve_witness",
    "witness_key_text",
    "witness_verdict",
]

MAX_PROOF_LINES = 63
MAX_REQUEST = 1 << 16
REQUEST_DEADLINE = 10.0  # seconds for one whole request (headers and body) on ``serve``
MAX_HISTORY = 1000  # checkpoints (cosigned or refused) remembered per log, for the operator
_STATE_VERSION = 2  # per log id, one note key per log (version 1 was per origin string)
FUTURE_SKEW = 300
_DECIMAL = re.compile(r"[0-9]{1,19}")


# --- the verifier's policy -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, init=False)
class WitnessPolicy:
    """``quorum`` of the given witnesses must have cosigned a checkpoint; with ``max_age``,
    only cosignatures at most that many seconds old count (a cosignature says the tree was the
    latest its witness knew *at that time*: an old one cannot rule out that the log has grown
    since and the newer entries are being hidden)."""

    witnesses: tuple[CosignatureVerifier, ...]
    quorum: int
    max_age: int | None

    def __init__(
        self,
        witnesses: Sequence[CosignatureVerifier | str],
        quorum: int,
        *,
        max_age: int | None = None,
    ) -> None:
        keys: list[CosignatureVerifier] = []
        for w in witnesses:
            v = parse_vkey(w) if isinstance(w, str) else w
            if not isinstance(v, CosignatureVerifier):
                raise PolicyError(f"a witness key is a cosignature/v1 (0x04) key: {v.vkey()}")
            keys.append(v)
        if len({v.public_key for v in keys}) != len(keys):
            # One key under two names would let one witness count twice towards the quorum.
            raise PolicyError("two witnesses share a public key")
        if len({(v.name, v.key_id) for v in keys}) != len(keys):
            raise PolicyError("two witnesses share a name and key ID")
        if not isinstance(quorum, int) or not 1 <= quorum <= len(keys):
            raise PolicyError(f"a quorum is between 1 and the number of witnesses ({len(keys)})")
        if max_age is not None and (not isinstance(max_age, int) or max_age <= 0):
            raise PolicyError("a maximum cosignature age is a positive number of seconds")
        object.__setattr__(self, "witnesses", tuple(keys))
        object.__setattr__(self, "quorum", quorum)
        object.__setattr__(self, "max_age", max_age)


@dataclass(frozen=True, slots=True)
class Witnessed:
    """The outcome of a quorum check: which witnesses cosigned, at which times."""

    checkpoint: NoteCheckpoint
    cosigners: dict[str, int]
    quorum: int
    reason: Reason | None = None
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.reason is None


def check_witnessed(
    note: SignedNote | bytes | str,
    log_key: NoteVerifier,
    policy: WitnessPolicy,
    *,
    now: float | None = None,
) -> Witnessed:
    """Check a checkpoint note: the log's signature, then the policy's quorum of cosignatures.

    Raises :class:`NoteError` for a malformed note and :class:`NoteVerificationError` when the
    log's own signature is missing or bad. A quorum that is not met is a result with reason
    ``witness-quorum``; a trusted witness's cosignature that does not verify, ``bad-cosignature``
    (it is never silently skipped); one dated in the future, ``future-cosignature``.
    """
    parsed = note if isinstance(note, SignedNote) else parse_note(note)
    checkpoint = parse_checkpoint(parsed.text)
    verify_note(parsed, [log_key])
    clock = _time.time() if now is None else now
    known = {(w.name, w.key_id): w for w in policy.witnesses}
    cosigners: dict[str, int] = {}
    stale: set[str] = set()
    for sig in parsed.signatures:
        w = known.get((sig.name, sig.key_id))
        if w is None:
            continue
        ts = w.timestamp(parsed.text, sig.signature)
        if ts is None:
            return Witnessed(
                checkpoint, cosigners, policy.quorum, Reason.BAD_COSIGNATURE,
                f"the cosignature of {w.name} does not verify",
            )  # fmt: skip
        if ts > clock + FUTURE_SKEW:
            return Witnessed(
                checkpoint, cosigners, policy.quorum, Reason.FUTURE_COSIGNATURE,
                f"{w.name} cosigned at {ts}, in the future",
            )  # fmt: skip
        if policy.max_age is not None and ts < clock - policy.max_age:
            stale.add(w.vkey())
            continue
        cosigners[w.vkey()] = max(ts, cosigners.get(w.vkey(), 0))
    if len(cosigners) < policy.quorum:
        old = len(stale - set(cosigners))
        return Witnessed(
            checkpoint, cosigners, policy.quorum, Reason.WITNESS_QUORUM,
            f"{len(cosigners)} of the required {policy.quorum} witnesses cosigned"
            + (f" recently enough ({old} only earlier)" if old else ""),
        )  # fmt: skip
    return Witnessed(checkpoint, cosigners, policy.quorum)


def witness_verdict(
    checkpoint: SignedCheckpoint,
    note: SignedNote | bytes | str,
    binding: NoteKeyBinding,
    policy: WitnessPolicy,
    *,
    proof: Sequence[bytes] = (),
    now: float | None = None,
) -> Verdict:
    """The ``witnessing`` verdict of a bundle's checkpoint, given a cosigned checkpoint note.

    ``checkpoint`` is the bundle's EIP-712 checkpoint (verify the bundle first: that checks its
    publisher is trusted). ``binding`` must be that publisher's binding of the note key for the
    same log; the note must be of the same tree, or of a larger tree with ``proof`` a
    consistency proof from the bundle's tree to it; and ``policy.quorum`` of its witnesses must
    have cosigned. This lets a verifier trust a checkpoint that is not anchored yet, or trust
    the anchor's tree only once witnesses saw it too.
    """

    def fail(reason: Reason, detail: str) -> Verdict:
        return Verdict(Property.WITNESSING, Status.FAIL, reason, detail)

    cp = checkpoint.checkpoint
    try:
        log_key = binding.verify(checkpoint.publisher)
    except NoteError as exc:
        return fail(Reason.BAD_NOTE_KEY, str(exc))
    if binding.log_id != cp.log_id:
        return fail(Reason.BAD_NOTE_KEY, "the note key is bound to another log")
    try:
        parsed = note if isinstance(note, SignedNote) else parse_note(note)
        if parse_checkpoint(parsed.text).origin != log_key.name:
            return fail(Reason.BAD_CHECKPOINT_NOTE, "the note's origin is not the key's name")
        result = check_witnessed(parsed, log_key, policy, now=now)
    except NoteError as exc:
        return fail(Reason.BAD_CHECKPOINT_NOTE, str(exc))
    seen = result.checkpoint
    if seen.tree_size == cp.tree_size:
        if seen.root != cp.root or proof:
            return fail(Reason.NOTE_MISMATCH, "the note is of another tree of the same size")
    else:
        try:
            verify_consistency(cp.tree_size, seen.tree_size, cp.root, seen.root, proof)
        except ProofError as exc:
            return fail(
                Reason.NOTE_MISMATCH,
                f"the note's tree (size {seen.tree_size}) does not extend the bundle's "
                f"(size {cp.tree_size}): {exc}",
            )
    if result.reason is not None:
        return fail(result.reason, result.detail)
    return Verdict(
        Property.WITNESSING,
        Status.PASS,
        None,
        f"{len(result.cosigners)} of {len(policy.witnesses)} witnesses cosigned size "
        f"{seen.tree_size} (quorum {policy.quorum})",
    )


# --- witness keys at rest ------------------------------------------------------------------


def witness_key_text(name: str, seed: bytes) -> str:
    """A witness private key as ``PRIVATE+KEY+name+hexid+base64(0x04 || seed)``."""
    signer = CosignatureSigner(name, seed)
    return f"PRIVATE+KEY+{name}+{signer.key_id.hex()}+{b64encode(bytes([COSIGNATURE_V1]) + seed)}"


def parse_witness_key(text: str) -> CosignatureSigner:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("a witness key is PRIVATE+KEY+name+keyid+key")
    raw = b64decode(parts[4], "a witness key")
    if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
        raise NoteError("a witness key is a cosignature/v1 Ed25519 seed")
    signer = CosignatureSigner(parts[2], raw[1:])
    if signer.key_id.hex() != parts[3]:
        raise NoteError("the witness key's ID does not match its name and key")
    return signer


# --- the witness ---------------------------------------------------------------------------


@dataclass
class _LogState:
    key: str
    size: int = 0
    root: bytes = EMPTY_ROOT
    history: list[dict[str, Any]] = field(default_factory=list)


class Witness:
    """A witness: its cosignature key and, per log id (bytes), the log's one note key and the
    latest cosigned size.

    ``state_path`` (JSON) is rewritten atomically after every cosignature, before the answer is
    returned; checking the old size and storing the new checkpoint happen under one lock.
    """

    def __init__(
        self,
        signer: CosignatureSigner,
        state_path: str | Path | None = None,
        *,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.signer = signer
        self.state_path = Path(state_path) if state_path is not None else None
        self.clock = clock
        self._lock = threading.Lock()
        self.logs: dict[bytes, _LogState] = {}
        self._seen: tuple[int, int, int] | None = None  # the state file's identity when read
        if self.state_path is not None and self.state_path.exists():
            self._load()

    def vkey(self) -> str:
        return self.signer.vkey()

    def add_log(self, origin: str, vkey: str, *, replace: bool = False) -> None:
        """Trust ``vkey`` (an Ed25519 note key named ``origin``) for the checkpoints of the log
        whose one origin is ``origin``. A log has one note key: a different key for a log
        already known is refused unless ``replace`` (the publisher rotated its key); the log's
        cosigned size and root are kept either way, so a new key never starts a new history."""
        log_id = log_id_from_origin(origin)
        key = parse_vkey(vkey)
        if not isinstance(key, Ed25519Verifier):
            # A cosignature key as a log key would let a cosignature pass for the log's own.
            raise NoteError("a log's note key is an Ed25519 (0x01) key")
        if key.name != origin:
            raise NoteError(f"the note key is named {key.name!r}, not the log's origin")
        with self._lock, self._shared_state():
            state = self.logs.get(log_id)
            if state is None:
                self.logs[log_id] = _LogState(key.vkey())
            elif state.key != key.vkey():
                if not replace:
                    raise NoteError(
                        f"{origin} already has a note key ({state.key}); a log has one "
                        "(replace it explicitly after a key rotation)"
                    )
                state.key = key.vkey()
            self._save()

    def _identity(self) -> tuple[int, int, int] | None:
        assert self.state_path is not None
        try:
            st = self.state_path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    @contextmanager
    def _shared_state(self) -> Iterator[None]:
        """Hold the state file's lock (shared with other processes, e.g. ``witness add-log``
        while ``witness serve`` runs) and read the file again if another process rewrote it,
        so a running witness sees newly trusted logs and never writes over them."""
        if self.state_path is None:
            yield
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.state_path.with_name(self.state_path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if self._identity() != self._seen:
                self._load()
            yield
        finally:
            os.close(fd)  # releases the lock

    def _load(self) -> None:
        assert self.state_path is not None
        seen = self._identity()
        logs: dict[bytes, _LogState] = {}
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            if data.get("version") != _STATE_VERSION:
                raise NoteError(
                    f"state version {data.get('version')!r}; this witness keeps version "
                    f"{_STATE_VERSION} (state per log id, one note key per log)"
                )
            for hex_id, s in data["logs"].items():
                log_id = LogId.parse(hex_id, error=NoteError).raw
                logs[log_id] = _LogState(
                    str(s["key"]),
                    int(s["size"]),
                    from_hex(s["root"], "a root", size=32, error=NoteError),
                    list(s["history"]),
                )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise NoteError(f"cannot read the witness state {self.state_path}: {exc}") from exc
        self.logs, self._seen = logs, seen

    def _save(self) -> None:
        if self.state_path is None:
            return
        data = {
            "version": _STATE_VERSION,
            "logs": {
                to_hex(log_id): {
                    "origin": log_origin(log_id),
                    "key": s.key,
                    "size": s.size,
                    "root": to_hex(s.root),
                    "history": s.history,
                }
                for log_id, s in self.logs.items()
            },
        }
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.state_path, json.dumps(data, indent=1).encode("utf-8"), private=True)
        self._seen = self._identity()

    def add_checkpoint(self, body: bytes) -> tuple[int, str, bytes]:
        """Handle an ``add-checkpoint`` request body: (HTTP status, content type, body)."""
        text_plain = "text/plain; charset=utf-8"
        try:
            old_size, proof, note = _parse_request(body)
            checkpoint = parse_checkpoint(note.text)
        except NoteError as exc:
            return 400, text_plain, f"bad request: {exc}\n".encode()
        try:
            log_id = log_id_from_origin(checkpoint.origin)
        except NoteError:
            return 404, text_plain, b"unknown log origin (not okeios/0x<log id>)\n"
        with self._lock, self._shared_state():
            state = self.logs.get(log_id)
            if state is None:
                return 404, text_plain, b"unknown log origin\n"
            try:
                verify_note(note, [parse_vkey(state.key)])
            except NoteVerificationError as exc:
                return 403, text_plain, f"{exc}\n".encode()
            if old_size > checkpoint.tree_size:
                return 400, text_plain, b"the old size is larger than the checkpoint\n"
            if old_size != state.size:
                return 409, "text/x.tlog.size", f"{state.size}\n".encode()
            if checkpoint.tree_size == 0 and checkpoint.root != EMPTY_ROOT:
                return 422, text_plain, b"an empty tree has the empty root\n"
            if old_size == 0:
                if proof:
                    return 422, text_plain, b"no proof is needed from the empty tree\n"
            elif old_size == checkpoint.tree_size:
                if proof or checkpoint.root != state.root:
                    return 422, text_plain, b"same size, different root\n"
            else:
                try:
                    verify_consistency(
                        old_size, checkpoint.tree_size, state.root, checkpoint.root, proof
                    )
                except ProofError as exc:
                    state.history.append(
                        {"refused": checkpoint.tree_size, "root": checkpoint.root.hex()}
                    )
                    del state.history[:-MAX_HISTORY]
                    self._save()
                    return 422, text_plain, f"inconsistent: {exc}\n".encode()
            timestamp = int(self.clock())
            cosig = self.signer.cosign(note.text, timestamp)
            state.size, state.root = checkpoint.tree_size, checkpoint.root
            state.history.append({"size": state.size, "root": state.root.hex(), "time": timestamp})
            del state.history[:-MAX_HISTORY]
            fault_point("witness-save")
            self._save()
        return 200, text_plain, cosig.line().encode()


def _parse_request(body: bytes) -> tuple[int, list[bytes], SignedNote]:
    if len(body) > MAX_REQUEST:
        raise NoteError("the request is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError("the request is UTF-8") from exc
    head, sep, rest = text.partition("\n\n")
    if not sep:
        raise NoteError("the request has an empty line before the checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old "):
        raise NoteError("the request starts with an old size line")
    old_size = parse_decimal(lines[0][4:], "the old size")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise NoteError(f"at most {MAX_PROOF_LINES} consistency proof lines")
    proof = [b64decode(line, "a proof hash") for line in lines[1:]]
    if any(len(h) != 32 for h in proof):
        raise NoteError("a proof hash is 32 bytes")
    return old_size, proof, parse_note(rest)


def serve_witness(
    witness: Witness,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    deadline: float = REQUEST_DEADLINE,
) -> ThreadingHTTPServer:
    """An HTTP server for ``POST /add-checkpoint`` (call ``serve_forever`` or run it in a
    thread; ``server_address`` has the bound port).

    A request must say its length (``Content-Length``, a decimal of at most
    :data:`MAX_REQUEST`: else 411 or 413 or 400, before any of the body is read); the witness
    reads exactly that many bytes and no more, and the whole request (headers and body) must
    arrive within ``deadline`` seconds, else the connection is closed (408 when possible). A
    client can therefore hold at most ``MAX_REQUEST`` bytes of the witness's memory, for at
    most ``deadline`` seconds, per connection."""

    class Handler(BaseHTTPRequestHandler):
        timeout = deadline  # each socket read, including the request line and headers

        def setup(self) -> None:
            super().setup()
            self._deadline = _time.monotonic() + deadline
            # One deadline for the whole request, however slowly it drips in: when it passes,
            # the socket is shut down and every pending read returns.
            self._timer = threading.Timer(deadline, self._expire)
            self._timer.daemon = True
            self._timer.start()

        def _expire(self) -> None:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def finish(self) -> None:
            self._timer.cancel()
            with contextlib.suppress(OSError):
                super().finish()

        def do_POST(self) -> None:
            text_plain = "text/plain; charset=utf-8"
            if self.path.rstrip("/").rsplit("/", 1)[-1] != "add-checkpoint":
                self._answer(404, text_plain, b"not found\n")
                return
            self.close_connection = True  # one request per connection: one deadline
            raw = self.headers.get_all("Content-Length") or []
            if not raw:
                self._answer(411, text_plain, b"a Content-Length is required\n")
                return
            if len(raw) != 1 or not _DECIMAL.fullmatch(raw[0].strip()):
                self._answer(400, text_plain, b"a Content-Length is one decimal number\n")
                return
            length = int(raw[0].strip())
            if length > MAX_REQUEST:
                self._answer(413, text_plain, b"too large\n")
                return
            body = self._read(length)
            if body is None:
                self._answer(408, text_plain, b"the request did not arrive in time\n")
                return
            self._answer(*witness.add_checkpoint(body))

        def _read(self, length: int) -> bytes | None:
            """Exactly ``length`` bytes before the deadline, or ``None``."""
            chunks: list[bytes] = []
            left = length
            while left:
                remaining = self._deadline - _time.monotonic()
                if remaining <= 0:
                    return None
                self.connection.settimeout(min(remaining, deadline))
                try:
                    chunk = self.rfile.read1(min(left, 1 << 14))
                except OSError:  # a socket timeout, a reset
                    return None
                if not chunk:
                    return None
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)

        def _answer(self, status: int, ctype: str, body: bytes) -> None:
            self.connection.settimeout(deadline)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return ThreadingHTTPServer((host, port), Handler)
