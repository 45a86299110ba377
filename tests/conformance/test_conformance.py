"""The conformance vectors (``vectors/v2/``, format in ``docs/spec/vectors.md``): the Python
verifier gives every vector's expected outcome, the vectors cover every reason a bundle or a
lineage can produce (by the Reason table of ``docs/spec/verification.md``), and regenerating
them gives the same bytes."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.verify.report import Reason
from tests.conformance.runner import run_case, run_key_history, run_proof, run_share, run_tiles

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "vectors" / "v2"
SPEC = ROOT / "docs" / "spec"
FILES = (
    "bundles.json",
    "lineage.json",
    "shares.json",
    "keyhistories.json",
    "log.json",
    "tiles.json",
)
RUNNERS = {
    "bundle": run_case,
    "lineage": run_case,
    "share": run_share,
    "keyHistory": run_key_history,
    "log": run_proof,
    "tiles": run_tiles,
}


def _load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


CASES = [(_load(name)["kind"], c) for name in FILES for c in _load(name)["cases"]]


@pytest.mark.parametrize(("kind", "case"), CASES, ids=[f"{k}:{c['name']}" for k, c in CASES])
def test_the_verifier_gives_the_expected_outcome(kind: str, case: dict[str, Any]) -> None:
    assert RUNNERS[kind](case) == case["expect"]


def test_every_file_declares_its_format() -> None:
    for name in FILES:
        doc = _load(name)
        assert (doc["format"], doc["formatVersion"], doc["protocolVersion"]) == (
            "okeios-conformance",
            1,
            2,
        ), name
        assert doc["cases"], name


def reason_table() -> dict[str, str]:
    """The Reason table of docs/spec/verification.md: reason -> the "produced by" column."""
    text = (SPEC / "verification.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z-]+)` \| [^|]+ \| ([^|]+) \|", text, re.MULTILINE)
    return {reason: where.strip() for reason, where in rows}


def test_every_reason_has_a_row_in_the_spec() -> None:
    table = reason_table()
    missing = [str(r) for r in Reason if str(r) not in table]
    assert not missing, f"Reason members without a row in docs/spec/verification.md: {missing}"
    unknown = sorted(set(table) - {str(r) for r in Reason})
    assert not unknown, f"rows naming no Reason member: {unknown}"


def test_the_vectors_cover_every_bundle_and_lineage_reason() -> None:
    wanted = {
        r for r, where in reason_table().items() if {"bundle", "lineage"} & set(where.split(", "))
    }
    seen: set[str] = set()
    for kind, case in CASES:
        if kind not in ("bundle", "lineage", "share"):
            continue
        expect = case["expect"]
        seen |= {v["reason"] for v in expect.get("verdicts", {}).values() if "reason" in v}
        if "reason" in expect.get("lineage", {}):
            seen.add(expect["lineage"]["reason"])
    assert wanted, "the table names reasons produced by bundles and lineages"
    assert not wanted - seen, f"no vector produces: {sorted(wanted - seen)}"


def test_regenerating_gives_the_same_files() -> None:
    path = ROOT / "scripts" / "make_conformance.py"
    spec = importlib.util.spec_from_file_location("make_conformance", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build()
    assert sorted(built) == sorted(FILES)
    for name, text in built.items():
        assert text == (VECTORS / name).read_text(encoding="utf-8"), name


def test_a_share_is_utf8_only() -> None:
    """docs/spec/encryption.md rule 7: a share is UTF-8 JSON text; the same share in UTF-16
    (which Python's json would guess from the bytes) is refused."""
    from okeios._internal.crypto.share import Share
    from okeios.errors import EncodingError

    [case] = [c for c in _load("shares.json")["cases"] if c["name"] == "share-opens"]
    text = case["share"]
    assert Share.from_json(text.encode("utf-8")).to_json() == Share.from_json(text).to_json()
    for encoding in ("utf-16-le", "utf-32"):
        with pytest.raises(EncodingError):
            Share.from_json(text.encode(encoding))
