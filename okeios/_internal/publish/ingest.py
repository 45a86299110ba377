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

import collections
import dataclasses
import itertools
import json
import pickle
import uuid
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

from okeios._internal.crypto._common import NONCE_SIZE
from okeios._internal.crypto.payload import (
    new_data_key,
    payload_aad,
    payload_digest,
    seal_payload,
)
from okeios._internal.gcpause import gc_paused
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
    "pipeline",
    "prepare",
    "prepare_chunk",
]

DEFAULT_CHUNK_SIZE = 256
DEFAULT_WINDOW = 8  # chunks drawn and submitted ahead of the append (bounds memory)


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


# --- chunks through an executor ---------------------------------------------------------------
#
# What crosses to a worker is one :class:`_Task` per chunk: the records and per record the five
# values of its draw the worker needs, as plain tuples (a Draw dataclass pickles through its
# generic ``__getstate__``, several times slower). What comes back is one bytes object per chunk:
# the pickle of one plain tuple per record (``_Row``), from which this process rebuilds the
# Prepared records. Dask serializes a returned list item by item and a frozen dataclass through
# ``dataclasses.fields``: both cost more than the work they carry.

_Item = tuple[bytes, bytes, bytes, bytes, int]  # record id, seed, data key, nonce, time
# One prepared record as it travels back: sealed, digests, commitment, ciphertext digest, event
# id, signature (None when the caller signs), message, leaf (empty when the caller signs).
_Row = tuple[bytes, bytes, bytes, bytes, bytes, bytes | None, str, bytes]


@dataclass(frozen=True, slots=True)
class _Task:
    """One chunk for a worker: all of it picklable, none of it the master key."""

    start: int  # the position of the chunk's first record in the input
    log_id: bytes
    author: str
    key: bytes | None  # the author's private key when it may sign in the worker
    records: list[bytes | JSONValue]
    items: list[_Item]
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __dask_tokenize__(self) -> str:
        """Dask names a task by a hash of its arguments, which for a chunk of records costs
        more than pickling it: a chunk is named once, at random."""
        return self.token


def _task(
    start: int,
    records: Sequence[bytes | JSONValue],
    draws: Sequence[Draw],
    log_id: bytes,
    author: str,
    key: bytes | None,
) -> _Task:
    items = [(d.record_id, d.seed, d.data_key, d.nonce, d.time) for d in draws]
    return _Task(start, log_id, author, key, list(records), items)


def _prepare_all(task: _Task) -> list[Prepared]:
    """Prepare a chunk, in order. A record that fails raises with a note naming its position
    in the input."""
    signer = LocalSigner.from_key(task.key) if task.key is not None else None
    out: list[Prepared] = []
    items = enumerate(zip(task.records, task.items, strict=True))
    with gc_paused():  # few cycles, collected after: see okeios/_internal/gcpause.py
        for i, (record, (record_id, seed, data_key, nonce, time)) in items:
            try:
                d = Draw(record_id, seed, data_key, nonce, b"", b"", time)
                out.append(prepare(record, d, task.log_id, task.author, signer))
            except Exception as exc:
                exc.add_note(f"while preparing record #{task.start + i} of the input")
                raise
    return out


def _row(p: Prepared) -> _Row:
    event = p.signed.event if p.signed is not None else p.event
    assert event is not None
    signature = p.signed.signature if p.signed is not None else None
    return (
        p.sealed,
        p.digests,
        event.commitment,
        event.ciphertext_digest,
        event.id,
        signature,
        p.message,
        p.leaf,
    )


def prepare_chunk(task: _Task) -> bytes:
    """A worker's job: prepare a chunk of records, returned as one bytes object (a
    module-level function, so that executors pickle it by reference)."""
    return pickle.dumps([_row(p) for p in _prepare_all(task)], protocol=5)


_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(Event))


def _created(
    log_id: bytes, author: str, d: Draw, commitment: bytes, digest: bytes, event_id: bytes
) -> Event:
    """The CREATE event a worker built, rebuilt here from its parts without checking it
    again (the worker's constructor did, and computed ``event_id``)."""
    values = {
        "kind": EventKind.CREATE,
        "log_id": log_id,
        "record_id": d.record_id,
        "version": 1,
        "previous": ZERO_HASH,
        "commitment": commitment,
        "ciphertext_digest": digest,
        "author": author,
        "time": d.time,
        "sources": (),
        "subject": ZERO_ADDRESS,
        "purpose": "",
        "role": "",
        "not_before": 0,
        "not_after": 0,
        "id": event_id,
    }
    event = object.__new__(Event)
    for name in _EVENT_FIELDS:
        object.__setattr__(event, name, values[name])
    return event


def _rebuild(
    rows: Sequence[_Row], draws: Sequence[Draw], log_id: bytes, author: str
) -> list[Prepared]:
    """The Prepared records of a chunk from the rows a worker sent back."""
    out: list[Prepared] = []
    for (sealed, digests, commitment, digest, event_id, signature, message, leaf), d in zip(
        rows, draws, strict=True
    ):
        event = _created(log_id, author, d, commitment, digest, event_id)
        if signature is None:
            out.append(Prepared(d.record_id, sealed, digests, None, event, message, b""))
        else:
            signed = SignedEvent(event, signature)
            out.append(Prepared(d.record_id, sealed, digests, signed, None, message, leaf))
    return out


def pipeline(
    records: Iterable[bytes | JSONValue],
    draw_chunk: Callable[[int], list[Draw]],
    *,
    log_id: bytes,
    author: Signer,
    executor: Executor | None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    window: int = DEFAULT_WINDOW,
) -> Generator[tuple[list[Prepared], list[Draw]], None, None]:
    """The prepared records with their draws, chunk by chunk and in input order, prepared by
    ``executor`` (else here), every one signed by ``author``.

    ``records`` is read ``chunk_size`` at a time; ``draw_chunk(n)`` draws the randomness of
    the next ``n`` records (:func:`draw`), chunk after chunk in input order, so that the
    random values fall as in a serial run. With an executor, up to ``window`` chunks are drawn
    and submitted ahead of the one the caller is appending, and a new chunk is submitted each
    time one is taken, so the workers never wait for the caller to append a whole batch. A
    record that fails raises its error (with a note naming its position in the input) when its
    chunk's turn comes; the chunks behind it are cancelled.

    The author signs in the workers when it is a
    :class:`~okeios._internal.protocol.signing.LocalSigner`, else here, after they return.
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError("chunk_size must be a positive integer")
    if not isinstance(window, int) or window < 1:
        raise InputError("window must be a positive integer")
    key = author.private_key if isinstance(author, LocalSigner) else None
    address = author.address
    source = iter(records)
    start = 0

    def next_task() -> tuple[_Task, list[Draw]] | None:
        nonlocal start
        chunk = list(itertools.islice(source, chunk_size))
        if not chunk:
            return None
        draws = draw_chunk(len(chunk))
        if len(draws) != len(chunk):
            raise InputError("one draw per record")
        task = _task(start, chunk, draws, log_id, address, key)
        start += len(chunk)
        return task, draws

    def finish(prepared: list[Prepared], draws: list[Draw]) -> tuple[list[Prepared], list[Draw]]:
        if key is None:
            prepared = [_sign_here(p, author) for p in prepared]
        return prepared, draws

    if executor is None:
        while (job := next_task()) is not None:
            yield finish(_prepare_all(job[0]), job[1])
        return
    pending: collections.deque[tuple[Future[bytes], list[Draw]]] = collections.deque()
    try:
        while True:
            while len(pending) < window and (job := next_task()) is not None:
                pending.append((executor.submit(prepare_chunk, job[0]), job[1]))
            if not pending:
                return
            future, draws = pending.popleft()
            rows = pickle.loads(future.result())  # noqa: S301 - from our own workers
            yield finish(_rebuild(rows, draws, log_id, address), draws)
    finally:
        for future, _ in pending:
            future.cancel()


def _sign_here(p: Prepared, author: Signer) -> Prepared:
    assert p.event is not None
    signed = p.event.sign(author)
    return Prepared(
        p.record_id, p.sealed, p.digests, signed, None, p.message, leaf_hash(signed.leaf_data())
    )
