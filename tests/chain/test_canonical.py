"""The canonical registry: one address on every chain, from the shipped artifact through the
CREATE2 deployment proxy; the proxy's published pre-signed transaction puts it where a chain
lacks it (the embedded chain, Ganache), and Anvil carries it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from okeios._internal.chain.canonical import (
    PROXY_DEPLOYMENT_TX,
    PROXY_SIGNER,
    create2_address,
    deploy_canonical,
    registry_init_code,
)
from okeios._internal.chain.embedded import EmbeddedChain
from okeios._internal.protocol.anchors import CANONICAL_REGISTRY, DEPLOYMENT_PROXY, REGISTRY_VERSION
from okeios._internal.protocol.keccak import keccak256
from okeios._internal.protocol.signing import LocalSigner
from okeios.errors import RegistryMissingError, RegistryVersionError
from tests.nodes import Node


def test_the_canonical_address_is_the_create2_address_of_the_shipped_artifact() -> None:
    assert create2_address(DEPLOYMENT_PROXY, bytes(32), registry_init_code()) == CANONICAL_REGISTRY
    # The proxy's transaction is the published one: its signer and the address it creates.
    assert Account.recover_transaction(PROXY_DEPLOYMENT_TX) == PROXY_SIGNER
    rlp_sender_nonce0 = bytes([0xD6, 0x94]) + bytes.fromhex(PROXY_SIGNER[2:]) + b"\x80"
    assert Web3.to_checksum_address(keccak256(rlp_sender_nonce0)[12:]) == DEPLOYMENT_PROXY


@pytest.fixture(params=["embedded", "anvil", "ganache"])
def chain(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[Any, Any]]:
    if request.param == "embedded":
        with EmbeddedChain.open(tmp_path / "chain") as embedded:
            yield embedded.web3, embedded.fund
        return
    node = Node(request.param).start()
    try:
        yield node.web3(), None
    finally:
        node.stop()


def test_the_registry_lands_at_the_canonical_address_on_every_chain(chain: Any) -> None:
    w3, fund = chain
    payer = LocalSigner.from_key(bytes.fromhex("11" * 32))
    if fund is not None:
        fund(payer.address, 10**20)
    else:
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": payer.address, "value": 10**20})
    registry, deployed = deploy_canonical(w3, payer, fund=fund)
    assert deployed is True
    assert registry.address == CANONICAL_REGISTRY
    assert registry.version() == REGISTRY_VERSION
    registry.require_version()
    again, deployed = deploy_canonical(w3, payer, fund=fund)
    assert (again.address, deployed) == (CANONICAL_REGISTRY, False)
    # A version 2 registry (no VERSION()) or another contract is refused, never misread; no
    # contract at all is a missing registry.
    from okeios._internal.chain.registry import Registry

    with pytest.raises(RegistryVersionError, match="version 2"):
        Registry(w3, DEPLOYMENT_PROXY).require_version()
    with pytest.raises(RegistryMissingError):
        Registry(w3, "0x" + "42" * 20).require_version()
