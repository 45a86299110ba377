"""EIP-712 encoding, events, checkpoints and signatures, against the EIP's own example and an
independent implementation (eth-account)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from okeios._internal.protocol.eip712 import TypedDataEncoder, typed_data_digest
from okeios._internal.protocol.events import (
    ZERO_HASH,
    Checkpoint,
    Event,
    EventKind,
    SignedEvent,
    derive_log_id,
    event_from_message,
)
from okeios._internal.protocol.signing import (
    EthAccountSigner,
    LocalSigner,
    recover_address,
    sign_typed,
)
from okeios.errors import EventError, SignatureError
from tests.conftest import shared_dir

KEY_A = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
KEY_B = bytes.fromhex("01" * 32)


def _mail() -> dict[str, Any]:
    return json.loads((shared_dir("vectors", "eip712") / "mail.json").read_text())


def test_eip712_mail_vector_through_the_same_code_path() -> None:
    vector = _mail()
    typed, expected = vector["typedData"], vector["expected"]
    encoder = TypedDataEncoder(typed["types"])
    assert encoder.domain_separator(typed["domain"]).hex() == expected["domainSeparator"]
    assert encoder.hash_struct("Mail", typed["message"]).hex() == expected["structHash"]
    digest = typed_data_digest(typed)
    assert digest.hex() == expected["digest"]
    assert (
        encoder.encode_type("Mail")
        == "Mail(Person from,Person to,string contents)Person(string name,address wallet)"
    )
    signer = LocalSigner.from_key(vector["privateKey"].split(": ")[1])
    assert signer.address == expected["signer"]
    signature = sign_typed(signer, typed, digest)
    assert int.from_bytes(signature[:32], "big") == int(expected["r"], 16)
    assert int.from_bytes(signature[32:64], "big") == int(expected["s"], 16)
    assert signature[64] == expected["v"]
    assert recover_address(digest, signature) == expected["signer"]


def _eth_account_digest(typed_data: dict[str, Any]) -> bytes:
    """The EIP-712 digest as eth-account's independent encoder computes it."""
    signable = encode_typed_data(full_message=typed_data)
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def _event(**overrides: Any) -> Event:
    author = LocalSigner.from_key(KEY_A).address
    values: dict[str, Any] = dict(
        kind=EventKind.CREATE,
        log_id=derive_log_id(author),
        record_id=bytes(range(32)),
        version=1,
        previous=ZERO_HASH,
        commitment=b"\x11" * 32,
        ciphertext_digest=ZERO_HASH,
        author=author,
        time=1_700_000_000,
    )
    values.update(overrides)
    return Event(**values)


def test_event_digest_matches_eth_account() -> None:
    for event in (
        _event(),
        _event(kind=EventKind.DERIVE, sources=(b"\x01" * 32, b"\x02" * 32), purpose="summary"),
        _event(
            kind=EventKind.GRANT,
            version=3,
            previous=b"\x05" * 32,
            subject="0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB",
            purpose="GP referral ü",
        ),
    ):
        assert event.id == _eth_account_digest(event.typed_data())


def test_local_and_eth_account_signers_agree() -> None:
    event = _event()
    local = event.sign(LocalSigner.from_key(KEY_A))
    wallet = event.sign(EthAccountSigner(Account.from_key(KEY_A)))
    assert local.signature == wallet.signature  # RFC 6979 deterministic nonces on both sides
    assert local.recover() == event.author
    # eth-account recovers the same author from our signature over the typed data.
    assert (
        Account.recover_message(
            encode_typed_data(full_message=event.typed_data()), signature=local.signature
        )
        == event.author
    )


def test_wrong_signer_is_refused() -> None:
    with pytest.raises(SignatureError, match="author"):
        _event().sign(LocalSigner.from_key(KEY_B))

    class LyingWallet:
        address = LocalSigner.from_key(KEY_A).address

        def sign_typed_data(self, typed_data: Any, digest: bytes) -> bytes:
            return LocalSigner.from_key(KEY_B).unsafe_sign_digest(digest)

    with pytest.raises(SignatureError, match="recovers to"):
        _event().sign(LyingWallet())


def test_signature_malleability_and_bad_encodings_are_refused() -> None:
    signed = _event().sign(LocalSigner.from_key(KEY_A))
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    r, s, v = (
        signed.signature[:32],
        int.from_bytes(signed.signature[32:64], "big"),
        signed.signature[64],
    )
    high_s = r + (n - s).to_bytes(32, "big") + bytes([55 - v])  # the other valid encoding
    with pytest.raises(SignatureError, match="high-s"):
        recover_address(signed.id, high_s)
    with pytest.raises(SignatureError, match="v must be"):
        recover_address(signed.id, signed.signature[:64] + b"\x01")
    with pytest.raises(SignatureError):
        SignedEvent(signed.event, signed.signature[:64])
    # A different event recovers to some other address, never to the author.
    other = _event(time=1_700_000_001)
    assert recover_address(other.id, signed.signature) != signed.event.author


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "delete"}, "unknown event kind"),
        ({"version": 0}, "version"),
        ({"version": 2}, "starts a record"),
        ({"kind": EventKind.AMEND, "version": 2}, "link to the record's previous"),
        ({"kind": EventKind.GRANT, "version": 1, "previous": b"\x01" * 32}, "subject"),
        ({"kind": EventKind.DERIVE}, "sources"),
        ({"record_id": b"short"}, "record_id must be 32 bytes"),
        ({"time": -1}, "time"),
        ({"time": 1 << 64}, "time"),
        ({"author": "0x123"}, "address"),
        ({"author": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD827"}, "checksum"),
        ({"purpose": "x" * 2000}, "purpose"),
    ],
)
def test_invalid_events_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(EventError, match=message):
        _event(**overrides)


@settings(max_examples=60, deadline=None)
@given(
    time=st.integers(0, 2**64 - 1),
    version=st.integers(2, 2**64 - 1),
    purpose=st.text(max_size=40),
    commitment=st.binary(min_size=32, max_size=32),
)
def test_event_message_roundtrip_and_digest_binds_every_field(
    time: int, version: int, purpose: str, commitment: bytes
) -> None:
    event = _event(
        kind=EventKind.AMEND,
        version=version,
        previous=b"\x07" * 32,
        time=time,
        purpose=purpose,
        commitment=commitment,
    )
    again = event_from_message(json.loads(json.dumps(event.message())))
    assert again == event
    assert again.id == event.id
    assert (
        _event(
            kind=EventKind.AMEND,
            version=version,
            previous=b"\x07" * 32,
            time=time ^ 1,
            purpose=purpose,
            commitment=commitment,
        ).id
        != event.id
    )


def test_checkpoint_signature() -> None:
    signer = LocalSigner.from_key(KEY_B)
    checkpoint = Checkpoint(derive_log_id(signer.address), 5, b"\x22" * 32)
    signed = checkpoint.sign(signer)
    assert signed.recover() == signer.address == signed.publisher
    assert _eth_account_digest(checkpoint.typed_data()) == checkpoint.id


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(min_size=20, max_size=20))
def test_eip55_checksums_match_eth_utils(raw: bytes) -> None:
    from eth_utils import to_checksum_address

    from okeios._internal.protocol.signing import checksum_address

    expected = to_checksum_address(raw)
    assert checksum_address(raw) == expected
    assert checksum_address("0x" + raw.hex()) == expected
    assert checksum_address(expected) == expected


def test_fast_keccak_matches_eth_hash() -> None:
    from eth_hash.auto import keccak as eth_keccak

    from okeios._internal.protocol.keccak import keccak256

    for data in (b"", b"abc", bytes(range(256)) * 3):
        assert keccak256(data) == bytes(eth_keccak(data))
