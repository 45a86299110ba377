"""An in-process EVM chain (py-evm through eth-tester) whose state persists under a folder.

Separate processes that open the same folder see the same chain: the same chain id, accounts,
balances, nonces, contracts, storage, blocks (numbers, hashes, timestamps) and receipts. There is
no server and nothing to set up; :meth:`EmbeddedChain.open` creates the chain on first use.

How it works: eth-tester's py-evm backend keeps the whole chain in one in-memory key/value
database (trie nodes, headers, bodies, receipts, the canonical index). Here that database is a
:class:`_JournalingDB` that remembers which keys changed since the last save. On disk the folder
holds a *snapshot* of every key (``chain.state``) and an append-only *journal* of the changes
made since the snapshot (``chain.journal``); :meth:`EmbeddedChain.save` appends one checksummed
record and fsyncs, so it costs what changed, not the size of the chain. When the journal has
grown larger than the snapshot (and 4 MiB) it is folded into a new snapshot (written to a temp file,
fsynced, renamed over the old one). Opening reads the snapshot, replays the journal and rebuilds
the py-evm chain from its canonical head. The format and the rules are in
``docs/embedded-chain.md``.

One process at a time: :meth:`EmbeddedChain.open` takes an exclusive ``flock`` on
``chain.lock`` and, by default, fails at once with :class:`~okeios.errors.ChainError` if another
process holds it (``timeout=`` waits instead). The lock goes away with its process, so a crashed
process never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import struct
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import msgpack
from eth.abc import BlockHeaderAPI, TransactionBuilderAPI, VirtualMachineAPI
from eth.chains.base import MiningChain
from eth.constants import BLANK_ROOT_HASH
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.exceptions import TransactionNotFound as EVMTransactionNotFound
from eth.vm.forks.prague import PragueVM
from eth_account import Account
from eth_tester import EthereumTester
from eth_tester.backends.pyevm.main import (
    PyEVMBackend,
    generate_genesis_state_for_keys,
    get_default_account_keys,
    get_default_genesis_params,
)
from eth_tester.backends.pyevm.serializers import (
    serialize_transaction,
    serialize_transaction_receipt,
)
from eth_tester.exceptions import TransactionNotFound
from eth_tester.exceptions import ValidationError as TesterValidationError
from eth_typing import BlockNumber, Hash32
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.providers.eth_tester.defaults import API_ENDPOINTS

from okeios._internal.files import FileWriteError, write_atomic
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.signing import checksum_address
from okeios.errors import ChainError, InputError

__all__ = [
    "CHAIN_ID",
    "FORMAT_VERSION",
    "JOURNAL_FILE",
    "LOCK_FILE",
    "STATE_FILE",
    "EmbeddedChain",
]

log = logging.getLogger(__name__)

#: The chain id of every embedded chain (EIP-155). Distinct from eth-tester's throw-away
#: in-memory chains (131277322940537), Ganache (1337) and Anvil/Hardhat (31337), so a trust
#: policy pinned to the embedded chain cannot be satisfied by one of those by accident.
CHAIN_ID: Final = 131277

#: The version of the on-disk format (snapshot and journal). A file of another version is
#: refused with a ChainError rather than guessed at.
FORMAT_VERSION: Final = 1

STATE_FILE: Final = "chain.state"
JOURNAL_FILE: Final = "chain.journal"
LOCK_FILE: Final = "chain.lock"

_FORK: Final = "prague"
_NUM_ACCOUNTS: Final = 10

_STATE_MAGIC: Final = b"OKEIOS-S"
_JOURNAL_MAGIC: Final = b"OKEIOS-J"
# magic, format version, reserved flags, body length
_STATE_HEAD: Final = struct.Struct(">8sHHQ")
# magic, format version, snapshot generation
_JOURNAL_HEAD: Final = struct.Struct(">8sHQ")
# payload length, then a 16-byte BLAKE2b digest of the payload
_RECORD_HEAD: Final = struct.Struct(">I16s")
_STATE_DIGEST_SIZE: Final = 32
_RECORD_DIGEST_SIZE: Final = 16
_HEAD_DIGEST_SIZE: Final = 16

#: A journal is folded into a new snapshot once it is larger than the snapshot and than this.
_COMPACT_MIN_BYTES: Final = 4 * 1024 * 1024

_LOCK_POLL_SECONDS: Final = 0.05


def _digest(data: bytes, size: int) -> bytes:
    return hashlib.blake2b(data, digest_size=size).digest()


def _now() -> int:
    return int(time.time())


class _JournalingDB(MemoryDB):
    """A dict-backed key/value store that records every key written or deleted since the
    last :meth:`take_changes` (``None`` marks a deletion)."""

    def __init__(self, kv_store: dict[bytes, bytes] | None = None) -> None:
        super().__init__({} if kv_store is None else kv_store)
        self.changes: dict[bytes, bytes | None] = {}

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.kv_store[key] = value
        self.changes[key] = value

    def __delitem__(self, key: bytes) -> None:
        del self.kv_store[key]
        self.changes[key] = None

    def take_changes(self) -> dict[bytes, bytes | None]:
        changes, self.changes = self.changes, {}
        return changes


class _EmbeddedPyEVMChain(MiningChain):
    """The same chain eth-tester builds by default (Prague from genesis, no proof of work,
    constant gas limit), with the embedded chain id and a name, so that it can be rebuilt
    from an existing database."""

    chain_id = CHAIN_ID
    vm_configuration: tuple[tuple[BlockNumber, type[VirtualMachineAPI]], ...] = (
        (BlockNumber(0), PragueVM),
    )

    def create_header_from_parent(
        self, parent_header: BlockHeaderAPI, **header_params: Any
    ) -> BlockHeaderAPI:
        header_params["gas_limit"] = parent_header.gas_limit
        return super().create_header_from_parent(parent_header, **header_params)

    def get_transaction_builder(self) -> type[TransactionBuilderAPI]:
        return self.get_vm().get_transaction_builder()


class _EmbeddedBackend(PyEVMBackend):  # type: ignore[misc]
    """eth-tester's py-evm backend around an existing chain instead of a fresh genesis.

    Differences from the stock backend: the chain is given, not built (so its database can
    be loaded from disk); it cannot be reset to genesis; a raw transaction signed for another
    chain id is refused, as a real node would; the pending block's timestamp is refreshed
    to the current time before the first transaction goes into it (the stock backend stamps
    a block with the time its *parent* was mined, which after an idle hour is an hour old);
    and transactions and receipts are found through py-evm's transaction index instead of a
    scan of every block (which takes 0.16 s per lookup at 1,000 blocks, and grows).
    """

    def __init__(self, chain: _EmbeddedPyEVMChain, account_keys: tuple[Any, ...]) -> None:
        # Deliberately not calling PyEVMBackend.__init__: it builds a new genesis chain.
        self.chain = chain
        self.account_keys = account_keys

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        raise ChainError("the embedded chain cannot be reset to genesis; use a new state folder")

    def _refresh_pending_timestamp(self) -> None:
        header = self.chain.header
        if header.transaction_root != BLANK_ROOT_HASH:
            return  # the pending block already holds transactions stamped with its time
        parent = self.chain.get_canonical_head()
        if header.parent_hash != parent.hash:
            return
        timestamp = max(parent.timestamp + 1, _now())
        if timestamp > header.timestamp:
            self.chain.header = header.copy(timestamp=timestamp)

    def _locate(self, transaction_hash: bytes) -> tuple[Any, Any, int, bool]:
        """(block, transaction, index in the block, is the block pending?)"""
        chain = self.chain
        try:
            number, index = chain.chaindb.get_transaction_index(Hash32(transaction_hash))
        except EVMTransactionNotFound:
            pending = chain.get_block()
            for index, transaction in enumerate(pending.transactions):
                if transaction.hash == transaction_hash:
                    return pending, transaction, index, True
            raise TransactionNotFound(
                f"No transaction found for transaction hash: {to_hex(transaction_hash)}"
            ) from None
        block = chain.get_canonical_block_by_number(number)
        transaction = block.transactions[index]
        if transaction.hash != transaction_hash:  # cannot happen with a consistent index
            raise TransactionNotFound(f"transaction index is stale for {to_hex(transaction_hash)}")
        return block, transaction, index, False

    def get_transaction_by_hash(self, transaction_hash: bytes) -> Any:
        block, transaction, index, is_pending = self._locate(transaction_hash)
        return serialize_transaction(block, transaction, index, is_pending)

    def get_transaction_receipt(self, transaction_hash: bytes) -> Any:
        block, transaction, index, is_pending = self._locate(transaction_hash)
        receipts = block.get_receipts(self.chain.chaindb)
        return serialize_transaction_receipt(
            block, receipts, transaction, index, is_pending, self.chain.get_vm()
        )

    def send_raw_transaction(self, raw_transaction: bytes) -> Any:
        builder = self.chain.get_vm().get_transaction_builder()
        try:
            tx_chain_id = builder.decode(raw_transaction).chain_id
        except Exception as exc:
            raise TesterValidationError(f"undecodable raw transaction: {exc}") from exc
        if tx_chain_id is not None and tx_chain_id != CHAIN_ID:
            raise TesterValidationError(
                f"transaction signed for chain id {tx_chain_id}, this chain is {CHAIN_ID}"
            )
        self._refresh_pending_timestamp()
        return super().send_raw_transaction(raw_transaction)

    def send_signed_transaction(self, signed_transaction: Any, block_number: Any = "latest") -> Any:
        self._refresh_pending_timestamp()
        return super().send_signed_transaction(signed_transaction, block_number)

    def send_transaction(self, transaction: Any) -> Any:
        self._refresh_pending_timestamp()
        return super().send_transaction(transaction)


def _api_endpoints() -> dict[str, dict[str, Any]]:
    """web3's eth-tester endpoints, answering the embedded chain id."""
    endpoints = {namespace: dict(methods) for namespace, methods in API_ENDPOINTS.items()}
    endpoints["eth"]["chainId"] = lambda *_: CHAIN_ID
    endpoints["net"]["version"] = lambda *_: str(CHAIN_ID)
    return endpoints


# --- files --------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all or nothing, owner-only (the one okeios writer)."""
    try:
        write_atomic(path, data, private=True)
    except FileWriteError as exc:
        raise OSError(str(exc)) from exc


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary files left by a save that a crash interrupted (we hold the lock)."""
    for name in (STATE_FILE, JOURNAL_FILE):
        for tmp in folder.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _encode_state(meta: dict[str, Any], kv: dict[bytes, bytes]) -> bytes:
    body: bytes = msgpack.packb({**meta, "kv": kv}, use_bin_type=True)
    head = _STATE_HEAD.pack(_STATE_MAGIC, FORMAT_VERSION, 0, len(body))
    return head + body + _digest(head + body, _STATE_DIGEST_SIZE)


def _decode_state(path: Path, data: bytes) -> dict[str, Any]:
    """Check and decode a snapshot file; every defect is a ChainError naming ``path``."""

    def bad(why: str) -> ChainError:
        return ChainError(f"embedded chain state file {path} is unusable: {why}")

    if len(data) < len(_STATE_MAGIC) or data[: len(_STATE_MAGIC)] != _STATE_MAGIC:
        raise bad("it is not an okeios embedded chain state file (bad magic)")
    if len(data) < _STATE_HEAD.size:
        raise bad("it is truncated (incomplete header)")
    _, version, flags, length = _STATE_HEAD.unpack_from(data)
    if version != FORMAT_VERSION:
        raise ChainError(
            f"embedded chain state file {path} has format version {version}; "
            f"this okeios reads version {FORMAT_VERSION} only"
        )
    if flags != 0:
        raise bad(f"unknown flags {flags:#x}")
    end = _STATE_HEAD.size + length
    if len(data) < end + _STATE_DIGEST_SIZE:
        raise bad(f"it is truncated ({len(data)} bytes, {end + _STATE_DIGEST_SIZE} expected)")
    if len(data) > end + _STATE_DIGEST_SIZE:
        raise bad("unexpected bytes after the end of the state")
    if _digest(data[:end], _STATE_DIGEST_SIZE) != data[end:]:
        raise bad("checksum mismatch (the file is corrupted)")
    try:
        body = msgpack.unpackb(data[_STATE_HEAD.size : end], raw=False, strict_map_key=False)
    except Exception as exc:
        raise bad(f"undecodable content ({type(exc).__name__}: {exc})") from exc
    if not isinstance(body, dict):
        raise bad("the content is not a map")
    checks: dict[str, type] = {
        "chain_id": int,
        "fork": str,
        "generation": int,
        "genesis": bytes,
        "head": bytes,
        "accounts": list,
        "kv": dict,
    }
    for key, kind in checks.items():
        if not isinstance(body.get(key), kind):
            raise bad(f"field {key!r} is missing or not a {kind.__name__}")
    for k, v in body["kv"].items():
        if not isinstance(k, bytes) or not isinstance(v, bytes):
            raise bad("the database holds a key or value that is not bytes")
    return body


# --- the chain --------------------------------------------------------------------------------


class EmbeddedChain:
    """An in-process py-evm chain persisted under ``state_dir``.

    Open it with :meth:`open` (creates the chain on first use), talk to it through
    :attr:`web3`, call :meth:`save` after every state-changing step and :meth:`close` (or use
    ``with``) at the end. Transactions are mined at once, one block each. Not thread-safe:
    use it from one thread.
    """

    #: The chain id every embedded chain answers (``eth_chainId``) and enforces.
    chain_id: int = CHAIN_ID

    def __init__(self) -> None:
        raise TypeError("use EmbeddedChain.open(state_dir)")

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: Path, *, timeout: float = 0.0) -> EmbeddedChain:
        """Open (or, if the folder holds no chain yet, create) the chain under ``state_dir``.

        Takes an exclusive lock on ``state_dir/chain.lock`` for as long as the chain is open.
        If another process (or another open chain in this process) holds it, waits up to
        ``timeout`` seconds (default: not at all) and then raises :class:`ChainError`.
        A missing, corrupted or truncated state, or a state of another format version, is a
        :class:`ChainError` naming the file.
        """
        state_dir = Path(state_dir)
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ChainError(f"cannot create the embedded chain folder {state_dir}: {exc}") from exc
        if not state_dir.is_dir():
            raise ChainError(f"embedded chain folder {state_dir} is not a folder")
        lock_fd = _acquire_lock(state_dir / LOCK_FILE, timeout)
        self = cls.__new__(cls)
        self._state_dir = state_dir
        self._lock_fd = lock_fd
        self._journal_fd = None
        self._closed = False
        try:
            self._load_or_create()
        except BaseException:
            self._release()
            raise
        return self

    def _load_or_create(self) -> None:
        state_path = self._state_dir / STATE_FILE
        journal_path = self._state_dir / JOURNAL_FILE
        self._account_keys: tuple[Any, ...] = tuple(get_default_account_keys(_NUM_ACCOUNTS))
        _remove_stale_temporaries(self._state_dir)
        created = False
        if state_path.exists():
            chain = self._load(state_path, journal_path)
        elif journal_path.exists():
            raise ChainError(
                f"embedded chain folder {self._state_dir} has a journal ({JOURNAL_FILE}) but "
                f"no state file ({STATE_FILE}); refusing to start a new chain over it"
            )
        else:
            chain = self._create()
            created = True
        self._backend = _EmbeddedBackend(chain, self._account_keys)
        self._tester = EthereumTester(backend=self._backend, auto_mine_transactions=True)
        self._web3 = Web3(EthereumTesterProvider(self._tester, api_endpoints=_api_endpoints()))
        if created:
            self._compact()  # the first snapshot: fixes the genesis block for good
            log.info("created embedded chain %s in %s", to_hex(self._genesis), self._state_dir)

    def _create(self) -> _EmbeddedPyEVMChain:
        """A new chain from eth-tester's default genesis (10 accounts of 1,000,000 ether each)."""
        self._db = _JournalingDB()
        genesis_state = generate_genesis_state_for_keys(self._account_keys)
        # 32 random bytes of extraData give every embedded chain its own genesis hash: two
        # chains created in the same second are still told apart.
        params = get_default_genesis_params({"extra_data": os.urandom(32)})
        chain = _EmbeddedPyEVMChain.from_genesis(AtomicDB(self._db), params, genesis_state)
        assert isinstance(chain, _EmbeddedPyEVMChain)
        self._db.take_changes()
        self._generation = 0
        self._seq = 0
        self._genesis = chain.get_canonical_block_header_by_number(BlockNumber(0)).hash
        return chain

    def _load(self, state_path: Path, journal_path: Path) -> _EmbeddedPyEVMChain:
        try:
            data = state_path.read_bytes()
        except OSError as exc:
            raise ChainError(f"cannot read embedded chain state file {state_path}: {exc}") from exc
        self._state_size = len(data)
        body = _decode_state(state_path, data)
        del data
        if body["chain_id"] != CHAIN_ID or body["fork"] != _FORK:
            raise ChainError(
                f"embedded chain state file {state_path} is for chain id {body['chain_id']} "
                f"({body['fork']}); this okeios runs chain id {CHAIN_ID} ({_FORK})"
            )
        expected = [key.public_key.to_canonical_address() for key in self._account_keys]
        if body["accounts"] != expected:
            raise ChainError(
                f"embedded chain state file {state_path} lists other tester accounts than "
                "this eth-tester derives; the chain cannot be used with these keys"
            )
        kv: dict[bytes, bytes] = body["kv"]
        self._generation = body["generation"]
        self._genesis = body["genesis"]
        head = body["head"]
        self._seq = 0
        if journal_path.exists():
            head = self._replay_journal(journal_path, kv, head)
        else:
            self._journal_size = 0
        self._db = _JournalingDB(kv)
        try:
            chain = _EmbeddedPyEVMChain(AtomicDB(self._db))
            actual_head = chain.get_canonical_head().hash
            actual_genesis = chain.get_canonical_block_header_by_number(BlockNumber(0)).hash
        except Exception as exc:
            raise ChainError(
                f"embedded chain state in {self._state_dir} is inconsistent: cannot rebuild "
                f"the chain ({type(exc).__name__}: {exc})"
            ) from exc
        if actual_head != head or actual_genesis != self._genesis:
            raise ChainError(
                f"embedded chain state in {self._state_dir} is inconsistent: the database's "
                f"head {to_hex(actual_head)} is not the recorded head {to_hex(head)}"
            )
        if not journal_path.exists():
            self._write_journal_header()
        self._open_journal()
        return chain

    def _replay_journal(self, path: Path, kv: dict[bytes, bytes], head: bytes) -> bytes:
        """Apply the journal's records to ``kv``; return the head hash of the last record.

        A last record cut short (a save interrupted by a crash: the process never got to
        return from :meth:`save`) is dropped and cut off the file. Any other defect is a
        ChainError naming the file.
        """

        def bad(why: str) -> ChainError:
            return ChainError(f"embedded chain journal {path} is unusable: {why}")

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ChainError(f"cannot read embedded chain journal {path}: {exc}") from exc
        head_size = _JOURNAL_HEAD.size + _HEAD_DIGEST_SIZE
        if data[: len(_JOURNAL_MAGIC)] != _JOURNAL_MAGIC[: len(data)]:
            raise bad("it is not an okeios embedded chain journal (bad magic)")
        if len(data) < head_size:
            raise bad("it is truncated (incomplete header)")
        _, version, generation = _JOURNAL_HEAD.unpack_from(data)
        if version != FORMAT_VERSION:
            raise ChainError(
                f"embedded chain journal {path} has format version {version}; "
                f"this okeios reads version {FORMAT_VERSION} only"
            )
        if (
            _digest(data[: _JOURNAL_HEAD.size], _HEAD_DIGEST_SIZE)
            != data[_JOURNAL_HEAD.size : head_size]
        ):
            raise bad("header checksum mismatch (the file is corrupted)")
        if generation < self._generation:
            # A compaction wrote the new snapshot but was interrupted before it replaced the
            # journal: every record of this journal is already in the snapshot.
            log.warning("ignoring stale embedded chain journal %s", path)
            self._write_journal_header()
            return head
        if generation > self._generation:
            raise bad(
                f"it continues snapshot generation {generation}, but {STATE_FILE} is "
                f"generation {self._generation} (the state file was replaced by an older one?)"
            )
        offset = head_size
        while offset < len(data):
            if len(data) - offset < _RECORD_HEAD.size:
                break  # torn tail
            length, digest = _RECORD_HEAD.unpack_from(data, offset)
            start = offset + _RECORD_HEAD.size
            if len(data) < start + length:
                break  # torn tail
            payload = data[start : start + length]
            if _digest(payload, _RECORD_DIGEST_SIZE) != digest:
                raise bad(f"record at byte {offset} fails its checksum (the file is corrupted)")
            try:
                record = msgpack.unpackb(payload, raw=False, strict_map_key=False)
            except Exception as exc:
                raise bad(f"record at byte {offset} is undecodable ({exc})") from exc
            if (
                not isinstance(record, dict)
                or record.get("seq") != self._seq + 1
                or not isinstance(record.get("head"), bytes)
                or not isinstance(record.get("kv"), dict)
            ):
                raise bad(f"record at byte {offset} is malformed or out of sequence")
            for key, value in record["kv"].items():
                if not isinstance(key, bytes):
                    raise bad(f"record at byte {offset} holds a key that is not bytes")
                if value is None:
                    kv.pop(key, None)
                elif isinstance(value, bytes):
                    kv[key] = value
                else:
                    raise bad(f"record at byte {offset} holds a value that is not bytes")
            self._seq = record["seq"]
            head = record["head"]
            offset = start + length
        if offset < len(data):
            log.warning(
                "embedded chain journal %s: dropping an incomplete last record "
                "(%d bytes; a save interrupted by a crash)",
                path,
                len(data) - offset,
            )
            try:
                os.truncate(path, offset)
            except OSError as exc:
                raise ChainError(f"cannot repair embedded chain journal {path}: {exc}") from exc
        self._journal_size = offset
        return head

    # -- persistence --------------------------------------------------------------------------

    def _head_hash(self) -> bytes:
        # The backend's chain object, not one kept here: eth-tester's snapshot revert may
        # replace it (over the same database).
        head: bytes = self._backend.chain.get_canonical_head().hash
        return head

    def _meta(self) -> dict[str, Any]:
        return {
            "chain_id": CHAIN_ID,
            "fork": _FORK,
            "generation": self._generation,
            "genesis": self._genesis,
            "head": self._head_hash(),
            "accounts": [key.public_key.to_canonical_address() for key in self._account_keys],
        }

    def _write_journal_header(self) -> None:
        head = _JOURNAL_HEAD.pack(_JOURNAL_MAGIC, FORMAT_VERSION, self._generation)
        data = head + _digest(head, _HEAD_DIGEST_SIZE)
        path = self._state_dir / JOURNAL_FILE
        try:
            _atomic_write(path, data)
        except OSError as exc:
            raise ChainError(f"cannot write embedded chain journal {path}: {exc}") from exc
        self._journal_size = len(data)
        self._seq = 0

    def _open_journal(self) -> None:
        path = self._state_dir / JOURNAL_FILE
        try:
            self._journal_fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise ChainError(f"cannot open embedded chain journal {path}: {exc}") from exc

    def _close_journal(self) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None

    def _compact(self) -> None:
        """Write every key into a new snapshot and start an empty journal for it."""
        self._generation += 1
        data = _encode_state(self._meta(), self._db.kv_store)
        self._close_journal()
        try:
            _atomic_write(self._state_dir / STATE_FILE, data)
            # From here on a crash leaves a journal of the previous generation, which the
            # next open ignores (its records are in the snapshot just written).
            self._write_journal_header()
        except OSError as exc:
            raise ChainError(f"cannot save the embedded chain in {self._state_dir}: {exc}") from exc
        self._state_size = len(data)
        self._open_journal()

    def save(self) -> None:
        """Make everything mined so far durable: append the changed keys to the journal as one
        checksummed record and fsync it (or fold the journal into a new snapshot once it has
        outgrown it). A no-op when nothing changed. Transactions in a pending, unmined block
        are not kept; with auto-mining (always on here) there are none."""
        self._check_open()
        changes = self._db.take_changes()
        if not changes:
            return
        try:
            payload = msgpack.packb(
                {
                    "seq": self._seq + 1,
                    "head": self._head_hash(),
                    "kv": changes,
                },
                use_bin_type=True,
            )
            record = _RECORD_HEAD.pack(len(payload), _digest(payload, _RECORD_DIGEST_SIZE))
            self._append(record + payload)
        except BaseException:
            # Nothing was kept: the next save writes these changes again.
            for key, value in changes.items():
                self._db.changes.setdefault(key, value)
            raise
        self._seq += 1
        if self._journal_size > max(_COMPACT_MIN_BYTES, self._state_size):
            self._compact()

    def _append(self, record: bytes) -> None:
        fd = self._journal_fd
        assert fd is not None
        path = self._state_dir / JOURNAL_FILE
        try:
            _write_all(fd, record)
            os.fsync(fd)
        except OSError as exc:
            # Cut off whatever part of the record reached the file, so the journal stays a
            # sequence of whole records.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._journal_size)
            raise ChainError(f"cannot save the embedded chain to {path}: {exc}") from exc
        self._journal_size += len(record)

    # -- using it -------------------------------------------------------------------------------

    @property
    def web3(self) -> Web3:
        """A Web3 instance talking to this chain (``EthereumTesterProvider``)."""
        self._check_open()
        return self._web3

    @property
    def state_dir(self) -> Path:
        return self._state_dir

    @property
    def accounts(self) -> tuple[str, ...]:
        """The pre-funded tester accounts (checksummed); their private keys are the integers
        1 to 10 as 32-byte big-endian numbers, as in eth-tester."""
        return tuple(
            checksum_address(key.public_key.to_canonical_address()) for key in self._account_keys
        )

    def fund(self, address: str, wei: int) -> None:
        """Send ``wei`` to ``address`` from a pre-funded tester account, wait for it to be mined,
        and :meth:`save`. Raises :class:`InputError` for a bad address or amount, and
        :class:`ChainError` if no tester account can pay or the transfer fails."""
        self._check_open()
        if not isinstance(address, str):
            raise InputError(f"not an address: {address!r}")
        to = checksum_address(address)  # an EventError (an InputError) if it is not one
        if isinstance(wei, bool) or not isinstance(wei, int) or wei < 0:
            raise InputError(f"the amount must be a non-negative integer of wei, got {wei!r}")
        w3: Any = self._web3
        try:
            base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
            tip = 10**9
            max_fee = 2 * base_fee + tip
            gas = int(w3.eth.estimate_gas({"from": self.accounts[0], "to": to, "value": 0}))
            payer = None
            for key, sender in zip(self._account_keys, self.accounts, strict=True):
                if int(w3.eth.get_balance(sender)) >= wei + gas * max_fee:
                    payer = (key, sender)
                    break
            if payer is None:
                raise ChainError(f"no tester account holds {wei} wei to fund {to}")
            key, sender = payer
            tx = {
                "type": 2,
                "chainId": CHAIN_ID,
                "nonce": int(w3.eth.get_transaction_count(sender, "pending")),
                "to": to,
                "value": wei,
                "gas": gas,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": tip,
            }
            raw = Account.sign_transaction(tx, key.to_bytes()).raw_transaction
            tx_hash = w3.eth.send_raw_transaction(raw)
            receipt = w3.eth.get_transaction_receipt(tx_hash)
        except ChainError:
            raise
        except Exception as exc:
            raise ChainError(
                f"funding {to} on the embedded chain failed: {type(exc).__name__}: {exc}"
            ) from exc
        if int(receipt["status"]) != 1:
            raise ChainError(f"funding {to} on the embedded chain failed: transfer reverted")
        self.save()

    # -- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """Save, then release the lock. Closing twice is harmless."""
        if self._closed:
            return
        try:
            self.save()
        finally:
            self._release()

    def _release(self) -> None:
        self._closed = True
        self._close_journal()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _check_open(self) -> None:
        if self._closed:
            raise ChainError(f"the embedded chain in {self._state_dir} is closed")

    def __enter__(self) -> EmbeddedChain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"EmbeddedChain({str(self._state_dir)!r}, chain id {CHAIN_ID}, {state})"

    # Attributes set by open(); declared for type checkers.
    _state_dir: Path
    _lock_fd: int | None
    _journal_fd: int | None
    _closed: bool
    _db: _JournalingDB
    _backend: _EmbeddedBackend
    _tester: EthereumTester
    _web3: Web3
    _generation: int
    _genesis: bytes
    _seq: int
    _state_size: int
    _journal_size: int


def _acquire_lock(path: Path, timeout: float) -> int:
    """Open ``path`` and take an exclusive flock on it, waiting up to ``timeout`` seconds;
    write our pid into it (for the error message another process may show)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ChainError(f"cannot open the embedded chain lock file {path}: {exc}") from exc
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = ""
                with contextlib.suppress(OSError, ValueError):
                    holder = os.pread(fd, 32, 0).decode("ascii").strip()
                os.close(fd)
                who = f"process {holder}" if holder.isdigit() else "another process"
                waited = f" (waited {timeout:g} s)" if timeout > 0 else ""
                raise ChainError(
                    f"the embedded chain in {path.parent} is in use by {who}{waited}; "
                    "only one process may open it at a time"
                ) from None
            time.sleep(_LOCK_POLL_SECONDS)
        except OSError as exc:
            os.close(fd)
            raise ChainError(f"cannot lock {path}: {exc}") from exc
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except OSError:
        pass  # the pid is only informative
    return fd
