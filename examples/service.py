"""A hospital service on okeios' high-level Python API (``okeios.service.Okeios``).

The service receives lab results from the laboratory system as FHIR NDJSON, several times a
day. The same result arrives again (a resend), and one result is corrected later: the store
keeps one record per resource, logs the correction as an AMEND of that record and nothing for
the resend. The service anchors its log on a chain (the embedded one here; a node URL in
production, where the publisher's balance is checked first), exports a bundle that discloses no
field, and verifies it against the chain as a third party would; then verifies a batch of 200
bundles at bulk speed and prints the CPU each one cost, through ``ok.verify`` and
``ok.verify_many``.

Runs in a temporary folder it removes; exits non-zero if anything is not as described.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from okeios.service import Okeios

BATCH = 200  # lab results in the day's batch verified at the end


def lab_result(ident: str, value: float, status: str, version: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "meta": {"versionId": version},
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}], "text": "HbA1c"},
        "subject": {"reference": "Patient/p-0042"},
        "valueQuantity": {"value": value, "unit": "%"},
    }


def ndjson(path: Path, resources: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")
    return path


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="okeios-service-") as tmp:
        folder = Path(tmp)
        home = folder / "home"
        morning = ndjson(
            folder / "morning.ndjson",
            [lab_result("lab-1", 6.1, "preliminary", "1"), lab_result("lab-2", 5.4, "final", "1")],
        )
        evening = ndjson(
            folder / "evening.ndjson",
            [lab_result("lab-1", 6.4, "final", "2"), lab_result("lab-2", 5.4, "final", "1")],
        )
        with Okeios.open(home, create=True) as ok:
            first = ok.add_file(morning)
            resend = ok.add_file(morning)
            later = ok.add_file(evening)
            print("morning:", [r.status for r in first])
            print("resend: ", [r.status for r in resend])
            print("evening:", [r.status for r in later])
            assert [r.status for r in first] == ["created", "created"]
            assert [r.status for r in resend] == ["unchanged", "unchanged"]
            assert [r.status for r in later] == ["amended", "unchanged"]

            for row in ok.records(resource_type="Observation"):
                print(
                    f"  {row.resource_type}/{row.resource_id}: version {row.version}, "
                    f"last event {row.last_kind}"
                )
            history = [e.kind for e in ok.history("Observation/lab-1")]
            print("history of Observation/lab-1:", history)
            assert history == ["create", "amend"]

            anchored = ok.anchor()  # the embedded chain; the registry is deployed and pinned
            print(f"anchored size {anchored.tree_size}: {anchored.entry and anchored.entry.state}")
            assert anchored.final

            bundle = ok.export("Observation/lab-1")  # no field disclosed
            assert bundle.disclosure.fields == ()
            report = ok.verify(bundle, chain="embedded")
            print("bundle verified against the chain:", "pass" if report.passed else "FAIL")
            for v in report.verdicts:
                print(f"  {v.property:<13} {v.status}")
            assert report.passed

            # The day's whole batch, as a service checks what it wrote: many bundles against
            # the chain. ok.verify keeps the chain connection and what it read (no reconnect
            # per bundle); ok.verify_many reads each anchor once for the whole batch and can
            # spread the work over an executor (executor=ProcessPoolExecutor()).
            batch = [lab_result(f"batch-{i}", 5.0 + i / 100, "final", "1") for i in range(BATCH)]
            ok.add(batch)
            ok.anchor()
            bundles = [ok.export(f"Observation/batch-{i}") for i in range(BATCH)]
            start = time.process_time()
            one_by_one = [ok.verify(b, chain="embedded") for b in bundles]
            each = (time.process_time() - start) * 1000 / BATCH
            start = time.process_time()
            reports = ok.verify_many(bundles, chain="embedded")
            many = (time.process_time() - start) * 1000 / BATCH
            print(
                f"{BATCH} bundles against the chain, CPU per bundle: ok.verify {each:.2f} ms, "
                f"ok.verify_many {many:.2f} ms"
            )
            assert all(r.passed for r in one_by_one)
            assert all(r.passed for r in reports)
            assert [r.event_id for r in reports] == [b.event.id for b in bundles]
    return 0


if __name__ == "__main__":
    sys.exit(main())
