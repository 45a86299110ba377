"""The publisher's side of tlog-witness: asking witnesses over HTTP, catching up after a 409."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from okeios.protocol.merkle import MerkleLog
from okeios.protocol.note import (
    CosignatureSigner,
    Ed25519NoteSigner,
    NoteCheckpoint,
    add_checkpoint_request,
)
from okeios.publish.witnessing import request_cosignatures
from okeios.verify.witness import Witness, serve_witness

ORIGIN = "example.com/log"
LOG_KEY = Ed25519NoteSigner(ORIGIN, b"\x01" * 32)
NOW = 1_760_000_000


@pytest.fixture
def witness() -> Iterator[tuple[Witness, str]]:
    w = Witness(CosignatureSigner("w.example", b"\x02" * 32), clock=lambda: NOW)
    w.add_log(ORIGIN, [LOG_KEY.vkey()])
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
    outcome = request_cosignatures(note, log, [url], known_sizes=sizes)
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
    outcome = request_cosignatures(small, log, [url])
    assert outcome.cosignatures == []
    assert "above" in outcome.refusals[url]
    # A rewritten log: the witness answers 422, and nothing is cosigned.
    other = MerkleLog()
    for i in range(12):
        other.append(b"x%d" % i)
    forged = LOG_KEY.sign_note(NoteCheckpoint(ORIGIN, 12, other.root()).text())
    outcome = request_cosignatures(forged, other, [url], known_sizes={url: 9})
    assert outcome.cosignatures == []
    assert outcome.refusals[url].startswith("HTTP 422")
    # Nobody listening.
    outcome = request_cosignatures(forged, other, ["http://127.0.0.1:9/"], timeout=2)
    assert "http://127.0.0.1:9/" in outcome.refusals
