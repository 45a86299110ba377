"""Synthetic FHIR R4 records for trying okeios, its examples and its tests (no real patient
data): a Patient, then lab Observations whose decimals keep their clinical precision."""

from __future__ import annotations

import json
import random

__all__ = ["synthetic_records"]

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
