"""Sealed payloads, recipient keys and bindings, wrapped data keys and protected secrets.

Pinned vectors for every deterministic format, and independent checks: the X25519 suite is
checked against RFC 9180 Appendix A.1.1 and against a small RFC 9180 implementation
(``tests/crypto/hpke_reference.py``, labeled HKDF over ``hmac``); the hybrid suite is opened
with the X-Wing combiner and that RFC 9180 key schedule; Argon2id against RFC 9106 section
5.3; bindings against eth-account's EIP-712 encoder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from okeios._internal.crypto.keyfile import (
    ARGON2_DEFAULT,
    Argon2Params,
    protect_secret,
    protect_secret_with_key,
    unprotect_secret,
    unprotect_secret_with_key,
)
from okeios._internal.crypto.payload import (
    PAYLOAD_MAGIC,
    new_data_key,
    open_payload,
    payload_aad,
    payload_digest,
    seal_payload,
)
from okeios._internal.crypto.recipients import (
    WRAP_MAGIC,
    RecipientBinding,
    RecipientPrivateKey,
    RecipientPublicKey,
    Suite,
    bind_recipient_key,
    unwrap_data_key,
    wrap_data_key,
)
from okeios._internal.protocol.signing import EthAccountSigner, LocalSigner
from okeios.errors import CryptoError, DecryptionError, KeyProtectionError, RecipientError
from tests.crypto.hpke_reference import (
    dhkem_x25519_shared_secret,
    key_schedule,
    x25519_exchange,
    x25519_raw,
)

KEY_A = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
KEY_B = bytes.fromhex("01" * 32)
SIGNER_A = LocalSigner.from_key(KEY_A)
SIGNER_B = LocalSigner.from_key(KEY_B)

RECORD_ID = bytes(range(0x40, 0x60))
VERSION = 3
AAD = payload_aad(RECORD_ID, VERSION)
# what okeios._internal.crypto.share.grant_info(RECORD_ID, VERSION) gives
INFO = b"okeios/grant/v1\x00" + AAD
DATA_KEY = bytes(range(0x80, 0xA0))
FAST = Argon2Params(iterations=1, lanes=1, memory_kib=8)  # for speed only, never for real keys


def fixed_rng(*chunks: bytes) -> Callable[[int], bytes]:
    """A random source that hands out ``chunks`` in order and checks each requested size."""
    queue = list(chunks)

    def rng(n: int) -> bytes:
        chunk = queue.pop(0)
        assert len(chunk) == n, f"asked for {n} bytes, the vector has {len(chunk)}"
        return chunk

    return rng


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


# RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode.
RFC_INFO = bytes.fromhex("4f6465206f6e2061204772656369616e2055726e")
RFC_SKEM = bytes.fromhex("52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736")
RFC_PKEM = bytes.fromhex("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431")
RFC_SKRM = bytes.fromhex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8")
RFC_PKRM = bytes.fromhex("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d")
RFC_SHARED_SECRET = bytes.fromhex(
    "fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc"
)
RFC_KEY = bytes.fromhex("4531685d41d65f03dc48f6b8302c05b0")
RFC_BASE_NONCE = bytes.fromhex("56d890e5accaaf011cff4b7d")
RFC_PT = bytes.fromhex("4265617574792069732074727574682c20747275746820626561757479")
RFC_AAD0 = bytes.fromhex("436f756e742d30")
RFC_CT0 = bytes.fromhex(
    "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"
)


# --- 1. sealed payloads ------------------------------------------------------------------------

PAYLOAD_KEY = bytes(range(32))
PAYLOAD_NONCE = bytes(range(0xA0, 0xAC))
PAYLOAD_PT = b'{"resourceType":"Observation","status":"final"}'
PAYLOAD_VECTOR = bytes.fromhex(
    "4f4b4331a0a1a2a3a4a5a6a7a8a9aaab9d3a0e4836a477cd0100d3aa771fe2e452e33b63f7c5340de86749e8"
    "5d875772a617338adc00691f39f56aa96558fe45ad90f519f3df378f1e5f5a1919f7bb"
)
PAYLOAD_VECTOR_DIGEST = bytes.fromhex(
    "671514e78032de295af6d617138992b1843e9f4599c567f6a73ea29d909697fa"
)


def test_payload_aad_layout() -> None:
    assert RECORD_ID + bytes(7) + b"\x03" == AAD
    assert len(AAD) == 40
    assert payload_aad(RECORD_ID, 2**64 - 1) == RECORD_ID + b"\xff" * 8
    for record_id, version in [
        (b"\x00" * 31, 1),
        (RECORD_ID, -1),
        (RECORD_ID, 2**64),
        (RECORD_ID, True),
    ]:
        with pytest.raises(CryptoError):
            payload_aad(record_id, version)


def test_payload_vector_is_pinned() -> None:
    blob = seal_payload(PAYLOAD_KEY, PAYLOAD_PT, aad=AAD, rng=fixed_rng(PAYLOAD_NONCE))
    assert blob == PAYLOAD_VECTOR
    # The layout, rebuilt from the AEAD itself: magic || nonce || AES-256-GCM(ct || tag).
    assert blob == b"OKC1" + PAYLOAD_NONCE + AESGCM(PAYLOAD_KEY).encrypt(
        PAYLOAD_NONCE, PAYLOAD_PT, AAD
    )
    assert len(blob) == 4 + 12 + len(PAYLOAD_PT) + 16
    assert payload_digest(blob) == PAYLOAD_VECTOR_DIGEST == hashlib.sha256(blob).digest()
    assert open_payload(PAYLOAD_KEY, PAYLOAD_VECTOR, aad=AAD) == PAYLOAD_PT


@pytest.mark.parametrize("size", [0, 1, 2048, 65536])
def test_payload_round_trip(size: int) -> None:
    key = new_data_key()
    plaintext = bytes(i % 251 for i in range(size))
    blob = seal_payload(key, plaintext, aad=AAD)
    assert blob.startswith(PAYLOAD_MAGIC)
    assert len(blob) == 32 + size
    assert open_payload(key, blob, aad=AAD) == plaintext


def test_fresh_keys_and_nonces_differ() -> None:
    assert new_data_key() != new_data_key()
    assert len(new_data_key()) == 32
    key = new_data_key()
    a, b = seal_payload(key, b"same", aad=AAD), seal_payload(key, b"same", aad=AAD)
    assert a[4:16] != b[4:16]
    assert open_payload(key, a, aad=AAD) == open_payload(key, b, aad=AAD) == b"same"


def test_payload_wrong_key_or_aad_is_refused() -> None:
    with pytest.raises(DecryptionError, match="authentication failed"):
        open_payload(new_data_key(), PAYLOAD_VECTOR, aad=AAD)
    for aad in [payload_aad(RECORD_ID, VERSION + 1), payload_aad(bytes(32), VERSION), b""]:
        with pytest.raises(DecryptionError, match="authentication failed"):
            open_payload(PAYLOAD_KEY, PAYLOAD_VECTOR, aad=aad)


def test_payload_every_flipped_byte_is_refused() -> None:
    for i in range(len(PAYLOAD_VECTOR)):
        expected = "bad magic" if i < 4 else "authentication failed"
        with pytest.raises(DecryptionError, match=expected):
            open_payload(PAYLOAD_KEY, flip(PAYLOAD_VECTOR, i), aad=AAD)


@settings(max_examples=200, deadline=None)
@given(
    plaintext=st.binary(min_size=0, max_size=4096),
    position=st.integers(min_value=0),
    mask=st.integers(min_value=1, max_value=255),
)
def test_payload_tampering_property(plaintext: bytes, position: int, mask: int) -> None:
    blob = seal_payload(PAYLOAD_KEY, plaintext, aad=AAD)
    assert open_payload(PAYLOAD_KEY, blob, aad=AAD) == plaintext
    with pytest.raises(DecryptionError):
        open_payload(PAYLOAD_KEY, flip(blob, position % len(blob), mask), aad=AAD)


def test_payload_truncated_at_every_length_is_refused() -> None:
    for n in range(len(PAYLOAD_VECTOR)):
        expected = "too short" if n < 32 else "authentication failed"
        with pytest.raises(DecryptionError, match=expected):
            open_payload(PAYLOAD_KEY, PAYLOAD_VECTOR[:n], aad=AAD)
    with pytest.raises(DecryptionError, match="authentication failed"):
        open_payload(PAYLOAD_KEY, PAYLOAD_VECTOR + b"\x00", aad=AAD)


def test_payload_bad_magic_and_malformed_inputs() -> None:
    for blob in [b"OKW1" + PAYLOAD_VECTOR[4:], b"x", b"\x00" * 64, b"OKC2" + PAYLOAD_VECTOR[4:]]:
        with pytest.raises(DecryptionError, match="bad magic"):
            open_payload(PAYLOAD_KEY, blob, aad=AAD)
    with pytest.raises(DecryptionError, match="must be bytes"):
        open_payload(PAYLOAD_KEY, "OKC1", aad=AAD)  # type: ignore[arg-type]
    # A malformed key is a caller's error, not a failed decryption.
    for key in [b"", PAYLOAD_KEY[:16], PAYLOAD_KEY + b"\x00"]:
        with pytest.raises(CryptoError, match="data key is 32 bytes") as info:
            open_payload(key, PAYLOAD_VECTOR, aad=AAD)
        assert not isinstance(info.value, DecryptionError)
        with pytest.raises(CryptoError, match="data key is 32 bytes"):
            seal_payload(key, b"x", aad=AAD)


def test_random_source_must_give_the_size_asked() -> None:
    with pytest.raises(CryptoError, match="random source"):
        seal_payload(PAYLOAD_KEY, b"x", aad=AAD, rng=lambda n: bytes(n - 1))
    with pytest.raises(CryptoError, match="random source"):
        new_data_key(lambda n: bytes(n + 1))


# --- 2. recipient keys -------------------------------------------------------------------------

HYBRID_SECRET = bytes(range(96))
HYBRID_PUBLIC_SHA256 = "d99e4496af749b54ee4a2d270c8057450624ecc5dc0866295ffc504a26134ad4"


def test_suite_sizes() -> None:
    assert Suite("x25519") is Suite.X25519
    assert Suite("mlkem768-x25519") is Suite.HYBRID
    assert (Suite.X25519.wire_id, Suite.HYBRID.wire_id) == (1, 2)
    assert Suite.X25519.public_key_size == 32
    assert Suite.X25519.enc_size == 32
    # ML-KEM-768 encapsulation key (1184) + X25519 (32); ciphertext 1088 + 32.
    assert Suite.HYBRID.public_key_size == 1184 + 32 == 1216
    assert Suite.HYBRID.enc_size == 1088 + 32 == 1120
    assert Suite.HYBRID.private_key_size == 64 + 32


@pytest.mark.parametrize("suite", list(Suite))
def test_recipient_keys_generate_and_round_trip(suite: Suite) -> None:
    private = RecipientPrivateKey.generate(suite)
    public = private.public_key()
    assert public.suite is suite
    assert len(public.raw) == suite.public_key_size
    encoded = private.to_bytes()
    assert encoded[:5] == b"OKS1" + bytes([suite.wire_id])
    assert len(encoded) == 5 + suite.private_key_size
    assert RecipientPrivateKey.from_bytes(encoded) == private
    assert RecipientPrivateKey.from_bytes(encoded).public_key() == public
    assert public.to_bytes() == b"OKP1" + bytes([suite.wire_id]) + public.raw
    assert RecipientPublicKey.from_bytes(public.to_bytes()) == public
    assert RecipientPrivateKey.generate(suite).public_key() != public
    # The secret never shows in a repr.
    assert encoded[5:].hex() not in repr(private)
    assert repr(private).startswith(f"RecipientPrivateKey(suite='{suite}'")


def test_hybrid_public_key_is_ml_kem_768_then_x25519() -> None:
    private = RecipientPrivateKey.generate(Suite.HYBRID, rng=fixed_rng(HYBRID_SECRET))
    raw = private.public_key().raw
    assert len(raw) == 1216
    pq = mlkem.MLKEM768PrivateKey.from_seed_bytes(HYBRID_SECRET[:64])
    classic = x25519_raw(HYBRID_SECRET[64:])
    assert raw[:1184] == pq.public_key().public_bytes_raw()
    assert raw[1184:] == classic.public_key().public_bytes_raw()
    assert hashlib.sha256(raw).hexdigest() == HYBRID_PUBLIC_SHA256


def test_x25519_key_from_the_rfc_vector() -> None:
    private = RecipientPrivateKey(Suite.X25519, RFC_SKRM)
    assert private.public_key().raw == RFC_PKRM
    assert RecipientPrivateKey.generate(Suite.X25519, rng=fixed_rng(RFC_SKRM)) == private


def test_malformed_recipient_keys_are_refused() -> None:
    good = RecipientPrivateKey(Suite.X25519, RFC_SKRM)
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: RecipientPublicKey.from_bytes(b"OKP"), "too short"),
        (lambda: RecipientPublicKey.from_bytes(b"OKS1\x01" + RFC_PKRM), "bad magic"),
        (lambda: RecipientPublicKey.from_bytes(b"OKP1\x07" + RFC_PKRM), "unknown suite id"),
        (lambda: RecipientPublicKey.from_bytes(b"OKP1\x02" + RFC_PKRM), "1216 bytes, got 32"),
        (lambda: RecipientPublicKey(Suite.X25519, RFC_PKRM[:31]), "32 bytes, got 31"),
        (lambda: RecipientPublicKey("rsa", RFC_PKRM), "unknown recipient key suite"),  # type: ignore[arg-type]
        (lambda: RecipientPublicKey(Suite.X25519, bytes(32)), "small-order"),
        (lambda: RecipientPublicKey(Suite.X25519, (1).to_bytes(32, "little")), "small-order"),
        (lambda: RecipientPublicKey(Suite.HYBRID, b"\xff" * 1184 + RFC_PKRM), "ML-KEM-768"),
        (lambda: RecipientPrivateKey.from_bytes(good.to_bytes()[:-1]), "32 bytes, got 31"),
        (lambda: RecipientPrivateKey.from_bytes(b"OKP1" + good.to_bytes()[4:]), "bad magic"),
        (lambda: RecipientPrivateKey.from_bytes(b"OKS1\x02" + RFC_SKRM), "96 bytes, got 32"),
        (lambda: RecipientPrivateKey.from_bytes("OKS1"), "must be bytes"),  # type: ignore[arg-type]
    ]
    for build, message in cases:
        with pytest.raises(RecipientError, match=message):
            build()


# --- 2b. bindings ------------------------------------------------------------------------------

# SIGNER_A binds the RFC 9180 A.1 recipient key (RFC 6979 signatures are deterministic).
BINDING_DIGEST = bytes.fromhex("ba04b84f7097f7e8b8de45a0d23e9e542e12315c8f3dae3afbfe623afaafac81")
BINDING_SIGNATURE = bytes.fromhex(
    "a0bffce38aa1adb53170737f86c8c0530d5db4405876ae88bbbbd495690d16b37c63f4fb23fd7d4c5adf0963"
    "134c93a181678bbb1a9e29dcebdb19e46d96f9871c"
)


def rfc_binding() -> RecipientBinding:
    return bind_recipient_key(RecipientPublicKey(Suite.X25519, RFC_PKRM), SIGNER_A)


def test_binding_vector_and_eth_account_agree() -> None:
    binding = rfc_binding()
    assert binding.owner == SIGNER_A.address == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    assert binding.digest == BINDING_DIGEST
    assert binding.signature == BINDING_SIGNATURE
    assert binding.verify() == SIGNER_A.address
    typed = binding.typed_data()
    assert typed["primaryType"] == "RecipientKey"
    assert typed["domain"] == {"name": "okeios", "version": "1"}
    assert typed["types"]["RecipientKey"] == [
        {"name": "owner", "type": "address"},
        {"name": "suite", "type": "string"},
        {"name": "publicKey", "type": "bytes"},
    ]
    # An independent EIP-712 encoder and signer produce the same digest and signature.
    signable = encode_typed_data(full_message=typed)
    assert Account.recover_message(signable, signature=binding.signature) == SIGNER_A.address
    signed = Account.sign_typed_data(KEY_A, full_message=typed)
    assert bytes(signed.message_hash) == BINDING_DIGEST
    assert bytes(signed.signature) == BINDING_SIGNATURE


@pytest.mark.parametrize("suite", list(Suite))
def test_binding_json_round_trip(suite: Suite) -> None:
    binding = bind_recipient_key(RecipientPrivateKey.generate(suite).public_key(), SIGNER_A)
    text = binding.to_json()
    doc = json.loads(text)
    assert doc["type"] == "okeios-recipient-key"
    assert doc["version"] == 1
    assert doc["suite"] == str(suite)
    again = RecipientBinding.from_json(text)
    assert again == binding
    assert again.verify() == SIGNER_A.address
    assert RecipientBinding.from_json(text.encode()) == binding
    # A short repr: owner, suite and the key's fingerprint, not 1,216 bytes of key.
    assert repr(binding) == (
        f"RecipientBinding(owner='{SIGNER_A.address}', suite='{suite}', "
        f"key={binding.recipient.fingerprint()})"
    )


def test_binding_signed_through_a_wallet_interface() -> None:
    wallet = EthAccountSigner(Account.from_key(KEY_A))
    binding = bind_recipient_key(RecipientPublicKey(Suite.X25519, RFC_PKRM), wallet)
    assert binding.signature == BINDING_SIGNATURE
    assert binding.verify() == SIGNER_A.address


def test_binding_signed_by_someone_else_is_refused() -> None:
    public = RecipientPublicKey(Suite.X25519, RFC_PKRM)
    honest = bind_recipient_key(public, SIGNER_A)
    # B signs A's statement: the signature is valid, but for B, not for the claimed owner.
    forged_sig = SIGNER_B.unsafe_sign_digest(honest.digest)
    forged = RecipientBinding(SIGNER_A.address, Suite.X25519, RFC_PKRM, forged_sig)
    with pytest.raises(RecipientError, match="recovers to " + SIGNER_B.address):
        forged.verify()
    with pytest.raises(RecipientError, match="not bound by its owner"):
        wrap_data_key(DATA_KEY, forged, info=INFO)
    # B's own binding claims B: a valid binding, for B.
    assert bind_recipient_key(public, SIGNER_B).verify() == SIGNER_B.address


@pytest.mark.parametrize("suite", list(Suite))
def test_binding_with_a_swapped_public_key_is_refused(suite: Suite) -> None:
    honest = bind_recipient_key(RecipientPrivateKey.generate(suite).public_key(), SIGNER_A)
    attacker = RecipientPrivateKey.generate(suite)
    swapped = dataclasses.replace(honest, public_key=attacker.public_key().raw)
    assert swapped.digest != honest.digest
    with pytest.raises(RecipientError):
        swapped.verify()
    with pytest.raises(RecipientError):
        wrap_data_key(DATA_KEY, swapped, info=INFO)
    # Same via the published JSON.
    doc = json.loads(honest.to_json())
    doc["publicKey"] = "0x" + attacker.public_key().raw.hex()
    with pytest.raises(RecipientError):
        wrap_data_key(DATA_KEY, RecipientBinding.from_json(json.dumps(doc)), info=INFO)


def test_binding_claimed_for_another_owner_is_refused() -> None:
    honest = rfc_binding()
    other_owner = dataclasses.replace(honest, owner=SIGNER_B.address)
    # The owner is in the signed message, so the signature now recovers to a random address.
    with pytest.raises(RecipientError, match="not bound by its owner"):
        other_owner.verify()
    with pytest.raises(RecipientError):
        wrap_data_key(DATA_KEY, other_owner, info=INFO)


def test_malformed_bindings_are_refused() -> None:
    good = json.loads(rfc_binding().to_json())
    bad_docs: list[tuple[object, str]] = [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"type": 1, "type": 2}', "duplicate"),
        ({**good, "type": "something-else"}, "not an okeios recipient key binding"),
        ({**good, "version": 2}, "version 2"),
        ({**good, "version": True}, "version True"),
        ({**good, "extra": 1}, "unknown members"),
        ({k: v for k, v in good.items() if k != "signature"}, "missing members"),
        ({**good, "owner": "0x1234"}, "owner is not an address"),
        ({**good, "owner": 7}, "strings"),
        ({**good, "suite": "rsa"}, "unknown recipient key suite"),
        ({**good, "publicKey": "3948"}, "0x-prefixed"),
        ({**good, "publicKey": "0x39 48"}, "0x-prefixed"),
        ({**good, "signature": "0x" + "00" * 64}, "65 bytes"),
        ({**good, "publicKey": "0x" + "00" * 32}, "small-order"),
    ]
    for doc, message in bad_docs:
        text = doc if isinstance(doc, str) else json.dumps(doc)
        with pytest.raises(RecipientError, match=message):
            RecipientBinding.from_json(text)
    # Well formed, but the signature does not recover (v out of range): refused on verify.
    unsigned = RecipientBinding.from_json(
        json.dumps({**good, "signature": "0x" + "11" * 64 + "00"})
    )
    with pytest.raises(RecipientError, match="v must be 27 or 28"):
        unsigned.verify()
    with pytest.raises(RecipientError):
        bind_recipient_key(RFC_PKRM, SIGNER_A)  # type: ignore[arg-type]


# --- 3. wrapped data keys ----------------------------------------------------------------------

# The X25519 vector, built with the RFC 9180 code above and the RFC's ephemeral key skEm.
X25519_WRAPPED = bytes.fromhex(
    "4f4b573101002037fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf44311d73c338a0"
    "8bc1661d234094b555bc55eb4610a550d256d5318ea960798933e9f9708ec5fab4a728d56ffe3413d149e1"
)
# The hybrid vector was made once by wrap_data_key (ML-KEM encapsulation cannot be seeded
# through cryptography's API) to HYBRID_SECRET's key, with DATA_KEY and INFO.
HYBRID_WRAPPED = bytes.fromhex(
    "4f4b57310204608da40ade5d293c5b5db73134406ec666db787f85a067b1a0bc7d58ce3194dc28b011453481"
    "04f0aa89c1ad663c7d9a1d3def0333aefd8275dcfb87c82767aef1caa05acb2f35dfcbfb8813848eaaa1c74e"
    "1c81eece67158cb508d78c8be8883763c3a173a19def9e098e8f4228afea3cecb87f90ba833fe9c24f878281"
    "8428861a595f02168eecbc1385d936bdea0d40663ee96dd3ab9bbb13987b368462fc3cb01a027b4747a3b769"
    "41c13d61acfe493d34f535ef3c3e7dce0d3833e3c1be9ba8a9d454e1e7a9fed70199f3d1317114798a73a208"
    "45ac3fbcfe3907391f36a2c344a409c35f486b159d53f710271f41c52257d401e30645cd13ce8905b673ba6c"
    "1dfb155619188131dc0c5854c591fb3b7979f8c1181e48fbd4677b7d42dd6ec60d54f6ab2b4f08f0834b7a3f"
    "0b756c260517a9d6ab169e102a9e136618f105ce1b050ecf17cbc353c9d0c464c5c177eb97d034b64b1ad90a"
    "467e6ddc6716715ea8b55a5744b9f8fd2f3829f0e1ce0869a8c56e8f79b224d64e4048c02e1517a12cbeb7af"
    "1c901402558849d1c2e36cf70f33efc137ea492f18b35192441171219af1b11913512560e6abe45a6a28f93f"
    "f081a3971dbe84948385ce19354fc00e84c7de0b3bbdcf9e02ced1ca876301fb578fabe50fe7d281dfe79475"
    "823f007d413e0eabcd3a81dfb6d621b8d7fd6c0e53de0fd58e63f4cf21f2cb77509d0400a400f2b026c46ef7"
    "21c776f03dda5ee7d69938257f85904f83df7a265233a661b72f1c168b8a8ce428aca82b38b7b7eb4526cc0c"
    "15683a513955ab2bc30bfaf1d6d1d893d6405b0d514c1855e950f1f84c527951780920412dc376271eb71345"
    "8645001eb7f0fb11ea70e416d2a3848f59f8781e9926cae2f8d2bc40190c576f5e31c03bd9ec3d04a16618b1"
    "fc15e6af0a67549650d95491069db7669c59fca681e130375d4c72c5c9715339c9b2d0462bbd544be3c74094"
    "af3c82a8cda54cb2a7eb78c6427fad09db950621fbae30142de3e8b4e7f8bc9e506ca764247b30ed7354194b"
    "f2911583b51f12807ac772ad452857469dfc2dd03bc9d0e39bde90e5620cc9353c18d921a6fe12320d5d4296"
    "32ed6cd28469a21fca23e20418921a0476cafa92d47ac8480e403053c099c45f6deee417af1db0de37681301"
    "ce119010d4f1b0973893a6af1ac6955c85e4c2712fd1886b85023dfe4842644fdb5f11c7198a45e543776e3c"
    "49efa8c037b28899fdd74aee494f97ba574e9b6e3e5914f8bd1aa0a52fd8ced95ad421f62ddf3e310712b34b"
    "5814e08f2d53cfcfc4b0c624781021689710b57a9fe438f2f0abf12d23db0e1746f86a9ceac41def04a3bf9a"
    "cc98b1e84e035b28dc379fec4618a6e93ffe7cde04f28c3ef17817dbfa320ed445b96bd9d12fe9355ccd7f8e"
    "6f6a032c688a7ec09e61f6e6e77648de709bccbe84312d58ed62649f88b5cd02a2670be7629063eb0f152f37"
    "0b5d36c8708f23fe9c252b517a22159aa935e8e79b529a0addb7a2ca49c60dd44e922fa03dd20edda3e13507"
    "f259487cdff6ba67369338e8e451a37d86282e73682d538feddf11cfb2297c0c285ea28be5f0ff711a420114"
    "ead6b6dbf4218497d19c2dbc7767f9195c1021a73ba2e27c868892018a9384"
)


def test_wrapped_vectors_open() -> None:
    x_private = RecipientPrivateKey(Suite.X25519, RFC_SKRM)
    assert unwrap_data_key(X25519_WRAPPED, x_private, info=INFO) == DATA_KEY
    h_private = RecipientPrivateKey(Suite.HYBRID, HYBRID_SECRET)
    assert unwrap_data_key(HYBRID_WRAPPED, h_private, info=INFO) == DATA_KEY


def test_x25519_wrapped_vector_layout() -> None:
    wrapped = X25519_WRAPPED
    assert wrapped[:4] == WRAP_MAGIC == b"OKW1"
    assert wrapped[4] == 0x01
    assert wrapped[5:7] == (32).to_bytes(2, "big")
    assert wrapped[7:39] == RFC_PKEM  # enc is the ephemeral public key
    assert len(wrapped) == 4 + 1 + 2 + 32 + 48 == 87
    assert HYBRID_WRAPPED[4] == 0x02
    assert HYBRID_WRAPPED[5:7] == (1120).to_bytes(2, "big")
    assert len(HYBRID_WRAPPED) == 4 + 1 + 2 + 1120 + 48 == 1175


@pytest.mark.parametrize("suite", list(Suite))
def test_wrap_round_trip(suite: Suite) -> None:
    private = RecipientPrivateKey.generate(suite)
    binding = bind_recipient_key(private.public_key(), SIGNER_A)
    data_key = new_data_key()
    wrapped = wrap_data_key(data_key, binding, info=INFO)
    assert wrapped[:5] == WRAP_MAGIC + bytes([suite.wire_id])
    assert int.from_bytes(wrapped[5:7], "big") == suite.enc_size
    assert len(wrapped) == 7 + suite.enc_size + 48
    assert unwrap_data_key(wrapped, private, info=INFO) == data_key
    # HPKE is randomised: wrapping twice gives two different blobs that both open.
    again = wrap_data_key(data_key, binding, info=INFO)
    assert again != wrapped
    assert unwrap_data_key(again, private, info=INFO) == data_key
    # The private key survives serialization.
    restored = RecipientPrivateKey.from_bytes(private.to_bytes())
    assert unwrap_data_key(wrapped, restored, info=INFO) == data_key


@pytest.mark.parametrize("suite", list(Suite))
def test_unwrap_with_the_wrong_recipient_or_info_is_refused(suite: Suite) -> None:
    private = RecipientPrivateKey.generate(suite)
    wrapped = wrap_data_key(DATA_KEY, bind_recipient_key(private.public_key(), SIGNER_A), info=INFO)
    with pytest.raises(DecryptionError, match="authentication failed"):
        unwrap_data_key(wrapped, RecipientPrivateKey.generate(suite), info=INFO)
    other_version = b"okeios/grant/v1\x00" + payload_aad(RECORD_ID, VERSION + 1)
    for info in [other_version, b"", INFO + b"\x00"]:
        with pytest.raises(DecryptionError, match="authentication failed"):
            unwrap_data_key(wrapped, private, info=info)


def test_unwrap_with_a_key_of_the_other_suite_is_a_recipient_error() -> None:
    with pytest.raises(RecipientError, match="wrapped for suite x25519"):
        unwrap_data_key(X25519_WRAPPED, RecipientPrivateKey(Suite.HYBRID, HYBRID_SECRET), info=INFO)
    with pytest.raises(RecipientError, match="wrapped for suite mlkem768-x25519"):
        unwrap_data_key(HYBRID_WRAPPED, RecipientPrivateKey(Suite.X25519, RFC_SKRM), info=INFO)
    # Relabelling the suite byte does not help either.
    relabelled = X25519_WRAPPED[:4] + b"\x02" + X25519_WRAPPED[5:]
    with pytest.raises(RecipientError):
        unwrap_data_key(relabelled, RecipientPrivateKey(Suite.X25519, RFC_SKRM), info=INFO)


@pytest.mark.parametrize(
    ("wrapped", "secret", "suite"),
    [(X25519_WRAPPED, RFC_SKRM, Suite.X25519), (HYBRID_WRAPPED, HYBRID_SECRET, Suite.HYBRID)],
)
def test_wrapped_key_every_flipped_byte_is_refused(
    wrapped: bytes, secret: bytes, suite: Suite
) -> None:
    private = RecipientPrivateKey(suite, secret)
    for i in range(len(wrapped)):
        if i < 4:
            expected = "bad magic"
        elif i == 4:
            expected = "unknown suite id"  # 0x01 -> 0x00, 0x02 -> 0x03
        elif i < 7:
            expected = "enc, the header says"
        else:
            expected = "authentication failed"
        with pytest.raises(DecryptionError, match=expected):
            unwrap_data_key(flip(wrapped, i), private, info=INFO)


@settings(max_examples=100, deadline=None)
@given(position=st.integers(min_value=7), mask=st.integers(min_value=1, max_value=255))
def test_wrapped_key_tampering_property(position: int, mask: int) -> None:
    private = RecipientPrivateKey(Suite.HYBRID, HYBRID_SECRET)
    tampered = flip(HYBRID_WRAPPED, 7 + position % (len(HYBRID_WRAPPED) - 7), mask)
    with pytest.raises(DecryptionError, match="authentication failed"):
        unwrap_data_key(tampered, private, info=INFO)


def test_truncated_or_extended_wrapped_keys_are_refused() -> None:
    private = RecipientPrivateKey(Suite.X25519, RFC_SKRM)
    for n in range(len(X25519_WRAPPED)):
        with pytest.raises(DecryptionError, match="too short"):
            unwrap_data_key(X25519_WRAPPED[:n], private, info=INFO)
    with pytest.raises(DecryptionError, match="too long"):
        unwrap_data_key(X25519_WRAPPED + b"\x00", private, info=INFO)
    for blob in [b"OKC1" + X25519_WRAPPED[4:], b"\x00"]:
        with pytest.raises(DecryptionError, match="bad magic"):
            unwrap_data_key(blob, private, info=INFO)


def test_wrap_refuses_a_malformed_data_key() -> None:
    binding = rfc_binding()
    for key in [b"", DATA_KEY[:31], DATA_KEY + b"\x00"]:
        with pytest.raises(CryptoError, match="data key is 32 bytes"):
            wrap_data_key(key, binding, info=INFO)
    with pytest.raises(RecipientError):
        wrap_data_key(DATA_KEY, RecipientPublicKey(Suite.X25519, RFC_PKRM), info=INFO)  # type: ignore[arg-type]


# --- HPKE interoperability -----------------------------------------------------------------------


def test_independent_rfc9180_code_reproduces_appendix_a11() -> None:
    """The RFC 9180 code above, checked against the RFC: the same code then checks okeios."""
    assert x25519_raw(RFC_SKEM).public_key().public_bytes_raw() == RFC_PKEM
    dh = x25519_exchange(RFC_SKEM, RFC_PKRM)
    assert dh == x25519_exchange(RFC_SKRM, RFC_PKEM)
    shared = dhkem_x25519_shared_secret(dh, RFC_PKEM, RFC_PKRM)
    assert shared == RFC_SHARED_SECRET
    key, nonce = key_schedule(0x0020, 0x0001, 16, shared, RFC_INFO)  # AES-128-GCM
    assert (key, nonce) == (RFC_KEY, RFC_BASE_NONCE)
    assert AESGCM(key).encrypt(nonce, RFC_PT, RFC_AAD0) == RFC_CT0


def test_cryptography_hpke_opens_rfc9180_appendix_a11() -> None:
    """cryptography's HPKE itself, on the RFC's own ciphertext (its public ``decrypt`` has no
    aad argument and the RFC's encryptions all have one, so this uses the binding's private
    helper when it exists)."""
    rust_hpke = pytest.importorskip("cryptography.hazmat.bindings._rust").openssl.hpke
    decrypt_with_aad = getattr(rust_hpke, "_decrypt_with_aad", None)
    if decrypt_with_aad is None:
        pytest.skip("this cryptography has no _decrypt_with_aad helper")
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
    plaintext = decrypt_with_aad(
        suite, RFC_PKEM + RFC_CT0, x25519_raw(RFC_SKRM), info=RFC_INFO, aad=RFC_AAD0
    )
    assert plaintext == RFC_PT


def test_x25519_wrap_interoperates_with_independent_rfc9180_code() -> None:
    # okeios -> independent: open what wrap_data_key made.
    private = RecipientPrivateKey.generate(Suite.X25519)
    secret = private.to_bytes()[5:]
    binding = bind_recipient_key(private.public_key(), SIGNER_A)
    wrapped = wrap_data_key(DATA_KEY, binding, info=INFO)
    enc, ct = wrapped[7:39], wrapped[39:]
    shared = dhkem_x25519_shared_secret(x25519_exchange(secret, enc), enc, private.public_key().raw)
    key, nonce = key_schedule(0x0020, 0x0002, 32, shared, INFO)  # AES-256-GCM
    assert AESGCM(key).decrypt(nonce, ct, b"") == DATA_KEY
    # independent -> okeios: the pinned vector was sealed by the code above (skE = RFC skEm).
    shared = dhkem_x25519_shared_secret(x25519_exchange(RFC_SKEM, RFC_PKRM), RFC_PKEM, RFC_PKRM)
    key, nonce = key_schedule(0x0020, 0x0002, 32, shared, INFO)
    rebuilt = b"OKW1\x01\x00\x20" + RFC_PKEM + AESGCM(key).encrypt(nonce, DATA_KEY, b"")
    assert rebuilt == X25519_WRAPPED


@pytest.mark.parametrize("wrapped", [None, HYBRID_WRAPPED])
def test_hybrid_wrap_is_x_wing_under_rfc9180(wrapped: bytes | None) -> None:
    """Open a hybrid wrapped key with the X-Wing combiner (HPKE KEM id 0x647a) and the RFC 9180
    key schedule written here; only ML-KEM-768 decapsulation comes from cryptography."""
    private = RecipientPrivateKey(Suite.HYBRID, HYBRID_SECRET)
    if wrapped is None:
        binding = bind_recipient_key(private.public_key(), SIGNER_A)
        wrapped = wrap_data_key(DATA_KEY, binding, info=INFO)
    enc, ct = wrapped[7:1127], wrapped[1127:]
    ct_m, ct_x = enc[:1088], enc[1088:]
    ss_m = mlkem.MLKEM768PrivateKey.from_seed_bytes(HYBRID_SECRET[:64]).decapsulate(ct_m)
    ss_x = x25519_exchange(HYBRID_SECRET[64:], ct_x)
    pk_x = private.public_key().raw[1184:]
    shared = hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + b"\\.//^\\").digest()
    key, nonce = key_schedule(0x647A, 0x0002, 32, shared, INFO)
    assert AESGCM(key).decrypt(nonce, ct, b"") == DATA_KEY


# --- 4. protected secrets ------------------------------------------------------------------------

SECRET = bytes(range(32))
PASSPHRASE = "correct horse battery staple"
ARGON2_SALT = bytes(range(0x10, 0x20))
HKDF_SALT = bytes(range(0x10, 0x30))
PROTECT_NONCE = bytes(range(0x30, 0x3C))
KEY_FILE = bytes(range(0x60, 0x80))

PROTECTED_VECTOR = """{
  "aead": {
    "name": "aes-256-gcm",
    "nonce": "0x303132333435363738393a3b"
  },
  "ciphertext": "0xa0d086f0b3b507dcb9403bccb753d48116aaba10f922bd7dcb77d57a682a8763d99ef145d1f0628b2d8276f8bb8270ab",
  "format": "okeios-protected-secret",
  "kdf": {
    "iterations": 3,
    "lanes": 4,
    "memoryKiB": 65536,
    "name": "argon2id",
    "salt": "0x101112131415161718191a1b1c1d1e1f"
  },
  "version": 1
}
"""  # noqa: E501
KEYFILE_VECTOR = """{
  "aead": {
    "name": "aes-256-gcm",
    "nonce": "0x303132333435363738393a3b"
  },
  "ciphertext": "0xfbadd1f7c2ca05142f2f025f0bf1cf2720eb8f09502464cb6e0ecdc2b3a502c4085b3a2730c033d9d7588e9b0c17f129",
  "format": "okeios-protected-secret",
  "kdf": {
    "name": "hkdf-sha256",
    "salt": "0x101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
  },
  "version": 1
}
"""  # noqa: E501


def test_cryptography_argon2id_matches_rfc9106() -> None:
    """RFC 9106 section 5.3 (Argon2id, with secret and associated data)."""
    kdf = Argon2id(
        salt=b"\x02" * 16,
        length=32,
        iterations=3,
        lanes=4,
        memory_cost=32,
        ad=b"\x04" * 12,
        secret=b"\x03" * 8,
    )
    assert kdf.derive(b"\x01" * 32) == bytes.fromhex(
        "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
    )


def test_default_argon2_parameters_are_rfc9106_second_option() -> None:
    assert Argon2Params(iterations=3, lanes=4, memory_kib=64 * 1024) == ARGON2_DEFAULT


def test_protected_secret_vector() -> None:
    blob = protect_secret(SECRET, PASSPHRASE, rng=fixed_rng(ARGON2_SALT, PROTECT_NONCE))
    assert blob == PROTECTED_VECTOR.encode()
    assert unprotect_secret(blob, PASSPHRASE) == SECRET
    assert unprotect_secret(PROTECTED_VECTOR, PASSPHRASE) == SECRET
    # Rebuilt from the spec: Argon2id(passphrase) -> AES-256-GCM with the kdf-naming aad.
    key = Argon2id(salt=ARGON2_SALT, length=32, iterations=3, lanes=4, memory_cost=65536).derive(
        PASSPHRASE.encode()
    )
    ct = AESGCM(key).encrypt(PROTECT_NONCE, SECRET, b"okeios/protected-secret/v1\x00argon2id")
    assert json.loads(blob)["ciphertext"] == "0x" + ct.hex()


def test_key_file_vector() -> None:
    blob = protect_secret_with_key(SECRET, KEY_FILE, rng=fixed_rng(HKDF_SALT, PROTECT_NONCE))
    assert blob == KEYFILE_VECTOR.encode()
    assert unprotect_secret_with_key(blob, KEY_FILE) == SECRET
    # Rebuilt from the spec with hmac alone: HKDF-SHA256 (RFC 5869), one output block.
    info = b"okeios/protected-secret/v1\x00hkdf-sha256"
    prk = hmac.new(HKDF_SALT, KEY_FILE, hashlib.sha256).digest()
    key = hmac.new(prk, info + b"\x01", hashlib.sha256).digest()
    ct = AESGCM(key).encrypt(PROTECT_NONCE, SECRET, b"okeios/protected-secret/v1\x00hkdf-sha256")
    assert json.loads(blob)["ciphertext"] == "0x" + ct.hex()


@pytest.mark.parametrize("secret", [b"", b"k", bytes(range(256)) * 4])
def test_protect_round_trip(secret: bytes) -> None:
    blob = protect_secret(secret, "pass phrase", params=FAST)
    assert unprotect_secret(blob, "pass phrase") == secret
    assert unprotect_secret(blob.decode(), "pass phrase") == secret
    assert protect_secret(secret, "pass phrase", params=FAST) != blob  # fresh salt and nonce
    key_file = new_data_key()
    sealed = protect_secret_with_key(secret, key_file)
    assert unprotect_secret_with_key(sealed, key_file) == secret


def test_recipient_private_key_at_rest() -> None:
    private = RecipientPrivateKey.generate(Suite.HYBRID)
    blob = protect_secret(private.to_bytes(), "pass phrase", params=FAST)
    assert RecipientPrivateKey.from_bytes(unprotect_secret(blob, "pass phrase")) == private


def test_passphrases_are_nfc_normalised() -> None:
    blob = protect_secret(SECRET, "caf\u00e9", params=FAST)
    assert unprotect_secret(blob, "cafe\u0301") == SECRET


def test_wrong_passphrase_or_key_file_is_refused() -> None:
    with pytest.raises(KeyProtectionError, match="wrong passphrase"):
        unprotect_secret(PROTECTED_VECTOR, PASSPHRASE + "!")
    with pytest.raises(KeyProtectionError, match="wrong key file"):
        unprotect_secret_with_key(KEYFILE_VECTOR, bytes(32))
    with pytest.raises(KeyProtectionError, match="key file"):
        unprotect_secret(KEYFILE_VECTOR, PASSPHRASE)
    with pytest.raises(KeyProtectionError, match="passphrase"):
        unprotect_secret_with_key(PROTECTED_VECTOR, KEY_FILE)
    with pytest.raises(KeyProtectionError, match="empty"):
        unprotect_secret(PROTECTED_VECTOR, "")
    with pytest.raises(KeyProtectionError, match="at least 32 bytes"):
        protect_secret_with_key(SECRET, KEY_FILE[:31])


def _edited(vector: str, **changes: object) -> str:
    doc = json.loads(vector)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = doc
        for p in parents:
            target = target[p]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return json.dumps(doc)


def test_damaged_protected_files_are_refused() -> None:
    cheap = protect_secret(SECRET, "pass phrase", params=FAST).decode()
    flipped_ct = json.loads(cheap)["ciphertext"]
    flipped_ct = flipped_ct[:-1] + ("0" if flipped_ct[-1] != "0" else "1")
    cases: list[tuple[str, str]] = [
        ("", "not valid JSON"),
        ("\xff", "not valid JSON"),
        ("[1]", "JSON object"),
        ('{"format": "okeios-protected-secret", "format": "x"}', "duplicate"),
        (_edited(cheap, format="something-else"), "not an okeios protected secret"),
        (_edited(cheap, version=2), "version 2 is not supported"),
        (_edited(cheap, ciphertext=None), "missing members"),
        (_edited(cheap, comment="hi"), "unknown members"),
        (_edited(cheap, ciphertext=flipped_ct), "wrong passphrase, or the file was altered"),
        (_edited(cheap, ciphertext="0x1234"), "shorter than the 16-byte tag"),
        (_edited(cheap, ciphertext="0xzz"), "hex"),
        (_edited(cheap, aead__name="chacha20-poly1305"), "unknown cipher"),
        (_edited(cheap, aead__nonce="0x" + "00" * 16), "nonce is 12 bytes"),
        (_edited(cheap, aead__nonce="0x" + "00" * 12), "the file was altered"),
        (_edited(cheap, kdf__name="scrypt"), "unknown kdf"),
        (_edited(cheap, kdf__salt="0x" + "00" * 8), "salt is 16 to 64 bytes"),
        (_edited(cheap, kdf__salt="0x" + "00" * 16), "the file was altered"),
        (_edited(cheap, kdf__iterations=2), "the file was altered"),
        (_edited(cheap, kdf__iterations=0), "iterations must be"),
        (_edited(cheap, kdf__iterations="1"), "iterations must be"),
        (_edited(cheap, kdf__memoryKiB=1 << 30), "memory_kib must be"),
        (_edited(cheap, kdf__lanes=2), "at least 8 \\* lanes"),
        (_edited(cheap, kdf__extra=1), "unknown members"),
    ]
    for text, message in cases:
        with pytest.raises(KeyProtectionError, match=message):
            unprotect_secret(text, "pass phrase")
    with pytest.raises(KeyProtectionError):
        unprotect_secret(b"\x00" * 10, "pass phrase")
    with pytest.raises(KeyProtectionError, match="JSON text"):
        unprotect_secret(None, "pass phrase")  # type: ignore[arg-type]


def test_argon2_parameters_are_checked_when_protecting() -> None:
    for kwargs in [{"iterations": 0}, {"lanes": 65}, {"memory_kib": 7}, {"iterations": True}]:
        with pytest.raises(KeyProtectionError):
            Argon2Params(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(KeyProtectionError, match="empty"):
        protect_secret(SECRET, "", params=FAST)
