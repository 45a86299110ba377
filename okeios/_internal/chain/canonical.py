"""The one canonical AnchorRegistry of a chain, at the same address on every chain.

The registry is deployed through the deterministic CREATE2 deployment proxy
(:data:`~okeios._internal.protocol.anchors.DEPLOYMENT_PROXY`) with a zero salt, so its address
depends only on the shipped artifact's creation bytecode
(:data:`~okeios._internal.protocol.anchors.CANONICAL_REGISTRY`). A verifier therefore needs no
registry address in its trust policy: it knows where the one registry of chain ``N`` is.

The proxy itself is on a chain once somebody sent its published pre-signed deployment
transaction (a legacy transaction without a chain id, from a one-time key nobody holds, paying
``100 gwei * 100,000 gas``). Anvil and Hardhat carry the proxy from genesis. On a chain that
lacks it (the embedded chain, Ganache), :func:`ensure_proxy` funds the one-time signer with
exactly that fee and sends the very same transaction, so the proxy lands at the very same
address. Every step is idempotent: a re-run after a kill finds what the last run did.
"""

from __future__ import annotations

import time
from typing import Any

from eth_account import Account

from okeios._internal.chain.artifacts import load_anchor_registry
from okeios._internal.chain.registry import Registry
from okeios._internal.protocol.anchors import CANONICAL_REGISTRY, DEPLOYMENT_PROXY
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.keccak import keccak256
from okeios._internal.protocol.signing import LocalSigner, checksum_address
from okeios.errors import ChainError

__all__ = [
    "PROXY_DEPLOYMENT_TX",
    "PROXY_FEE",
    "PROXY_SIGNER",
    "create2_address",
    "deploy_canonical",
    "ensure_proxy",
]

#: The proxy's published pre-signed deployment transaction (nonce 0, gas price 100 gwei, gas
#: 100,000, no chain id, signature r = s = 0x2222...22 so nobody knows the key).
PROXY_DEPLOYMENT_TX = from_hex(
    "0xf8a58085174876e800830186a08080b853604580600e600039806000f350fe7fffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182"
    "fd5b8082525050506014600cf31ba02222222222222222222222222222222222222222222222222222222222"
    "222222a02222222222222222222222222222222222222222222222222222222222222222"
)
#: The one-time account that signed :data:`PROXY_DEPLOYMENT_TX`.
PROXY_SIGNER = "0x3fAB184622Dc19b6109349B94811493BF2a45362"
#: What the deployment transaction costs its signer: 100 gwei * 100,000 gas.
PROXY_FEE = 100 * 10**9 * 100_000
ZERO_SALT = bytes(32)


def create2_address(deployer: str, salt: bytes, init_code: bytes) -> str:
    """``keccak256(0xff || deployer || salt || keccak256(init_code))[12:]`` (EIP-1014)."""
    digest = keccak256(
        b"\xff"
        + from_hex(deployer, "an address", size=20, any_case=True)
        + salt
        + keccak256(init_code)
    )
    return checksum_address(digest[12:])


def registry_init_code() -> bytes:
    """The shipped AnchorRegistry creation bytecode."""
    return from_hex(load_anchor_registry()["bytecode"])


def _has_code(w3: Any, address: str, label: str) -> bool:
    try:
        return len(w3.eth.get_code(checksum_address(address))) > 0
    except Exception as exc:
        raise ChainError(f"reading the code at {address} failed on {label}: {exc}") from exc


def _send(w3: Any, signer: LocalSigner, tx: dict[str, Any], what: str, label: str) -> bytes:
    """Sign and send ``tx`` from ``signer`` and wait for a successful receipt."""
    registry = Registry(w3, DEPLOYMENT_PROXY, label=label)
    params = {
        "from": signer.address,
        "nonce": registry.next_nonce(signer.address),
        "chainId": registry.chain_id,
        **registry._fees(),
        **tx,
    }
    if "gas" not in params:
        estimate = dict(params)
        params["gas"] = int(
            int(registry._call(f"estimating {what} gas", lambda: w3.eth.estimate_gas(estimate)))
            * 1.25
        )
    raw = bytes(Account.sign_transaction(params, signer.private_key).raw_transaction)
    tx_hash = registry.broadcast(raw)
    receipt = registry.wait_for_receipt(tx_hash, timeout=120)
    if receipt is None or not receipt.success:
        raise ChainError(f"{what} failed on {label}, transaction {to_hex(tx_hash)}")
    return tx_hash


def ensure_proxy(
    w3: Any, payer: LocalSigner | None, *, label: str = "chain", fund: Any = None
) -> None:
    """Make sure the deployment proxy is on the chain: send its pre-signed transaction if not.

    The one-time signer is given exactly :data:`PROXY_FEE` first, by ``fund(address, wei)``
    when given (the embedded chain mints it), else by a transfer from ``payer``.
    """
    if _has_code(w3, DEPLOYMENT_PROXY, label):
        return
    registry = Registry(w3, DEPLOYMENT_PROXY, label=label)
    if registry.mined_nonce(PROXY_SIGNER) == 0:
        balance = int(registry._call("reading a balance", lambda: w3.eth.get_balance(PROXY_SIGNER)))
        if balance < PROXY_FEE:
            if fund is not None:
                fund(PROXY_SIGNER, PROXY_FEE - balance)
            elif payer is not None:
                tx = {"to": PROXY_SIGNER, "value": PROXY_FEE - balance, "gas": 21_000}
                _send(w3, payer, tx, "funding the deployment proxy's signer", label)
            else:
                raise ChainError(f"the deployment proxy is not on {label} and nobody pays for it")
        tx_hash = registry.broadcast(PROXY_DEPLOYMENT_TX)
        receipt = registry.wait_for_receipt(tx_hash, timeout=120)
        if receipt is None or not receipt.success:
            raise ChainError(
                f"deploying the CREATE2 deployment proxy failed on {label} "
                f"(transaction {to_hex(tx_hash)})"
            )
    deadline = time.monotonic() + 30
    while not _has_code(w3, DEPLOYMENT_PROXY, label):
        if time.monotonic() > deadline:
            raise ChainError(
                f"the deployment proxy's signer {PROXY_SIGNER} has used its nonce on {label} "
                f"but there is no code at {DEPLOYMENT_PROXY}: this chain cannot host the "
                "canonical registry (use a private one with --registry)"
            )
        time.sleep(0.2)


def deploy_canonical(
    w3: Any, payer: LocalSigner, *, label: str = "chain", fund: Any = None
) -> tuple[Registry, bool]:
    """The canonical registry of the chain behind ``w3``, deployed (and the proxy first) if it
    is not there yet. Returns the registry and whether this call deployed it."""
    address = create2_address(DEPLOYMENT_PROXY, ZERO_SALT, registry_init_code())
    if address != CANONICAL_REGISTRY:
        raise ChainError(
            f"the shipped registry artifact deploys to {address}, not to the canonical "
            f"{CANONICAL_REGISTRY}: the package is inconsistent"
        )
    if _has_code(w3, address, label):
        return Registry(w3, address, label=label), False
    ensure_proxy(w3, payer, label=label, fund=fund)
    data = ZERO_SALT + registry_init_code()
    _send(w3, payer, {"to": DEPLOYMENT_PROXY, "data": data}, "deploying the registry", label)
    if not _has_code(w3, address, label):
        raise ChainError(f"the registry deployment left no code at {address} on {label}")
    return Registry(w3, address, label=label), True
