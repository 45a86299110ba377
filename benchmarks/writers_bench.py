"""Many writers on one store, SQLite beside PostgreSQL, in one run: resources per second, the
latency of each add, where PostgreSQL writers wait, and that nothing acknowledged was lost.

A script, not a test. For each engine it creates a store and runs at once, for ``--seconds``:

* ``--cli`` writers, each running ``okeios add CHUNK.ndjson --json`` again and again, a new
  NDJSON file of ``--batch`` resources each time (a process per add, as a shell loop does);
* ``--services`` writers, each holding the store open (:class:`okeios.service.Okeios`) and
  calling ``add`` with ``--batch`` resources again and again;
* one anchoring loop, a service anchoring the log on an Anvil node every ``--anchor-every``
  seconds (the Anvil of the pinned tools, ``scripts/install-tools``; without it, no anchoring
  loop and the run says so);
* one reader, listing the latest records, showing one and exporting and verifying another.

The resources are generated in Synthea's shape (``scale_bench.mix``: Patients, Encounters,
Claims, Observations, Conditions; 0.8 KB each), new to the store each time.

It prints, per engine: resources created per second (wall), the p50 and p95 latency of one add
of each kind of writer (an ``okeios add`` includes its process start), the anchors and reads
done, and the check that nothing was lost: every add a writer was told succeeded is in the log
(its event at an index of the stored tree, whose root is recomputed from the events in log
order) and the store holds no event no writer was told of. On PostgreSQL it also samples the
server's ``pg_stat_activity`` while the writers run: how often a writer waits for the write lock,
how often the lock's holder is the server waiting for its client (a round trip inside the lock)
and how often it is the server working or flushing its WAL; and the writers count their round
trips to the server and time the lock (from the answer that grants it to the commit's). Then the
two engines side by side against the goal (PostgreSQL at least as fast as SQLite).

PostgreSQL needs ``--postgres URL`` (else ``$OKEIOS_TEST_POSTGRES_URL``); a throwaway server:
``scripts/postgres start DIR`` prints its URL, ``scripts/postgres stop DIR`` removes it.

Usage::

    python benchmarks/writers_bench.py --postgres URL                 # 30 s per engine
    python benchmarks/writers_bench.py --postgres URL --seconds 160   # the figure of issue 23
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from okeios._internal.protocol.hexcodec import to_hex

GOAL = "PostgreSQL >= SQLite in resources/s, nothing lost on either"


# -- the resources ------------------------------------------------------------------------------


def _resources(seed: int) -> Iterator[bytes]:
    """An endless stream of new Synthea-shaped resources (each writer its own seed)."""
    from scale_bench import mix

    for round_ in itertools.count():
        yield from mix(200, seed=seed * 1_000_003 + round_)


# -- instrumentation of one writer process -------------------------------------------------------


class _Timed:
    """Around a store's connection: times the write lock (from the answer that grants it to
    the commit's) and counts round trips to a PostgreSQL server inside it."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.held: list[float] = []
        self.trips: list[int] = []
        self._start: float | None = None
        self._trips0 = 0
        self._calls = 0  # statements sent, for a connection that does not count round trips
        self._server = hasattr(conn, "lock_key")  # PostgreSQL (SQLite has no round trips)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def _round_trips(self) -> int:
        if not self._server:
            return 0
        return int(getattr(self._conn, "round_trips", self._calls))

    def execute(self, sql: str, args: Any = ()) -> Any:
        word = sql.lstrip()[:6].upper()
        self._calls += 2 if word.startswith("BEGIN") else 1
        if word.startswith("BEGIN"):
            out = self._conn.execute(sql, args)
            self._start, self._trips0 = time.perf_counter(), self._round_trips()
            return out
        if word == "COMMIT":
            out = self._conn.execute(sql, args)
            granted = getattr(self._conn, "lock_granted", None)  # PostgreSQL: when it came
            start = granted if granted is not None else self._start
            if start is not None:
                self.held.append(time.perf_counter() - start)
                self.trips.append(self._round_trips() - self._trips0)
            self._start = None
            return out
        return self._conn.execute(sql, args)

    def executemany(self, sql: str, seq: Any) -> Any:
        self._calls += 1
        return self._conn.executemany(sql, seq)


def _instrument(store: Any) -> _Timed:
    timed = _Timed(store.db.conn)
    store.db.conn = timed
    return timed


def _lock_figures(timed: _Timed) -> dict[str, Any]:  # the lock as one service add saw it
    return {"held": timed.held, "trips": timed.trips}


# -- the processes ------------------------------------------------------------------------------


def cli_writer(home: str, n: int, batch: int, seconds: float, folder: str, out: Any) -> None:
    """``okeios add`` of a new NDJSON file, again and again."""
    latencies: list[float] = []
    acked: list[tuple[str, str]] = []
    errors: list[str] = []
    source = _resources(1000 + n)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OKEIOS_HOME": home, "PGAPPNAME": "writer"}
    path = Path(folder) / f"cli{n}.ndjson"
    began = time.time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        path.write_bytes(b"\n".join(itertools.islice(source, batch)) + b"\n")
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "okeios", "add", "--json", str(path)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            errors.append(done.stderr.strip()[-500:])
            continue
        latencies.append(elapsed)
        for row in json.loads(done.stdout)["results"]:
            if row["status"] == "created":
                acked.append((row["record"], row["event"]))
    window = (began, time.time())
    out.put(
        {"kind": "cli", "latencies": latencies, "acked": acked, "errors": errors, "window": window}
    )


def service_writer(home: str, n: int, batch: int, seconds: float, out: Any) -> None:
    """A service holding the store open, adding ``batch`` resources per call."""
    from okeios.service import Okeios

    latencies: list[float] = []
    acked: list[tuple[str, str]] = []
    errors: list[str] = []
    source = _resources(n)
    os.environ["PGAPPNAME"] = "writer"  # what the sampler counts (libpq reads it)
    with Okeios.open(home) as ok:
        timed = _instrument(ok.store)
        began = time.time()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            chunk = list(itertools.islice(source, batch))
            start = time.perf_counter()
            try:
                results = ok.add(chunk)
            except Exception as exc:  # a failed add is reported, not counted
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append(time.perf_counter() - start)
            for r in results:
                if r.status == "created" and r.event is not None:
                    acked.append((to_hex(r.record_id), to_hex(r.event.id)))
        lock = _lock_figures(timed)
        lock["window"] = (began, time.time())
    out.put({"kind": "service", "latencies": latencies, "acked": acked, "errors": errors, **lock})


def anchorer(home: str, chain: str, registry: str, every: float, seconds: float, out: Any) -> None:
    """A service anchoring the log every ``every`` seconds."""
    from okeios.service import Okeios

    anchors, errors, sizes = 0, [], []
    with Okeios.open(home) as ok:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            tick = time.monotonic()
            if ok.store.size:
                try:
                    result = ok.anchor(chain, registry=registry, timeout=30)
                    anchors += int(result.final)
                    sizes.append(result.tree_size)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
            pause = min(every - (time.monotonic() - tick), deadline - time.monotonic())
            time.sleep(max(0.0, pause))
    out.put({"kind": "anchor", "anchors": anchors, "sizes": sizes, "errors": errors})


def reader(home: str, seconds: float, out: Any) -> None:
    """Lists the latest records, shows one, exports and verifies another, again and again."""
    from okeios._internal.verify.bundle import verify_bundle
    from okeios.service import Okeios

    reads, errors = 0, []
    with Okeios.open(home) as ok:
        store = ok.store
        policy = ok.policy()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                rows = store.records(limit=10, after=max(0, store.size - 40) or None)
                if rows:
                    store.show(to_hex(rows[0].record_id))
                    bundle = store.export(to_hex(rows[-1].record_id))
                    if not verify_bundle(bundle, policy).passed:
                        errors.append("a bundle failed to verify")
                    reads += 1
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.05)
    out.put({"kind": "reader", "reads": reads, "errors": errors})


# -- PostgreSQL: where the server's backends are -------------------------------------------------


class _Sampler:
    """Samples ``pg_stat_activity`` every ``period`` seconds while the writers run: the
    backends of the writers (``okeios add`` and services), by what they do."""

    def __init__(self, url: str, period: float = 0.1) -> None:
        self.url, self.period = url, period
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self.busy = 0  # samples in which some backend held the write lock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(self.period):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = 'writer'"
                ).fetchall()
                self.samples += 1
                held = False
                for state, wtype, wevent in rows:
                    what = _classify(state, wtype, wevent)
                    self.counts[what] += 1
                    held = held or what.startswith("holding")
                self.busy += held


def _classify(state: str | None, wtype: str | None, wevent: str | None) -> str:
    if wtype == "Lock" and wevent == "advisory":
        return "waiting for the write lock"
    if state == "idle in transaction":
        return "holding the lock, waiting for its client"
    if state == "active" and wtype == "IO" and wevent in ("WalSync", "WALSync", "WalWrite"):
        return "holding the lock, flushing the WAL"
    if state == "active" and wtype in ("LWLock", "IO") and wevent and "WAL" in wevent.upper():
        return "holding the lock, flushing the WAL"
    if state == "active":
        return "holding the lock, working"
    return "idle (the writer prepares, starts or waits for a CPU)"


def _server_cpu(url: str) -> float:
    """CPU seconds the PostgreSQL server used so far: its postmaster, the children it reaped
    (the backends of connections closed) and the live ones (read from /proc, Linux only)."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    status = Path(f"/proc/{row[0]}/status").read_text()
    parent = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid"))

    def fields(pid: int | str) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    ticks = sum(int(x) for x in fields(parent)[11:15])  # utime, stime, cutime, cstime
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                f = fields(pid)
            except OSError:
                continue
            if int(f[1]) == parent:
                ticks += int(f[11]) + int(f[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# -- one engine ---------------------------------------------------------------------------------


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def _check(home: Path, acked: list[tuple[str, str]]) -> dict[str, Any]:
    """Every acknowledged add in the log and no other event; the tree's root recomputed from
    the events in log order."""
    from okeios._internal.protocol.merkle import leaf_hash
    from okeios._internal.publish.store import Store
    from okeios._internal.publish.tree import MemoryNodes, StoredTree

    with Store.open(home) as store:
        logged: dict[str, int] = {}
        again = StoredTree(MemoryNodes())
        for i, signed in enumerate(store.iter_events()):
            logged[to_hex(signed.event.id)] = i
            again.append_leaf_hashes([leaf_hash(signed.leaf_data())])
        size = store.size
        same_tree = again.size == size and (size == 0 or again.root() == store.tree.root())
        records = {to_hex(r) for r in store.record_ids()}
    lost = [e for r, e in acked if e not in logged or r not in records]
    told = {e for _, e in acked}
    extra = [e for e in logged if e not in told]
    return {"logged": len(logged), "lost": len(lost), "extra": len(extra), "tree": same_tree}


def run(
    engine: str, url: str | None, args: argparse.Namespace, tmp: Path, chain: Any
) -> dict[str, Any]:
    from okeios._internal.publish.store import Store

    home = tmp / engine
    folder = tmp / f"{engine}-files"
    folder.mkdir()
    with Store.init(home, database=url) as store:
        registry = None
        if chain is not None:
            chain.fund(store.address)
            from okeios._internal.chain.registry import Registry

            registry = Registry.deploy(chain.web3(), store.signer).address
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    s = args.seconds
    procs = [
        ctx.Process(target=cli_writer, args=(str(home), n, args.batch, s, str(folder), out))
        for n in range(args.cli)
    ]
    procs += [
        ctx.Process(target=service_writer, args=(str(home), n, args.batch, s, out))
        for n in range(args.services)
    ]
    if chain is not None:
        procs.append(
            ctx.Process(
                target=anchorer, args=(str(home), chain.url, registry, args.anchor_every, s, out)
            )
        )
    procs.append(ctx.Process(target=reader, args=(str(home), s, out)))
    sampler = _Sampler(url) if url is not None else None
    server0 = _server_cpu(url) if url is not None else 0.0
    cpu0 = os.times()
    load0 = os.getloadavg()[0]
    for p in procs:
        p.start()
    if sampler is not None:
        sampler.__enter__()
    try:
        results = [out.get() for _ in procs]
    finally:
        if sampler is not None:
            sampler.__exit__()
    for p in procs:
        p.join()
    cpu1 = os.times()
    server = _server_cpu(url) - server0 if url is not None else 0.0
    load1 = os.getloadavg()[0]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_kind.setdefault(r["kind"], []).append(r)
    acked = [a for r in results for a in r.get("acked", [])]
    windows = [r["window"] for r in results if "window" in r]
    window = max(w[1] for w in windows) - min(w[0] for w in windows)
    errors = [e for r in results for e in r.get("errors", [])]
    check = _check(home, acked)
    cli_lat = [x for r in by_kind.get("cli", []) for x in r["latencies"]]
    svc_lat = [x for r in by_kind.get("service", []) for x in r["latencies"]]
    held = [x for r in by_kind.get("service", []) for x in r.get("held", [])]
    trips = [x for r in by_kind.get("service", []) for x in r.get("trips", [])]
    anchors = sum(r["anchors"] for r in by_kind.get("anchor", []))
    figures: dict[str, Any] = {
        "created_per_s": len(acked) / window,
        "created": len(acked),
        "wall_s": window,
        "cpu_s": (cpu1.children_user + cpu1.children_system)
        - (cpu0.children_user + cpu0.children_system),
        "server_cpu_s": server,
        "load": [load0, load1],
        "cli_adds": len(cli_lat),
        "cli_p50_s": _percentile(cli_lat, 0.5),
        "cli_p95_s": _percentile(cli_lat, 0.95),
        "service_adds": len(svc_lat),
        "service_p50_s": _percentile(svc_lat, 0.5),
        "service_p95_s": _percentile(svc_lat, 0.95),
        "lock_held_p50_ms": 1000 * _percentile(held, 0.5),
        "lock_held_p95_ms": 1000 * _percentile(held, 0.95),
        "round_trips_in_lock_p50": statistics.median(trips) if trips else 0,
        "anchors": anchors,
        "reads": sum(r["reads"] for r in by_kind.get("reader", [])),
        "errors": errors,
        **check,
    }
    if sampler is not None and sampler.samples:
        total = sum(sampler.counts.values()) or 1
        figures["pg_wait"] = {k: v / total for k, v in sampler.counts.most_common()}
        figures["pg_lock_busy"] = sampler.busy / sampler.samples
    _print_engine(engine, figures, args)
    return figures


def _print_engine(engine: str, f: dict[str, Any], args: argparse.Namespace) -> None:
    ok = f["lost"] == 0 and f["extra"] == 0 and f["tree"]
    cpu = f["cpu_s"] + f["server_cpu_s"]
    print(
        f"  {engine}: {f['created_per_s']:,.0f} resources/s ({f['created']:,} in"
        f" {f['wall_s']:.0f} s of writing; load {f['load'][0]:.1f} -> {f['load'][1]:.1f})",
        flush=True,
    )
    print(
        f"    CPU: {cpu:.0f} s ({f['cpu_s']:.0f} s the processes, {f['server_cpu_s']:.0f} s the"
        f" server), {1000 * cpu / max(f['created'], 1):.2f} ms per resource created"
    )
    print(
        f"    okeios add of {args.batch}: p50 {f['cli_p50_s']:.2f} s, p95 {f['cli_p95_s']:.2f} s"
        f" ({f['cli_adds']} adds); service add of {args.batch}: p50 {f['service_p50_s']:.2f} s,"
        f" p95 {f['service_p95_s']:.2f} s ({f['service_adds']} adds)"
    )
    print(
        f"    write lock held by a service add: p50 {f['lock_held_p50_ms']:.1f} ms,"
        f" p95 {f['lock_held_p95_ms']:.1f} ms; round trips to the server inside it:"
        f" {f['round_trips_in_lock_p50']:g}"
    )
    print(
        f"    anchored {f['anchors']} times; reader: {f['reads']} list+show+export+verify;"
        f" {len(f['errors'])} errors"
    )
    for e in f["errors"][:3]:
        print(f"      error: {e[:300]}")
    print(
        f"    nothing lost: {'yes' if ok else 'NO'} ({f['created']:,} acknowledged,"
        f" {f['logged']:,} in the log, {f['lost']} lost, {f['extra']} not acknowledged;"
        f" tree root {'recomputed equal' if f['tree'] else 'DIFFERS'})"
    )
    if "pg_wait" in f:
        parts = ", ".join(f"{k} {v:.0%}" for k, v in f["pg_wait"].items())
        print(f"    server backends (sampled): {parts}")
        print(f"    the write lock was held in {f['pg_lock_busy']:.0%} of the samples")


def _anvil() -> Any:
    try:
        from tests.nodes import Node, anvil_command
    except ImportError:
        return None
    if anvil_command(0) is None:
        return None
    return Node("anvil").start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cli", type=int, default=4, help="okeios add writers (default 4)")
    parser.add_argument("--services", type=int, default=4, help="service writers (default 4)")
    parser.add_argument("--batch", type=int, default=20, help="resources per add (default 20)")
    parser.add_argument("--seconds", type=float, default=30.0, help="per engine (default 30)")
    parser.add_argument("--anchor-every", type=float, default=5.0, metavar="S")
    parser.add_argument("--no-anchor", action="store_true", help="no anchoring loop")
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--first",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="the engine run first (the machine's load drifts: alternate to see how much)",
    )
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    url = args.postgres or os.environ.get("OKEIOS_TEST_POSTGRES_URL")
    chain = None if args.no_anchor else _anvil()
    print(
        f"{args.cli} `okeios add` and {args.services} service writers ({args.batch} new"
        f" resources per add), "
        + (f"an anchoring loop (Anvil, every {args.anchor_every:g} s)" if chain else "no anchoring")
        + f" and a reader, for {args.seconds:g} s per engine; {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    out: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="okeios-writers-") as tmp:
            engines = ["sqlite", "postgres"] if args.first == "sqlite" else ["postgres", "sqlite"]
            for engine in engines:
                if args.only not in (None, engine):
                    continue
                if engine == "sqlite":
                    out["sqlite"] = run("sqlite", None, args, Path(tmp), chain)
                elif url:
                    import scale_bench

                    with scale_bench._schema(url) as schema_url:
                        out["postgres"] = run("postgres", schema_url, args, Path(tmp), chain)
                else:
                    print("  postgres: skipped (no --postgres URL)")
    finally:
        if chain is not None:
            chain.stop()
    if "sqlite" in out and "postgres" in out:
        sq, pg = out["sqlite"], out["postgres"]
        ratio = pg["created_per_s"] / max(sq["created_per_s"], 1e-9)
        lost = any(f["lost"] or f["extra"] or not f["tree"] for f in (sq, pg))
        print(
            f"\n  {'':<28}{'SQLite':>12}{'PostgreSQL':>12}\n"
            f"  {'resources/s':<28}{sq['created_per_s']:>12,.0f}{pg['created_per_s']:>12,.0f}\n"
            f"  {'okeios add p50 / p95 (s)':<28}"
            f"{sq['cli_p50_s']:>6.2f}/{sq['cli_p95_s']:<5.2f}{pg['cli_p50_s']:>6.2f}/"
            f"{pg['cli_p95_s']:<5.2f}\n"
            f"  {'service add p50 / p95 (s)':<28}"
            f"{sq['service_p50_s']:>6.2f}/{sq['service_p95_s']:<5.2f}"
            f"{pg['service_p50_s']:>6.2f}/{pg['service_p95_s']:<5.2f}\n"
            f"  {'lock held p50 (ms)':<28}{sq['lock_held_p50_ms']:>12.1f}"
            f"{pg['lock_held_p50_ms']:>12.1f}\n"
            f"  goal: {GOAL}: PostgreSQL/SQLite = {ratio:.2f}x"
            f" ({'met' if ratio >= 1 and not lost else 'NOT met'}; issue 23 measured 36/s vs"
            " 135/s, 0.27x)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
