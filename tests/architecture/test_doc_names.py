"""Every dotted name (`okeios.x.y`) and every repository path (`okeios/x.py`, `tests/...`,
`scripts/...`) that README and docs cite in backticks resolves: a renamed module, function or
file cannot leave the docs pointing at nothing."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("*/README.md")],
)
_DOTTED = re.compile(r"`(okeios(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?:\(\))?`")
_PATH = re.compile(
    r"`((?:okeios|tests|scripts|benchmarks|examples|contracts|docs|js|vectors)/[A-Za-z0-9_./-]*)"
    r"(?:::[A-Za-z0-9_]+)?`"
)


def _resolve(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _cited() -> list[tuple[str, str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        rel = str(doc.relative_to(ROOT))
        found += [(rel, "name", m) for m in _DOTTED.findall(text)]
        found += [(rel, "path", m) for m in _PATH.findall(text)]
    return found


def test_docs_cite_something() -> None:
    kinds = {kind for _, kind, _ in _cited()}
    assert kinds == {"name", "path"}


@pytest.mark.parametrize("doc", [str(d.relative_to(ROOT)) for d in DOCS])
def test_every_cited_name_and_path_resolves(doc: str) -> None:
    broken = []
    for where, kind, cited in _cited():
        if where != doc:
            continue
        if kind == "name" and not _resolve(cited):
            broken.append(cited)
        if kind == "path":
            target = cited.rstrip("/")
            if any(ch in target for ch in "*?") or not target:
                continue
            if target.startswith("okeios/") and not target.endswith(".py") and "." in target:
                continue  # a published file of a tiled log (okeios/log.json), not a source path
            if not (ROOT / target).exists():
                broken.append(cited)
    assert broken == [], f"{doc} cites what does not exist: {sorted(set(broken))}"
