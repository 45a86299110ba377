"""Gas per anchor of the AnchorRegistry contract, printed as a Markdown table.

Deploys the shipped artifact (``okeios/_internal/chain/artifacts/AnchorRegistry.json``) on the
embedded eth-tester chain (py-evm) and, when ``scripts/install-tools`` has installed it, on a real
Anvil node started on a free loopback port, then measures the ``gasUsed`` of:

* a first anchor (no proof), and
* anchors with a consistency proof for logs of about a thousand, a million and a billion
  entries: one entry appended since the previous anchor, a batch of 100, and the previous size
  that makes the longest possible proof for that new size.

The registry only hashes the proof, so proofs for huge logs do not need huge logs: over a log
whose leaves all have the same hash, every subtree's hash depends only on its width, and a
perfect subtree of height ``h`` is ``h`` hashes away from the leaf. The proofs and roots are
genuine RFC 9162 values for that log, and the hashes are as incompressible as any others.

After the table, the figure at a million entries (the worst of the three 1M rows) is printed
beside two references: the Ethereum Attestation Service's ``attest`` (229.7 k gas per
attestation, measured on Anvil) and the theoretical minimum of any on-chain anchor (a plain
transaction carrying the same tree head, one storage slot overwritten, one event).

Usage: ``python benchmarks/gas.py [--chains embedded,anvil]``
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from okeios._internal.chain.artifacts import load_anchor_registry

TOOLS = REPO / ".tools" / "node_modules"


# --- a synthetic RFC 9162 log of identical leaves -------------------------------------------


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


LEAF = hashlib.sha256(b"\x00" + b"okeios gas benchmark entry").digest()


@functools.cache
def _perfect(height: int) -> bytes:
    """Hash of a perfect subtree of ``2**height`` identical leaves."""
    return LEAF if height == 0 else _node(_perfect(height - 1), _perfect(height - 1))


def _split(width: int) -> int:
    return 1 << ((width - 1).bit_length() - 1)


@functools.cache
def mth(width: int) -> bytes:
    """RFC 9162 Merkle tree hash of ``width`` identical leaves (``width >= 1``)."""
    if width & (width - 1) == 0:
        return _perfect(width.bit_length() - 1)
    k = _split(width)
    return _node(mth(k), mth(width - k))


def consistency_proof(old: int, new: int) -> list[bytes]:
    """RFC 9162 section 2.1.4.1 PROOF(old, D[new]) over the identical-leaf log."""

    def subproof(m: int, n: int, complete: bool) -> list[bytes]:
        if m == n:
            return [] if complete else [mth(n)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, k, complete), mth(n - k)]
        return [*subproof(m - k, n - k, False), mth(k)]

    return subproof(old, new, True)


def node_hashes(old: int, new: int) -> int:
    """How many node hashes the contract computes to check a proof from ``old`` to ``new``."""
    last = old - 1
    inner = (last ^ (new - 1)).bit_length()
    shift = (old & -old).bit_length() - 1
    node = last >> shift
    count = 0
    for _ in range(inner - shift):
        count += 2 if node & 1 else 1
        node >>= 1
    return count + 2 * bin(last >> inner).count("1")


def worst_case_old_size(new: int) -> int:
    """An old size whose consistency proof to ``new`` is the longest possible."""
    best, best_len = 1, -1
    top = new - 1
    for j in range(top.bit_length()):
        if not (top >> j) & 1:
            continue
        prefix = (top >> (j + 1)) << (j + 1)
        for low in {0, 1, 2, (1 << j) - 2, (1 << j) - 1}:
            if 0 <= low < (1 << j):
                old = prefix + low + 1
                length = len(consistency_proof(old, new))
                if length > best_len:
                    best, best_len = old, length
    return best


# --- chains ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def anvil_binary() -> Path | None:
    """The native Anvil binary that ``@foundry-rs/anvil`` installed, if any."""
    found = sorted((TOOLS / "@foundry-rs").glob("anvil-*/bin/anvil"))
    return found[0] if found else None


@contextlib.contextmanager
def anvil_node() -> Iterator[Web3]:
    """A throw-away Anvil node on a free loopback port; stopped on exit."""
    binary = anvil_binary()
    if binary is None:
        raise FileNotFoundError("Anvil is not installed: run scripts/install-tools")
    port = _free_port()
    proc = subprocess.Popen(
        [str(binary), "--host", "127.0.0.1", "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 30}))
        deadline = time.monotonic() + 30
        while not w3.is_connected():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Anvil did not start")
            time.sleep(0.1)
        yield w3
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def embedded_chain() -> Iterator[Web3]:
    """The in-process eth-tester chain (py-evm)."""
    yield Web3(EthereumTesterProvider())


CHAINS = {"embedded": embedded_chain, "anvil": anvil_node}


# --- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One measured anchor: from ``old`` entries (None: first anchor) to ``new`` entries."""

    label: str
    old: int | None
    new: int

    @property
    def proof(self) -> list[bytes]:
        return [] if self.old is None else consistency_proof(self.old, self.new)


def scenarios() -> list[Scenario]:
    """The rows of the table."""
    rows = [Scenario("first anchor", None, 1_000_000)]
    for new, name in ((1_000, "1k"), (1_000_000, "1M"), (1_000_000_000, "1G")):
        rows.append(Scenario(f"{name}, +1 entry", new - 1, new))
        rows.append(Scenario(f"{name}, +100 entries", new - 100, new))
        rows.append(Scenario(f"{name}, longest proof", worst_case_old_size(new), new))
    return rows


def _transact(w3: Web3, fn: Any, sender: str) -> int:
    tx = fn.transact({"from": sender, "gas": 1_000_000})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction failed: {receipt}")
    gas: int = receipt["gasUsed"]
    return gas


def measure(w3: Web3, rows: list[Scenario]) -> list[int]:
    """Deploy the registry on ``w3`` and return the gas of each scenario's measured anchor."""
    artifact = load_anchor_registry()
    sender = w3.eth.accounts[0]
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": sender}))
    registry = w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
    results = []
    accounts = w3.eth.accounts
    if len(accounts) < len(rows):
        raise RuntimeError(f"{len(rows)} scenarios need as many funded accounts")
    for i, row in enumerate(rows):
        # A key opens exactly one log, bound to it (docs/log.md): one account per scenario.
        sender = accounts[i]
        log_id = registry.functions.logIdOf(sender).call()
        if row.old is not None:
            _transact(w3, registry.functions.anchor(log_id, row.old, mth(row.old), []), sender)
        fn = registry.functions.anchor(log_id, row.new, mth(row.new), row.proof)
        results.append(_transact(w3, fn, sender))
    return results


def calldata_bytes(row: Scenario) -> int:
    """Size of the ``anchor`` call data: selector, four head words, length word, proof."""
    return 4 + 5 * 32 + 32 * len(row.proof)


EAS_ATTEST_GAS = 229_700  # Ethereum Attestation Service attest(), measured on Anvil
TX_BASE_GAS = 21_000
SLOT_OVERWRITE_GAS = 2_100 + 2_900  # a cold SLOAD then a nonzero-to-nonzero SSTORE (EIP-2929)
LOG_GAS, LOG_TOPIC_GAS, LOG_BYTE_GAS = 375, 375, 8


def calldata_gas(data: bytes) -> int:
    """EIP-2028 call data gas: 4 per zero byte, 16 per other byte."""
    return sum(4 if b == 0 else 16 for b in data)


def theoretical_minimum(tree_size: int) -> int:
    """The least gas any contract can spend to anchor one tree head: the transaction itself
    with the head as call data (selector, log id, size, root; no proof), one storage slot
    overwritten (the latest head, without which no on-chain consistency check is possible),
    and one event carrying the head (its signature as the only topic, size and root as data)."""
    head = (
        bytes(4 * [0xAB])
        + hashlib.sha256(b"log").digest()
        + tree_size.to_bytes(32, "big")
        + mth(tree_size)
    )
    event = LOG_GAS + LOG_TOPIC_GAS + LOG_BYTE_GAS * 64
    return TX_BASE_GAS + calldata_gas(head) + SLOT_OVERWRITE_GAS + event


def summary(rows: list[Scenario], columns: dict[str, list[int] | None]) -> str:
    """The figure at 1 M entries beside EAS and the theoretical minimum."""
    at_million = [i for i, r in enumerate(rows) if r.new == 1_000_000 and r.old is not None]
    lines = ["", "At 1,000,000 entries (gas per anchor):", ""]
    lines += ["| | gas |", "|---|---|"]
    for name, column in columns.items():
        if column is None:
            continue
        worst = max(column[i] for i in at_million)
        best = min(column[i] for i in at_million)
        lines.append(
            f"| AnchorRegistry v3 ({name}), +1 entry .. longest proof | {best:,} .. {worst:,} |"
        )
    lines.append(f"| EAS attest (one attestation, Anvil) | {EAS_ATTEST_GAS:,} |")
    lines.append(
        f"| theoretical minimum (plain tx + one slot overwritten + one event) | "
        f"{theoretical_minimum(1_000_000):,} |"
    )
    return "\n".join(lines)


def table(chains: list[str]) -> str:
    """Measure on each chain and render the Markdown table."""
    rows = scenarios()
    columns: dict[str, list[int] | None] = {}
    notes = []
    for name in chains:
        try:
            with CHAINS[name]() as w3:
                columns[name] = measure(w3, rows)
        except FileNotFoundError as exc:
            columns[name] = None
            notes.append(f"{name}: skipped ({exc})")
    header = ["anchor", "old size", "new size", "proof hashes", "node hashes", "calldata bytes"]
    header += [f"gas ({name})" for name in chains]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        cells = [
            row.label,
            "-" if row.old is None else f"{row.old:,}",
            f"{row.new:,}",
            str(len(row.proof)),
            "0" if row.old is None else str(node_hashes(row.old, row.new)),
            str(calldata_bytes(row)),
        ]
        for name in chains:
            column = columns[name]
            cells.append("n/a" if column is None else f"{column[i]:,}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + [f"\n{note}" for note in notes]) + "\n" + summary(rows, columns)


def main(argv: list[str] | None = None) -> int:
    """Print the gas table."""
    parser = argparse.ArgumentParser(description="AnchorRegistry gas per anchor")
    parser.add_argument(
        "--chains",
        default=os.environ.get("OKEIOS_GAS_CHAINS", "embedded,anvil"),
        help="comma-separated chains to measure on: embedded, anvil (default: both)",
    )
    args = parser.parse_args(argv)
    chains = [c for c in args.chains.split(",") if c]
    unknown = [c for c in chains if c not in CHAINS]
    if unknown:
        parser.error(f"unknown chain(s): {', '.join(unknown)}")
    print(table(chains))
    return 0


if __name__ == "__main__":
    sys.exit(main())
