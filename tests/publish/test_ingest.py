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
