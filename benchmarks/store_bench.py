"""The store at scale: open, history, export, add, anchors and size, each beside its goal.

A script, not a test. It builds a store of ``--records`` real FHIR R4 example resources (the
618 of ``../shared/fhir/r4-examples``, each replicated under new ids until the count is reached)
added by identity as ``okeios add`` does, and a smaller one of ``--small`` records, then prints::

    Store.open at N and at 0          time and memory above an empty store's (goal: 50 ms, 100 MiB)
    history / export at N vs small    in-process and as `okeios` commands (goal: within 1.5x)
    add of N                          peak RSS at N vs at N/10 (goal: within 1.2x)
    export after many anchors         per record, after --anchors anchors vs one (goal: 1.2x)
    database size per record          by table, from SQLite's dbstat
    okeios check                      the full integrity check, which opening no longer does

Each measurement that needs a clean process (open, add, the commands) runs in a child process.
Run: ``python benchmarks/store_bench.py --records 100000`` (about 5 minutes on 2 cores);
``--records 1000000`` is the issue's size (well outside CI: about an hour).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import FHIR, REPO, example_resources, replica

CHUNK = 5000


def _rss_mib() -> float:
    """The current resident set size, MiB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _replicas(base: list[dict[str, Any]], start: int, count: int) -> list[dict[str, Any]]:
    return [replica(base, n) for n in range(start, start + count)]


# --- child processes ------------------------------------------------------------------------


def child_build(home: str, count: int, fhir: str) -> dict[str, Any]:
    """Add ``count`` resources in chunks; peak RSS after each tenth."""
    from okeios._internal.publish.store import Store

    base = example_resources(Path(fhir))
    peaks: dict[int, float] = {}
    start = time.perf_counter()
    with Store.init(home) as store:
        done = 0
        while done < count:
            n = min(CHUNK, count - done)
            store.put(_replicas(base, done, n))
            done += n
            if done % max(count // 10, 1) == 0 or done == count:
                peaks[done] = _peak_mib()
    return {"seconds": time.perf_counter() - start, "peaks": peaks}


def child_open(home: str) -> dict[str, Any]:
    """Time and memory of Store.open (everything imported beforehand)."""
    import okeios._internal.publish.store as store_module
    from okeios._internal.publish.store import Store

    assert store_module  # imported: its import time is not the open's
    before = _rss_mib()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        store = Store.open(home)
        times.append(time.perf_counter() - t)
        size = store.size
        store.close()
    store = Store.open(home)
    after = _rss_mib()
    store.close()
    return {
        "ms": 1000 * min(times),
        "median_ms": 1000 * statistics.median(times),
        "mib": after - before,
        "size": size,
    }


def child_ops(home: str, rounds: int) -> dict[str, Any]:
    """In-process history and export (no disclosure) of records spread over the log."""
    from okeios._internal.protocol.hexcodec import to_hex
    from okeios._internal.publish.store import Store

    with Store.open(home) as store:
        ids = [r.record_id for r in store.records(limit=None)]
        picks = [to_hex(ids[(i * 7919) % len(ids)]) for i in range(rounds)]
        out: dict[str, Any] = {"record": picks[0]}
        for name, op in (
            ("history", lambda r: store.history(r)),
            ("export", lambda r: store.export(r, fields=[])),
        ):
            times = []
            for r in picks:
                t = time.perf_counter()
                op(r)
                times.append(time.perf_counter() - t)
            out[name] = 1000 * statistics.median(times)
        t = time.perf_counter()
        problems = store.check()
        out["check_s"] = time.perf_counter() - t
        out["check_problems"] = len(problems)
    return out


def child_anchors(home: str, anchors: int, per: int, rounds: int) -> dict[str, Any]:
    """Export per record with one anchor, then with ``anchors`` (journal entries as anchoring
    leaves them: a checkpoint and a final entry per anchored size)."""
    from okeios._internal.protocol.hexcodec import to_hex
    from okeios._internal.publish.store import Store

    base = example_resources(FHIR)
    fake_tx = b"\x11" * 32
    with Store.init(home) as store:
        store.put(_replicas(base, 0, anchors * per))
        size = store.size

        def anchor_at(n: int) -> None:
            cp = store.publisher.checkpoint(n)
            with store.transaction():
                store.checkpoints.rows.add(n, cp.checkpoint.root, cp.signature, time.time())
                entry = store.journal.rows.add(31337, "0x" + "22" * 20, n, cp.checkpoint.root, 0)
                store.journal.rows.update(
                    entry,
                    0,
                    state="final",
                    tx_hash=fake_tx,
                    block_number=n,
                    block_hash=fake_tx,
                    timestamp=n,
                )

        ids = [r.record_id for r in store.records(limit=None)]
        picks = [to_hex(ids[(i * 7919) % len(ids)]) for i in range(rounds)]

        def per_record() -> float:
            times = []
            for r in picks:
                t = time.perf_counter()
                store.export(r, fields=[])
                times.append(time.perf_counter() - t)
            return 1000 * statistics.median(times)

        anchor_at(size)
        one = per_record()
        t = time.perf_counter()
        for k in range(1, anchors):
            anchor_at(k * per)
        setup = time.perf_counter() - t
        many = per_record()
    return {"one_ms": one, "many_ms": many, "anchors": anchors, "setup_s": setup}


def child_size(home: str) -> dict[str, Any]:
    import sqlite3

    db = sqlite3.connect(Path(home) / "store.sqlite")
    rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
    tables = {str(name): int(size) for name, size in rows}
    events = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    records = db.execute("SELECT COUNT(DISTINCT record_id) FROM versions").fetchone()[0]
    payload = db.execute("SELECT AVG(LENGTH(payload)), AVG(LENGTH(digests)) FROM versions")
    avg_payload, avg_digests = payload.fetchone()
    message = db.execute("SELECT AVG(LENGTH(message)) FROM events").fetchone()[0]
    return {
        "tables": tables,
        "events": events,
        "records": records,
        "file": (Path(home) / "store.sqlite").stat().st_size,
        "avg_payload": avg_payload,
        "avg_digests": avg_digests,
        "avg_message": message,
    }


CHILDREN = {
    "build": child_build,
    "open": child_open,
    "ops": child_ops,
    "anchors": child_anchors,
    "size": child_size,
}


def _child(name: str, *args: object) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", name, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise SystemExit(f"child {name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _cli_ms(home: Path, *args: str, rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "okeios", *args, "--home", str(home)],
            capture_output=True,
            check=True,
            cwd=REPO,
        )
        times.append(time.perf_counter() - t)
    return 1000 * min(times)


def _line(label: str, value: str, goal: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("  ok" if ok else "  MISSED")
    print(f"  {label:<44} {value:>22}   goal {goal}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--anchors", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--fhir", default=str(FHIR))
    parser.add_argument("--dir", help="where to build the stores (default: a temporary folder)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the stores already built in --dir (their add figures are not re-measured)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, *rest = args.child
        fn = CHILDREN[name]
        conv = [int(a) if a.isdigit() else a for a in rest]
        print(json.dumps(fn(*conv)))
        return

    root = Path(args.dir or tempfile.mkdtemp(prefix="okeios-store-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    big, small, empty, anch = (root / n for n in ("big", "small", "empty", "anchors"))
    figures: dict[str, Any] = {"records": args.records, "small": args.small}
    print(f"okeios store benchmark: {args.records:,} records (and {args.small:,}), in {root}")

    def build(name: str, home: Path, count: int) -> dict[str, Any] | None:
        if args.reuse and (home / "store.sqlite").exists():
            return None
        if home.exists():
            raise SystemExit(f"{home} exists: remove it, or pass --reuse to keep it")
        figures[name] = built = _child("build", home, count, args.fhir)
        return built

    built = build("build", big, args.records)
    build("build_small", small, args.small)
    build("build_empty", empty, 0)
    if built is None:
        print("\nadd: stores reused (--reuse), not re-measured")
    else:
        rate = args.records / built["seconds"]
        print(f"\nadd (by identity, {CHUNK:,} per transaction): {rate:,.0f} records/s")
        peaks = {int(k): v for k, v in built["peaks"].items()}
        tenth = min(peaks, key=lambda k: abs(k - args.records // 10))
        ratio = peaks[args.records] / peaks[tenth]
        _line(
            f"peak RSS at {args.records:,} / at {tenth:,}",
            f"{peaks[args.records]:.0f} / {peaks[tenth]:.0f} MiB = {ratio:.2f}x",
            "<= 1.2x",
            ratio <= 1.2,
        )

    print("\nStore.open")
    opened = {n: _child("open", h) for n, h in (("empty", empty), ("small", small), ("big", big))}
    figures["open"] = opened
    for n in ("empty", "small", "big"):
        o = opened[n]
        extra = o["mib"] - opened["empty"]["mib"]
        _line(
            f"open at {o['size']:,} entries",
            f"{o['ms']:.1f} ms, {extra:+.1f} MiB",
            "<= 50 ms, <= 100 MiB above empty",
            o["ms"] <= 50 and extra <= 100,
        )

    print("\nhistory and export (no field disclosed), median per record")
    ops = {n: _child("ops", h, args.rounds) for n, h in (("small", small), ("big", big))}
    figures["ops"] = ops
    for op in ("history", "export"):
        r = ops["big"][op] / ops["small"][op]
        _line(
            f"{op} in-process at {args.records:,} vs {args.small:,}",
            f"{ops['big'][op]:.2f} / {ops['small'][op]:.2f} ms = {r:.2f}x",
            "<= 1.5x",
            r <= 1.5,
        )
    for op in ("history", "export"):
        extra = ("-o", str(root / "b.okb")) if op == "export" else ()
        t_big = _cli_ms(big, op, ops["big"]["record"], *extra)
        t_small = _cli_ms(small, op, ops["small"]["record"], *extra)
        figures[f"cli_{op}"] = {"big": t_big, "small": t_small}
        r = t_big / t_small
        _line(
            f"`okeios {op} ID` at {args.records:,} vs {args.small:,}",
            f"{t_big:.0f} / {t_small:.0f} ms = {r:.2f}x",
            "<= 1.5x",
            r <= 1.5,
        )

    print(f"\nexport per record after {args.anchors:,} anchors vs after one")
    if args.reuse:
        shutil.rmtree(anch, ignore_errors=True)  # rebuilt each run: it is small
    a = figures["anchors"] = _child("anchors", anch, args.anchors, 2, args.rounds)
    r = a["many_ms"] / a["one_ms"]
    _line(
        f"{args.anchors:,} anchors / one",
        f"{a['many_ms']:.2f} / {a['one_ms']:.2f} ms = {r:.2f}x",
        "<= 1.2x",
        r <= 1.2,
    )

    print("\ndatabase size")
    s = figures["size"] = _child("size", big)
    per = s["file"] / s["records"]
    _line("per record (file size / records)", f"{per:,.0f} B", "printed and justified", None)
    for name, size in s["tables"].items():
        if size >= s["file"] / 100:
            print(f"    {name:<28} {size / s['records']:8.0f} B/record")
    print(
        f"    (average sealed payload {s['avg_payload']:.0f} B, digests {s['avg_digests']:.0f} B, "
        f"event message {s['avg_message']:.0f} B)"
    )

    print("\nokeios check (explicit, reads the whole store)")
    _line(
        f"check at {args.records:,}",
        f"{ops['big']['check_s']:.1f} s, {ops['big']['check_problems']} problems",
        "explicit, not on open",
        None,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
