"""Parallel ingest: ``Store.add`` through an executor writes exactly what a serial run writes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish import ingest
from okeios._internal.publish.store import Store
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.policy import TrustPolicy
from okeios.errors import OkeiosError
from tests.helpers import CountingRng

KEY = bytes(range(1, 33))
RECORDS = synthetic_records(41, seed=5)


def _store(home: Path) -> Store:
    ticks = count(1_800_000_000)
    return Store.init(home, key=KEY, rng=CountingRng(b"ingest"), clock=lambda: next(ticks))


def _dump(store: Store) -> dict[str, Any]:
    """Every byte a store keeps about its records and log."""
    db = store.db
    return {
        "events": [tuple(r) for r in db.execute("SELECT * FROM events ORDER BY idx")],
        "versions": [
            tuple(r) for r in db.execute("SELECT * FROM versions ORDER BY record_id, version")
        ],
        "nodes": [tuple(r) for r in db.execute("SELECT * FROM nodes ORDER BY level, idx")],
        "root": store.tree.root(),
    }


def _serial_by_hand(store: Store) -> None:
    """The one-record-at-a-time path of the publisher (what ``add`` did before batches)."""
    with store.transaction():
        for record in RECORDS:
            store.publisher.create(record)


class WalletSigner:
    """A signer that cannot go to a worker (like a hardware wallet): it signs in the caller."""

    def __init__(self, inner: LocalSigner) -> None:
        self._inner = inner
        self.calls = 0

    @property
    def address(self) -> str:
        return self._inner.address

    def sign_typed_data(self, typed_data: Mapping[str, Any], digest: bytes) -> bytes:
        self.calls += 1
        return self._inner.sign_typed_data(typed_data, digest)

    def __reduce__(self) -> Any:
        raise TypeError("a wallet does not travel")


@pytest.mark.sqlite_only(
    reason="compares the rows of several stores, which would share one PostgreSQL schema"
)
def test_a_process_pool_writes_the_bytes_of_a_serial_run(tmp_path: Path) -> None:
    reference = _store(tmp_path / "by-hand")
    _serial_by_hand(reference)
    expected = _dump(reference)
    serial = _store(tmp_path / "serial")
    serial.add(RECORDS)
    assert _dump(serial) == expected
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        parallel = _store(tmp_path / "pool")
        seen: list[int] = []
        logged = parallel.add(RECORDS, executor=pool, chunk_size=3, progress=seen.append)
    assert _dump(parallel) == expected
    assert sum(seen) == len(RECORDS)
    assert len(seen) == 14
    assert [e.index for e in logged] == list(range(len(RECORDS)))
    policy = TrustPolicy(authors=[parallel.address], publishers=[parallel.address])
    bundle = parallel.export("0x" + logged[7].record_id.hex(), reveal_all=True)
    report = verify_bundle(bundle, policy, record=RECORDS[7])
    assert [v.status.value for v in report.verdicts[:3]] == ["pass", "pass", "pass"]
    for s in (reference, serial, parallel):
        s.close()


@pytest.mark.sqlite_only(
    reason="compares the rows of several stores, which would share one PostgreSQL schema"
)
def test_a_dask_cluster_writes_the_bytes_of_a_serial_run(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    reference = _store(tmp_path / "serial")
    reference.add(RECORDS)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        store = _store(tmp_path / "dask")
        store.add(RECORDS, executor=client.get_executor(), chunk_size=10)
    assert _dump(store) == _dump(reference)
    reference.close()
    store.close()


@pytest.mark.sqlite_only(
    reason="compares the rows of several stores, which would share one PostgreSQL schema"
)
def test_an_author_that_cannot_travel_signs_in_the_caller(tmp_path: Path) -> None:
    reference = _store(tmp_path / "by-hand")
    _serial_by_hand(reference)
    wallet = WalletSigner(LocalSigner.from_key(KEY))
    store = _store(tmp_path / "wallet")
    with ThreadPoolExecutor(2) as pool:
        store.add(RECORDS, executor=pool, chunk_size=4, author=wallet)
    assert wallet.calls == len(RECORDS)
    assert _dump(store) == _dump(reference)
    reference.close()
    store.close()


def test_a_bad_record_in_a_worker_logs_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path / "home")
    store.add(RECORDS[:2])
    before = _dump(store)
    bad = [*RECORDS[2:9], b'{"resourceType": "Observation", "id": "a", "id": "b"}', *RECORDS[9:]]
    with ThreadPoolExecutor(2) as pool, pytest.raises(OkeiosError):
        store.add(bad, executor=pool, chunk_size=2)
    assert _dump(store) == before
    assert store.size == 2
    store.close()


def test_chunk_size_must_be_positive(tmp_path: Path) -> None:
    store = _store(tmp_path / "home")
    with pytest.raises(OkeiosError, match="chunk_size"):
        store.add(RECORDS, chunk_size=0)
    assert store.size == 0
    store.close()


# --- the chunk pipeline -------------------------------------------------------------------------


def _sealer(store: Store) -> Any:
    """What a store seals a new record's data key and seed with (as ``Store.add`` does)."""
    return lambda record_id, key, seed: store.versions.seal_keys(record_id, 1, key, seed)


def _run_pipeline(
    store: Store, records: list[bytes], executor: Any, chunk_size: int, window: int = 3
) -> tuple[list[list[ingest.Prepared]], list[list[ingest.Draw]], list[int]]:
    asked: list[int] = []

    def draw(n: int) -> list[ingest.Draw]:
        asked.append(n)
        return ingest.draw(n, store.rng, store.clock, _sealer(store))

    chunks = list(
        ingest.pipeline(
            records,
            draw,
            log_id=store.log_id,
            author=store.signer,
            executor=executor,
            chunk_size=chunk_size,
            window=window,
        )
    )
    return [c[0] for c in chunks], [c[1] for c in chunks], asked


@pytest.mark.sqlite_only(reason="makes two stores, which would share one PostgreSQL schema")
@pytest.mark.parametrize(("chunk_size", "sizes"), [(1, [1] * 41), (10, [10, 10, 10, 10, 1]),
                                                    (41, [41]), (50, [41])])  # fmt: skip
def test_chunks_keep_their_boundaries_and_order_and_travel_intact(
    tmp_path: Path, chunk_size: int, sizes: list[int]
) -> None:
    """Through an executor (rows pickled and rebuilt) and here (no travel), the pipeline draws
    chunk after chunk in input order and yields the same prepared records, chunk for chunk."""
    serial = _store(tmp_path / "serial")
    here, here_draws, here_asked = _run_pipeline(serial, RECORDS, None, chunk_size)
    travelled = _store(tmp_path / "pool")
    with ThreadPoolExecutor(2) as pool:
        there, there_draws, there_asked = _run_pipeline(travelled, RECORDS, pool, chunk_size)
    assert here_asked == there_asked == sizes
    assert [len(c) for c in there] == [len(c) for c in here] == sizes
    assert there_draws == here_draws
    flat_here = [p for c in here for p in c]
    flat_there = [p for c in there for p in c]
    assert flat_there == flat_here
    for a, b in zip(flat_here, flat_there, strict=True):
        assert a.signed is not None
        assert b.signed is not None
        assert b.signed.event.id == a.signed.event.id  # not compared by Event.__eq__
        assert b.signed.event.message() == a.signed.event.message()
    # in input order: each chunk's records are the ones drawn for it, one after the other
    assert [p.record_id for p in flat_there] == [d.record_id for c in here_draws for d in c]
    serial.close()
    travelled.close()


@pytest.mark.parametrize("executor", ["serial", "threads", "processes"])
def test_a_failing_record_is_named_by_its_position(tmp_path: Path, executor: str) -> None:
    """The error of a bad record in the fourth chunk names record #10, wherever it ran, and
    the chunks before it came out first."""
    bad = [*RECORDS[:10], b'{"resourceType": "Observation", "id": "a", "id": "b"}', *RECORDS[11:]]
    store = _store(tmp_path / "home")
    taken: list[int] = []
    pool: Any = None
    if executor == "threads":
        pool = ThreadPoolExecutor(2)
    elif executor == "processes":
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    try:
        chunks = ingest.pipeline(
            bad,
            lambda n: ingest.draw(n, store.rng, store.clock, _sealer(store)),
            log_id=store.log_id,
            author=store.signer,
            executor=pool,
            chunk_size=3,
            window=2,
        )
        with pytest.raises(OkeiosError) as caught:
            taken.extend(len(prepared) for prepared, _ in chunks)
    finally:
        if pool is not None:
            pool.shutdown()
    assert taken == [3, 3, 3]
    assert "while preparing record #10 of the input" in getattr(caught.value, "__notes__", [])
    store.close()


def test_a_bad_window_or_chunk_size_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path / "home")
    for kwargs in ({"window": 0}, {"chunk_size": 0}):
        with pytest.raises(OkeiosError, match=r"window|chunk_size"):
            next(
                ingest.pipeline(
                    RECORDS,
                    lambda n: [],
                    log_id=store.log_id,
                    author=store.signer,
                    executor=None,
                    **kwargs,
                )
            )
    store.close()
