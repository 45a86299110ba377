"""Start-up cost: how long importing okeios and running a short command take.

Each figure is a fresh interpreter (``subprocess``), timed N times; the best and the median are
printed beside the floor (``python -c pass``), with the number of modules the import loads and
whether a chain library (web3, eth-account, eth-tester) came with it. The offline verification
of one bundle is the whole ``okeios verify`` command on a bundle made before timing.

    python benchmarks/import_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
OKEIOS = [PY, "-m", "okeios"]


def timed(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def loaded(module: str, env: dict[str, str]) -> str:
    code = (
        f"import sys, {module}\n"
        "chain = [m for m in ('web3', 'eth_account', 'eth_tester') if m in sys.modules]\n"
        "print(len(sys.modules), ','.join(chain) or '-')"
    )
    out = subprocess.run([PY, "-c", code], check=True, capture_output=True, text=True, env=env)
    return out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        record = Path(tmp) / "obs.json"
        record.write_text('{"resourceType": "Observation", "id": "x", "status": "final"}')
        run = OKEIOS
        subprocess.run(
            [*run, "init", "--home", str(home)], check=True, capture_output=True, env=env
        )
        added = subprocess.run(
            [*run, "add", "--home", str(home), str(record)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout.split()[0]
        bundle = Path(tmp) / "b.okb"
        subprocess.run(
            [*run, "export", "--home", str(home), added, "-o", str(bundle)],
            check=True,
            capture_output=True,
            env=env,
        )
        rows = [
            ("floor: python -c pass", [PY, "-c", "pass"], None),
            ("import okeios", [PY, "-c", "import okeios"], "okeios"),
            (
                "import okeios._internal.verify",
                [PY, "-c", "import okeios._internal.verify"],
                "okeios._internal.verify",
            ),
            (
                "import okeios._internal.cli.main",
                [PY, "-c", "import okeios._internal.cli.main"],
                "okeios._internal.cli.main",
            ),
            ("okeios --help", [*OKEIOS, "--help"], None),
            (
                "okeios verify one bundle, offline",
                [*OKEIOS, "verify", "--home", str(home), str(bundle)],
                None,
            ),
        ]
        print(f"{'figure':<36} {'best ms':>9} {'median ms':>10}  modules / chain libraries")
        for label, cmd, module in rows:
            best, median = timed(cmd, args.runs, env)
            extra = loaded(module, env) if module else ""
            print(f"{label:<36} {best * 1000:>9.0f} {median * 1000:>10.0f}  {extra}")


if __name__ == "__main__":
    main()
