"""Parallel ingest: the costly part of adding records, run in any ``concurrent.futures``
executor, with results identical to a serial run.

Adding a record is: canonicalise it, commit to its fields (one salted SHA-256 per field), seal
the canonical bytes under a fresh data key, seal the data key and seed under the store's master
key, sign the CREATE event, and append its leaf to the log. Only the append needs the log, so
:func:`draw` (in the caller, serial) takes every random value and time the serial path would
take, in the same order; :func:`prepare_chunk` (in a worker) computes everything that depends
only on them and the record; the store then appends the prepared events in order, inside one
write transaction, through the one write path of every event
(:meth:`~okeios._internal.publish.publisher.Publisher.append`, which checks them first).
Because the randomness is drawn where and as the serial path draws it and the rest is
deterministic (RFC 6979 signatures), a store filled through a process pool or a Dask cluster
holds exactly the bytes a serial ``add`` would have written.

What crosses to the workers: the records, their per-record randomness (record id, seed, data
key, nonce) and, when the author is a :class:`~okeios._internal.protocol.signing.LocalSigner`, its
private key, so that signing runs in the workers too. Use only workers you trust with the
records and the author key (the processes of this machine; a Dask cluster of your own). The
store's master key never leaves the caller: the data keys and seeds are sealed under it in
:func:`draw`. An author that cannot be pickled (a hardware wallet) signs in the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from okeios._internal.crypto._common import NONCE_SIZE
from okeios._internal.crypto.payload import (
    new_data_key,
    payload_aad,
    payload_digest,
    seal_payload,
)
from okeios._internal.protocol.canonical import JSONValue, parse_json
from okeios._internal.protocol.commitment import SEED_SIZE, Canonical, commit_canonical
from okeios._internal.protocol.events import (
    ZERO_ADDRESS,
    ZERO_HASH,
    Event,
    EventKind,
    SignedEvent,
)
from okeios._internal.protocol.merkle import leaf_hash
from okeios._internal.protocol.signing import LocalSigner, Signer
from okeios.errors import InputError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Draw",
    "Prepared",
    "draw",
    "prepare",
    "prepare_chunk",
    "run_chunks",
]

DEFAULT_CHUNK_SIZE = 256


@dataclass(frozen=True, slots=True)
class Draw:
    """The random values and time of one new record, drawn in the serial path's order."""

    record_id: bytes
    seed: bytes
    data_key: bytes
    nonce: bytes
    sealed_key: bytes  # the data key sealed under the master key (stays in the caller)
    sealed_seed: bytes  # the seed sealed under the master key (stays in the caller)
    time: int


@dataclass(frozen=True, slots=True)
class Prepared:
    """One record ready to append: its sealed version and its signed CREATE event."""

    record_id: bytes
    sealed: bytes
    digests: bytes  # the sorted field digests, concatenated
    signed: SignedEvent | None  # None when the caller signs (``event`` is then set)
    event: Event | None
    message: str  # the event's EIP-712 message as stored (JSON)
    leaf: bytes  # the RFC 9162 leaf hash of ``event id || signature`` (when signed)


def draw(
    count: int,
    rng: Callable[[int], bytes],
    clock: Callable[[], float],
    seal_secret: Callable[[bytes, bytes, bytes], tuple[bytes, bytes]],
) -> list[Draw]:
    """The randomness of ``count`` new records, in the order the serial path takes it: per
    record the record id, the seed, the data key, the payload nonce, the sealing of the data
    key and of the seed under the master key (``seal_secret(record_id, data_key, seed)``),
    then the time."""
    out: list[Draw] = []
    for _ in range(count):
        record_id = rng(32)
        if len(record_id) != 32:
            raise InputError("the random source returned a record id of the wrong size")
        seed = rng(SEED_SIZE)
        data_key = new_data_key(rng)
        nonce = rng(NONCE_SIZE)
        sealed_key, sealed_seed = seal_secret(record_id, data_key, seed)
        out.append(Draw(record_id, seed, data_key, nonce, sealed_key, sealed_seed, int(clock())))
    return out


def _fixed(value: bytes) -> Callable[[int], bytes]:
    def rng(n: int) -> bytes:
        if n != len(value):  # pragma: no cover - seal_payload asks for one nonce
            raise InputError(f"expected a draw of {len(value)} bytes, got a request for {n}")
        return value

    return rng


def prepare(
    record: bytes | JSONValue | Canonical,
    d: Draw,
    log_id: bytes,
    author: str,
    signer: Signer | None,
) -> Prepared:
    """Everything about one new record that needs no log: the worker's part. A
    :class:`~okeios._internal.protocol.commitment.Canonical` record keeps its canonical bytes
    for the caller (:meth:`Records.put <okeios._internal.publish.records.Records.put>` writes
    its content check from them)."""
    if isinstance(record, Canonical):
        form = record
    else:
        form = Canonical(parse_json(record) if isinstance(record, bytes | bytearray) else record)
    commitment, _, canonical = commit_canonical(form, seed=d.seed)
    aad = payload_aad(d.record_id, 1)
    sealed = seal_payload(d.data_key, canonical, aad=aad, rng=_fixed(d.nonce))
    event = Event(
        kind=EventKind.CREATE,
        log_id=log_id,
        record_id=d.record_id,
        version=1,
        previous=ZERO_HASH,
        commitment=commitment.root,
        ciphertext_digest=payload_digest(sealed),
        author=author,
        time=d.time,
        sources=(),
        subject=ZERO_ADDRESS,
        purpose="",
    )
    message = json.dumps(event.message())
    digests = b"".join(commitment.digests)
    if signer is None:
        return Prepared(d.record_id, sealed, digests, None, event, message, b"")
    signed = event.sign(signer)
    leaf = leaf_hash(signed.leaf_data())
    return Prepared(d.record_id, sealed, digests, signed, None, message, leaf)


@dataclass(frozen=True, slots=True)
class _Task:
    log_id: bytes
    author: str
    key: bytes | None
    items: list[tuple[bytes | JSONValue, Draw]]


def prepare_chunk(task: _Task) -> list[Prepared]:
    """A worker's job: prepare a chunk of records (a module-level function: picklable)."""
    signer = LocalSigner.from_key(task.key) if task.key is not None else None
    return [prepare(record, d, task.log_id, task.author, signer) for record, d in task.items]


def run_chunks(
    records: Sequence[bytes | JSONValue],
    draws: Sequence[Draw],
    *,
    log_id: bytes,
    author: Signer,
    executor: Executor | None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[list[Prepared]]:
    """The prepared records, chunk by chunk and in order, prepared by ``executor`` (else here).

    Every chunk is signed by ``author``: in the workers when it is a
    :class:`~okeios._internal.protocol.signing.LocalSigner`, else here, after the workers return.
    """
    if chunk_size < 1:
        raise InputError("chunk_size must be at least 1")
    if len(records) != len(draws):
        raise InputError("one draw per record")
    key = author.private_key if isinstance(author, LocalSigner) else None
    tasks = [
        _Task(
            log_id,
            author.address,
            key,
            list(zip(records[i : i + chunk_size], draws[i : i + chunk_size], strict=True)),
        )
        for i in range(0, len(records), chunk_size)
    ]
    results: Iterator[list[Prepared]]
    if executor is None:
        results = map(prepare_chunk, tasks)
    else:
        futures = [executor.submit(prepare_chunk, t) for t in tasks]
        results = (f.result() for f in futures)
    for chunk in results:
        if key is None:
            chunk = [_sign_here(p, author) for p in chunk]
        yield chunk


def _sign_here(p: Prepared, author: Signer) -> Prepared:
    assert p.event is not None
    signed = p.event.sign(author)
    return Prepared(
        p.record_id, p.sealed, p.digests, signed, None, p.message, leaf_hash(signed.leaf_data())
    )
