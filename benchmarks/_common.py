"""Helpers shared by the benchmarks that replay the FHIR R4 examples (not a benchmark itself).

The benchmarks run as scripts (``python benchmarks/NAME.py``), so this folder is on
``sys.path`` and they import it as ``_common``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FHIR = REPO.parent / "shared" / "fhir" / "r4-examples"


def example_resources(folder: Path) -> list[dict[str, Any]]:
    """The FHIR resources of ``folder``'s ``*.json`` files (Bundles left out), by file name."""
    out = []
    for path in sorted(folder.glob("*.json")):
        value = json.loads(path.read_bytes())
        if isinstance(value, dict) and value.get("resourceType") not in (None, "Bundle"):
            out.append(value)
    if not out:
        raise SystemExit(f"no FHIR resources in {folder}")
    return out


def replica(base: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """The ``n``-th resource of an endless run over ``base``: its example, with an id made
    unique per round (``<example id, at most 40 characters>-<round>``)."""
    value = dict(base[n % len(base)])
    value["id"] = f"{str(value.get('id', 'r'))[:40]}-{n // len(base)}"
    return value
