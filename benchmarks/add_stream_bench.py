"""`okeios add` of one large FHIR NDJSON file: peak memory at two sizes, time, rate.

A script, not a test. For each size it writes an NDJSON file of real FHIR R4 example resources
(the 618 of ``../shared/fhir/r4-examples``, replicated under new ids, one per line, as a Bulk
Data export is), creates a fresh store and runs ``okeios add FILE`` in a child process, reading
that child's own peak RSS (``wait4``). Then it runs the same add again (every resource
``unchanged``: the re-run after a crash). It prints, per size::

    lines  file MiB  add s  resources/s  peak RSS MiB  re-add s  re-add peak RSS MiB

and the ratio of the peak RSS at the large size to the small one (goal: about 1, memory does
not grow with the file). Then the time of ``okeios records`` pages in each store (the first
page, the last page by its cursor, a page of one type, and ``--count``): a page should cost
the same at both sizes. Run: ``python benchmarks/add_stream_bench.py`` (20k and 200k lines:
about 10 minutes on a loaded 2-core machine); ``--sizes 2000 20000`` for a quick look.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import FHIR, example_resources, replica


def write_ndjson(path: Path, lines: int, base: list[dict[str, Any]]) -> None:
    with path.open("w") as fh:
        for n in range(lines):
            fh.write(json.dumps(replica(base, n), ensure_ascii=False) + "\n")


def run_add(home: Path, *args: str) -> tuple[float, float, str]:
    """Seconds, the child's peak RSS in MiB, and its stderr's last line."""
    env = {**os.environ, "OKEIOS_HOME": str(home)}
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "okeios", "add", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()
    if child.returncode != 0:
        raise SystemExit(f"okeios add failed ({child.returncode}): {tail[-5:]}")
    return seconds, usage.ru_maxrss / 1024, tail[-1] if tail else ""


def cli_seconds(home: Path, *args: str, rounds: int = 3) -> float:
    """The median wall time of an ``okeios`` command (process start included)."""
    env = {**os.environ, "OKEIOS_HOME": str(home)}
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "okeios", *args], check=True, capture_output=True, env=env
        )
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--fhir", type=Path, default=FHIR)
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    base = example_resources(args.fhir)
    work = Path(tempfile.mkdtemp(prefix="okeios-add-", dir=args.dir))
    print(f"okeios add of one NDJSON file ({len(base)} distinct example resources, replicated)")
    print(
        f"{'lines':>8} {'MiB':>7} {'add s':>8} {'res/s':>7} {'peak MiB':>9}"
        f" {'re-add s':>9} {'peak MiB':>9}"
    )
    peaks: list[float] = []
    listing: list[tuple[int, float, float, float, float]] = []
    for lines in args.sizes:
        data = work / f"{lines}.ndjson"
        write_ndjson(data, lines, base)
        home = work / f"home-{lines}"
        subprocess.run(
            [sys.executable, "-m", "okeios", "--home", str(home), "init", "--no-passphrase"],
            check=True,
            capture_output=True,
            env={k: v for k, v in os.environ.items() if k != "OKEIOS_PASSPHRASE"},
        )
        seconds, peak, summary = run_add(home, str(data))
        if f"{lines} created" not in summary:
            raise SystemExit(f"unexpected summary: {summary}")
        again, again_peak, summary = run_add(home, str(data))
        if f"{lines} unchanged" not in summary:
            raise SystemExit(f"unexpected summary: {summary}")
        peaks.append(peak)
        mib = data.stat().st_size / 2**20
        print(
            f"{lines:>8} {mib:>7.1f} {seconds:>8.1f} {lines / seconds:>7.0f} {peak:>9.1f}"
            f" {again:>9.1f} {again_peak:>9.1f}",
            flush=True,
        )
        data.unlink()
        listing.append(
            (
                lines,
                cli_seconds(home, "records", "--limit", "100"),
                cli_seconds(home, "records", "--limit", "100", "--after", str(lines - 101)),
                cli_seconds(home, "records", "--limit", "100", "--type", "Patient"),
                cli_seconds(home, "records", "--count"),
            )
        )
    if len(peaks) > 1:
        ratio = peaks[-1] / peaks[0]
        print(
            f"peak RSS at {args.sizes[-1]} lines / at {args.sizes[0]}: {ratio:.2f}x"
            " (goal: about 1, memory does not grow with the file)"
        )
    print("okeios records (seconds, process start included): first page of 100, last page")
    print("(--after a cursor near the end), first page of --type Patient, --count")
    for lines, first, last, typed, count in listing:
        print(f"{lines:>8} {first:>8.2f} {last:>8.2f} {typed:>8.2f} {count:>8.2f}")
    print(f"stores kept in {work}" if args.dir else f"work folder {work} (delete it when done)")


if __name__ == "__main__":
    main()
