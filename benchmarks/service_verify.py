"""Per-bundle CPU of verifying against a chain through the service API, one call per bundle
(``Okeios.verify``) and in one call (``Okeios.verify_many``), beside offline verification.

    .venv/bin/python benchmarks/service_verify.py [N]

On the embedded chain, in a temporary home; prints CPU milliseconds per bundle (process time,
so the chain's own work in this process counts too).
"""

from __future__ import annotations

import sys
import tempfile
import time

from okeios.service import Okeios


def main(n: int = 200) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="okeios-bench-") as tmp,
        Okeios.open(tmp, create=True) as ok,
    ):
        ok.add(
            [
                {
                    "resourceType": "Observation",
                    "id": f"o{i}",
                    "status": "final",
                    "valueQuantity": {"value": i / 10},
                }
                for i in range(n)
            ]
        )
        ok.anchor()
        bundles = [ok.export(f"Observation/o{i}") for i in range(n)]
        ok.verify(bundles[0], chain="embedded")  # warm: imports, the connection

        def per_bundle(run: object) -> float:
            start = time.process_time()
            run()  # type: ignore[operator]
            return (time.process_time() - start) * 1000 / n

        offline = per_bundle(lambda: [ok.verify(b) for b in bundles])
        one_by_one = per_bundle(lambda: [ok.verify(b, chain="embedded") for b in bundles])
        many = per_bundle(lambda: ok.verify_many(bundles, chain="embedded"))
        assert all(r.passed for r in ok.verify_many(bundles, chain="embedded"))
        print(f"{n} bundles, CPU ms per bundle:")
        print(f"  Okeios.verify, offline          {offline:6.2f}")
        print(f"  Okeios.verify(chain=embedded)   {one_by_one:6.2f}")
        print(f"  Okeios.verify_many(chain=...)   {many:6.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
