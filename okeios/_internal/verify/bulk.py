"""Bulk verification: many bundles through any :class:`concurrent.futures.Executor`.

:func:`verify_many` verifies bundles in chunks, one task per chunk, on a process pool, a Dask
cluster (``distributed.Client.get_executor()``) or, without an executor, in this process. The
reports come back in input order and are the ones a serial run gives, with one addition only a
batch can make: bundles of one event that disclose conflicting fields all fail
``integrity: equivocation`` (:func:`mark_equivocations`).

Workers never touch a chain. A chain view holds a live connection (a web3 object, or the
embedded chain's file lock) that cannot be pickled or opened twice, so this process reads the
chain facts the bundles need (the chain id, the head block, and per checkpoint the anchor of its
size, the log's latest anchor and the anchor of a carried extension), each fact once, and ships
each chunk with a :class:`ChainSnapshot`: a small, picklable
:class:`~okeios._internal.protocol.anchors.ChainView` holding just the facts that chunk's bundles
ask for. Which facts those are is the verifier's own lookup plan
(:mod:`okeios._internal.verify.chainplan`), run here against a remembering view. See
``docs/bulk.md``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import itertools
import marshal
import pickle
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Executor, Future, wait
from typing import Any, TypeVar

import msgpack

from okeios._internal.gcpause import gc_paused
from okeios._internal.protocol.anchors import AnchorEntry, ChainView
from okeios._internal.protocol.bundle import MAGIC, MAJOR_VERSION, Bundle
from okeios._internal.protocol.commitment import disclosures_conflict
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.signing import checksum_address
from okeios._internal.verify.bundle import Authorities, verify_bundle
from okeios._internal.verify.chainplan import (
    AnchorKey,
    ChainHeader,
    LatestKey,
    LookupPlan,
    plan_lookups,
    read_facts,
)
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Property, Reason, Report, Status, Verdict
from okeios.errors import (
    BundleError,
    ChainError,
    InputError,
    PolicyError,
    RegistryMissingError,
    SnapshotMissError,
)

__all__ = [
    "ChainSnapshot",
    "SnapshotMissError",
    "mark_equivocations",
    "verify_many",
]

DEFAULT_CHUNK_SIZE = 256
DEFAULT_MAX_IN_FLIGHT = 64
_HEADER = MAGIC + bytes([MAJOR_VERSION])

_Fact = AnchorEntry | ChainError | None
_T = TypeVar("_T")
_K = TypeVar("_K", AnchorKey, LatestKey)


def _frozen_error(exc: ChainError) -> ChainError:
    """A plain, picklable copy of a chain error: the verifier only looks at its class
    (registry missing or not) and its message."""
    cls = RegistryMissingError if isinstance(exc, RegistryMissingError) else ChainError
    return cls(str(exc))


def _give(fact: _T | ChainError) -> _T:
    """The fact, or its chain error raised again."""
    if isinstance(fact, ChainError):
        # A copy, so that the stored instance does not collect a traceback per raise.
        raise copy.copy(fact)
    return fact


def _held(facts: Mapping[_K, _Fact], key: _K, what: Callable[[], str]) -> AnchorEntry | None:
    """A snapshot's anchor fact at ``key`` (``(registry, publisher, log_id, ...)``); a
    :class:`SnapshotMissError` naming ``what()`` when it holds none."""
    try:
        fact = facts[key]
    except KeyError:
        registry, publisher = key[0], key[1]
        raise SnapshotMissError(
            f"the snapshot holds no {what()} by {publisher} in {registry}"
        ) from None
    return _give(fact)


class ChainSnapshot:
    """A picklable :class:`~okeios._internal.protocol.anchors.ChainView` answering from pre-fetched
    facts.

    A failed lookup is kept as the :class:`~okeios.errors.ChainError` it raised and raised
    again when asked, so the verdicts are those the live view gave. A fact that is not held
    raises :class:`SnapshotMissError`. Build one with :meth:`capture`, or let
    :func:`verify_many` build one per chunk.
    """

    __slots__ = ("_anchors", "_chain_id", "_head", "_latest")

    def __init__(
        self,
        chain_id: int | ChainError | None,
        head: int | ChainError | None = None,
        anchors: Mapping[AnchorKey, _Fact] | None = None,
        latest: Mapping[LatestKey, _Fact] | None = None,
    ) -> None:
        self._chain_id = chain_id
        self._head = head
        self._anchors: dict[AnchorKey, _Fact] = dict(anchors or {})
        self._latest: dict[LatestKey, _Fact] = dict(latest or {})

    @classmethod
    def capture(
        cls, chain: ChainView, policy: TrustPolicy, bundles: Iterable[bytes | Bundle]
    ) -> ChainSnapshot:
        """Read from ``chain`` every fact that verifying ``bundles`` under ``policy`` needs,
        each once. Bundles that do not decode are skipped (verifying them raises anyway)."""
        prefetch = _Prefetcher(chain, policy)
        return prefetch.snapshot([_header(b) for b in bundles])

    # -- the ChainView protocol ------------------------------------------------------------

    def chain_id(self) -> int:
        if self._chain_id is None:
            raise SnapshotMissError("the snapshot holds no chain id")
        return _give(self._chain_id)

    def head(self) -> int:
        if self._head is None:
            raise SnapshotMissError("the snapshot holds no head block")
        return _give(self._head)

    def anchor_at(
        self, registry: str, publisher: str, log_id: bytes, tree_size: int
    ) -> AnchorEntry | None:
        return _held(
            self._anchors,
            (registry, publisher, log_id, tree_size),
            lambda: f"anchor of size {tree_size} of log {to_hex(log_id)}",
        )

    def latest(self, registry: str, publisher: str, log_id: bytes) -> AnchorEntry | None:
        return _held(
            self._latest,
            (registry, publisher, log_id),
            lambda: f"latest anchor of log {to_hex(log_id)}",
        )

    # -- value semantics -------------------------------------------------------------------

    def __len__(self) -> int:
        """The number of anchor facts held."""
        return len(self._anchors) + len(self._latest)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChainSnapshot):
            return NotImplemented
        return self.__reduce__()[1] == other.__reduce__()[1]

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (ChainSnapshot, (self._chain_id, self._head, self._anchors, self._latest))

    def __repr__(self) -> str:
        return (
            f"ChainSnapshot(chain_id={self._chain_id!r}, head={self._head!r}, "
            f"{len(self._anchors)} anchors, {len(self._latest)} latest)"
        )


# --- reading what each bundle will ask the chain ----------------------------------------------


@functools.lru_cache(maxsize=4096)
def _checksum(raw: bytes) -> str:
    return checksum_address(raw)


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _quick_header(data: bytes) -> ChainHeader | None:
    """The header from the binary form without building the bundle (a msgpack read of the
    checkpoint and the anchor reference only, stepping over the rest: about 50 times cheaper
    than a full decode), or None if anything looks unusual."""
    if data[: len(_HEADER)] != _HEADER:
        return None
    reader = msgpack.Unpacker(raw=False, use_list=True, strict_map_key=True)
    reader.feed(memoryview(data)[len(_HEADER) :])
    raw: dict[str, Any] = {}
    for _ in range(reader.read_map_header()):
        key = reader.unpack()
        if key in ("checkpoint", "anchor"):
            raw[key] = reader.unpack()  # a repeated key: the last one, as a dict keeps it
        else:
            reader.skip()
    cp = raw["checkpoint"]
    log_id, size, publisher = cp["logId"], cp["treeSize"], cp["publisher"]
    if not (
        isinstance(log_id, bytes)
        and len(log_id) == 32
        and _is_uint(size)
        and isinstance(publisher, bytes)
        and len(publisher) == 20
    ):
        return None
    anchor = raw["anchor"]
    if anchor is None:
        return ChainHeader(_checksum(publisher), log_id, size, None, b"", None)
    chain_id, registry, ext = anchor["chainId"], anchor["registry"], anchor["extension"]
    if not (_is_uint(chain_id) and isinstance(registry, bytes)):
        return None
    ext_size = None
    if ext is not None:
        ext_size = ext["treeSize"]
        if not _is_uint(ext_size):
            return None
    return ChainHeader(_checksum(publisher), log_id, size, chain_id, registry, ext_size)


def _header(data: bytes | Bundle) -> ChainHeader | None:
    """The header of a bundle, or None if it does not decode (verifying it will raise)."""
    if not isinstance(data, Bundle):
        try:
            quick = _quick_header(bytes(data))
        except Exception:  # anything odd: let the full decoder judge
            quick = None
        if quick is not None:
            return quick
        try:
            data = Bundle.load(bytes(data))
        except (BundleError, TypeError):
            return None
    return ChainHeader.of(data)


class _Prefetcher:
    """A :class:`~okeios._internal.protocol.anchors.ChainView` in front of the caller's: each fact
    is read from it once for the whole call and kept (a failed lookup as its error), and every
    fact asked for since :meth:`snapshot` last ran is noted, to ship as the next chunk's
    :class:`ChainSnapshot`.

    Which facts a bundle needs is not worked out here: :meth:`snapshot` runs the verifier's
    own :func:`~okeios._internal.verify.chainplan.read_facts` for each distinct header against this
    view.
    """

    def __init__(self, chain: ChainView, policy: TrustPolicy) -> None:
        if policy.chain_id is None or policy.registry is None:
            raise PolicyError("checking against a chain needs the chain id and registry pinned")
        self.chain = chain
        self.policy = policy
        self._chain_id: int | ChainError | None = None
        self._head: int | ChainError | None = None
        self._anchors: dict[AnchorKey, _Fact] = {}
        self._latest: dict[LatestKey, _Fact] = {}
        self._plans: dict[ChainHeader, LookupPlan] = {}
        self._asked_chain_id = self._asked_head = False
        self._asked_anchors: dict[AnchorKey, _Fact] = {}
        self._asked_latest: dict[LatestKey, _Fact] = {}

    @staticmethod
    def _fetch(read: Callable[[], _T]) -> _T | ChainError:
        try:
            return read()
        except ChainError as exc:
            return _frozen_error(exc)

    # -- the ChainView protocol, remembering -----------------------------------------------

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self._fetch(self.chain.chain_id)
        self._asked_chain_id = True
        return _give(self._chain_id)

    def head(self) -> int:
        if self._head is None:
            self._head = self._fetch(self.chain.head)
        self._asked_head = True
        return _give(self._head)

    def anchor_at(
        self, registry: str, publisher: str, log_id: bytes, tree_size: int
    ) -> AnchorEntry | None:
        key = (registry, publisher, log_id, tree_size)
        return self._remember(
            self._anchors, self._asked_anchors, key, lambda: self.chain.anchor_at(*key)
        )

    def latest(self, registry: str, publisher: str, log_id: bytes) -> AnchorEntry | None:
        key = (registry, publisher, log_id)
        return self._remember(
            self._latest, self._asked_latest, key, lambda: self.chain.latest(*key)
        )

    def _remember(
        self,
        facts: dict[_K, _Fact],
        asked: dict[_K, _Fact],
        key: _K,
        read: Callable[[], AnchorEntry | None],
    ) -> AnchorEntry | None:
        """The anchor fact at ``key``, read from the chain the first time, noted as asked."""
        if key not in facts:
            facts[key] = self._fetch(read)
        fact = asked[key] = facts[key]
        return _give(fact)

    # -- snapshots -------------------------------------------------------------------------

    def snapshot(self, headers: Iterable[ChainHeader | None]) -> ChainSnapshot:
        """The facts the bundles with these headers need (and only those), fetched if new:
        the lookups :func:`~okeios._internal.verify.chainplan.read_facts` makes for each header's
        plan, in the verifier's order, stopping where the verifier stops."""
        for h in dict.fromkeys(headers):  # bundles of one checkpoint share one header
            if h is None:
                continue  # it does not decode: verifying it raises before any lookup
            plan = self._plans.get(h)
            if plan is None:
                plan = self._plans[h] = plan_lookups(h, self.policy)
            with contextlib.suppress(ChainError):  # kept as the fact; the worker raises it
                read_facts(plan, self)
        snapshot = ChainSnapshot(
            self._chain_id if self._asked_chain_id else None,
            self._head if self._asked_head else None,
            self._asked_anchors,
            self._asked_latest,
        )
        self._asked_chain_id = self._asked_head = False
        self._asked_anchors, self._asked_latest = {}, {}
        return snapshot


# --- the work ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Task:
    """One chunk: what a worker needs, all of it picklable."""

    start: int
    bundles: list[bytes]
    records: list[bytes | None] | None
    ciphertexts: list[bytes | None] | None
    policy: TrustPolicy
    chain: ChainSnapshot | None
    version: str
    token: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    authorities: Authorities = None

    def __dask_tokenize__(self) -> str:
        """Dask names a task by a hash of its arguments, which for a chunk of bundles costs
        more (about 30 us a bundle) than pickling it: a chunk is named once, at random."""
        return self.token


# A chunk's reports travel back as one bytes object: the marshal (format 4, readable by every
# Python 3) of a list of plain tuples, one per report, enums as their string values. Pickling a
# Report itself (a frozen, slotted dataclass of enums) costs about 45 us in the worker and 13 us
# here; pickling its tuple about 17 us and 7 us; marshalling it about 4.5 us and 6 us (rebuilding
# the Report is 4 us more here). One bytes object rather than a list: Dask serializes a returned
# list item by item, which cost about 100 us of client CPU a report when measured. Should a
# report hold something marshal cannot write (a str subclass, say), the chunk goes as a pickle
# instead: the first byte says which.
_REPORT_FIELDS = (
    "event_id",
    "record_id",
    "kind",
    "author",
    "publisher",
    "tree_size",
    "verdicts",
    "disclosed",
    "anchored_block",
    "anchored_time",
    "required",
    "disclosed_paths",
)
_VERDICT_FIELDS = ("property", "status", "reason", "detail")
# If verify.py changes either dataclass, reports travel as themselves (slower, still right).
_COMPACT = (
    tuple(f.name for f in dataclasses.fields(Report)) == _REPORT_FIELDS
    and tuple(f.name for f in dataclasses.fields(Verdict)) == _VERDICT_FIELDS
)
_PROPERTIES = {m.value: m for m in Property}
_STATUSES = {m.value: m for m in Status}
_REASONS: dict[str | None, Reason | None] = {m.value: m for m in Reason}
_REASONS[None] = None

_Packed = tuple[Any, ...]


def _pack(r: Report) -> _Packed:
    return (
        r.event_id,
        r.record_id,
        r.kind,
        r.author,
        r.publisher,
        r.tree_size,
        tuple(
            (
                v.property.value,
                v.status.value,
                None if v.reason is None else v.reason.value,
                v.detail,
            )
            for v in r.verdicts
        ),
        r.disclosed,
        r.anchored_block,
        r.anchored_time,
        tuple(sorted(p.value for p in r.required)),
        r.disclosed_paths,
    )


@functools.lru_cache(maxsize=64)
def _required(values: tuple[str, ...]) -> frozenset[Property]:
    """The required properties of a report (a few distinct sets in a whole run: one each)."""
    return frozenset(_PROPERTIES[v] for v in values)


_PackedVerdict = tuple[str, str, str | None, str]


def _verdict(v: _PackedVerdict) -> Verdict:
    prop, status, reason, detail = v
    return Verdict(_PROPERTIES[prop], _STATUSES[status], _REASONS[reason], detail)


def _unpack(p: _Packed | Report, seen: dict[_PackedVerdict, Verdict] | None = None) -> Report:
    """The report a packed tuple stands for. ``seen`` (one per chunk) shares the verdicts that
    recur from report to report (a verdict is immutable): most do, and building one costs more
    than finding it."""
    if isinstance(p, Report):
        return p
    if seen is None:
        seen = {}
    (
        event_id,
        record_id,
        kind,
        author,
        publisher,
        tree_size,
        verdicts,
        disclosed,
        block,
        when,
        required,
        paths,
    ) = p
    return Report(
        event_id,
        record_id,
        kind,
        author,
        publisher,
        tree_size,
        tuple(seen[v] if v in seen else seen.setdefault(v, _verdict(v)) for v in verdicts),
        disclosed,
        block,
        when,
        _required(required),
        paths,
    )


def _verify(task: _Task) -> list[Report]:
    out: list[Report] = []
    with gc_paused():  # few cycles, collected after: see okeios/_internal/gcpause.py
        for i, data in enumerate(task.bundles):
            try:
                out.append(
                    verify_bundle(
                        data,
                        task.policy,
                        record=None if task.records is None else task.records[i],
                        chain=task.chain,
                        ciphertext=None if task.ciphertexts is None else task.ciphertexts[i],
                        authorities=task.authorities,
                    )
                )
            except Exception as exc:
                exc.add_note(f"while verifying bundle #{task.start + i} of the input")
                raise
    return out


_MARSHAL, _PICKLE = b"m", b"p"


def _encode(reports: list[Report]) -> bytes:
    if _COMPACT:
        packed = [_pack(r) for r in reports]
        try:
            return _MARSHAL + marshal.dumps(packed, 4)
        except ValueError:  # something marshal does not write: pickle it
            return _PICKLE + pickle.dumps(packed, protocol=5)
    return _PICKLE + pickle.dumps(reports, protocol=5)


def _decode(blob: bytes) -> list[Report]:
    kind, body = blob[:1], memoryview(blob)[1:]
    if kind == _MARSHAL:
        values = marshal.loads(body)  # noqa: S302 - from our own workers
    elif kind == _PICKLE:
        values = pickle.loads(body)  # noqa: S301 - from our own workers
    else:
        raise RuntimeError("a chunk of reports in an unknown form: the same okeios everywhere?")
    seen: dict[_PackedVerdict, Verdict] = {}
    return [_unpack(p, seen) for p in values]


def _verify_chunk(task: _Task) -> bytes:
    """Verify one chunk on a worker (module level, so that executors pickle it by reference)."""
    from okeios import __version__

    if task.version != __version__:
        raise RuntimeError(
            f"okeios {__version__} on this worker, {task.version} on the client: install the "
            "same okeios version on every worker"
        )
    reports = _verify(task)
    return _encode(reports)


def _as_bytes(value: bytes | bytearray | memoryview | Bundle) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, Bundle):
        return value.to_bytes()
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise InputError(f"a bundle is bytes, got {type(value).__name__}")


def _tasks(
    bundles: Iterable[bytes],
    policy: TrustPolicy,
    chain: ChainView | None,
    records: Iterable[bytes | None] | None,
    ciphertexts: Iterable[bytes | None] | None,
    chunk_size: int,
    authorities: Authorities = None,
) -> Iterator[_Task]:
    from okeios import __version__

    prefetch = None if chain is None else _Prefetcher(chain, policy)
    streams: list[Iterable[Any]] = [bundles]
    if records is not None:
        streams.append(records)
    if ciphertexts is not None:
        streams.append(ciphertexts)
    rows = zip(*streams, strict=True)
    start = 0
    while True:
        try:
            chunk = list(itertools.islice(rows, chunk_size))
        except ValueError as exc:
            if not str(exc).startswith("zip()"):  # not zip(strict=True): the caller's own
                raise
            raise InputError(f"give as many records and ciphertexts as bundles ({exc})") from exc
        if not chunk:
            return
        data = [_as_bytes(row[0]) for row in chunk]
        column = 1
        recs = cts = None
        if records is not None:
            recs = [row[column] for row in chunk]
            column += 1
        if ciphertexts is not None:
            cts = [row[column] for row in chunk]
        snapshot = None if prefetch is None else prefetch.snapshot(_header(b) for b in data)
        yield _Task(start, data, recs, cts, policy, snapshot, __version__, authorities=authorities)
        start += len(chunk)


def verify_many(
    bundles: Iterable[bytes],
    policy: TrustPolicy,
    *,
    executor: Executor | None = None,
    chain: ChainView | None = None,
    records: Iterable[bytes | None] | None = None,
    ciphertexts: Iterable[bytes | None] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    authorities: Authorities = None,
) -> list[Report]:
    """Verify many encoded bundles; return their reports in input order.

    ``authorities`` is the authorisation state of the logs of pinned organisations
    (``docs/identity.md``), computed once by the caller and shipped with every chunk.

    Each bundle is verified as :func:`~okeios._internal.verify.bundle.verify_bundle` would, with
    the matching item of ``records`` and ``ciphertexts`` (iterables as long as ``bundles``; None
    items are allowed), against ``chain`` if one is given. Work goes to ``executor`` in chunks of
    ``chunk_size`` bundles, one task each, at most ``max_in_flight`` tasks queued at once;
    without an executor it runs here, the same way. ``progress`` is called in this process
    with the number of bundles just verified, as chunks finish.

    The chain is read here, never by the workers, once per fact (see :class:`ChainSnapshot`);
    a lookup that fails is not retried within the call. A bundle that does not decode raises
    as :func:`~okeios._internal.verify.bundle.verify_bundle` does: the error of the first such
    bundle in input order, with a note naming its position, after the work in flight has stopped.
    """
    if not isinstance(policy, TrustPolicy):
        raise PolicyError("verify_many needs a TrustPolicy")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not isinstance(max_in_flight, int) or max_in_flight < 1:
        raise InputError(f"max_in_flight must be a positive integer, got {max_in_flight!r}")
    tasks = _tasks(bundles, policy, chain, records, ciphertexts, chunk_size, authorities)
    if executor is None:
        out: list[Report] = []
        for task in tasks:
            reports = _verify(task)
            out.extend(reports)
            if progress is not None:
                progress(len(reports))
        return mark_equivocations(out)
    return mark_equivocations(_run(executor, tasks, progress, max_in_flight))


def mark_equivocations(reports: Sequence[Report]) -> list[Report]:
    """``reports`` with every bundle that meets a conflicting bundle of the same event failed
    ``integrity: equivocation``.

    One signed commitment can hide two digests for one path (``docs/commitments.md``): each
    partial disclosure passes alone. Wherever two disclosures of one event meet, they must open
    it to one document (:func:`~okeios._internal.protocol.commitment.disclosures_conflict`): the
    same value at each path, and paths that fit in one document. Only bundles whose integrity and
    authenticity passed are compared (the others are failed already, and their fields are not
    the author's). Reports are otherwise returned unchanged, in order."""
    out = list(reports)
    by_event: dict[bytes, list[int]] = {}
    for i, r in enumerate(out):
        if all(
            v.passed
            for v in r.verdicts
            if v.property in (Property.INTEGRITY, Property.AUTHENTICITY)
        ):
            by_event.setdefault(r.event_id, []).append(i)
    for event_id, indices in by_event.items():
        if len(indices) < 2:
            continue
        conflict = disclosures_conflict(
            zip(out[i].disclosed_paths, (value for _, value in out[i].disclosed), strict=True)
            for i in indices
        )
        if conflict is None:
            continue
        detail = (
            f"{len(indices)} bundles of the event {to_hex(event_id)} in this batch disagree: "
            f"{conflict}; its author committed to two documents"
        )
        for i in indices:
            verdicts = tuple(
                Verdict(Property.INTEGRITY, Status.FAIL, Reason.EQUIVOCATION, detail)
                if v.property is Property.INTEGRITY
                else v
                for v in out[i].verdicts
            )
            out[i] = dataclasses.replace(out[i], verdicts=verdicts)
    return out


def _run(
    executor: Executor,
    tasks: Iterator[_Task],
    progress: Callable[[int], None] | None,
    max_in_flight: int,
) -> list[Report]:
    results: dict[int, list[Report]] = {}
    pending: dict[Future[bytes], int] = {}
    failure: tuple[int, BaseException] | None = None
    exhausted = False
    try:
        while True:
            while not exhausted and failure is None and len(pending) < max_in_flight:
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    break
                pending[executor.submit(_verify_chunk, task)] = task.start
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                start = pending.pop(future)
                try:
                    reports = _decode(future.result())
                except CancelledError:
                    continue
                except BaseException as exc:
                    # Keep the first failure in input order; later chunks no longer matter.
                    if failure is None or start < failure[0]:
                        failure = (start, exc)
                    for other, other_start in list(pending.items()):
                        # Drop what was cancelled: some executors (Dask's) never notify
                        # waiters of a cancelled future, so waiting on it would hang.
                        if other_start > start and other.cancel():
                            del pending[other]
                    continue
                results[start] = reports
                if progress is not None:
                    progress(len(reports))
    finally:
        for future in pending:
            future.cancel()
    if failure is not None:
        raise failure[1]
    return [report for start in sorted(results) for report in results[start]]
