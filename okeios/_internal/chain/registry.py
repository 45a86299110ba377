"""The AnchorRegistry contract on an EVM chain, through web3: the one place okeios talks to
a chain.

:class:`Registry` reads anchors (views of the contract), sends locally signed EIP-1559 anchor
transactions, and reads receipts and blocks. Every failure is a :class:`~okeios.errors.ChainError`
naming the chain, the transaction (when there is one) and the cause; a revert names the
contract's custom error and its arguments.

:func:`connect` opens a chain by URL (``http://...``, ``https://...``, ``ws://...``) or the
word ``embedded`` (the in-process chain persisted under the okeios home).
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from eth_account import Account
from eth_utils.abi import function_abi_to_4byte_selector

from okeios._internal.chain.artifacts import load_anchor_registry
from okeios._internal.protocol.anchors import (
    REGISTRY_VERSION,
    AnchorEntry,
    canonical_registry_address,
)
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.keccak import keccak256
from okeios._internal.protocol.signing import LocalSigner, checksum_address
from okeios.errors import (
    ChainError,
    MalformedRPCError,
    RegistryMissingError,
    RegistryVersionError,
    short_cause,
)

_T = TypeVar("_T")

__all__ = [
    "Receipt",
    "Registry",
    "RegistryView",
    "decode_revert",
]

_GAS_MARGIN = 1.25
_DEFAULT_PRIORITY_FEE = 1_000_000_000  # 1 gwei, when the node cannot suggest one
_BYTES_LITERAL = re.compile(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"")


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a mined transaction left behind."""

    tx_hash: bytes
    block_number: int
    block_hash: bytes
    success: bool
    gas_used: int


def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    table: dict[bytes, tuple[str, list[str]]] = {}
    for item in load_anchor_registry()["abi"]:
        if item.get("type") == "error":
            types = [i["type"] for i in item.get("inputs", [])]
            table[bytes(function_abi_to_4byte_selector(item))] = (item["name"], types)
    return table


_ERRORS = _error_table()


def decode_revert(data: bytes | str | None) -> str:
    """A readable form of revert data: the custom error's name and arguments if known."""
    from eth_abi.abi import decode

    if data is None:
        return "reverted without data"
    raw = from_hex(data, any_case=True) if isinstance(data, str) and data.startswith("0x") else data
    if not isinstance(raw, bytes) or len(raw) < 4:
        return f"reverted ({data!r})"
    known = _ERRORS.get(raw[:4])
    if known is None:
        return f"reverted with unknown error {to_hex(raw[:4])}"
    name, types = known
    try:
        values = decode(types, raw[4:])
    except Exception:
        return f"{name}(<undecodable arguments>)"
    shown = ", ".join(to_hex(v) if isinstance(v, bytes) else str(v) for v in values)
    return f"{name}({shown})"


def _revert_data(exc: BaseException) -> bytes | str | None:
    """Revert data from a web3 error (RPC nodes) or an eth-tester one (the embedded chain)."""
    seen: BaseException | None = exc
    while seen is not None:
        data = getattr(seen, "data", None)
        if isinstance(data, bytes | str) and data:
            return data
        for arg in getattr(seen, "args", ()):
            if isinstance(arg, bytes) and len(arg) >= 4:
                return arg
            # eth-tester's py-evm backend reports raw revert data as the text of a bytes literal
            if isinstance(arg, str) and (m := _BYTES_LITERAL.search(arg)) is not None:
                try:
                    value = ast.literal_eval(m.group(0))
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, bytes) and len(value) >= 4:
                    return value
        seen = seen.__cause__ or seen.__context__
    return None


def _positive(value: Any, least: int = 1) -> int:
    """An integer RPC answer of at least ``least``; anything else is a malformed answer."""
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise MalformedRPCError(f"the node answered {value!r} where a number was due")
    return value


def _bytes32(value: Any) -> bytes:
    """A 32-byte value of an RPC answer; anything else is a malformed answer."""
    raw = bytes(value)
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


class Registry:
    """An AnchorRegistry deployed at ``address`` on the chain behind ``w3``."""

    def __init__(self, w3: Any, address: str, *, label: str = "chain") -> None:
        self.w3 = w3
        self.label = label
        self.address = checksum_address(address)
        self._contract = w3.eth.contract(address=self.address, abi=load_anchor_registry()["abi"])
        self._chain_id: int | None = None
        self._verified = False

    def __repr__(self) -> str:
        return f"Registry({self.address} on {self.label})"

    def _require(self) -> None:
        """:meth:`require_version`, once per instance: every read of anchors starts by
        checking that the registry exists and speaks version 3 (a chain that was reset has no
        registry; a version 2 registry is refused, never misread)."""
        if not self._verified:
            self.require_version()
            self._verified = True

    # -- plumbing -------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], Any], tx: bytes | None = None) -> Any:
        try:
            return fn()
        except ChainError:
            raise
        except Exception as exc:
            raise self._error(what, exc, tx) from exc

    def _error(self, what: str, exc: BaseException, tx: bytes | None = None) -> ChainError:
        data = _revert_data(exc)
        cause = decode_revert(data) if data else short_cause(exc)
        where = f"{self.label} (chain id {self._chain_id})" if self._chain_id else self.label
        tx_part = f", transaction {to_hex(tx)}" if tx else ""
        return ChainError(f"{what} failed on {where}{tx_part}: {cause}")

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            answer = self._call("reading the chain id", lambda: int(self.w3.eth.chain_id))
            self._chain_id = _positive(answer)
        return self._chain_id

    def block_number(self) -> int:
        return _positive(
            self._call("reading the block number", lambda: int(self.w3.eth.block_number)), 0
        )

    def block_hash(self, number: int) -> bytes | None:
        """The hash of the canonical block at ``number``, or None if there is none (yet)."""

        def get() -> bytes | None:
            try:
                block = self.w3.eth.get_block(number)
            except Exception as exc:
                if type(exc).__name__ == "BlockNotFound":
                    return None
                raise
            return bytes(block["hash"])

        result: bytes | None = self._call(f"reading block {number}", get)
        return result

    def block_timestamp(self, number: int) -> int:
        return int(
            self._call(
                f"reading block {number}", lambda: int(self.w3.eth.get_block(number)["timestamp"])
            )
        )

    def has_code(self) -> bool:
        code = self._call(
            "reading the registry code", lambda: bytes(self.w3.eth.get_code(self.address))
        )
        return len(code) > 0

    # -- views ----------------------------------------------------------------------------------

    def version(self) -> int | None:
        """The registry's interface version (its ``VERSION()``), or None when the contract has
        no such function (a version 2 registry, or not a registry at all)."""

        def get() -> int | None:
            try:
                value = self._contract.functions.VERSION().call()
            except Exception as exc:
                import requests

                if isinstance(exc, requests.RequestException | OSError | TimeoutError):
                    raise  # the node was not reached: an outage, not an answer
                # The node answered: the call reverted, ran out of gas, hit an invalid opcode
                # or returned nothing decodable. No version 3 registry answers that way.
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                return None
            return value

        result: int | None = self._call("reading the registry version", get)
        return result

    def require_version(self) -> None:
        """Refuse (:class:`~okeios.errors.RegistryVersionError`) a contract at the registry
        address that is not an AnchorRegistry of interface version :data:`REGISTRY_VERSION`
        (a missing contract is :class:`~okeios.errors.RegistryMissingError`)."""
        if not self.has_code():
            raise RegistryMissingError(f"no contract at registry {self.address} on {self.label}")
        found = self.version()
        if found != REGISTRY_VERSION:
            was = (
                "no VERSION(): a version 2 registry or another contract"
                if found is None
                else (f"version {found}")
            )
            raise RegistryVersionError(
                f"the contract at {self.address} on {self.label} is not an AnchorRegistry of "
                f"version {REGISTRY_VERSION} ({was}); okeios reads and anchors only version "
                f"{REGISTRY_VERSION} registries: re-anchor the log onto the canonical registry "
                f"{canonical_registry_address()} with `okeios anchor` (docs/anchoring.md)"
            )

    def anchor_count(self, publisher: str, log_id: bytes) -> int:
        """How many anchors the log has (from storage)."""
        self._require()
        fn = self._contract.functions.anchorCount(checksum_address(publisher), log_id)
        return int(self._call("anchorCount", lambda: int(fn.call())))

    def latest(self, publisher: str, log_id: bytes) -> AnchorEntry | None:
        """The latest anchor of a log (from storage), or None if it was never anchored."""
        p = checksum_address(publisher)
        count = self.anchor_count(p, log_id)
        if count == 0:
            return None
        fn = self._contract.functions.latest(p, log_id)

        def get() -> AnchorEntry:
            size, root, block, ts = fn.call()
            return AnchorEntry(count - 1, int(size), _bytes32(root), int(block), int(ts))

        entry: AnchorEntry = self._call("latest", get)
        return entry

    def _anchored(
        self, publisher: str, log_id: bytes, tree_size: int | None = None
    ) -> list[AnchorEntry]:
        """The log's ``Anchored`` events in the canonical chain (of one exact size, if given),
        oldest first: the registry's history, read with ``eth_getLogs`` from block 0."""
        self._require()
        filters: dict[str, Any] = {"publisher": checksum_address(publisher), "logId": log_id}
        if tree_size is not None:
            filters["treeSize"] = tree_size

        def read() -> list[AnchorEntry]:
            found = self._contract.events.Anchored().get_logs(
                argument_filters=filters, from_block=0
            )
            out = []
            for item in sorted(found, key=lambda e: (e["blockNumber"], e["logIndex"])):
                if item.get("removed"):
                    continue  # a log of a block that left the chain
                args = item["args"]
                out.append(
                    AnchorEntry(
                        int(args["index"]),
                        int(args["treeSize"]),
                        _bytes32(args["root"]),
                        int(item["blockNumber"]),
                        int(args["timestamp"]),
                    )
                )
            return out

        entries: list[AnchorEntry] = self._call("reading the registry's Anchored events", read)
        return entries

    def anchored_by(self, publisher: str, log_id: bytes, tree_size: int) -> bytes | None:
        """The hash of the transaction whose ``Anchored`` event recorded exactly ``tree_size``
        entries of the log (None if none did): whose anchor it is, from the registry's history."""
        self._require()
        filters = {"publisher": checksum_address(publisher), "logId": log_id, "treeSize": tree_size}

        def read() -> bytes | None:
            found = self._contract.events.Anchored().get_logs(
                argument_filters=filters, from_block=0
            )
            live = [e for e in found if not e.get("removed")]
            return _bytes32(live[-1]["transactionHash"]) if live else None

        tx: bytes | None = self._call("reading the registry's Anchored events", read)
        return tx

    def anchor_at(self, publisher: str, log_id: bytes, index: int) -> AnchorEntry:
        """The anchor at position ``index`` (0 = first) of the log, from its events."""
        for entry in self._anchored(publisher, log_id):
            if entry.index == index:
                return entry
        raise ChainError(
            f"anchor {index} of log {to_hex(log_id)} of {checksum_address(publisher)} is not "
            f"among the Anchored events of {self.address} on {self.label}"
        )

    def anchors(self, publisher: str, log_id: bytes, start: int = 0) -> list[AnchorEntry]:
        """Every anchor of a log from position ``start`` on, oldest first (from its events)."""
        found = self._anchored(publisher, log_id)
        return [e for e in found if e.index is not None and e.index >= start]

    def log_ids(self, publisher: str) -> list[bytes]:
        """Every log id ``publisher`` ever anchored or received by handover in this registry,
        from the contract's ``Anchored`` and ``HandedOver`` events (all blocks), first seen
        first. A current registry lets a key open only its bound log, so anything else found
        here is a second history (or a registry that does not enforce binding)."""
        p = checksum_address(publisher)
        self._require()

        def read() -> list[bytes]:
            found: dict[bytes, None] = {}
            anchored = self._contract.events.Anchored().get_logs(
                argument_filters={"publisher": p}, from_block=0
            )
            handed = self._contract.events.HandedOver().get_logs(
                argument_filters={"successor": p}, from_block=0
            )
            for item in sorted(
                [*anchored, *handed], key=lambda e: (e["blockNumber"], e["logIndex"])
            ):
                found.setdefault(bytes(item["args"]["logId"]), None)
            return list(found)

        ids: list[bytes] = self._call("reading the registry's events", read)
        return ids

    def log_of(self, publisher: str) -> bytes | None:
        """The one log ``publisher`` holds or held (its own, or one handed over to it), from
        the contract's state, or None if it never held one."""
        fn = self._contract.functions.logOf(checksum_address(publisher))
        value = bytes(self._call("logOf", fn.call))
        return None if value == bytes(32) else value

    def successor_of(self, publisher: str, log_id: bytes) -> str | None:
        """The key ``publisher`` handed its log over to, or None."""
        fn = self._contract.functions.successorOf(checksum_address(publisher), log_id)
        address = str(self._call("successorOf", fn.call))
        return None if int(address, 16) == 0 else checksum_address(address)

    def root_at(self, publisher: str, log_id: bytes, tree_size: int) -> AnchorEntry | None:
        """The anchor of exactly ``tree_size`` entries, or None if that size was never anchored.

        The latest head is read from storage; an older one is found by its ``Anchored`` event
        (the tree size is an indexed topic, so the node filters it).
        """
        latest = self.latest(publisher, log_id)
        if latest is None or tree_size > latest.tree_size:
            return None
        if latest.tree_size == tree_size:
            return latest
        found = self._anchored(publisher, log_id, tree_size)
        return found[0] if found else None

    # -- transactions ---------------------------------------------------------------------------

    def _fees(self) -> dict[str, int]:
        base = int(
            self._call(
                "reading the latest block",
                lambda: int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0),
            )
        )
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Exception:
            tip = _DEFAULT_PRIORITY_FEE
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base + tip}

    def next_nonce(self, address: str) -> int:
        return self._nonce(address, "pending")

    def mined_nonce(self, address: str) -> int:
        """How many transactions of ``address`` are in the canonical chain."""
        return self._nonce(address, "latest")

    def _nonce(self, address: str, block: Literal["pending", "latest"]) -> int:
        """The transaction count of ``address`` at ``block`` (``pending`` or ``latest``)."""
        addr = checksum_address(address)
        return int(
            self._call(
                "reading the nonce", lambda: int(self.w3.eth.get_transaction_count(addr, block))
            )
        )

    def prepare_anchor(
        self,
        signer: LocalSigner,
        log_id: bytes,
        tree_size: int,
        root: bytes,
        proof: Sequence[bytes],
        *,
        nonce: int | None = None,
    ) -> tuple[bytes, bytes, int]:
        """Build and sign an ``anchor`` transaction without sending it.

        Returns ``(raw transaction, transaction hash, nonce)``. Gas is estimated (a revert,
        such as an inconsistent history, is reported here, before anything is sent) with a
        margin; fees follow EIP-1559 from the latest block's base fee.
        """
        fn = self._contract.functions.anchor(log_id, tree_size, root, list(proof))
        n = self.next_nonce(signer.address) if nonce is None else nonce
        params = {"from": signer.address, "nonce": n, "chainId": self.chain_id, **self._fees()}
        gas = int(self._call("estimating anchor gas", lambda: fn.estimate_gas(params)))
        tx = fn.build_transaction({**params, "gas": int(gas * _GAS_MARGIN)})
        signed = Account.sign_transaction(tx, signer.private_key)
        raw = bytes(signed.raw_transaction)
        return raw, keccak256(raw), n

    def broadcast(self, raw: bytes) -> bytes:
        """Send a signed transaction; a node that already has it is not an error."""
        tx_hash = keccak256(raw)
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text or "known transaction" in text:
                return tx_hash
            if "nonce too low" in text or "nonce is too low" in text:
                # Re-sent while the block that holds it landed: the nonce is used by this very
                # transaction, which is not an error. Another transaction with that nonce is.
                for pause in (0.0, 0.1, 0.3, 0.6, 1.0):
                    time.sleep(pause)
                    if self.receipt(tx_hash) is not None:
                        return tx_hash
            raise self._error("sending the anchor transaction", exc, tx_hash) from exc
        return tx_hash

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        """The receipt of a mined transaction, or None if it is not (or no longer) mined."""

        def get() -> Receipt | None:
            try:
                r = self.w3.eth.get_transaction_receipt(tx_hash)
            except Exception as exc:
                if type(exc).__name__ in ("TransactionNotFound", "TransactionIndexingInProgress"):
                    return None
                raise
            if r is None or r.get("blockNumber") is None:
                return None
            return Receipt(
                tx_hash,
                int(r["blockNumber"]),
                bytes(r["blockHash"]),
                int(r["status"]) == 1,
                int(r["gasUsed"]),
            )

        result: Receipt | None = self._call("reading a receipt", get, tx_hash)
        return result

    def wait_for_receipt(
        self, tx_hash: bytes, *, timeout: float = 60.0, poll: float = 0.2
    ) -> Receipt | None:
        deadline = time.monotonic() + timeout
        while True:
            r = self.receipt(tx_hash)
            if r is not None or time.monotonic() >= deadline:
                return r
            time.sleep(poll)

    def handover(
        self, signer: LocalSigner, log_id: bytes, successor: str, *, timeout: float = 60.0
    ) -> Receipt:
        """Hand ``signer``'s log over to the key ``successor`` (publisher key rotation) and
        wait for the receipt. A refusal (not the holder, a bad successor) is reported before
        anything is sent, from gas estimation, naming the contract's error."""
        fn = self._contract.functions.handover(log_id, checksum_address(successor))
        params = {
            "from": signer.address,
            "nonce": self.next_nonce(signer.address),
            "chainId": self.chain_id,
            **self._fees(),
        }
        gas = int(self._call("estimating handover gas", lambda: fn.estimate_gas(params)))
        tx = fn.build_transaction({**params, "gas": int(gas * _GAS_MARGIN)})
        raw = bytes(Account.sign_transaction(tx, signer.private_key).raw_transaction)
        tx_hash = self.broadcast(raw)
        receipt = self.wait_for_receipt(tx_hash, timeout=timeout)
        if receipt is None or not receipt.success:
            raise ChainError(f"the handover transaction {to_hex(tx_hash)} did not succeed")
        return receipt

    # -- deployment -----------------------------------------------------------------------------

    @classmethod
    def deploy(cls, w3: Any, signer: LocalSigner, *, label: str = "chain") -> Registry:
        """Deploy a new AnchorRegistry from the shipped artifact, paid by ``signer``."""
        artifact = load_anchor_registry()
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        probe = cls.__new__(cls)
        probe.w3, probe.label, probe._chain_id = w3, label, None
        chain_id = probe.chain_id
        params = {
            "from": signer.address,
            "nonce": probe.next_nonce(signer.address),
            "chainId": chain_id,
            **probe._fees(),
        }
        gas = int(
            probe._call(
                "estimating deployment gas", lambda: factory.constructor().estimate_gas(params)
            )
        )
        tx = factory.constructor().build_transaction({**params, "gas": int(gas * _GAS_MARGIN)})
        raw = bytes(Account.sign_transaction(tx, signer.private_key).raw_transaction)
        tx_hash = probe.broadcast(raw)
        receipt = probe._call(
            "waiting for the deployment",
            lambda: w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120),
            tx_hash,
        )
        if int(receipt["status"]) != 1 or not receipt.get("contractAddress"):
            raise ChainError(
                f"deploying the registry failed on {label}, transaction {to_hex(tx_hash)}"
            )
        registry = cls(w3, receipt["contractAddress"], label=label)
        registry._chain_id = chain_id
        return registry


class RegistryView:
    """A cached :class:`~okeios._internal.protocol.anchors.ChainView` over web3.

    Each fact is fetched once per view: the chain id, the head block, and one anchor lookup
    per (registry, publisher, log, size) — so verifying many bundles of the same checkpoint
    costs one lookup, not one per bundle. Make a new view to see newer blocks.
    """

    def __init__(self, w3: Any, *, label: str = "chain", deadline: float | None = None) -> None:
        self.w3 = w3
        self.label = label
        self.deadline = deadline
        self._failure: ChainError | None = None
        self._registries: dict[str, Registry] = {}
        self._chain_id: int | None = None
        self._head: int | None = None
        self._at: dict[tuple[str, str, bytes, int], AnchorEntry | None] = {}
        self._latest: dict[tuple[str, str, bytes], AnchorEntry | None] = {}

    def _read(self, fn: Callable[[], _T]) -> _T:
        """Run one chain read under the view's deadline. The first failure to reach the chain
        is kept, and every later read of this view fails at once with it: a node that never
        answers costs one timeout per run, not one per bundle. (A missing registry is an
        answer, not an outage, and is not kept.)"""
        if self._failure is not None:
            raise ChainError(str(self._failure))
        if self.deadline is not None and time.monotonic() > self.deadline:
            self._failure = ChainError(f"{self.label}: the deadline for chain reads has passed")
            raise ChainError(str(self._failure))
        try:
            return fn()
        except RegistryMissingError:
            raise
        except ChainError as exc:
            self._failure = exc
            raise

    def registry(self, address: str) -> Registry:
        key = checksum_address(address)
        if key not in self._registries:
            self._registries[key] = Registry(self.w3, key, label=self.label)
        return self._registries[key]

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self._read(lambda: self.registry_any().chain_id)
        return self._chain_id

    def registry_any(self) -> Registry:
        return self.registry("0x" + "00" * 20)

    def head(self) -> int:
        if self._head is None:
            self._head = self._read(self.registry_any().block_number)
        return self._head

    def anchor_at(
        self, registry: str, publisher: str, log_id: bytes, tree_size: int
    ) -> AnchorEntry | None:
        key = (checksum_address(registry), checksum_address(publisher), log_id, tree_size)
        if key not in self._at:
            reg = self.registry(registry)
            self._read(reg._require)
            self._at[key] = self._read(lambda: reg.root_at(publisher, log_id, tree_size))
        return self._at[key]

    def latest(self, registry: str, publisher: str, log_id: bytes) -> AnchorEntry | None:
        key = (checksum_address(registry), checksum_address(publisher), log_id)
        if key not in self._latest:
            reg = self.registry(registry)
            self._latest[key] = self._read(lambda: reg.latest(publisher, log_id))
        return self._latest[key]
