"""okeios in parallel: ingest and bulk verification, serial against a process pool and a Dask
cluster, each speed-up printed beside the goal (1.8x on 2 workers) and the ideal (2x).

A script, not a test. It makes N synthetic FHIR R4 records, then in one run:

1. **ingest**: ``Store.add`` of all N records into a fresh SQLite store, serially (no
   executor), on a ``concurrent.futures.ProcessPoolExecutor`` of ``--workers`` spawned processes,
   and on a Dask ``distributed.LocalCluster`` of ``--workers`` single-threaded worker processes
   through ``Client.get_executor()`` (skipped with a message if distributed is not installed);
2. **verify**: the N bundles of a store holding the same records (added in four batches, each
   anchored on an in-process eth-tester chain, so most bundles carry an extension; exported with
   every field disclosed), each verified with its record against the chain through a fresh
   ``RegistryView`` per run by ``okeios._internal.verify.bulk.verify_many``, in the same three
   ways;
3. **an idle cluster**: the CPU the Dask cluster (the calling process, which hosts the
   scheduler and the nannies, and the workers) burns in 10 s of doing nothing, with the
   settings ``benchmarks/_common.py`` gives it (``DASK_CONFIG``, documented in docs/bulk.md).

Speed-up is wall time, serial over parallel, best run against best run: on a machine where
nothing else runs it is what a user sees. On a shared machine it measures the neighbours too,
so the script prints the load average before and after (``/proc/loadavg``) and, per mode, the
CPU split: the calling process's CPU per item (it draws the randomness, appends to the log and
database, reads bundle headers, sends chunks and rebuilds results: ingest's serial part) and
the CPU of every process of the run per item (needs psutil, which comes with distributed).
The pool and the cluster are started and warmed up before timing (one small run each); the
runs go round after round, serial, pool, cluster in turn, so that a neighbour's load falls on
every mode alike; the garbage collector runs before every timed run. From the CPU split the
script also prints the speed-up it allows on idle cores (CPU bound), the figure to read when
the machine was not idle. The script checks what it times:
every parallel ingest must write a store byte-identical to the serial one's (same randomness
and clock), and every parallel verify must give reports identical (``to_dict()``) to the
serial run's, every one passing.

Usage::

    python benchmarks/bulk_bench.py                  # 10,000 records, best of 3
    python benchmarks/bulk_bench.py --quick          # 2,000 records, best of 2: a smoke run
    python benchmarks/bulk_bench.py --count 20000 --chunk-size 512 --json bulk.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import importlib
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import dask_executor, process_pool

from okeios._internal.chain.registry import Registry, RegistryView
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.anchors import AnchorEntry
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.ingest import DEFAULT_CHUNK_SIZE
from okeios._internal.publish.store import Store
from okeios._internal.verify.bulk import verify_many
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Report

DEFAULT_COUNT = 10_000
QUICK_COUNT = 2_000
DEFAULT_SEED = 20261124
PUBLISHER_KEY = hashlib.sha256(b"okeios bulk benchmark publisher").digest()
GOAL = 1.8  # speed-up on 2 workers (issue 23)
IDLE_SECONDS = 10


@dataclass
class Corpus:
    records: list[bytes]
    bundles: list[bytes]
    policy: TrustPolicy
    w3: Web3


@dataclass
class Mode:
    """The timed runs of one way of doing one job."""

    job: str
    name: str
    seconds: list[float] = field(default_factory=list)
    caller_cpu: list[float] = field(default_factory=list)
    total_cpu: list[float] = field(default_factory=list)
    skipped: str = ""

    def best(self) -> float:
        return min(self.seconds)

    def to_dict(self, count: int, serial: Mode | None, workers: int) -> dict[str, Any]:
        if self.skipped:
            return {"job": self.job, "name": self.name, "skipped": self.skipped}
        best = self.best()
        return {
            "job": self.job,
            "name": self.name,
            "runs_s": self.seconds,
            "best_s": best,
            "median_s": statistics.median(self.seconds),
            "per_s": count / best,
            "speedup": None if serial is None else serial.best() / best,
            "caller_cpu_us": min(self.caller_cpu) / count * 1e6,
            "total_cpu_us": min(self.total_cpu) / count * 1e6 if self.total_cpu else None,
            "cpu_bound": self.cpu_bound(serial, workers),
        }

    def cpu_bound(self, serial: Mode | None, workers: int) -> float | None:
        """The speed-up the CPU split of the best run allows on ``workers`` idle cores that the
        caller shares with the workers: serial CPU over the larger of the caller's CPU and
        all the CPU of the run per core."""
        if serial is None or not self.total_cpu or not serial.total_cpu:
            return None
        best = self.seconds.index(self.best())
        caller, total = self.caller_cpu[best], self.total_cpu[best]
        serial_cpu = serial.total_cpu[serial.seconds.index(serial.best())]
        return serial_cpu / max(caller, total / workers)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def build(count: int, seed: int, home: Path) -> Corpus:
    """N records, and their N anchored bundles (four anchors: most bundles carry an extension)."""
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
            store.export(to_hex(rid), reveal_all=True).to_bytes() for rid in store.record_ids()
        ]
        policy = TrustPolicy(
            authors=[store.address],
            publishers=[store.address],
            chain_id=registry.chain_id,
            registry=registry.address,
        )
    return Corpus(list(records), bundles, policy, w3)


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


def timed(mode: Mode, run: Callable[[], Any]) -> Any:
    """One timed run of ``run``, its wall time and CPU split added to ``mode``."""
    gc.collect()
    cpu = time.process_time()
    everything = tree_cpu()
    start = time.perf_counter()
    result = run()
    mode.seconds.append(time.perf_counter() - start)
    mode.caller_cpu.append(time.process_time() - cpu)
    if everything is not None:
        after = tree_cpu()
        assert after is not None
        mode.total_cpu.append(after - everything)
    log(f"  [{mode.job}, {mode.name}] {mode.seconds[-1]:.2f} s")
    return result


# -- ingest ------------------------------------------------------------------------------------


def _store(home: Path) -> Store:
    """A store with a seeded randomness and a fixed clock, so that every run writes the same
    bytes whatever the executor."""
    stream = hashlib.sha256(b"okeios bulk benchmark randomness").digest()
    counter = itertools.count()

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(stream + next(counter).to_bytes(8, "big")).digest()
        return out[:n]

    return Store.init(home, key=PUBLISHER_KEY, rng=rng, clock=lambda: 1_800_000_000.0, trust=False)


def _dump(store: Store) -> str:
    """A digest of every row a store keeps about its records and log."""
    h = hashlib.sha256()
    tables = (("events", "idx"), ("versions", "record_id, version"), ("nodes", "level, idx"))
    for table, order in tables:
        for row in store.db.execute(f"SELECT * FROM {table} ORDER BY {order}"):
            h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def ingest_once(
    mode: Mode, records: list[bytes], tmp: Path, executor: Executor | None, chunk: int,
    expected: str | None,
) -> str:  # fmt: skip
    """One timed ``Store.add`` of every record into a fresh store; the digest of its rows,
    checked against ``expected`` (the serial run's) if given."""
    store = _store(tmp / f"ingest-{time.perf_counter_ns()}")
    timed(mode, lambda: store.add(records, executor=executor, chunk_size=chunk))
    digest = _dump(store)
    store.close()
    if expected is not None and digest != expected:
        raise SystemExit(f"{mode.name}: the store differs from the serial run's")
    return digest


def warm_up(corpus: Corpus, tmp: Path, executor: Executor, chunk: int) -> None:
    """The workers run ingest and verify once before the clock starts."""
    with _store(tmp / f"warm-{time.perf_counter_ns()}") as warm:
        warm.add(corpus.records[: 4 * chunk], executor=executor, chunk_size=chunk)
    verify(corpus, executor, chunk, 4 * chunk)


# -- verify ------------------------------------------------------------------------------------


def verify(
    corpus: Corpus, executor: Executor | None, chunk: int, count: int | None = None
) -> list[Report]:
    return verify_many(
        corpus.bundles[:count],
        corpus.policy,
        executor=executor,
        chain=CountedView(corpus.w3),
        records=corpus.records[:count],
        chunk_size=chunk,
    )


def verify_once(
    mode: Mode, corpus: Corpus, executor: Executor | None, chunk: int,
    expected: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One timed ``verify_many`` of every bundle; the reports as dicts, checked to pass and to
    equal ``expected`` (the serial run's) if given."""
    reports = timed(mode, lambda: verify(corpus, executor, chunk))
    result = [r.to_dict() for r in reports]
    failed = sum(1 for r in reports if not r.passed)
    if failed:
        raise SystemExit(f"{mode.name}: {failed} reports failed")
    if expected is not None and result != expected:
        raise SystemExit(f"{mode.name}: the reports differ from the serial run's")
    return result


def idle_cpu(seconds: float) -> float | None:
    """CPU seconds per second this process and its children burn while nothing is asked."""
    before = tree_cpu()
    if before is None:
        return None
    time.sleep(seconds)
    after = tree_cpu()
    assert after is not None
    return (after - before) / seconds


# -- the run -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--count",
        type=int,
        default=DEFAULT_COUNT,
        metavar="N",
        help=f"number of records and bundles (default {DEFAULT_COUNT:,})",
    )
    size.add_argument(
        "--quick",
        action="store_const",
        const=QUICK_COUNT,
        dest="count",
        help=f"a smoke run of {QUICK_COUNT:,} records, best of 2",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=DEFAULT_CHUNK_SIZE,
        help=f"records or bundles per task (default {DEFAULT_CHUNK_SIZE})",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per mode (default 3)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask cluster")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the records")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.count == QUICK_COUNT and "--repeat" not in (argv or sys.argv):
        args.repeat = 2
    if args.count < 4 or args.workers < 1 or args.chunk_size < 1 or args.repeat < 1:
        parser.error("--count must be at least 4; --workers, --chunk-size, --repeat at least 1")

    versions = {"okeios": metadata.version("okeios")}
    for name in ("dask", "distributed"):
        with suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    load_before = loadavg()
    print(
        f"okeios {versions['okeios']} parallel benchmark: {args.count:,} records, chunks of "
        f"{args.chunk_size}, {args.workers} workers, best of {args.repeat}; Python "
        f"{platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; "
        f"load average {load_before}",
        flush=True,
    )
    chunk, repeat = args.chunk_size, args.repeat
    idle: float | None = None
    with tempfile.TemporaryDirectory(prefix="okeios-bulk-") as name:
        tmp = Path(name)
        start = time.perf_counter()
        corpus = build(args.count, args.seed, tmp / "home")
        print(f"built {args.count:,} anchored bundles in {time.perf_counter() - start:.1f} s")

        pool_name = f"process pool ({args.workers})"
        dask_name = f"Dask LocalCluster ({args.workers})"
        modes = [Mode(job, name) for job in ("ingest", "verify")
                 for name in ("serial", pool_name, dask_name)]  # fmt: skip
        by = {(m.job, m.name): m for m in modes}
        serial_ingest, serial_verify = by["ingest", "serial"], by["verify", "serial"]
        with contextlib.ExitStack() as cluster_stack:
            dask: Executor | None = None
            if args.no_dask:
                reason = "--no-dask"
            else:
                dask = cluster_stack.enter_context(dask_executor(args.workers))
                reason = "distributed is not installed"
            if dask is None:
                by["ingest", dask_name].skipped = by["verify", dask_name].skipped = reason
            with process_pool(args.workers) as pool:
                executors: dict[str, Executor | None] = {"serial": None, pool_name: pool}
                if dask is not None:
                    executors[dask_name] = dask
                for executor in (pool, dask):
                    if executor is not None:
                        warm_up(corpus, tmp, executor, chunk)
                # Round after round, each mode in turn: the neighbours' load falls on all alike.
                stored: str | None = None
                for _ in range(repeat):
                    for name, executor in executors.items():
                        digest = ingest_once(
                            by["ingest", name], corpus.records, tmp, executor, chunk, stored
                        )
                        stored = stored or digest
                reports: list[dict[str, Any]] | None = None
                for _ in range(repeat):
                    for name, executor in executors.items():
                        got = verify_once(by["verify", name], corpus, executor, chunk, reports)
                        reports = reports or got
            if dask is not None:  # the pool is gone: only the cluster is left, idle
                log(f"  [Dask] measuring the idle cluster for {IDLE_SECONDS} s")
                idle = idle_cpu(IDLE_SECONDS)

    load_after = loadavg()
    rows = {
        job: [m.to_dict(args.count, serial, args.workers) for m in modes if m.job == job]
        for job, serial in (("ingest", serial_ingest), ("verify", serial_verify))
    }
    print()
    print(
        f"{'':<28} {'best s':>7} {'median':>7} {'per s':>8} {'speed-up':>9}  "
        f"{'goal ' + format(GOAL, '.1f') + 'x':>10} {'ideal':>6}  {'caller CPU':>11} "
        f"{'all CPU':>9} {'CPU bound':>10}"
    )
    for job, job_rows in rows.items():
        what = "Store.add" if job == "ingest" else "verify_many with records, against the chain"
        print(f"{job} ({what}), per item:")
        for row in job_rows:
            if "skipped" in row:
                print(f"  {row['name']:<26} skipped: {row['skipped']}")
                continue
            serial = row["name"] == "serial"
            verdict = "" if serial else ("met" if row["speedup"] >= GOAL else "NOT met")
            ideal = "" if serial else f"{args.workers:.1f}x"
            all_cpu, bound = row["total_cpu_us"], row["cpu_bound"]
            print(
                f"  {row['name']:<26} {row['best_s']:>7.2f} {row['median_s']:>7.2f} "
                f"{row['per_s']:>8,.0f} {row['speedup']:>8.2f}x  {verdict:>10} {ideal:>6}  "
                f"{row['caller_cpu_us']:>8.0f} us "
                + (f"{all_cpu:>6.0f} us" if all_cpu is not None else "      n/a")
                + (f" {bound:>9.2f}x" if bound is not None and not serial else "")
            )
    if idle is not None:
        print(
            f"an idle Dask LocalCluster({args.workers}) burned {idle * 1e3:.0f} ms of CPU per "
            f"second over {IDLE_SECONDS} s (caller and workers, with benchmarks/_common.py's "
            "DASK_CONFIG)"
        )
    print(
        "speed-up: wall time, serial over parallel (best runs); caller CPU: the calling "
        "process; all CPU: every process of the run; CPU bound: the speed-up that CPU split "
        f"allows on {args.workers} otherwise idle cores, serial CPU over the larger of the "
        "caller's CPU and all CPU per core (what to read when the load average is above 0.5)"
    )
    print(f"load average before {load_before}, after {load_after} (1, 5, 15 minutes)")
    print(
        "every parallel ingest wrote the serial store's bytes; every parallel verify gave the "
        "serial reports, all passing"
    )
    if args.json:
        data = {
            "meta": {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "versions": versions,
                "count": args.count,
                "chunk_size": chunk,
                "workers": args.workers,
                "repeat": repeat,
                "seed": args.seed,
                "load_before": load_before,
                "load_after": load_after,
                "goal": GOAL,
            },
            "modes": rows,
            "idle_dask_cpu_ms_per_s": None if idle is None else idle * 1e3,
        }
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
