"""Signers that are not in this process: eth_signTypedData_v4 against a real Anvil node's
unlocked accounts, and the digest-signing seam a KMS or HSM plugs into."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import coincurve
import pytest

from okeios._internal.chain.signer import JsonRpcSigner
from okeios._internal.protocol.events import Checkpoint
from okeios._internal.protocol.signing import DigestSigner, LocalSigner, recover_address
from okeios._internal.publish.publisher import Publisher
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.identity import Authority
from okeios._internal.verify.policy import TrustPolicy
from okeios.errors import SignatureError
from tests.helpers import CountingRng
from tests.nodes import Node

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
RECORD = {"resourceType": "Observation", "status": "final", "valueQuantity": {"value": 7.1}}


@pytest.fixture(scope="module")
def anvil() -> Iterator[Node]:
    with Node("anvil") as node:
        yield node


def test_a_node_account_signs_events_and_checkpoints(anvil: Node) -> None:
    accounts = anvil.web3().eth.accounts
    clinician = JsonRpcSigner.http(anvil.url, accounts[0])
    org_key = JsonRpcSigner.http(anvil.url, accounts[1])
    publisher = Publisher(org_key, clock=lambda: 1_800_000_000.0)
    grant = publisher.authorise(clinician.address, "physician")
    logged = publisher.create(RECORD, author=clinician)
    bundle = publisher.bundle(logged.id)
    assert logged.signed.recover() == clinician.address
    assert bundle.checkpoint.recover() == org_key.address

    authority = Authority.from_events(
        org_key.address, [(grant.index, grant.signed), (logged.index, logged.signed)]
    )
    report = verify_bundle(
        bundle, TrustPolicy(organisations=[org_key.address]), authorities=authority
    )
    assert report.passed, report.failures
    assert report.verdict("authenticity").detail.endswith("(time not proven by an anchor)")


def test_a_signature_by_another_key_is_refused(anvil: Node) -> None:
    accounts = anvil.web3().eth.accounts
    honest = JsonRpcSigner.http(anvil.url, accounts[0])

    def forwards_to_another_account(method: str, params: list[Any]) -> Any:
        return anvil.rpc(method, accounts[2], params[1])

    lying = JsonRpcSigner(forwards_to_another_account, accounts[3])
    with pytest.raises(SignatureError, match="not made by"):
        Publisher(honest).create(RECORD, author=lying)
    stranger = LocalSigner.generate(CountingRng(b"not on the node")).address
    with pytest.raises(SignatureError, match="refused"):
        Publisher(honest).create(RECORD, author=JsonRpcSigner.http(anvil.url, stranger))
    with pytest.raises(SignatureError, match="failed"):
        JsonRpcSigner.http("http://127.0.0.1:9", accounts[0], timeout=2).sign_typed_data(
            {}, bytes(32)
        )


class FakeHsm:
    """Signs digests with a key it keeps, returning (r, s) with a high s half the time, as
    PKCS#11 and cloud KMS do (they know nothing of EIP-2)."""

    def __init__(self) -> None:
        self._key = coincurve.PrivateKey(CountingRng(b"hsm")(32))
        self.calls = 0

    def address(self) -> str:
        return LocalSigner.from_key(self._key.secret).address

    def sign_digest(self, digest: bytes) -> tuple[int, int]:
        self.calls += 1
        sig = self._key.sign_recoverable(digest, hasher=None)
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")
        return (r, _N - s) if self.calls % 2 else (r, s)


def test_a_digest_signer_normalises_what_a_kms_returns() -> None:
    hsm = FakeHsm()
    signer = DigestSigner(hsm.address(), hsm.sign_digest)
    publisher = Publisher(signer)
    for _ in range(4):
        logged = publisher.create(RECORD)
        assert logged.signed.recover() == signer.address
    checkpoint = Checkpoint(publisher.log_id, 1, bytes(32)).sign(signer)
    assert recover_address(checkpoint.checkpoint.id, checkpoint.signature) == signer.address
    other = DigestSigner(LocalSigner.generate(CountingRng(b"x")).address, hsm.sign_digest)
    with pytest.raises(SignatureError, match="not made by"):
        Publisher(signer).create(RECORD, author=other)
