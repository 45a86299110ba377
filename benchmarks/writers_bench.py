"""Many writers on one store, SQLite beside PostgreSQL: resources per second and the latency of
each ``put``.

A script, not a test. For each engine it creates a store, then starts ``--writers`` processes
that each hold the store open (as services do) and ``put`` batches of ``--batch`` new FHIR
resources for ``--seconds``, and one reader that lists, exports and verifies what they add. It
prints, per engine, the resources created per second (wall), the median and 90th percentile
latency of one ``put``, and that nothing was lost (the store holds every resource a writer was
told it created). PostgreSQL needs ``--postgres URL`` (else ``$OKEIOS_TEST_POSTGRES_URL``).

Usage::

    python benchmarks/writers_bench.py --seconds 10          # a quick run
    python benchmarks/writers_bench.py --writers 8 --seconds 160
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.publish.store import Store


def _resource(writer: int, i: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"w{writer}-{i}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
        "subject": {"reference": f"Patient/p{i % 97}"},
        "effectiveDateTime": "2026-03-01T08:30:00Z",
        "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
    }


def writer(home: str, n: int, batch: int, seconds: float, out: Any) -> None:
    latencies, created, i = [], 0, 0
    with Store.open(home) as store:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            start = time.perf_counter()
            results = store.put([_resource(n, i + k) for k in range(batch)])
            latencies.append(time.perf_counter() - start)
            created += sum(r.status == "created" for r in results)
            i += batch
    out.put({"created": created, "latencies": latencies})


def reader(home: str, seconds: float, out: Any) -> None:
    from okeios._internal.verify.bundle import verify_bundle
    from okeios._internal.verify.policy import TrustPolicy

    exported = 0
    with Store.open(home) as store:
        policy = TrustPolicy(authors=[store.address], publishers=[store.address])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for row in store.records(limit=5, after=max(0, store.size - 50)):
                bundle = store.export(to_hex(row.record_id), fields=[])
                if not verify_bundle(bundle, policy).passed:
                    raise SystemExit("a bundle failed")
                exported += 1
            time.sleep(0.05)
    out.put({"exported": exported})


def run(engine: str, url: str | None, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    home = tmp / engine
    Store.init(home, database=url, trust=False).close()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=writer, args=(str(home), n, args.batch, args.seconds, out))
        for n in range(args.writers)
    ]
    procs.append(ctx.Process(target=reader, args=(str(home), args.seconds, out)))
    start = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - start
    latencies = sorted(x for r in results for x in r.get("latencies", []))
    created = sum(r.get("created", 0) for r in results)
    with Store.open(home) as store:
        held = store.identities.count(store.db)
    figures = {
        "created_per_s": created / wall,
        "put_p50_s": statistics.median(latencies) if latencies else 0.0,
        "put_p90_s": latencies[int(len(latencies) * 0.9)] if latencies else 0.0,
        "created": created,
        "held": held,
        "exported": sum(r.get("exported", 0) for r in results),
    }
    print(
        f"  {engine:<10} {figures['created_per_s']:>7,.0f} resources/s wall;"
        f" put of {args.batch}: p50 {figures['put_p50_s']:.2f} s, p90 {figures['put_p90_s']:.2f} s;"
        f" {created:,} created, {held:,} held ({'nothing lost' if held == created else 'LOST'});"
        f" reader exported and verified {figures['exported']:,}",
        flush=True,
    )
    if held != created:
        raise SystemExit(f"{engine}: the store holds {held} records, the writers created {created}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    url = args.postgres or os.environ.get("OKEIOS_TEST_POSTGRES_URL")
    print(
        f"{args.writers} writers (put of {args.batch} new resources each time) and a reader, for"
        f" {args.seconds:g} s, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="okeios-writers-") as tmp:
        out["sqlite"] = run("sqlite", None, args, Path(tmp))
        if url:
            import scale_bench

            with scale_bench._schema(url) as schema_url:
                out["postgres"] = run("postgres", schema_url, args, Path(tmp))
        else:
            print("  postgres   skipped (no --postgres URL)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
