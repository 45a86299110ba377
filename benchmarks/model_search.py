"""Search the adversarial split-view model longer than CI does.

``python benchmarks/model_search.py --examples 2000 [--steps 40]`` runs the
hypothesis state machine of ``tests/verify/test_model_split_view.py`` (a hostile publisher with
forked homes, several registries and chains, origins, note keys, a witness and mirrors of its
tiles; chain verifiers, witness verifiers and tiles auditors with one trust policy) for
``--examples`` sequences of up to ``--steps`` actions, and prints what it explored: how many
views each verifier group accepted and refused, by the number of bundles or entries shown. A
failure prints hypothesis's shortest reproduction and exits 1; turn it into a named regression
test in that file.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.verify import test_model_split_view as model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=500, help="action sequences to try")
    parser.add_argument("--steps", type=int, default=40, help="actions per sequence, at most")
    args = parser.parse_args()
    seen: collections.Counter[tuple[str, bool, int]] = collections.Counter()
    accept = model.SplitView._accept

    def counting(self: model.SplitView, group: str, bundles: list, passed: bool) -> None:  # type: ignore[type-arg]
        seen[(group, passed, len(bundles))] += 1
        accept(self, group, bundles, passed)

    model.SplitView._accept = counting  # type: ignore[method-assign]
    config = settings(
        max_examples=args.examples,
        stateful_step_count=args.steps,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    start = time.perf_counter()
    try:
        run_state_machine_as_test(model.SplitView, settings=config)
    except AssertionError as exc:
        print(f"FAILED after {time.perf_counter() - start:.0f} s: {exc}")
        return 1
    print(
        f"{args.examples} sequences of up to {args.steps} actions in "
        f"{time.perf_counter() - start:.0f} s: no two verifiers of one group accepted "
        "histories of the record that are not prefixes of each other"
    )
    for group in ("chain", "witness", "tiles"):
        for passed in (True, False):
            lengths = {n: c for (g, p, n), c in sorted(seen.items()) if g == group and p == passed}
            word = "accepted" if passed else "refused"
            print(f"  {group} views {word}: {sum(lengths.values())} (by bundles shown: {lengths})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
