"""The publisher's side of tlog-witness: asking witnesses over HTTP, catching up after a 409."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from okeios._internal.protocol.merkle import MerkleLog
from okeios._internal.protocol.note import (
    CosignatureSigner,
    Ed25519NoteSigner,
    NoteCheckpoint,
    NoteSignature,
    add_checkpoint_request,
    parse_note,
    verify_note,
)
from okeios._internal.publish.witnessing import request_cosignatures
from okeios._internal.verify.witness import Witness, WitnessPolicy, check_witnessed, serve_witness

ORIGIN = "okeios/0x" + "cd" * 32  # a log's one origin
LOG_KEY = Ed25519NoteSigner(ORIGIN, b"\x01" * 32)
NOW = 1_760_000_000
WITNESS = CosignatureSigner("w.example", b"\x02" * 32)
KEYS = [WITNESS.verifier]


@pytest.fixture
def witness() -> Iterator[tuple[Witness, str]]:
    w = Witness(WITNESS, clock=lambda: NOW)
    w.add_log(ORIGIN, LOG_KEY.vkey())
    server = serve_witness(w)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield w, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _log(n: int) -> MerkleLog:
    log = MerkleLog()
    for i in range(n):
        log.append(b"e%d" % i)
    return log


def test_a_publisher_catches_up_with_a_witness_after_a_409(
    witness: tuple[Witness, str],
) -> None:
    w, url = witness
    log = _log(9)
    # Someone else already had size 4 cosigned there; this publisher does not know it.
    early = LOG_KEY.sign_note(NoteCheckpoint(ORIGIN, 4, log.root(4)).text())
    assert w.add_checkpoint(add_checkpoint_request(0, [], early))[0] == 200
    note = LOG_KEY.sign_note(NoteCheckpoint(ORIGIN, 9, log.root()).text())
    sizes: dict[str, int] = {}
    outcome = request_cosignatures(
        note, log, [url], witness_keys=[w.signer.verifier], known_sizes=sizes, now=NOW
    )
    assert outcome.refusals == {}
    [cosig] = outcome.cosignatures
    assert w.signer.verifier.timestamp(note.text, cosig.signature) == NOW
    assert sizes == {url: 9}


def test_refusals_are_reported_not_raised(witness: tuple[Witness, str]) -> None:
    w, url = witness
    log = _log(9)
    assert (
        w.add_checkpoint(
            add_checkpoint_request(
                0, [], LOG_KEY.sign_note(NoteCheckpoint(ORIGIN, 9, log.root()).text())
            )
        )[0]
        == 200
    )
    # A smaller checkpoint than the witness holds: never cosigned.
    small = LOG_KEY.sign_note(NoteCheckpoint(ORIGIN, 5, log.root(5)).text())
    outcome = request_cosignatures(small, log, [url], witness_keys=KEYS)
    assert outcome.cosignatures == []
    assert "above" in outcome.refusals[url]
    # A rewritten log: the witness answers 422, and nothing is cosigned.
    other = MerkleLog()
    for i in range(12):
        other.append(b"x%d" % i)
    forged = LOG_KEY.sign_note(NoteCheckpoint(ORIGIN, 12, other.root()).text())
    outcome = request_cosignatures(forged, other, [url], witness_keys=KEYS, known_sizes={url: 9})
    assert outcome.cosignatures == []
    assert outcome.refusals[url].startswith("HTTP 422")
    # Nobody listening.
    outcome = request_cosignatures(
        forged, other, ["http://127.0.0.1:9/"], witness_keys=KEYS, timeout=2
    )
    assert "http://127.0.0.1:9/" in outcome.refusals


# --- issue 19, a hostile witness: every line is checked before it is published ------------------


class _Hostile(http.server.BaseHTTPRequestHandler):
    """A witness that answers 200 with whatever lines it was told to (``answer``)."""

    answer: ClassVar[bytes] = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def hostile() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_hostile_witness_answer_is_dropped_and_reported_never_published(hostile: str) -> None:
    log = _log(9)
    note = LOG_KEY.sign_note(NoteCheckpoint(ORIGIN, 9, log.root()).text())
    other = LOG_KEY.sign_note(NoteCheckpoint(ORIGIN, 9, b"\x07" * 32).text())
    stranger = CosignatureSigner("stranger.example", b"\x09" * 32)
    good = WITNESS.cosign(note.text, NOW)
    lines = [
        # garbage under the log's own note key: would make the note fail for every reader
        NoteSignature(LOG_KEY.name, LOG_KEY.key_id, b"\x00" * 64),
        stranger.cosign(note.text, NOW),  # a key nobody asked for
        WITNESS.cosign(other.text, NOW),  # the right key, another checkpoint
        WITNESS.cosign(note.text, NOW + 3600),  # dated in the future
        good,
    ]
    _Hostile.answer = "".join(line.line() for line in lines).encode()
    sizes: dict[str, int] = {}
    outcome = request_cosignatures(
        note, log, [hostile], witness_keys=KEYS, known_sizes=sizes, now=NOW
    )
    assert outcome.cosignatures == [good]
    assert [reason for reason, _ in outcome.dropped[hostile]] == [
        "unknown-cosigner",
        "unknown-cosigner",
        "bad-cosignature",
        "future-cosignature",
    ]
    # What would be published still verifies under the log key and the witness key.
    published = note.with_signatures(outcome.cosignatures)
    assert verify_note(parse_note(published.to_bytes()), [LOG_KEY.verifier])
    assert check_witnessed(
        published, LOG_KEY.verifier, WitnessPolicy([WITNESS.vkey()], 1), now=NOW
    ).passed
    # Only garbage: nothing kept, and the witness's size is not taken as cosigned.
    _Hostile.answer = lines[0].line().encode()
    fresh: dict[str, int] = {}
    outcome = request_cosignatures(note, log, [hostile], witness_keys=KEYS, known_sizes=fresh)
    assert outcome.cosignatures == []
    assert fresh == {}
    assert outcome.dropped[hostile][0][0] == "unknown-cosigner"


def test_the_drop_reasons_are_named_reasons() -> None:
    from okeios._internal.publish.witnessing import DROP_REASONS
    from okeios._internal.verify.report import Reason

    assert {Reason(r) for r in DROP_REASONS} == {
        Reason.UNKNOWN_COSIGNER,
        Reason.BAD_COSIGNATURE,
        Reason.FUTURE_COSIGNATURE,
    }


def test_no_witness_keys_no_witnessing() -> None:
    from okeios.errors import NoteError

    log = _log(2)
    note = LOG_KEY.sign_note(NoteCheckpoint(ORIGIN, 2, log.root()).text())
    with pytest.raises(NoteError):
        request_cosignatures(note, log, ["http://127.0.0.1:9/"], witness_keys=[])
