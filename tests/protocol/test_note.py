"""C2SP signed notes, checkpoints and cosignatures: the specs' own examples, an independent
check written here from the specs, and the attacks the rules exist for."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from okeios._internal.protocol.note import (
    CosignatureSigner,
    Ed25519NoteSigner,
    NoteCheckpoint,
    NoteKeyBinding,
    SignedNote,
    derive_note_seed,
    key_id,
    log_id_from_origin,
    log_origin,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    verify_note,
)
from okeios._internal.protocol.signing import LocalSigner
from okeios.errors import NoteError, NoteVerificationError
from tests.helpers import PUBLISHER_KEY, STRANGER_KEY

# c2sp.org/signed-note, "Verifier keys / Example".
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3"
    "mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# c2sp.org/tlog-checkpoint, the example checkpoint (its signature's key is not published).
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def test_the_signed_note_spec_example_verifies() -> None:
    key = parse_vkey(SPEC_VKEY)
    note = parse_note(SPEC_NOTE.encode())
    assert note.text == "This is an example message.\n"
    [(verifier, sig)] = verify_note(note, [key])
    assert verifier is key
    assert sig.key_id.hex() == "530d903a"
    assert note.to_text() == SPEC_NOTE  # round trip, byte for byte
    # Independent: the key ID rule and the Ed25519 check straight from the spec.
    raw = base64.b64decode(SPEC_VKEY.split("+")[2])
    assert hashlib.sha256(b"example.com/foo\n" + raw).digest()[:4].hex() == "530d903a"
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig.signature, note.text.encode())


def test_a_changed_note_or_signature_is_rejected() -> None:
    key = parse_vkey(SPEC_VKEY)
    with pytest.raises(NoteVerificationError):
        verify_note(parse_note(SPEC_NOTE.replace("example message", "example massage")), [key])
    # An unknown key's signature is ignored, but then nothing trusted signed the note.
    other = Ed25519NoteSigner("example.com/foo", b"\x01" * 32)
    with pytest.raises(NoteVerificationError, match="no signature by a trusted key"):
        verify_note(parse_note(SPEC_NOTE), [other.verifier])
    # Same name and key ID as the known key but a forged signature: the whole note is rejected
    # even when another line by the same key is valid.
    good = parse_note(SPEC_NOTE)
    forged = good.signatures[0].__class__("example.com/foo", good.signatures[0].key_id, b"\0" * 64)
    with pytest.raises(NoteVerificationError, match="does not verify"):
        verify_note(good.with_signatures([forged]), [key])


@pytest.mark.parametrize(
    "bad",
    [
        "no blank line\n\u2014 example.com/foo AAAAAAA=\n",
        "text\n\n",  # no signature
        "text\n\n\u2014 example.com/foo AAAA\n",  # signature shorter than a key ID + 1 byte
        "text\n\n\u2014 example.com/foo AAAAAAA\n",  # not padded
        "text\n\n\u2014 example.com/foo AAAAAAA=",  # no final newline
        "text\n\n- example.com/foo AAAAAAA=\n",  # not an em dash
        "text\n\n\u2014 example.com/f+o AAAAAAA=\n",  # '+' in the key name
        "text\n\n\u2014 example.com/foo  AAAAAAA=\n",  # two spaces
        "te\x07xt\n\n\u2014 example.com/foo AAAAAAA=\n",  # a control character
        "text\r\n\n\u2014 example.com/foo AAAAAAA=\n",
        "text\n\n\u2014 example.com/foo AAAAAAB=\n",  # non-canonical base64
    ],
)
def test_malformed_notes_are_refused(bad: str) -> None:
    with pytest.raises(NoteError):
        parse_note(bad)


def test_notes_bytes_must_be_utf8_and_bounded() -> None:
    with pytest.raises(NoteError):
        parse_note(b"\xff\n\n\xe2\x80\x94 a AAAAAAA=\n")
    with pytest.raises(NoteError):
        parse_note(b"x" * 70_000)


def test_checkpoint_text_round_trip_and_rules() -> None:
    cp = parse_checkpoint(SPEC_CHECKPOINT)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.tree_size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.text() == SPEC_CHECKPOINT
    for bad in (
        "o\n020852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # leading zero
        "o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",  # unpadded
        "o\n1\nAAAA\n",  # not 32 bytes
        "o\n1\n",  # no root
        "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # empty origin
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",  # empty extension line
        "o\n18446744073709551616\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # > u64
    ):
        with pytest.raises(NoteError):
            parse_checkpoint(bad)
    ext = parse_checkpoint(SPEC_CHECKPOINT + "extension\n")
    assert ext.extensions == ("extension",)


def test_cosignature_v1_matches_the_spec_construction() -> None:
    witness = CosignatureSigner("witness.example.com/w1", bytes(range(32)))
    sig = witness.cosign(SPEC_CHECKPOINT, 1679315147)
    # Independently from c2sp.org/tlog-cosignature: key ID with type 0x04, a u64 timestamp,
    # then Ed25519 over "cosignature/v1\ntime <t>\n" || the checkpoint text.
    pub = witness.verifier.public_key
    assert sig.key_id == hashlib.sha256(b"witness.example.com/w1\n\x04" + pub).digest()[:4]
    assert int.from_bytes(sig.signature[:8], "big") == 1679315147
    message = b"cosignature/v1\ntime 1679315147\n" + SPEC_CHECKPOINT.encode()
    Ed25519PublicKey.from_public_bytes(pub).verify(sig.signature[8:], message)
    assert witness.verifier.timestamp(SPEC_CHECKPOINT, sig.signature) == 1679315147
    # The timestamp is signed: changing it breaks the cosignature.
    moved = (1679315148).to_bytes(8, "big") + sig.signature[8:]
    assert witness.verifier.timestamp(SPEC_CHECKPOINT, moved) is None
    # A cosignature is not a plain note signature by the same key (type 0x01 vs 0x04).
    plain = Ed25519NoteSigner("witness.example.com/w1", bytes(range(32)))
    assert plain.key_id != witness.key_id
    vkey = witness.vkey()
    assert parse_vkey(vkey).vkey() == vkey
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 4


def test_vkeys_are_checked() -> None:
    name, hex_id, key = SPEC_VKEY.split("+")
    for bad in (
        f"{name}+00000000+{key}",  # wrong key ID
        f"{name}+{hex_id}",
        f"{name}+{hex_id}+" + base64.b64encode(b"\x02" + b"\0" * 32).decode(),  # ECDSA
        f"{name}+{hex_id}+" + base64.b64encode(b"\x01" + b"\0" * 31).decode(),  # short key
        f"ex ample+{hex_id}+{key}",
    ):
        with pytest.raises(NoteError):
            parse_vkey(bad)
    assert key_id("example.com/foo", 1, base64.b64decode(key)[1:]).hex() == hex_id


def test_the_note_key_is_bound_to_the_publisher_address() -> None:
    publisher = LocalSigner.from_key(PUBLISHER_KEY)
    log_id = b"\x42" * 32
    seed = derive_note_seed(PUBLISHER_KEY, log_id)
    assert seed != derive_note_seed(PUBLISHER_KEY, b"\x43" * 32)  # one key per log
    origin = log_origin(log_id)
    signer = Ed25519NoteSigner(origin, seed)
    binding = NoteKeyBinding.sign(publisher, log_id, signer.vkey())
    assert binding.verify(publisher.address).vkey() == signer.vkey()
    assert NoteKeyBinding.from_dict(binding.to_dict()) == binding
    # A stranger binding its own key to the publisher's log is caught.
    stranger = LocalSigner.from_key(STRANGER_KEY)
    fake = NoteKeyBinding.sign(stranger, log_id, signer.vkey())
    with pytest.raises(NoteVerificationError):
        fake.verify(publisher.address)
    # ...and so is a binding whose key or log was swapped after signing.
    other = Ed25519NoteSigner(origin, b"\x09" * 32).vkey()
    for tampered in (
        NoteKeyBinding(log_id, other, binding.publisher, binding.signature),
        NoteKeyBinding(b"\x43" * 32, binding.vkey, binding.publisher, binding.signature),
    ):
        with pytest.raises(NoteVerificationError):
            tampered.verify(publisher.address)
    # Cosignature keys cannot be bound as a log's note key.
    cosigner = CosignatureSigner(origin, seed).vkey()
    with pytest.raises(NoteVerificationError):
        NoteKeyBinding.sign(publisher, log_id, cosigner).verify(publisher.address)


def test_a_log_has_one_origin_bound_with_its_note_key() -> None:
    """Issue 19, a second origin: the origin is derived from the log id, spelled one way, and
    signed into the note key binding (version 2), so a second origin for one log is refused."""
    publisher = LocalSigner.from_key(PUBLISHER_KEY)
    log_id = bytes(range(32))
    origin = log_origin(log_id)
    assert origin == "okeios/0x" + log_id.hex()
    assert log_id_from_origin(origin) == log_id
    for other in (
        origin.upper().replace("OKEIOS/0X", "okeios/0x"),  # re-cased digits
        origin[:-2],  # short
        origin + "00",  # long
        origin + " ",
        "example.com/log",
        "okeios/" + log_id.hex(),  # no 0x
    ):
        with pytest.raises(NoteError):
            log_id_from_origin(other)
    seed = derive_note_seed(PUBLISHER_KEY, log_id)
    # A note key named after a second origin cannot be bound at all...
    with pytest.raises(NoteError, match="one origin"):
        NoteKeyBinding.sign(publisher, log_id, Ed25519NoteSigner("example.com/log", seed).vkey())
    # ...and a binding hand-made for one fails verification.
    good = NoteKeyBinding.sign(publisher, log_id, Ed25519NoteSigner(origin, seed).vkey())
    renamed = NoteKeyBinding(
        log_id, Ed25519NoteSigner("okeios/other", seed).vkey(), good.publisher, good.signature
    )
    with pytest.raises(NoteVerificationError):
        renamed.verify(publisher.address)
    # The JSON form names its version and origin; version 1 and a re-cased log id are refused.
    data = good.to_dict()
    assert data["version"] == 2
    assert data["origin"] == origin
    assert NoteKeyBinding.from_dict(data) == good
    for bad in (
        {**data, "version": 1},
        {k: v for k, v in data.items() if k != "version"},
        {**data, "logId": data["logId"].upper().replace("0X", "0x")},
        {**data, "origin": "example.com/log"},
    ):
        with pytest.raises(NoteError):
            NoteKeyBinding.from_dict(bad)


def test_the_note_key_binding_digest_is_eip712_of_the_documented_type() -> None:
    """The binding's digest, recomputed here from docs/interop.md with keccak only: domain
    {name: "okeios", version: "2"}, type ``NoteKey(bytes32 logId,string origin,string vkey)``."""
    from okeios._internal.protocol.keccak import keccak256

    publisher = LocalSigner.from_key(PUBLISHER_KEY)
    log_id = b"\x42" * 32
    vkey = Ed25519NoteSigner(log_origin(log_id), b"\x01" * 32).vkey()
    binding = NoteKeyBinding.sign(publisher, log_id, vkey)
    domain_type = keccak256(b"EIP712Domain(string name,string version)")
    domain = keccak256(domain_type + keccak256(b"okeios") + keccak256(b"2"))
    type_hash = keccak256(b"NoteKey(bytes32 logId,string origin,string vkey)")
    struct = keccak256(
        type_hash + log_id + keccak256(log_origin(log_id).encode()) + keccak256(vkey.encode())
    )
    digest = keccak256(b"\x19\x01" + domain + struct)
    from okeios._internal.protocol.signing import recover_address

    assert recover_address(digest, binding.signature) == publisher.address


def test_signed_checkpoint_round_trip() -> None:
    signer = Ed25519NoteSigner("example.com/log", b"\x05" * 32)
    cp = NoteCheckpoint("example.com/log", 7, b"\x11" * 32)
    note = signer.sign_note(cp.text())
    again = parse_note(note.to_bytes())
    assert again == note
    assert verify_note(again, [signer.verifier])
    assert parse_checkpoint(again.text) == cp
    with pytest.raises(NoteError):
        SignedNote("no newline", ())


# The key pair and note of golang.org/x/mod/sumdb/note's note_test.go (the Go reference
# implementation's published test vector).
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKv"
    "qfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_the_go_reference_vector_is_reproduced_byte_for_byte() -> None:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert seed[0] == 1
    signer = Ed25519NoteSigner("PeterNeumann", seed[1:])
    assert signer.vkey() == GO_VKEY
    assert signer.sign_note(GO_TEXT).to_text() == GO_NOTE  # Ed25519 is deterministic
    [(key, _)] = verify_note(parse_note(GO_NOTE), [parse_vkey(GO_VKEY)])
    assert key.vkey() == GO_VKEY
