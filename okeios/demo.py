"""The end-to-end demonstration behind ``okeios demo``: records in, bundles out, verified, and
tampering caught. Synthetic FHIR R4 records are generated here (no real patient data)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bundle import Bundle
from .errors import BundleError
from .publisher import Publisher
from .signing import LocalSigner
from .verify import Property, TrustPolicy, verify_bundle

__all__ = ["run_demo", "synthetic_records"]

_LABS = [
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", (4.0, 15.0), 1),
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", (60.0, 250.0), 0),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", (120.0, 300.0), 0),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", (9.0, 18.0), 1),
]


def synthetic_records(count: int, *, seed: int = 7) -> list[bytes]:
    """``count`` synthetic FHIR R4 resources (a Patient, then lab Observations), as JSON bytes.

    Decimal values are written with their clinical precision (``6.10``), which the okeios
    canonical form keeps exactly.
    """
    rng = random.Random(seed)
    patient = {
        "resourceType": "Patient",
        "id": f"pat-{rng.randrange(10**6):06d}",
        "name": [
            {
                "family": rng.choice(["Okafor", "Lindqvist", "Moreau", "Tanaka"]),
                "given": [rng.choice(["Ada", "Noor", "Ilse", "Kenji"])],
            }
        ],
        "birthDate": f"{rng.randrange(1930, 2010)}-{rng.randrange(1, 13):02d}-"
        f"{rng.randrange(1, 29):02d}",
    }
    out = [json.dumps(patient, indent=2).encode()]
    for i in range(count - 1):
        code, display, unit, (lo, hi), places = _LABS[i % len(_LABS)]
        value = f"{rng.uniform(lo, hi):.{places + 1}f}"
        text = (
            '{\n  "resourceType": "Observation",\n'
            f'  "id": "obs-{i:04d}",\n  "status": "final",\n'
            '  "code": {"coding": [{"system": "http://loinc.org", '
            f'"code": "{code}", "display": "{display}"}}]}},\n'
            f'  "subject": {{"reference": "Patient/{patient["id"]}"}},\n'
            f'  "effectiveDateTime": "2026-{1 + i % 12:02d}-{1 + i % 28:02d}T08:30:00Z",\n'
            f'  "valueQuantity": {{"value": {value}, "unit": "{unit}", '
            f'"system": "http://unitsofmeasure.org"}}\n}}\n'
        )
        out.append(text.encode())
    return out


def run_demo(
    out_dir: Path, *, count: int = 8, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the story; write records and bundles under ``out_dir``; return a summary.

    The summary's ``ok`` is true when every honest bundle verified and every tampering was
    caught.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    hospital = LocalSigner.generate()
    clinician = LocalSigner.generate()
    publisher = Publisher(hospital, log_name="demo")
    policy = TrustPolicy(
        authors=[hospital.address, clinician.address], publishers=[hospital.address]
    )
    echo(f"publisher (hospital) {hospital.address}")
    echo(f"author (clinician)   {clinician.address}")

    records = synthetic_records(count)
    logged = [publisher.create(r, author=clinician) for r in records]
    checkpoint = publisher.checkpoint()
    echo(
        f"logged {len(logged)} records; checkpoint size {checkpoint.checkpoint.tree_size} "
        f"root {checkpoint.checkpoint.root.hex()[:16]}…"
    )

    results: dict[str, Any] = {"records": [], "tamper": {}}
    all_ok = True
    for i, (raw, item) in enumerate(zip(records, logged, strict=True)):
        (out_dir / f"record-{i}.json").write_bytes(raw)
        data = publisher.bundle(item.id, checkpoint=checkpoint).to_bytes()
        path = out_dir / f"record-{i}.okb"
        path.write_bytes(data)
        report = verify_bundle(path.read_bytes(), policy, record=raw)
        all_ok &= report.passed
        results["records"].append({"bundle": path.name, "result": report.to_dict()["result"]})
        echo(
            f"  {path.name:<14} {len(data):>6} bytes  "
            + "  ".join(f"{v.property}={v.status}" for v in report.verdicts)
        )

    # Selective disclosure: one lab value, nothing else.
    lab = logged[1]
    partial = publisher.bundle(
        lab.id, fields=["/valueQuantity/value", "/code/coding/0/code"], checkpoint=checkpoint
    )
    (out_dir / "disclosure.okb").write_bytes(partial.to_bytes())
    shown = verify_bundle(partial.to_bytes(), policy)
    all_ok &= shown.passed
    echo(
        f"selective disclosure: {dict(shown.disclosed)} "
        f"({len(partial.disclosure.digests) - len(partial.disclosure.fields)} fields hidden) "
        f"-> {'pass' if shown.passed else 'FAIL'}"
    )

    # Tampering 1: someone edits the lab value in the record file.
    edited = records[1].replace(b'"value": ', b'"value": 1', 1)
    report = verify_bundle(publisher.bundle(lab.id, checkpoint=checkpoint), policy, record=edited)
    caught = report.verdict(Property.INTEGRITY)
    all_ok &= not caught.passed
    results["tamper"]["record"] = caught.to_dict()
    echo(f"tampered record   -> integrity {caught.status}: {caught.reason} ({caught.detail})")

    # Tampering 2: one bit of a bundle flipped inside the signed event (its commitment).
    damaged = bytearray((out_dir / "record-2.okb").read_bytes())
    damaged[damaged.index(logged[2].signed.event.commitment)] ^= 0x01
    try:
        flipped = verify_bundle(bytes(damaged), policy, record=records[2])
        failures = [f"{v.property}: {v.reason}" for v in flipped.failures]
        all_ok &= bool(failures)
        results["tamper"]["bundle"] = failures
        echo(f"flipped bundle bit -> {'; '.join(failures) or 'NOT CAUGHT'}")
    except BundleError as exc:
        results["tamper"]["bundle"] = [f"{type(exc).__name__}: {exc}"]
        echo(f"flipped bundle bit -> refused: {type(exc).__name__}: {exc}")

    # Tampering 3: an impostor re-signs the checkpoint as if it were the hospital's.
    impostor = LocalSigner.generate()
    fake = Bundle(
        logged[0].signed,
        publisher.commitment(logged[0].id).disclose(),
        publisher.bundle(logged[0].id, checkpoint=checkpoint).inclusion,
        checkpoint.checkpoint.sign(impostor),
    )
    report = verify_bundle(fake, policy)
    verdict = report.verdict(Property.INCLUSION)
    all_ok &= not verdict.passed
    results["tamper"]["checkpoint"] = verdict.to_dict()
    echo(f"impostor checkpoint -> inclusion {verdict.status}: {verdict.reason}")

    results["ok"] = bool(all_ok)
    results["out"] = str(out_dir)
    echo(f"bundles written to {out_dir}")
    echo(
        "demo result: "
        + (
            "every honest bundle verified, every tampering caught"
            if all_ok
            else "UNEXPECTED RESULT"
        )
    )
    return results
