"""How long a whole-log audit takes: N events, anchored in a few rounds on the embedded chain.

    python benchmarks/audit_bench.py [--events N] [--rounds R] [--quick]

Prints the time to build the store (not part of the audit), to publish the log file, and to
audit it (parse, signatures, lineage, Merkle roots against every anchor, times), with the rate.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from okeios._internal.chain.connect import open_chain
from okeios._internal.chain.registry import Registry
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.store import Store
from okeios._internal.verify.audit import audit_log


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="5,000 events")
    args = parser.parse_args()
    n = 5_000 if args.quick else args.events
    print(
        f"okeios audit benchmark: {n:,} events, {args.rounds} anchors, "
        f"Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        records = synthetic_records(n, seed=1)
        t0 = time.perf_counter()
        with Store.init(home) as store, open_chain("embedded", home) as chain:
            chain.fund(store.address, 10**20)
            registry = Registry.deploy(chain.w3, store.signer, label=chain.label)
            step = (n + args.rounds - 1) // args.rounds
            for start in range(0, n, step):
                store.add(records[start : start + step])
                anchor(store, registry)
            chain.save()
            built = time.perf_counter() - t0
            print(
                f"  build store + {args.rounds} anchors        {built:8.2f} s  (setup, not audited)"
            )
            t1 = time.perf_counter()
            lines: list[str] = []
            store.write_log(lines.append)
            published = time.perf_counter() - t1
            print(
                f"  publish the log file          {published:8.2f} s  "
                f"{n / published:10,.0f} events/s"
            )
            done = [0]

            def progress(k: int) -> None:
                done[0] += k
                if done[0] % (n // 10 or 1) < k:
                    print(f"    ... {done[0]:,} / {n:,}", file=sys.stderr)

            t2 = time.perf_counter()
            report = audit_log(
                lines,
                publisher=store.address,
                chain=registry,
                chain_id=registry.chain_id,
                authors=[store.address],
                progress=progress,
            )
            audited = time.perf_counter() - t2
        assert report.passed, report.defects[:3]
        print(f"  audit (all checks)            {audited:8.2f} s  {n / audited:10,.0f} events/s")
        print(
            f"  result: {'pass' if report.passed else 'fail'}; {report.entries:,} entries, "
            f"{report.records:,} records, {len(report.anchors)} anchors"
        )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak RSS {rss:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
