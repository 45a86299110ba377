"""okeios bulk verification: bundles verified per second per core, serial against executors.

A script, not a test. It builds N bundles once (``Store.add`` of N synthetic FHIR R4 records in
four batches, each batch anchored on an in-process eth-tester chain, then ``Store.export`` of
every record), and verifies all of them with their record bytes against the chain through
``okeios._internal.verify.bulk.verify_many``:

1. serially (no executor), in this process;
2. on a ``concurrent.futures.ProcessPoolExecutor`` of ``--workers`` processes (spawned);
3. on a Dask ``distributed.LocalCluster`` of ``--workers`` single-threaded worker processes,
   through ``Client.get_executor()`` (skipped with a message if dask is not installed).

Each mode runs ``--repeat`` times with a fresh ``RegistryView`` (so the chain reads are in every
run); the **best** run is the headline and the median is printed next to it. Executors are
started and warmed up (one small ``verify_many``, so every worker has imported okeios) before
timing: the figures are steady-state throughput, not start-up. The garbage collector is run
before each timed run and left on. Per core is the rate divided by the cores doing the work
(1 serially, ``--workers`` otherwise); the client process also spends CPU (reading bundle
headers, pickling chunks, unpickling reports), printed as client CPU per bundle, next to the
CPU of every process of the run (client and workers; needs psutil) per bundle, and the number
of lookups the chain view answered in a run (the verifier's calls, not RPC requests). The script
checks what it times: every mode must give reports identical (``to_dict()``) to the serial
run's, and every report must pass.

Usage::

    python benchmarks/bulk_bench.py                  # 20,000 bundles
    python benchmarks/bulk_bench.py --quick          # 2,000 bundles: a smoke run
    python benchmarks/bulk_bench.py --count 50000 --chunk-size 512 --json bulk.json
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import itertools
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from okeios._internal.chain.registry import (
    Registry,
    RegistryView,
)
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.anchors import AnchorEntry
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.store import Store
from okeios._internal.verify.bulk import DEFAULT_CHUNK_SIZE, verify_many
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Report

DEFAULT_COUNT = 20_000
QUICK_COUNT = 2_000
DEFAULT_SEED = 20261124
PUBLISHER_KEY = hashlib.sha256(b"okeios bulk benchmark publisher").digest()


@dataclass
class Corpus:
    bundles: list[bytes]
    records: list[bytes | None]
    policy: TrustPolicy
    w3: Web3


@dataclass
class Mode:
    """The timed runs of one way of verifying."""

    name: str
    cores: int
    seconds: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    total_cpu: list[float] = field(default_factory=list)
    lookups: int = 0
    skipped: str = ""

    def best(self) -> float:
        return min(self.seconds)

    def rate(self, count: int) -> float:
        return count / self.best()

    def to_dict(self, count: int, serial_rate: float | None) -> dict[str, Any]:
        if self.skipped:
            return {"name": self.name, "skipped": self.skipped}
        rate = self.rate(count)
        return {
            "name": self.name,
            "cores": self.cores,
            "runs_s": self.seconds,
            "best_s": self.best(),
            "median_s": statistics.median(self.seconds),
            "bundles_per_s": rate,
            "bundles_per_s_per_core": rate / self.cores,
            "speedup": None if serial_rate is None else rate / serial_rate,
            "client_cpu_us_per_bundle": min(self.client_cpu) / count * 1e6,
            "chain_lookups_per_run": self.lookups,
            "total_cpu_us_per_bundle": (
                min(self.total_cpu) / count * 1e6 if self.total_cpu else None
            ),
        }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build(count: int, seed: int, home: Path) -> Corpus:
    """N anchored bundles (four anchors, so most bundles carry an extension) and their records."""
    records: list[bytes] = synthetic_records(count, seed=seed)
    w3 = Web3(EthereumTesterProvider())
    with Store.init(home, key=PUBLISHER_KEY) as store:
        w3.eth.send_transaction(
            {"from": w3.eth.accounts[0], "to": store.address, "value": Web3.to_wei(100, "ether")}
        )
        registry = Registry.deploy(w3, store.signer)
        cuts = [count * k // 4 for k in range(5)]
        for lo, hi in itertools.pairwise(cuts):
            if hi > lo:
                store.add(records[lo:hi])
                if not anchor(store, registry).final:
                    raise SystemExit("the anchor did not become final")
        log(f"  {count:,} records added and anchored; exporting")
        bundles = [
            store.export("0x" + rid.hex(), reveal_all=True).to_bytes() for rid in store.record_ids()
        ]
        policy = TrustPolicy(
            authors=[store.address],
            publishers=[store.address],
            chain_id=registry.chain_id,
            registry=registry.address,
        )
    return Corpus(bundles, list(records), policy, w3)


class CountedView:
    """A fresh RegistryView whose lookups are counted (the verifier's calls, not RPC requests)."""

    def __init__(self, w3: Web3) -> None:
        self.view = RegistryView(w3)
        self.calls = 0

    def chain_id(self) -> int:
        self.calls += 1
        return self.view.chain_id()

    def head(self) -> int:
        self.calls += 1
        return self.view.head()

    def anchor_at(
        self, registry: str, publisher: str, log_id: bytes, tree_size: int
    ) -> AnchorEntry | None:
        self.calls += 1
        return self.view.anchor_at(registry, publisher, log_id, tree_size)

    def latest(self, registry: str, publisher: str, log_id: bytes) -> AnchorEntry | None:
        self.calls += 1
        return self.view.latest(registry, publisher, log_id)


def run_once(
    corpus: Corpus, executor: Executor | None, chunk_size: int, count: int | None = None
) -> tuple[list[Report], int]:
    """The reports, and how many lookups the chain view answered."""
    view = CountedView(corpus.w3)
    reports = verify_many(
        corpus.bundles[:count],
        corpus.policy,
        executor=executor,
        chain=view,
        records=corpus.records[:count],
        chunk_size=chunk_size,
    )
    return reports, view.calls


def tree_cpu() -> float | None:
    """CPU seconds used so far by this process and its children (the pool's or the cluster's
    worker processes), if psutil is installed (it comes with distributed)."""
    try:
        psutil: Any = importlib.import_module("psutil")
    except ImportError:
        return None
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        with suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def time_mode(
    mode: Mode,
    corpus: Corpus,
    executor: Executor | None,
    chunk_size: int,
    repeat: int,
    expected: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    if executor is not None:  # warm up: every worker imports okeios before the clock starts
        run_once(corpus, executor, max(1, chunk_size // 8), count=8 * chunk_size)
    result: list[dict[str, Any]] = []
    for i in range(repeat):
        gc.collect()
        cpu = time.process_time()
        everything = tree_cpu()
        start = time.perf_counter()
        reports, lookups = run_once(corpus, executor, chunk_size)
        mode.seconds.append(time.perf_counter() - start)
        mode.client_cpu.append(time.process_time() - cpu)
        if everything is not None:
            after = tree_cpu()
            assert after is not None
            mode.total_cpu.append(after - everything)
        mode.lookups = lookups
        log(
            f"  [{mode.name}] run {i + 1}/{repeat}: {mode.seconds[-1]:.2f} s, "
            f"{lookups} chain lookups"
        )
        if i == 0:
            result = [r.to_dict() for r in reports]
            failed = sum(1 for r in reports if not r.passed)
            if failed:
                raise SystemExit(f"{mode.name}: {failed} reports failed")
            if expected is not None and result != expected:
                raise SystemExit(f"{mode.name}: the reports differ from the serial run's")
        del reports
    return result


@contextmanager
def process_pool(workers: int) -> Iterator[Executor]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool


@contextmanager
def dask_executor(workers: int) -> Iterator[Executor]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client.get_executor()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--count",
        type=int,
        default=DEFAULT_COUNT,
        metavar="N",
        help=f"number of bundles (default {DEFAULT_COUNT:,})",
    )
    size.add_argument(
        "--quick",
        action="store_const",
        const=QUICK_COUNT,
        dest="count",
        help=f"a smoke run of {QUICK_COUNT:,} bundles",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=DEFAULT_CHUNK_SIZE,
        help=f"bundles per task (default {DEFAULT_CHUNK_SIZE})",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per mode (default 3)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask cluster")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the records")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.count < 4 or args.workers < 1 or args.chunk_size < 1 or args.repeat < 1:
        parser.error("--count must be at least 4; --workers, --chunk-size, --repeat at least 1")

    versions = {"okeios": metadata.version("okeios")}
    for name in ("dask", "distributed"):
        with suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    print(
        f"okeios {versions['okeios']} bulk verification benchmark: {args.count:,} bundles, "
        f"chunks of {args.chunk_size}, {args.workers} workers, best of {args.repeat}; "
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="okeios-bulk-") as tmp:
        start = time.perf_counter()
        corpus = build(args.count, args.seed, Path(tmp) / "home")
        print(f"built {args.count:,} anchored bundles in {time.perf_counter() - start:.1f} s")

        serial = Mode("serial", 1)
        expected = time_mode(serial, corpus, None, args.chunk_size, args.repeat, None)
        modes = [serial]
        executors: list[tuple[str, Callable[[int], AbstractContextManager[Executor]] | str]] = [
            (f"process pool ({args.workers})", process_pool),
            (f"dask LocalCluster ({args.workers})", dask_executor),
        ]
        if args.no_dask:
            executors[1] = (executors[1][0], "--no-dask")
        else:
            try:
                import distributed  # noqa: F401
            except ImportError:
                executors[1] = (executors[1][0], "dask is not installed")
        for name, make in executors:
            mode = Mode(name, args.workers)
            modes.append(mode)
            if isinstance(make, str):
                mode.skipped = make
                continue
            with make(args.workers) as executor:
                time_mode(mode, corpus, executor, args.chunk_size, args.repeat, expected)

    serial_rate = serial.rate(args.count)
    rows = [m.to_dict(args.count, serial_rate) for m in modes]
    print()
    print(
        f"{'mode':<26} {'best s':>8} {'median s':>9} {'bundles/s':>10} {'per core':>9} "
        f"{'speedup':>8} {'client CPU':>11} {'all CPU':>8} {'lookups':>8}"
    )
    for row in rows:
        if "skipped" in row:
            print(f"{row['name']:<26} skipped: {row['skipped']}")
            continue
        print(
            f"{row['name']:<26} {row['best_s']:>8.2f} {row['median_s']:>9.2f} "
            f"{row['bundles_per_s']:>10,.0f} {row['bundles_per_s_per_core']:>9,.0f} "
            f"{row['speedup']:>7.2f}x {row['client_cpu_us_per_bundle']:>8.0f} us "
            f"{row['total_cpu_us_per_bundle'] or float('nan'):>5.0f} us "
            f"{row['chain_lookups_per_run']:>8}"
        )
    print("every mode gave reports identical to the serial run's; every report passed")
    if args.json:
        data = {
            "meta": {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "versions": versions,
                "count": args.count,
                "chunk_size": args.chunk_size,
                "workers": args.workers,
                "repeat": args.repeat,
                "seed": args.seed,
            },
            "modes": rows,
        }
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
