"""Examples, notebooks and README snippets import only the public API: ``okeios`` (the verify
side, ``Publisher`` and what a reader of the examples needs), ``okeios.service`` (the store of
a service) and ``okeios.errors`` (issue 21). Everything else is free to move."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PUBLIC = {"okeios", "okeios.service", "okeios.errors"}
FENCE = re.compile(r"```python\n(.*?)```", re.S)


def _sources() -> list[tuple[str, str]]:
    out = [
        (str(p.relative_to(REPO)), p.read_text()) for p in sorted((REPO / "examples").glob("*.py"))
    ]
    for nb in sorted((REPO / "examples").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        for n, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                out.append((f"{nb.relative_to(REPO)} cell {n}", "".join(cell["source"])))
    for md in [REPO / "README.md", *sorted((REPO / "examples").glob("*.md"))]:
        for n, block in enumerate(FENCE.findall(md.read_text())):
            out.append((f"{md.relative_to(REPO)} snippet {n}", block))
    return out


def _okeios_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "okeios"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "okeios":
            found.append(node.module or "")
    return found


def test_examples_notebooks_and_readme_import_only_the_public_api() -> None:
    sources = _sources()
    assert len([name for name, _ in sources if "snippet" in name]) >= 2
    assert any("ipynb" in name for name, _ in sources)
    private = {
        name: sorted(set(mods) - PUBLIC)
        for name, source in sources
        if set(mods := _okeios_imports(source)) - PUBLIC
    }
    assert private == {}


@pytest.mark.parametrize(
    "source",
    ["from okeios._internal.publish.store import Store", "import okeios._internal.chain.connect"],
)
def test_the_check_sees_a_private_import(source: str) -> None:
    assert set(_okeios_imports(source)) - PUBLIC


def test_every_public_name_resolves() -> None:
    import okeios
    import okeios.service

    missing = [n for n in okeios.__all__ if getattr(okeios, n, None) is None]
    missing += [n for n in okeios.service.__all__ if getattr(okeios.service, n, None) is None]
    assert missing == []


def test_the_package_top_level_is_the_public_api_and_one_fence() -> None:
    """Beside the three public modules there is only ``okeios/_internal/`` (and data): a new
    module at the top would be public by accident."""
    top = REPO / "okeios"
    modules = {
        p.stem if p.suffix == ".py" else p.name
        for p in top.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert modules == {"__init__", "__main__", "errors", "service", "_internal"}


def test_the_api_page_names_every_public_name() -> None:
    """``docs/api.md`` lists every name ``okeios`` exports and every public verb of ``Okeios``."""
    import okeios
    from okeios.service import Okeios

    page = (REPO / "docs" / "api.md").read_text()
    names = [n for n in okeios.__all__ if n != "__version__"]
    names += [n for n in vars(Okeios) if not n.startswith("_")]
    assert [n for n in names if f"`{n}`" not in page] == []
