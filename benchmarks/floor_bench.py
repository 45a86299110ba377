"""okeios against its complete floor: every figure printed beside the floor and the goal.

A script, not a test. The floor (``benchmarks/floor.py``) is the version 2 work done byte for
byte in one plain loop; before timing anything this script checks, on a sample of the corpus,
that it writes okeios's very rows (``Store.add`` and ``Store.put``) and accepts okeios's
bundles. Then, in one process, it times okeios and the floor interleaved, ``--repeat`` times
each, in CPU time of this process (the machine may be shared: wall time would measure the
neighbours), and prints medians:

1. ingest: ``Store.add``, ``Store.put`` and ``okeios add`` of an NDJSON file (in process), each
   beside the floor with its SQLite rows (``put``'s floor also writes the identity rows);
2. verification: ``verify_many`` with each bundle's record beside the verify floor, and bulk
   verification without the records beside the floor's verification without them;
3. parallel ingest and verification through a process pool and a Dask ``LocalCluster`` of
   ``--workers`` workers: wall time, the CPU split, and the speed-up over serial it gives;
4. what a record costs on disk: bytes per record by table and index (SQLite's ``dbstat``);
5. ``--postgres URL`` (else ``$OKEIOS_TEST_POSTGRES_URL``): ``Store.put`` on PostgreSQL beside
   SQLite, with the server backend's CPU.

Corpus: the shared FHIR R4 examples (``../shared/fhir/r4-examples``, Bundles flattened to their
entries), each resource given a unique id, repeated to ``--count`` resources.

Usage::

    python benchmarks/floor_bench.py                      # 2,000 resources, 3 repeats
    python benchmarks/floor_bench.py --quick              # 600 resources, 1 repeat, no Dask
    python benchmarks/floor_bench.py --count 12000 --json floor.json
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from itertools import count
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import floor
import scale_bench

from okeios._internal.protocol.canonical import canonicalize, parse_json
from okeios._internal.protocol.fhir import fhir_resources
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.publish.store import Store
from okeios._internal.verify.bulk import verify_many
from okeios._internal.verify.policy import TrustPolicy

SHARED = REPO.parent / "shared" / "fhir" / "r4-examples"
KEY = hashlib.sha256(b"okeios floor benchmark publisher").digest()
# The goals; "bulk" (verification without the records, beside its own floor) has
# none of its own there, and is held to the bound of verification with the records.
GOALS = {"add": 1.3, "put": 1.5, "cli": 1.5, "verify": 1.5, "bulk": 1.5}


def corpus(n: int) -> list[bytes]:
    """``n`` FHIR resources from the shared examples, each with an id of its own."""
    base: list[dict[str, Any]] = []
    for path in sorted(SHARED.glob("*.json")):
        try:
            for r in fhir_resources(path.read_bytes()):
                value = parse_json(r) if isinstance(r, bytes) else r
                if isinstance(value, dict) and "resourceType" in value:
                    base.append(value)
        except Exception:  # a few examples are not valid okeios input
            continue
    if not base:
        raise SystemExit(f"no FHIR examples at {SHARED}")
    out: list[bytes] = []
    for i in range(n):
        value = dict(base[i % len(base)])
        value["id"] = f"{str(value.get('id', 'r'))[:40]}-{i}"
        out.append(canonicalize(value))
    return out


def cpu(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.process_time()
    fn()
    return time.process_time() - start


def line(label: str, n: int, seconds: float, floor_s: float | None, goal: float | None) -> str:
    text = f"  {label:<40} {n / seconds:>8,.0f}/s"
    if floor_s is not None:
        ratio = seconds / floor_s
        text += f"   floor {n / floor_s:>8,.0f}/s   {ratio:4.2f}x the floor"
        if goal is not None:
            text += f"   goal <= {goal}x: {'met' if ratio <= goal else 'NOT met'}"
    print(text, flush=True)
    return text


@contextmanager
def tmpdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="okeios-floor-") as tmp:
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="600 resources, 1 repeat, no Dask")
    parser.add_argument("--no-parallel", action="store_true", help="skip section 3")
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.repeat = 600, 1
    records = corpus(args.count)
    n = len(records)
    print(
        f"okeios vs the complete floor: {n:,} FHIR resources ({sum(map(len, records)) / n:,.0f}"
        f" bytes each), CPU time of this process, median of {args.repeat}, load average"
        f" {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    out: dict[str, Any] = {"count": n}
    with tmpdir() as tmp:
        # 0. the floor is checked before it is used
        sample = floor.sample_records(records, 200)
        floor.check_ingest(sample, tmp, identity=False)
        floor.check_ingest(sample, tmp, identity=True)
        print(
            f"  floor checked: the rows of {len(sample)} sampled records are okeios's", flush=True
        )

        names = (
            "add", "put", "cli", "floor_rows", "floor_put", "verify", "bulk", "floor_verify",
            "floor_bulk",
        )  # fmt: skip
        runs: dict[str, list[float]] = {k: [] for k in names}
        ndjson = tmp / "records.ndjson"
        ndjson.write_bytes(b"\n".join(records) + b"\n")
        warm = tmp / "warm.ndjson"
        warm.write_bytes(b"\n".join(records[:100]) + b"\n")
        ingest_round(-1, records[:100], tmp, warm, {k: [] for k in names}).close()  # warm up
        keep: Store | None = None
        for r in range(args.repeat):
            kept = ingest_round(r, records, tmp, ndjson, runs)
            if keep is None:
                keep = kept
            else:
                kept.close()
        assert keep is not None
        bundles = [
            keep.export(to_hex(rid), reveal_all=True).to_bytes() for rid in keep.record_ids()
        ]
        policy = TrustPolicy(authors=[keep.address], publishers=[keep.address])
        floor.check_verify(
            floor.sample_records(bundles, 200), floor.sample_records(records, 200), keep.address
        )
        reports = verify_many(bundles, policy, records=records)
        if not all(
            rep.verdicts[0].passed and rep.verdicts[1].passed and rep.verdicts[2].passed
            for rep in reports
        ):
            raise SystemExit("a bundle failed verification")
        for _ in range(args.repeat):
            runs["verify"].append(cpu(lambda: verify_many(bundles, policy, records=records)))
            runs["floor_verify"].append(cpu(lambda: floor.verify(bundles, records, keep.address)))
            runs["bulk"].append(cpu(lambda: verify_many(bundles, policy)))
            runs["floor_bulk"].append(cpu(lambda: floor.verify(bundles, None, keep.address)))
        med = {k: statistics.median(v) for k, v in runs.items()}
        out["cpu_seconds_median"] = med
        print("\n1. ingest (one core, SQLite)", flush=True)
        line("Store.add", n, med["add"], med["floor_rows"], GOALS["add"])
        line("Store.put (what the service uses)", n, med["put"], med["floor_put"], GOALS["put"])
        line("okeios add FILE.ndjson (in process)", n, med["cli"], med["floor_put"], GOALS["cli"])
        print("\n2. verification (one core)", flush=True)
        line("verify with the record", n, med["verify"], med["floor_verify"], GOALS["verify"])
        line("bulk verify, no record", n, med["bulk"], med["floor_bulk"], GOALS["bulk"])

        if not args.no_parallel:
            print(
                f"\n3. parallel ({args.workers} workers; wall time on a shared machine)", flush=True
            )
            out["parallel"] = parallel(records, bundles, policy, tmp, args, med)

        print("\n4. bytes per record on disk (SQLite, the Store.add store)", flush=True)
        out["bytes"] = db_bytes(keep, n)
        keep.close()

        url = args.postgres or os.environ.get("OKEIOS_TEST_POSTGRES_URL")
        if url:
            print("\n5. PostgreSQL (Store.put, one writer)", flush=True)
            out["postgres"] = postgres(records[: min(n, 1000)], tmp, url, args.repeat)
        else:
            print("\n5. PostgreSQL: skipped (no --postgres URL)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


def ingest_round(
    r: int, records: list[bytes], tmp: Path, ndjson: Path, runs: dict[str, list[float]]
) -> Store:
    """One round of the ingest figures, okeios and floor interleaved; the ``add`` store."""
    from okeios._internal.cli.main import main as cli

    ticks = count(1_800_000_000)

    def clock() -> float:
        return next(ticks)

    def floor_run(name: str, identity: bool) -> float:
        conn = floor.open_floor_db(tmp / f"{name}-{r}.sqlite")
        try:
            return cpu(
                lambda: floor.ingest(
                    records, conn, rng=os.urandom, clock=clock, master=os.urandom(32),
                    private_key=KEY, log=floor.FloorLog(), identity=identity,
                )
            )  # fmt: skip
        finally:
            conn.close()

    added = Store.init(tmp / f"add-{r}", key=KEY, trust=False)
    runs["add"].append(cpu(lambda: added.add(records)))
    runs["floor_rows"].append(floor_run("floor", False))
    put = Store.init(tmp / f"put-{r}", key=KEY, trust=False)
    runs["put"].append(cpu(lambda: put.put(records)))
    put.close()
    runs["floor_put"].append(floor_run("floor-put", True))
    home = tmp / f"cli-{r}"
    Store.init(home, key=KEY, trust=False).close()
    code: list[int] = []

    def run_cli() -> None:
        with open(os.devnull, "w") as sink, _stdout(sink):
            code.append(cli(["add", "--home", str(home), "-q", str(ndjson)]))

    runs["cli"].append(cpu(run_cli))
    logging.getLogger().setLevel(logging.WARNING)  # the command set it up for itself
    if code != [0]:
        raise SystemExit(f"okeios add exited {code}")
    return added


@contextmanager
def _stdout(sink: Any) -> Iterator[None]:
    old = sys.stdout
    sys.stdout = sink
    try:
        yield
    finally:
        sys.stdout = old


def _add_with(executor: Any, where: Path, records: list[bytes], workers: int) -> None:
    """``Store.add`` of ``records`` into a new store beside ``where``, spread over ``executor``."""
    s = Store.init(where.with_name(f"{where.name}-{time.perf_counter_ns()}"), key=KEY, trust=False)
    s.add(records, executor=executor, chunk_size=max(16, len(records) // (8 * workers)))
    s.close()


def parallel(
    records: list[bytes], bundles: list[bytes], policy: TrustPolicy, tmp: Path,
    args: argparse.Namespace, med: dict[str, float],
) -> dict[str, float]:  # fmt: skip
    n = len(records)
    got: dict[str, float] = {}
    with scale_bench.process_pool(args.workers) as pool:
        run = scale_bench.measure(
            lambda: _add_with(pool, tmp / "pool", records, args.workers), args.repeat
        )
        got["pool_add"] = report("Store.add, process pool", n, run, med["add"], args.workers)
        run = scale_bench.measure(
            lambda: verify_many(bundles, policy, records=records, executor=pool), args.repeat
        )
        got["pool_verify"] = report("verify, process pool", n, run, med["verify"], args.workers)
    if args.quick:
        return got
    with scale_bench.dask_executor(args.workers) as dask:
        if dask is None:
            print("  Dask: skipped (distributed is not installed)")
            return got
        verify_many(bundles[:64], policy, records=records[:64], executor=dask)
        run = scale_bench.measure(
            lambda: verify_many(bundles, policy, records=records, executor=dask), args.repeat
        )
        got["dask_verify"] = report(
            "verify, Dask LocalCluster", n, run, med["verify"], args.workers
        )

        run = scale_bench.measure(
            lambda: _add_with(dask, tmp / "dask", records, args.workers), args.repeat
        )
        got["dask_add"] = report("Store.add, Dask LocalCluster", n, run, med["add"], args.workers)
        kids, mine = scale_bench._children_cpu(), time.process_time()
        time.sleep(3)
        idle = (scale_bench._children_cpu() - kids + time.process_time() - mine) / 3
        print(f"  an idle Dask cluster burns {idle * 1e3:.0f} ms of CPU per second", flush=True)
        got["dask_idle_ms_per_s"] = idle * 1e3
    return got


def report(label: str, n: int, run: Any, serial_cpu: float, workers: int) -> float:
    """Print a parallel run: wall rate, the CPU split, the speed-up over serial on idle cores
    the split allows, and the goal (>= 1.8x on 2 workers)."""
    bound = run.bound(serial_cpu, workers)
    print(
        f"  {label:<40} {n / run.wall:>8,.0f}/s wall   caller {run.cpu / n * 1e6:,.0f} us +"
        f" workers {run.workers / n * 1e6:,.0f} us per item: {bound:.2f}x serial on {workers}"
        f" idle cores (goal >= 1.8x: {'met' if bound >= 1.8 else 'NOT met'}); wall"
        f" {serial_cpu / run.wall:.2f}x serial CPU",
        flush=True,
    )
    return bound


def db_bytes(store: Store, n: int) -> dict[str, float]:
    """Bytes per record of each table and index (pages as SQLite stores them)."""
    conn = store.db.conn
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = conn.execute(
        "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
    ).fetchall()
    total = sum(r[1] for r in rows)
    out = {str(name): size / n for name, size in rows}
    print(f"  {total / n:,.0f} B per record in all:", flush=True)
    for name, size in rows:
        if size / total >= 0.005:
            print(f"    {name:<40} {size / n:>8,.0f} B  ({size / total:4.0%})")
    cols = conn.execute(
        "SELECT AVG(length(payload)), AVG(length(data_key) + length(seed)), AVG(length(digests))"
        " FROM versions"
    ).fetchone()
    ev = conn.execute(
        "SELECT AVG(length(message)), AVG(length(signature) + 32 + 32) FROM events"
    ).fetchone()
    print(
        f"    of which: sealed payload {cols[0]:,.0f} B, sealed keys {cols[1]:,.0f} B, field"
        f" digests {cols[2]:,.0f} B; event message JSON {ev[0]:,.0f} B beside {ev[1]:,.0f} B of"
        " ids and signature",
        flush=True,
    )
    out["total"] = total / n
    return out


def postgres(records: list[bytes], tmp: Path, url: str, repeat: int) -> dict[str, float]:
    n = len(records)
    got: dict[str, float] = {}
    for engine in ("sqlite", "postgres"):
        cpus, walls, servers = [], [], []
        for r in range(repeat):
            with scale_bench._schema(url) if engine == "postgres" else _nothing() as db:
                s = Store.init(tmp / f"{engine}-{r}-{time.perf_counter_ns()}", key=KEY, trust=False,
                               database=db)  # fmt: skip
                backend = scale_bench._backend(s) if db else None
                before = scale_bench._cpu_of(backend) if backend else 0.0
                wall = time.perf_counter()
                cpus.append(cpu(lambda s=s: s.put(records)))
                walls.append(time.perf_counter() - wall)
                servers.append((scale_bench._cpu_of(backend) - before) if backend else 0.0)
                s.close()
        c, w, sv = (statistics.median(x) for x in (cpus, walls, servers))
        print(
            f"  {engine:<10} {n / c:>8,.0f}/s CPU of this process, {n / w:>8,.0f}/s wall,"
            f" server backend {sv / n * 1e6:,.0f} us per resource",
            flush=True,
        )
        got[f"{engine}_cpu_per_s"], got[f"{engine}_wall_per_s"] = n / c, n / w
    return got


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        sys.exit(main())
