"""Witnesses (C2SP tlog-witness) and k-of-n cosignature policies: a witness cosigns only a
consistent history, so a publisher showing two histories cannot gather a quorum for both."""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from okeios._internal.protocol.merkle import EMPTY_ROOT, MerkleLog
from okeios._internal.protocol.note import (
    CosignatureSigner,
    Ed25519NoteSigner,
    NoteCheckpoint,
    SignedNote,
    parse_note,
)
from okeios._internal.verify.witness import (
    Witness,
    WitnessPolicy,
    add_checkpoint_request,
    check_witnessed,
    parse_cosignatures,
    parse_witness_key,
    serve_witness,
    witness_key_text,
)
from okeios.errors import NoteError, NoteVerificationError, PolicyError

ORIGIN = "okeios/0x" + "ab" * 32  # a log's one origin
NOW = 1_760_000_000
LOG = Ed25519NoteSigner(ORIGIN, b"\x01" * 32)


def tree(n: int, tag: bytes = b"") -> MerkleLog:
    log = MerkleLog()
    for i in range(n):
        log.append(tag + b"entry %d" % i)
    return log


def note_of(log: MerkleLog, size: int | None = None, signer: Ed25519NoteSigner = LOG) -> SignedNote:
    size = log.size if size is None else size
    return signer.sign_note(NoteCheckpoint(ORIGIN, size, log.root(size)).text())


def make_witness(i: int, state: Path | None = None) -> Witness:
    w = Witness(CosignatureSigner(f"witness{i}.example", bytes([i]) * 32), state, clock=lambda: NOW)
    w.add_log(ORIGIN, LOG.vkey())
    return w


def submit(w: Witness, old: int, proof: list[bytes], note: SignedNote) -> tuple[int, bytes]:
    status, _, body = w.add_checkpoint(add_checkpoint_request(old, proof, note))
    return status, body


def test_witness_follows_the_protocol(tmp_path: Path) -> None:
    w = make_witness(1, tmp_path / "state.json")
    log = tree(10)
    status, body = submit(w, 0, [], note_of(log, 4))
    assert status == 200
    [cosig] = parse_cosignatures(body)
    assert w.signer.verifier.timestamp(note_of(log, 4).text, cosig.signature) == NOW
    # Grows with a consistency proof.
    assert submit(w, 4, log.consistency_proof(4, 10), note_of(log))[0] == 200
    # Stale old size: 409 with the witness's size, as text/x.tlog.size.
    code, ctype, answer = w.add_checkpoint(add_checkpoint_request(4, [], note_of(log)))
    assert (code, ctype, answer) == (409, "text/x.tlog.size", b"10\n")
    # Same size, same root: fine; a different root at the same size is refused (422).
    assert submit(w, 10, [], note_of(log))[0] == 200
    assert submit(w, 10, [], note_of(tree(10, b"x")))[0] == 422
    # Old size above the checkpoint's: 400. Unknown origin: 404. Unknown key: 403.
    assert submit(w, 11, [], note_of(log))[0] == 400
    other = Ed25519NoteSigner("example.com/other", b"\x02" * 32)
    foreign = other.sign_note(NoteCheckpoint("example.com/other", 1, b"\0" * 32).text())
    assert submit(w, 0, [], foreign)[0] == 404
    impostor = Ed25519NoteSigner(ORIGIN, b"\x03" * 32)
    assert submit(w, 10, [], note_of(log, signer=impostor))[0] == 403
    # Garbage: 400.
    assert w.add_checkpoint(b"old 1\nnot base64!\n\n" + note_of(log).to_bytes())[0] == 400
    assert w.add_checkpoint(b"\xff")[0] == 400
    # The state survives a restart.
    again = Witness(w.signer, tmp_path / "state.json", clock=lambda: NOW)
    code, _, answer = again.add_checkpoint(add_checkpoint_request(0, [], note_of(log)))
    assert (code, answer) == (409, b"10\n")


def test_witness_refuses_a_rewritten_history() -> None:
    """The split-view attack: after cosigning one history, the witness is shown another that
    rewrites an entry. No consistency proof exists, so it never cosigns the second."""
    w = make_witness(1)
    honest = tree(8)
    assert submit(w, 0, [], note_of(honest))[0] == 200
    forked = tree(8)
    for i in range(8, 12):
        forked.append(b"entry %d" % i)
    rewritten = MerkleLog()
    for i in range(12):
        rewritten.append(b"entry %d" % i if i != 3 else b"rewritten")
    # The honest proof for another tree, and the rewritten tree's own proof: both refused.
    assert submit(w, 8, forked.consistency_proof(8, 12), note_of(rewritten))[0] == 422
    assert submit(w, 8, rewritten.consistency_proof(8, 12), note_of(rewritten))[0] == 422
    # The honest extension still goes through.
    assert submit(w, 8, forked.consistency_proof(8, 12), note_of(forked))[0] == 200
    # An empty tree must have the empty root, and needs no proof from zero.
    fresh = make_witness(2)
    empty_bad = LOG.sign_note(NoteCheckpoint(ORIGIN, 0, b"\x01" * 32).text())
    assert submit(fresh, 0, [], empty_bad)[0] == 422
    assert submit(fresh, 0, [b"\0" * 32], note_of(honest))[0] == 422
    assert (
        submit(fresh, 0, [], LOG.sign_note(NoteCheckpoint(ORIGIN, 0, EMPTY_ROOT).text()))[0] == 200
    )


@pytest.fixture
def witnesses_over_http() -> Iterator[list[tuple[Witness, str]]]:
    servers = []
    out = []
    for i in (1, 2, 3):
        w = make_witness(i)
        server = serve_witness(w)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        out.append((w, f"http://127.0.0.1:{server.server_address[1]}/"))
    try:
        yield out
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def post(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url + "add-checkpoint", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_k_of_n_policy_over_http(witnesses_over_http: list[tuple[Witness, str]]) -> None:
    log = tree(5)
    note = note_of(log)
    keys = [w.vkey() for w, _ in witnesses_over_http]
    cosigned = note
    for _, url in witnesses_over_http[:2]:
        status, body = post(url, add_checkpoint_request(0, [], note))
        assert status == 200
        cosigned = cosigned.with_signatures(parse_cosignatures(body))
    cosigned = parse_note(cosigned.to_bytes())  # as a verifier receives it
    two = check_witnessed(cosigned, LOG.verifier, WitnessPolicy(keys, 2), now=NOW)
    assert two.passed
    assert len(two.cosigners) == 2
    three = check_witnessed(cosigned, LOG.verifier, WitnessPolicy(keys, 3), now=NOW)
    assert three.reason == "witness-quorum"
    # A cosignature by a witness the policy does not name does not count.
    outsider = CosignatureSigner("outsider.example", b"\x09" * 32)
    padded = cosigned.with_signatures([outsider.cosign(cosigned.text, NOW)])
    assert check_witnessed(padded, LOG.verifier, WitnessPolicy(keys, 3), now=NOW).reason == (
        "witness-quorum"
    )
    # The same cosignature twice counts once.
    dup = SignedNote(cosigned.text, (*cosigned.signatures, cosigned.signatures[1]))
    assert check_witnessed(dup, LOG.verifier, WitnessPolicy(keys, 3), now=NOW).reason == (
        "witness-quorum"
    )
    # A trusted witness's cosignature over another checkpoint, pasted in: named, not skipped.
    other_note = note_of(tree(6))
    pasted = SignedNote(
        cosigned.text,
        (*cosigned.signatures[:1], *parse_note(
            other_note.with_signatures(
                [witnesses_over_http[2][0].signer.cosign(other_note.text, NOW)]
            ).to_bytes()
        ).signatures[1:]),
    )  # fmt: skip
    assert check_witnessed(pasted, LOG.verifier, WitnessPolicy(keys, 1), now=NOW).reason == (
        "bad-cosignature"
    )
    # Cosignatures from the future are refused.
    future = note.with_signatures([witnesses_over_http[0][0].signer.cosign(note.text, NOW + 3600)])
    assert check_witnessed(future, LOG.verifier, WitnessPolicy(keys, 1), now=NOW).reason == (
        "future-cosignature"
    )
    # Without the log's own signature, cosignatures are worth nothing.
    unsigned = SignedNote(note.text, cosigned.signatures[1:])
    with pytest.raises(NoteVerificationError):
        check_witnessed(unsigned, LOG.verifier, WitnessPolicy(keys, 1), now=NOW)


def test_policies_cannot_count_one_witness_twice() -> None:
    a = CosignatureSigner("a.example", b"\x01" * 32)
    same_key = CosignatureSigner("b.example", b"\x01" * 32)
    with pytest.raises(PolicyError):
        WitnessPolicy([a.vkey(), same_key.vkey()], 2)
    with pytest.raises(PolicyError):
        WitnessPolicy([a.vkey()], 2)
    with pytest.raises(PolicyError):
        WitnessPolicy([a.vkey()], 0)
    with pytest.raises(PolicyError):
        WitnessPolicy([LOG.vkey()], 1)  # a log key is not a cosignature key


def test_witness_keys_at_rest_round_trip() -> None:
    seed = hashlib.sha256(b"w").digest()
    text = witness_key_text("w.example", seed)
    assert text.startswith("PRIVATE+KEY+w.example+")
    assert parse_witness_key(text).vkey() == CosignatureSigner("w.example", seed).vkey()


# --- a bundle's checkpoint, trusted through witnesses instead of (or besides) an anchor ---------


def test_a_bundle_checkpoint_witnessed_by_a_quorum() -> None:
    from okeios._internal.protocol.note import NoteKeyBinding
    from okeios._internal.protocol.signing import LocalSigner
    from okeios._internal.publish.tiles import note_signer
    from okeios._internal.verify.bundle import verify_bundle
    from okeios._internal.verify.report import Property, Reason, Status
    from okeios._internal.verify.witness import witness_verdict
    from tests.helpers import STRANGER_KEY, make_publisher, policy_for

    publisher = make_publisher()
    first = publisher.create({"resourceType": "Observation", "status": "final"})
    bundle = publisher.bundle(first.id)
    origin = f"okeios/0x{publisher.log_id.hex()}"
    note_key = note_signer(publisher.signer, publisher.log_id)  # type: ignore[arg-type]
    binding = NoteKeyBinding.sign(publisher.signer, publisher.log_id, note_key.vkey())
    witnesses = [CosignatureSigner(f"w{i}.example", bytes([i]) * 32) for i in (1, 2, 3)]
    policy = WitnessPolicy([w.vkey() for w in witnesses], 2)

    def cosigned(size: int, by: list[CosignatureSigner]) -> SignedNote:
        text = NoteCheckpoint(origin, size, publisher.log.root(size)).text()
        note = note_key.sign_note(text)
        return note.with_signatures([w.cosign(text, NOW) for w in by])

    # No chain: anchoring is skipped, and the witnesses vouch for the checkpoint instead.
    report = verify_bundle(bundle, policy_for(publisher))
    assert report.verdict(Property.ANCHORING).status is Status.SKIPPED
    note = cosigned(1, witnesses[:2])
    verdict = witness_verdict(bundle.checkpoint, note.to_bytes(), binding, policy, now=NOW)
    assert verdict.passed, verdict
    # One cosignature short.
    short = witness_verdict(bundle.checkpoint, cosigned(1, witnesses[:1]), binding, policy, now=NOW)
    assert short.reason is Reason.WITNESS_QUORUM
    # The log grew: a later witnessed checkpoint covers the bundle's with a consistency proof.
    publisher.create({"resourceType": "Observation", "status": "amended"})
    publisher.create({"resourceType": "Observation", "status": "other"})
    later = cosigned(3, witnesses)
    proof = publisher.log.consistency_proof(1, 3)
    assert witness_verdict(bundle.checkpoint, later, binding, policy, proof=proof, now=NOW).passed
    no_proof = witness_verdict(bundle.checkpoint, later, binding, policy, now=NOW)
    assert no_proof.reason is Reason.NOTE_MISMATCH
    # A witnessed note of another tree of the same size (a split view) does not vouch.
    other = note_key.sign_note(NoteCheckpoint(origin, 1, b"\x07" * 32).text())
    other = other.with_signatures([w.cosign(other.text, NOW) for w in witnesses])
    split = witness_verdict(bundle.checkpoint, other, binding, policy, now=NOW)
    assert split.reason is Reason.NOTE_MISMATCH
    # A note key bound by someone else, or to another log, is not the publisher's.
    stranger = LocalSigner.from_key(STRANGER_KEY)
    forged = NoteKeyBinding.sign(stranger, publisher.log_id, note_key.vkey())
    assert witness_verdict(bundle.checkpoint, note, forged, policy, now=NOW).reason is (
        Reason.BAD_NOTE_KEY
    )
    from okeios.errors import NoteError

    with pytest.raises(NoteError):  # the key is named after this log's origin, not another's
        NoteKeyBinding.sign(publisher.signer, b"\x01" * 32, note_key.vkey())
    elsewhere = NoteKeyBinding(b"\x01" * 32, binding.vkey, binding.publisher, binding.signature)
    assert witness_verdict(bundle.checkpoint, note, elsewhere, policy, now=NOW).reason is (
        Reason.BAD_NOTE_KEY
    )


def test_a_witness_never_takes_a_cosignature_key_for_a_log_key() -> None:
    from okeios.errors import NoteError

    w = make_witness(1)
    with pytest.raises(NoteError):
        w.add_log(ORIGIN, CosignatureSigner(ORIGIN, b"\x05" * 32).vkey())


def test_old_cosignatures_do_not_count_under_a_maximum_age() -> None:
    """The freeze attack: a publisher keeps serving an old, genuinely cosigned checkpoint to hide
    later entries. With max_age, cosignatures older than that do not count."""
    log = tree(3)
    note = note_of(log)
    ws = [CosignatureSigner(f"w{i}.example", bytes([i]) * 32) for i in (1, 2)]
    cosigned = note.with_signatures([w.cosign(note.text, NOW - 7200) for w in ws])
    keys = [w.vkey() for w in ws]
    assert check_witnessed(cosigned, LOG.verifier, WitnessPolicy(keys, 2), now=NOW).passed
    fresh_only = WitnessPolicy(keys, 2, max_age=3600)
    result = check_witnessed(cosigned, LOG.verifier, fresh_only, now=NOW)
    assert result.reason == "witness-quorum"
    assert "2 only earlier" in result.detail
    recent = note.with_signatures([w.cosign(note.text, NOW - 60) for w in ws])
    assert check_witnessed(recent, LOG.verifier, fresh_only, now=NOW).passed
    with pytest.raises(PolicyError):
        WitnessPolicy(keys, 1, max_age=0)


# --- issue 19: a witness keeps one history per log id, under one origin and one note key ------


def test_one_witness_cannot_be_made_to_cosign_two_forks_of_one_log() -> None:
    """Issue 19, item 2: the publisher presents a fork of its log under a second origin (or a
    second spelling of it) with a second note key. The witness reads the log id out of the
    origin, keeps one state per log id, and trusts one note key per log."""
    log_id = bytes.fromhex("ab" * 32)
    w = make_witness(1)
    # A second key for the same log is refused, and so is a second origin for it.
    second = Ed25519NoteSigner(ORIGIN, b"\x02" * 32)
    with pytest.raises(NoteError, match="has a note key"):
        w.add_log(ORIGIN, second.vkey())
    for other in ("example.com/fork", "okeios/0x" + log_id.hex().upper(), ORIGIN + "00"):
        with pytest.raises(NoteError):
            w.add_log(other, Ed25519NoteSigner(other, b"\x02" * 32).vkey())
    # Fork A is cosigned; fork B, signed by the log's key under a second origin, finds no log.
    a, b = tree(5), tree(5, b"fork ")
    assert submit(w, 0, [], note_of(a))[0] == 200
    recased = "okeios/0x" + log_id.hex().upper()
    fork = LOG.sign_note(NoteCheckpoint(recased, 5, b.root()).text())
    assert submit(w, 0, [], fork)[0] == 404
    # After an explicit key replacement (a rotation), the log's history is kept: fork B under
    # the new key is still refused.
    w.add_log(ORIGIN, second.vkey(), replace=True)
    status, _ = submit(w, 5, [], second.sign_note(NoteCheckpoint(ORIGIN, 5, b.root()).text()))
    assert status == 422


def test_the_witness_state_is_per_log_id_and_refuses_old_per_origin_state(tmp_path: Path) -> None:
    import json

    state = tmp_path / "state.json"
    w = make_witness(1, state)
    assert submit(w, 0, [], note_of(tree(3)))[0] == 200
    data = json.loads(state.read_text())
    assert data["version"] == 2
    assert list(data["logs"]) == ["0x" + "ab" * 32]
    again = Witness(w.signer, state)
    assert again.logs[bytes.fromhex("ab" * 32)].size == 3
    state.write_text(
        json.dumps({"logs": {ORIGIN: {"keys": [], "size": 0, "root": "", "history": []}}})
    )
    with pytest.raises(NoteError, match="version"):
        Witness(w.signer, state)


# --- hostile clients and a second process (issue: hardened edges, round 3) ------------------


def _raw_request(port: int, head: bytes, body: bytes = b"", wait: float = 5.0) -> bytes:
    """Send ``head`` and ``body`` on one connection, then read the answer (without closing
    our side): the answer must come from the witness's own limits, not from our close."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(head + body)
        chunks = []
        try:
            while chunk := sock.recv(4096):
                chunks.append(chunk)
        except OSError:
            pass
        return b"".join(chunks)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Witness, int]]:
    w = make_witness(1, tmp_path / "state.json")
    server = serve_witness(w, deadline=1.5)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield w, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_serve_refuses_a_bad_content_length_before_reading(served: tuple[Witness, int]) -> None:
    """A negative length was read as "until the client closes": the witness's memory grew
    with whatever the client pushed. Now a length that is absent, negative, not a decimal or
    above the limit is refused before any of the body is read."""
    _, port = served
    post = b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\n"
    cases = {
        b"Content-Length: -1\r\n": b" 400 ",
        b"Content-Length: 1e3\r\n": b" 400 ",
        b"Content-Length: 5\r\nContent-Length: 6\r\n": b" 400 ",
        b"": b" 411 ",
        b"Content-Length: 99999999999\r\n": b" 413 ",
    }
    for header, status in cases.items():
        started = time.monotonic()
        answer = _raw_request(port, post + header + b"\r\n", b"x" * (1 << 20))
        assert answer.split(b" ")[1:2] == [status.strip()], (header, answer[:80])
        assert time.monotonic() - started < 1.4, header  # answered, not timed out


def test_serve_has_one_deadline_per_request(served: tuple[Witness, int]) -> None:
    """A client that announces a body and drips it (or never sends it) is cut off at the
    deadline, whatever the per-read timeout."""
    import socket

    _, port = served
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
        closed = False
        for _ in range(40):
            try:
                sock.sendall(b"o")
                if sock.recv(4096, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            time.sleep(0.1)
    assert closed
    assert time.monotonic() - started < 3.5
    # A client dripping its headers is cut off too.
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /add-checkpoint HTTP/1.1\r\n")
        for _ in range(40):
            try:
                sock.sendall(b"X-Slow: 1\r\n")
                if sock.recv(4096, socket.MSG_DONTWAIT) == b"":
                    break
            except BlockingIOError:
                pass
            except OSError:
                break
            time.sleep(0.1)
    assert time.monotonic() - started < 3.5


def test_serve_answers_a_well_formed_request(served: tuple[Witness, int]) -> None:
    w, port = served
    body = add_checkpoint_request(0, [], note_of(tree(3)))
    head = b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
    answer = _raw_request(port, head, body)
    assert answer.split(b" ")[1:2] == [b"200"], answer
    assert w.logs[bytes.fromhex("ab" * 32)].size == 3


def test_serve_sees_logs_added_by_another_process(served: tuple[Witness, int]) -> None:
    """`witness add-log` (another process, another Witness object on the same folder) while
    `witness serve` runs: the running witness now cosigns for the new log, and its own later
    writes keep the added log."""
    w, port = served
    assert w.state_path is not None
    second_id = bytes.fromhex("cd" * 32)
    second_origin = "okeios/0x" + second_id.hex()
    other_log = Ed25519NoteSigner(second_origin, b"\x05" * 32)
    other = Witness(w.signer, w.state_path, clock=lambda: NOW)
    other.add_log(second_origin, other_log.vkey())
    log = tree(2)
    note = other_log.sign_note(NoteCheckpoint(second_origin, 2, log.root()).text())
    body = add_checkpoint_request(0, [], note)
    head = b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
    assert _raw_request(port, head, body).split(b" ")[1:2] == [b"200"]
    # The serving witness's own write kept the new log, and a third process sees both.
    assert submit(w, 0, [], note_of(tree(4)))[0] == 200
    again = Witness(w.signer, w.state_path, clock=lambda: NOW)
    assert set(again.logs) == {bytes.fromhex("ab" * 32), second_id}
    assert again.logs[second_id].size == 2
