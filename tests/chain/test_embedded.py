"""The embedded chain: an in-process py-evm chain persisted under a folder.

Separate processes (``subprocess.run([sys.executable, "-c", ...])``) open the same folder and
must see the same chain; the lock keeps a second process out; damaged, truncated or foreign
state files are refused with a ChainError naming the file; an interrupted save loses only
that save.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import TransactionNotFound

from okeios._internal.chain import embedded
from okeios._internal.chain.embedded import CHAIN_ID, JOURNAL_FILE, STATE_FILE, EmbeddedChain
from okeios._internal.protocol.events import derive_log_id
from okeios.errors import ChainError, InputError

REPO = Path(__file__).resolve().parents[2]

# A minimal storage contract, hand-assembled. Runtime (24 bytes): with calldata, store word 0
# of the calldata at slot 0 and stop; with empty calldata, return slot 0.
#   CALLDATASIZE ISZERO PUSH1 0x0c JUMPI  PUSH1 0 CALLDATALOAD PUSH1 0 SSTORE STOP
#   JUMPDEST PUSH1 0 SLOAD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
STORE_RUNTIME = "3615600c57600035600055005b60005460005260206000f3"
# Creation code: CODECOPY the 24 runtime bytes that follow these 12 bytes, RETURN them.
STORE_INIT = "0x6018600c60003960186000f3" + STORE_RUNTIME

USER_KEY = "0x" + "a1" * 32
USER = Account.from_key(USER_KEY).address

# Shared by the child processes: open the chain, sign and send EIP-1559 transactions locally.
PRELUDE = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from eth_account import Account
    from okeios._internal.chain.embedded import EmbeddedChain

    STORE_INIT = %r
    USER_KEY = %r
    USER = Account.from_key(USER_KEY).address

    def send(w3, tx):
        base = w3.eth.get_block("latest")["baseFeePerGas"]
        tx = {
            "type": 2, "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(USER, "pending"),
            "maxFeePerGas": 2 * base + 10**9, "maxPriorityFeePerGas": 10**9,
            "gas": 200_000, **tx,
        }
        raw = Account.sign_transaction(tx, USER_KEY).raw_transaction
        return w3.eth.send_raw_transaction(raw)

    def plain(value):
        if isinstance(value, bytes):
            return "0x" + value.hex()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    def observe(w3, contract, tx_hashes):
        head = w3.eth.block_number
        blocks = [w3.eth.get_block(n) for n in range(head + 1)]
        return plain({
            "chain_id": w3.eth.chain_id,
            "accounts": w3.eth.accounts,
            "head": head,
            "hashes": [b["hash"] for b in blocks],
            "parents": [b["parentHash"] for b in blocks],
            "timestamps": [b["timestamp"] for b in blocks],
            "state_roots": [b["stateRoot"] for b in blocks],
            "user_balance": w3.eth.get_balance(USER),
            "tester_balance": w3.eth.get_balance(w3.eth.accounts[0]),
            "nonce": w3.eth.get_transaction_count(USER),
            "code": w3.eth.get_code(contract),
            "slot0": w3.eth.get_storage_at(contract, 0),
            "call": w3.eth.call({"to": contract, "data": b""}),
            "receipts": [
                {k: r[k] for k in ("transactionHash", "blockNumber", "blockHash", "status",
                                   "gasUsed", "cumulativeGasUsed", "contractAddress",
                                   "effectiveGasPrice", "type")}
                for r in (w3.eth.get_transaction_receipt(h) for h in tx_hashes)
            ],
        })
    """
) % (STORE_INIT, USER_KEY)


def run_child(body: str, *args: str, timeout: float = 120) -> Any:
    """Run PRELUDE + ``body`` in a fresh interpreter; return the JSON it prints last."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def signed(w3: Web3, tx: dict[str, Any], key: str = USER_KEY) -> bytes:
    """An EIP-1559 transaction signed locally with eth-account."""
    sender = Account.from_key(key).address
    base = int(w3.eth.get_block("latest")["baseFeePerGas"])
    full = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": w3.eth.get_transaction_count(sender, "pending"),
        "maxFeePerGas": 2 * base + 10**9,
        "maxPriorityFeePerGas": 10**9,
        "gas": 200_000,
        **tx,
    }
    return bytes(Account.sign_transaction(full, key).raw_transaction)


def transact(w3: Web3, tx: dict[str, Any]) -> Any:
    receipt = w3.eth.get_transaction_receipt(w3.eth.send_raw_transaction(signed(w3, tx)))
    assert receipt["status"] == 1
    return receipt


def deploy_store(chain: EmbeddedChain) -> str:
    chain.fund(USER, 10**18)
    address = transact(chain.web3, {"data": STORE_INIT})["contractAddress"]
    assert address is not None
    return str(address)


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


@pytest.fixture
def chain_dir(tmp_path: Path) -> Path:
    return tmp_path / "chain"


@pytest.fixture
def saved_chain(chain_dir: Path) -> Path:
    """A closed chain with a funded user and a store contract holding 7."""
    with EmbeddedChain.open(chain_dir) as chain:
        address = deploy_store(chain)
        transact(chain.web3, {"to": address, "data": word(7)})
        chain.save()
    return chain_dir


# --- two processes, one chain ------------------------------------------------------------------


def test_a_second_process_sees_the_same_chain_and_continues_it(chain_dir: Path) -> None:
    # Process A: create, fund a fresh key, deploy, transact, save, and exit without close().
    a = run_child(
        """
        chain = EmbeddedChain.open(Path(sys.argv[1]))
        w3 = chain.web3
        chain.fund(USER, 3 * 10**18)
        hashes = [send(w3, {"data": STORE_INIT})]
        contract = w3.eth.get_transaction_receipt(hashes[0])["contractAddress"]
        for n in (5, 6, 7):
            hashes.append(send(w3, {"to": contract, "data": n.to_bytes(32, "big")}))
        chain.save()
        result = {"contract": contract, "tx_hashes": ["0x" + h.hex() for h in hashes],
                  "seen": observe(w3, contract, hashes)}
        print(json.dumps(result), flush=True)
        os._exit(0)  # no close(): save() alone must be enough
        """,
        str(chain_dir),
    )
    seen_a = a["seen"]
    assert seen_a["chain_id"] == CHAIN_ID
    assert seen_a["head"] == 5  # fund, deploy, three stores: one block each
    assert seen_a["nonce"] == 4
    assert int(seen_a["slot0"], 16) == 7
    assert int(seen_a["call"], 16) == 7
    assert seen_a["code"] == "0x" + STORE_RUNTIME
    assert all(r["status"] == 1 and r["type"] == 2 for r in seen_a["receipts"])
    assert [r["blockNumber"] for r in seen_a["receipts"]] == [2, 3, 4, 5]

    # Process B: open the same folder; everything A saw is there; then continue.
    b = run_child(
        """
        chain = EmbeddedChain.open(Path(sys.argv[1]))
        w3 = chain.web3
        contract = sys.argv[2]
        old = [bytes.fromhex(h[2:]) for h in sys.argv[3:]]
        seen = observe(w3, contract, old)
        new = [send(w3, {"to": contract, "data": n.to_bytes(32, "big")}) for n in (8, 9)]
        chain.save()
        result = {"seen": seen, "after": observe(w3, contract, old + new)}
        chain.close()
        print(json.dumps(result), flush=True)
        """,
        str(chain_dir),
        a["contract"],
        *a["tx_hashes"],
    )
    assert b["seen"] == seen_a
    after = b["after"]
    assert after["head"] == 7
    assert after["nonce"] == 6  # continued from 4
    assert int(after["slot0"], 16) == 9
    assert after["hashes"][:6] == seen_a["hashes"]
    assert after["parents"][6] == seen_a["hashes"][5]
    assert [r["blockNumber"] for r in after["receipts"][4:]] == [6, 7]
    assert all(r["status"] == 1 for r in after["receipts"])
    stamps = after["timestamps"]
    assert all(earlier < later for earlier, later in itertools.pairwise(stamps))

    # And this process sees what B added.
    with EmbeddedChain.open(chain_dir) as chain:
        w3 = chain.web3
        assert w3.eth.block_number == 7
        assert "0x" + bytes(w3.eth.get_block(7)["hash"]).hex() == after["hashes"][7]
        assert w3.eth.get_transaction_count(USER) == 6
        assert int.from_bytes(w3.eth.get_storage_at(a["contract"], 0), "big") == 9


def test_work_after_the_last_save_is_lost_and_nothing_else(chain_dir: Path) -> None:
    result = run_child(
        """
        chain = EmbeddedChain.open(Path(sys.argv[1]))
        w3 = chain.web3
        chain.fund(USER, 10**18)
        contract = w3.eth.get_transaction_receipt(send(w3, {"data": STORE_INIT}))["contractAddress"]
        send(w3, {"to": contract, "data": (1).to_bytes(32, "big")})
        chain.save()
        saved = {"contract": contract, "head": w3.eth.block_number,
                 "hash": "0x" + bytes(w3.eth.get_block("latest")["hash"]).hex()}
        send(w3, {"to": contract, "data": (2).to_bytes(32, "big")})  # never saved
        print(json.dumps(saved), flush=True)
        os._exit(0)
        """,
        str(chain_dir),
    )
    with EmbeddedChain.open(chain_dir) as chain:
        w3 = chain.web3
        assert w3.eth.block_number == result["head"]
        assert "0x" + bytes(w3.eth.get_block("latest")["hash"]).hex() == result["hash"]
        assert int.from_bytes(w3.eth.get_storage_at(result["contract"], 0), "big") == 1
        assert w3.eth.get_transaction_count(USER) == 2
        # The lost transaction's nonce is free again.
        transact(w3, {"to": result["contract"], "data": word(3)})
        assert w3.eth.get_transaction_count(USER) == 3


# --- the chain itself ---------------------------------------------------------------------------


def test_chain_id_accounts_and_keys_are_fixed(chain_dir: Path) -> None:
    expected = [Account.from_key(i.to_bytes(32, "big")).address for i in range(1, 11)]
    with EmbeddedChain.open(chain_dir) as chain:
        w3 = chain.web3
        assert chain.chain_id == CHAIN_ID == w3.eth.chain_id == 131277
        assert list(chain.accounts) == expected == list(w3.eth.accounts)
        assert all(w3.eth.get_balance(a, 0) == 10**24 for a in expected)
        genesis = bytes(w3.eth.get_block(0)["hash"])
    # A second chain in another folder has the same accounts but is another chain.
    with EmbeddedChain.open(chain_dir.parent / "other") as other:
        assert list(other.accounts) == expected
        assert bytes(other.web3.eth.get_block(0)["hash"]) != genesis


def test_fund_pays_from_the_tester_accounts(chain_dir: Path) -> None:
    with EmbeddedChain.open(chain_dir) as chain:
        w3 = chain.web3
        chain.fund(USER, 12345)
        assert w3.eth.get_balance(USER) == 12345
        chain.fund(USER.lower(), 5)
        assert w3.eth.get_balance(USER) == 12350
        with pytest.raises(InputError):
            chain.fund("0x1234", 1)
        with pytest.raises(InputError):
            chain.fund(USER, -1)
        with pytest.raises(InputError):
            chain.fund(USER, True)
        with pytest.raises(ChainError, match="no tester account"):
            chain.fund(USER, 10**30)
        head = w3.eth.block_number
    # fund() saves by itself.
    with EmbeddedChain.open(chain_dir) as chain:
        assert chain.web3.eth.block_number == head
        assert chain.web3.eth.get_balance(USER) == 12350


def test_transactions_for_another_chain_id_are_refused(chain_dir: Path) -> None:
    with EmbeddedChain.open(chain_dir) as chain:
        w3 = chain.web3
        chain.fund(USER, 10**18)
        head = w3.eth.block_number
        raw = signed(w3, {"to": USER, "value": 1, "chainId": 1})
        with pytest.raises(Exception, match="chain id 1, this chain is 131277"):
            w3.eth.send_raw_transaction(raw)
        assert w3.eth.block_number == head
        # A legacy EIP-155 transaction for this chain is fine.
        legacy = {"chainId": CHAIN_ID, "nonce": 0, "to": USER, "value": 1, "gas": 21000}
        legacy["gasPrice"] = 2 * int(w3.eth.get_block("latest")["baseFeePerGas"]) + 1
        tx_hash = w3.eth.send_raw_transaction(
            Account.sign_transaction(legacy, USER_KEY).raw_transaction
        )
        assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 1


def test_one_block_per_transaction_with_wall_clock_timestamps(chain_dir: Path) -> None:
    with EmbeddedChain.open(chain_dir) as chain:
        w3 = chain.web3
        address = deploy_store(chain)
        # A burst of blocks runs ahead of the clock (timestamps must increase by at least a
        # second per block). After an idle pause that lets the clock overtake the chain, the
        # next block is stamped with the time its transaction arrived, not the time its
        # parent was mined.
        parent = int(w3.eth.get_block("latest")["timestamp"])
        while time.time() < parent + 2:
            time.sleep(0.1)
        before = int(time.time())
        receipt = transact(w3, {"to": address, "data": word(1)})
        after = int(time.time())
        block = w3.eth.get_block(receipt["blockNumber"])
        assert parent + 2 <= before <= block["timestamp"] <= after
        assert block["number"] == w3.eth.block_number
        assert len(block["transactions"]) == 1
        numbers = [transact(w3, {"to": address, "data": word(i)})["blockNumber"] for i in range(3)]
        assert numbers == [block["number"] + 1, block["number"] + 2, block["number"] + 3]
        stamps = [w3.eth.get_block(n)["timestamp"] for n in range(w3.eth.block_number + 1)]
        assert all(x < y for x, y in itertools.pairwise(stamps))


def test_the_anchor_registry_artifact_runs_and_persists(chain_dir: Path) -> None:
    artifacts = pytest.importorskip("okeios._internal.chain.artifacts")
    artifact = artifacts.load_anchor_registry()
    log_id = derive_log_id(USER)
    root = b"\x02" * 32
    with EmbeddedChain.open(chain_dir) as chain:
        w3 = chain.web3
        chain.fund(USER, 10**18)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        data = factory.constructor().build_transaction({"from": USER, "gas": 3_000_000})["data"]
        registry = transact(w3, {"data": data, "gas": 3_000_000})["contractAddress"]
        contract = w3.eth.contract(address=registry, abi=artifact["abi"])
        call = contract.functions.anchor(log_id, 1, root, [])
        transact(w3, {"to": registry, "data": call._encode_transaction_data(), "gas": 500_000})
        chain.save()
    with EmbeddedChain.open(chain_dir) as chain:
        contract = chain.web3.eth.contract(address=registry, abi=artifact["abi"])
        assert contract.functions.anchorCount(USER, log_id).call() == 1
        size, stored_root, *_ = contract.functions.latest(USER, log_id).call()
        assert (size, bytes(stored_root)) == (1, root)


# --- the lock -----------------------------------------------------------------------------------

HOLDER = """
chain = EmbeddedChain.open(Path(sys.argv[1]))
print(json.dumps(os.getpid()), flush=True)
sys.stdin.read()  # hold the chain until the parent closes our stdin (or kills us)
chain.close()
"""


def start_holder(chain_dir: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + HOLDER, str(chain_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert json.loads(line) == proc.pid
    return proc


def test_a_chain_held_by_another_process_is_refused(saved_chain: Path) -> None:
    holder = start_holder(saved_chain)
    try:
        with pytest.raises(ChainError, match=f"in use by process {holder.pid}"):
            EmbeddedChain.open(saved_chain)
        started = time.monotonic()
        with pytest.raises(ChainError, match=r"waited 0\.5 s"):
            EmbeddedChain.open(saved_chain, timeout=0.5)
        assert time.monotonic() - started >= 0.5
    finally:
        holder.kill()  # no clean close: the kernel drops the lock with the process
        holder.wait(timeout=30)
    with EmbeddedChain.open(saved_chain) as chain:
        assert chain.web3.eth.get_transaction_count(USER) == 2


def test_open_with_a_timeout_waits_for_the_holder(saved_chain: Path) -> None:
    holder = start_holder(saved_chain)
    try:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder closes its chain and exits now
        started = time.monotonic()
        with EmbeddedChain.open(saved_chain, timeout=60) as chain:
            assert chain.web3.eth.get_transaction_count(USER) == 2
        assert time.monotonic() - started < 60
    finally:
        holder.wait(timeout=30)


def test_the_same_process_cannot_open_a_chain_twice(chain_dir: Path) -> None:
    chain = EmbeddedChain.open(chain_dir)
    with pytest.raises(ChainError, match="in use"):
        EmbeddedChain.open(chain_dir)
    chain.close()
    chain.close()  # harmless
    with pytest.raises(ChainError, match="closed"):
        chain.web3  # noqa: B018
    with pytest.raises(ChainError, match="closed"):
        chain.save()
    EmbeddedChain.open(chain_dir).close()


# --- damaged files ------------------------------------------------------------------------------


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: _flip(p, len(p.read_bytes()) // 2), "checksum mismatch"),
        (lambda p: p.write_bytes(p.read_bytes()[:-1]), "truncated"),
        (lambda p: p.write_bytes(p.read_bytes()[:1000]), "truncated"),
        (lambda p: p.write_bytes(p.read_bytes()[:12]), "truncated"),
        (lambda p: p.write_bytes(b""), "bad magic"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + bytes(100)), "bad magic"),
        (lambda p: p.write_bytes(p.read_bytes() + b"\x00"), "unexpected bytes"),
        (lambda p: _flip(p, 9), "format version 0; this okeios reads version 1 only"),
    ],
    ids=["bit-flip", "last-byte-cut", "cut", "header-cut", "empty", "foreign", "extra", "version"],
)
def test_a_damaged_state_file_is_refused(saved_chain: Path, damage: Any, message: str) -> None:
    path = saved_chain / STATE_FILE
    good = path.read_bytes()
    damage(path)
    with pytest.raises(ChainError, match=message) as caught:
        EmbeddedChain.open(saved_chain)
    assert str(path) in str(caught.value)
    # The failed open released the lock; with the file restored the chain opens again.
    path.write_bytes(good)
    EmbeddedChain.open(saved_chain).close()


def test_a_state_file_of_an_unknown_format_version_is_refused(saved_chain: Path) -> None:
    path = saved_chain / STATE_FILE
    data = bytearray(path.read_bytes())
    data[8:10] = (2).to_bytes(2, "big")  # after the 8-byte magic
    path.write_bytes(bytes(data))
    with pytest.raises(ChainError, match=r"chain\.state has format version 2"):
        EmbeddedChain.open(saved_chain)


def test_a_corrupted_journal_record_is_refused(saved_chain: Path) -> None:
    path = saved_chain / JOURNAL_FILE
    assert path.stat().st_size > 200  # the fixture's saves are in the journal
    _flip(path, path.stat().st_size - 50)
    with pytest.raises(ChainError, match="fails its checksum") as caught:
        EmbeddedChain.open(saved_chain)
    assert str(path) in str(caught.value)


def test_a_journal_of_an_unknown_format_version_is_refused(saved_chain: Path) -> None:
    path = saved_chain / JOURNAL_FILE
    data = bytearray(path.read_bytes())
    data[8:10] = (7).to_bytes(2, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(ChainError, match=r"chain\.journal has format version 7"):
        EmbeddedChain.open(saved_chain)


def test_a_journal_without_a_state_file_is_refused(saved_chain: Path) -> None:
    (saved_chain / STATE_FILE).unlink()
    with pytest.raises(ChainError, match="no state file"):
        EmbeddedChain.open(saved_chain)


def test_a_save_cut_short_by_a_crash_is_dropped(
    saved_chain: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with EmbeddedChain.open(saved_chain) as chain:
        head = chain.web3.eth.block_number
        root = bytes(chain.web3.eth.get_block("latest")["stateRoot"])
    path = saved_chain / JOURNAL_FILE
    complete = path.stat().st_size
    # What an interrupted append leaves: a record header promising more than was written.
    with path.open("ab") as f:
        f.write((5000).to_bytes(4, "big") + b"\x00" * 16 + b"partial")
    with caplog.at_level(logging.WARNING, logger="okeios._internal.chain.embedded"):
        chain = EmbeddedChain.open(saved_chain)
    assert "incomplete last record" in caplog.text
    assert path.stat().st_size == complete  # cut back to the last whole record
    with chain:
        assert chain.web3.eth.block_number == head
        assert bytes(chain.web3.eth.get_block("latest")["stateRoot"]) == root
        chain.fund(USER, 1)  # and it keeps working
    with EmbeddedChain.open(saved_chain) as chain:
        assert chain.web3.eth.block_number == head + 1


def test_compaction_folds_the_journal_into_the_snapshot(
    chain_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "_COMPACT_MIN_BYTES", 0)  # compact as soon as it pays
    state, journal = chain_dir / STATE_FILE, chain_dir / JOURNAL_FILE
    with EmbeddedChain.open(chain_dir) as chain:
        address = deploy_store(chain)
        stale = b""
        for i in range(1, 41):
            snapshot = state.stat().st_ino
            journal_before = journal.read_bytes()
            transact(chain.web3, {"to": address, "data": word(i)})
            chain.save()
            assert journal.stat().st_size <= state.stat().st_size
            if state.stat().st_ino != snapshot:  # a new snapshot was renamed into place
                assert journal.stat().st_size < len(journal_before)  # a fresh journal
                stale = journal_before
                break
        assert stale, "no compaction in 40 saves"
        last = i
        head = chain.web3.eth.block_number
        head_hash = bytes(chain.web3.eth.get_block("latest")["hash"])
    with EmbeddedChain.open(chain_dir) as chain:
        assert chain.web3.eth.block_number == head
        assert bytes(chain.web3.eth.get_block("latest")["hash"]) == head_hash
    # A crash between writing the new snapshot and replacing the journal leaves the journal
    # of the previous generation: it is ignored (everything in it is in the snapshot).
    journal.write_bytes(stale)
    with EmbeddedChain.open(chain_dir) as chain:
        assert chain.web3.eth.block_number == head
        assert bytes(chain.web3.eth.get_block("latest")["hash"]) == head_hash
        assert int.from_bytes(chain.web3.eth.get_storage_at(address, 0), "big") == last


# --- cost ---------------------------------------------------------------------------------------


def test_save_stays_cheap_with_a_thousand_transactions(chain_dir: Path) -> None:
    """1,000 small transactions, each followed by save(); the chain reopens intact."""
    count = 1000
    with EmbeddedChain.open(chain_dir) as chain:
        w3 = chain.web3
        address = deploy_store(chain)
        base = int(w3.eth.get_block("latest")["baseFeePerGas"])
        nonce = w3.eth.get_transaction_count(USER)
        tx = {"type": 2, "chainId": CHAIN_ID, "to": address, "gas": 50_000}
        tx |= {"maxFeePerGas": 2 * base + 10**9, "maxPriorityFeePerGas": 10**9}
        saves, hashes = [], []
        for i in range(count):
            raw = Account.sign_transaction({**tx, "nonce": nonce + i, "data": word(i)}, USER_KEY)
            hashes.append(w3.eth.send_raw_transaction(raw.raw_transaction))
            started = time.perf_counter()
            chain.save()
            saves.append(time.perf_counter() - started)
        head = w3.eth.block_number
        head_hash = bytes(w3.eth.get_block("latest")["hash"])
    assert statistics.median(saves) < 0.05
    assert max(saves) < 1.0  # includes the occasional compaction
    started = time.perf_counter()
    chain = EmbeddedChain.open(chain_dir)
    opened = time.perf_counter() - started
    with chain:
        assert opened < 2.0
        assert chain.web3.eth.block_number == head == count + 2
        assert bytes(chain.web3.eth.get_block("latest")["hash"]) == head_hash
        assert int.from_bytes(chain.web3.eth.get_storage_at(address, 0), "big") == count - 1
        assert chain.web3.eth.get_transaction_count(USER) == count + 1
        # Old transactions are found through the transaction index, not a scan of every block.
        started = time.perf_counter()
        first = chain.web3.eth.get_transaction_receipt(hashes[0])
        assert time.perf_counter() - started < 0.05
        assert (first["blockNumber"], first["transactionIndex"], first["status"]) == (3, 0, 1)
        assert chain.web3.eth.get_transaction(hashes[500])["blockNumber"] == 503
        with pytest.raises(TransactionNotFound):
            chain.web3.eth.get_transaction_receipt(b"\x00" * 32)
