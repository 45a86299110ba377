"""The library reproduces its own pinned v2 vectors byte for byte (a format change must be
deliberate), the vectors re-derive from the documents with hashlib, hmac and eth-account alone,
they verify, and version-1 bundles are refused with a named error, never misread."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from okeios._internal.protocol.bundle import Bundle
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.policy import TrustPolicy
from okeios.errors import UnsupportedVersionError

EVENT_FIELDS = [
    ("kind", "string"),
    ("logId", "bytes32"),
    ("recordId", "bytes32"),
    ("version", "uint64"),
    ("previous", "bytes32"),
    ("commitment", "bytes32"),
    ("ciphertextDigest", "bytes32"),
    ("author", "address"),
    ("time", "uint64"),
    ("sources", "bytes32[]"),
    ("subject", "address"),
    ("purpose", "string"),
    ("role", "string"),
    ("notBefore", "uint64"),
    ("notAfter", "uint64"),
]
VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "okeios-v2.json").read_text()
)
V1 = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "okeios-v1.json").read_text())


def _path_bytes(tokens: list) -> bytes:
    # docs/commitments.md: u32(k), then 0x01 u32(len) name for a member, 0x02 u64 for an index
    out = len(tokens).to_bytes(4, "big")
    for t in tokens:
        if isinstance(t, str):
            out += b"\x01" + len(t.encode()).to_bytes(4, "big") + t.encode()
        else:
            out += b"\x02" + t.to_bytes(8, "big")
    return out


def test_vectors_are_reproduced() -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "make_vectors.py"
    spec = importlib.util.spec_from_file_location("make_vectors", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == VECTORS


def test_vectors_follow_the_documented_construction() -> None:
    # Recomputed here from docs/commitments.md with hashlib and hmac only.
    seed = bytes.fromhex(VECTORS["seed"])
    digests = []
    for f in VECTORS["fields"]:
        path, value = _path_bytes(f["path"]), f["value"].encode()
        salt = hmac.new(seed, b"okeios/salt/v2\x00" + path, hashlib.sha256).digest()[:16]
        assert salt.hex() == f["salt"]
        d = hashlib.sha256(
            b"okeios/field/v2\x00"
            + salt
            + len(path).to_bytes(4, "big")
            + path
            + len(value).to_bytes(4, "big")
            + value
        ).digest()
        assert d.hex() == f["digest"]
        digests.append(d)
    digests.sort()
    commitment = hashlib.sha256(
        b"okeios/commitment/v2\x00" + len(digests).to_bytes(4, "big") + b"".join(digests)
    ).digest()
    assert commitment.hex() == VECTORS["commitment"]
    # The event id as eth-account's independent EIP-712 encoder computes it.
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
            ],
            "ProvenanceEvent": [{"name": k, "type": t} for k, t in EVENT_FIELDS],
        },
        "primaryType": "ProvenanceEvent",
        "domain": {"name": "okeios", "version": "2"},
        "message": VECTORS["event"],
    }
    signable = encode_typed_data(full_message=typed)
    event_id = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert event_id.hex() == VECTORS["eventId"]
    assert (
        Account._recover_hash(event_id, signature=bytes.fromhex(VECTORS["signature"]))
        == (VECTORS["author"])
    )
    sealed = bytes.fromhex(VECTORS["sealedPayload"])
    assert "0x" + hashlib.sha256(sealed).hexdigest() == VECTORS["event"]["ciphertextDigest"]
    assert sealed.startswith(b"OKC1")
    leaf = hashlib.sha256(b"\x00" + event_id + bytes.fromhex(VECTORS["signature"])).hexdigest()
    assert leaf == VECTORS["leafHash"]
    assert {f["pointer"] for f in VECTORS["fields"]} >= {
        "/a~1b~0c",
        "/note",
        "/code/coding/0/code",
    }
    assert ["code", "coding", 0, "code"] in [f["path"] for f in VECTORS["fields"]]
    # The log id is bound to the publisher: SHA-256("okeios/log/v2" 0x00 || address).
    address = bytes.fromhex(VECTORS["publisher"][2:])
    assert hashlib.sha256(b"okeios/log/v2\x00" + address).hexdigest() == VECTORS["logId"]
    assert VECTORS["event"]["logId"] == "0x" + VECTORS["logId"]
    assert VECTORS["checkpoint"]["logId"] == "0x" + VECTORS["logId"]
    # The checkpoint id, through eth-account's encoder, and its publisher's signature.
    signable = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": typed["types"]["EIP712Domain"],
                "Checkpoint": [
                    {"name": "logId", "type": "bytes32"},
                    {"name": "treeSize", "type": "uint64"},
                    {"name": "root", "type": "bytes32"},
                ],
            },
            "primaryType": "Checkpoint",
            "domain": {"name": "okeios", "version": "2"},
            "message": VECTORS["checkpoint"],
        }
    )
    checkpoint_id = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert checkpoint_id.hex() == VECTORS["checkpointId"]
    signature = bytes.fromhex(VECTORS["checkpointSignature"])
    assert Account._recover_hash(checkpoint_id, signature=signature) == VECTORS["publisher"]
    assert VECTORS["canonical"].startswith('{"a/b~c":true,"code":')


def test_vector_bundles_verify() -> None:
    policy = TrustPolicy(authors=[VECTORS["author"]], publishers=[VECTORS["publisher"]])
    full = bytes.fromhex(VECTORS["bundle"])
    report = verify_bundle(full, policy, record=VECTORS["record"].encode())
    assert report.passed, report.failures
    partial = verify_bundle(bytes.fromhex(VECTORS["partialBundle"]), policy)
    assert partial.passed
    assert dict(partial.disclosed) == {"/valueQuantity/unit": '"%"', "/valueQuantity/value": "6.10"}
    assert Bundle.from_bytes(full).event.id.hex() == VECTORS["eventId"]


def test_version_1_bundles_are_refused_by_name() -> None:
    for key in ("bundle", "partialBundle"):
        data = bytes.fromhex(V1[key])
        assert data[7] == 1
        with pytest.raises(UnsupportedVersionError, match="version 1 is no longer verified"):
            Bundle.load(data)
