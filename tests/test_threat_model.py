"""docs/threat-model.md names a test for every degree of freedom: each one must exist.

The page is parsed, every ``tests/<path>.py::<name>`` it names is resolved on the source (a
module-level function or class, or ``Class::method``), and every row of its tables must name at
least one test, so the argument cannot cite a check that is not there.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "threat-model.md"
_NODE = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)`")
_ROW = re.compile(r"^\| ([A-Z]\d+) \|")


_TOP_DEF = re.compile(r"^(?:async\s+)?def\s+(\w+)|^class\s+(\w+)|^(\w+)\s*(?::[^=]*)?=")
_METHOD = re.compile(r"^    (?:async\s+)?def\s+(\w+)")


def _defined(path: Path) -> set[str]:
    """Names a node id can use in ``path``: top-level functions and classes, ``Class::method``,
    and module-level assignments (``TestX = Machine.TestCase``). Read line by line (black-style
    source: top level at column 0, methods at 4), not with ``ast``: CPython 3.11's AST validator
    can raise a spurious recursion-depth SystemError deep inside a long test session."""
    names: set[str] = set()
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        top = _TOP_DEF.match(line)
        if top:
            function, cls, assigned = top.groups()
            current = cls
            names.add(function or cls or assigned)
            continue
        method = _METHOD.match(line)
        if method and current is not None:
            names.add(f"{current}::{method.group(1)}")
        elif line and not line[0].isspace() and not line.startswith(("#", "@", ")")):
            current = None
    return names


def _nodes(text: str) -> list[tuple[str, str]]:
    return _NODE.findall(text)


def test_every_test_the_threat_model_names_exists() -> None:
    text = PAGE.read_text(encoding="utf-8")
    named = _nodes(text)
    assert len(named) >= 40  # the page is the argument; a page that lost its rows is caught
    missing = []
    cache: dict[str, set[str]] = {}
    for rel, name in named:
        path = ROOT / rel
        if not path.is_file():
            missing.append(f"{rel} (no such file)")
            continue
        if name not in cache.setdefault(rel, _defined(path)):
            missing.append(f"{rel}::{name}")
    assert missing == []


def test_every_row_of_the_threat_model_names_a_test() -> None:
    rows = [line for line in PAGE.read_text(encoding="utf-8").splitlines() if _ROW.match(line)]
    assert len(rows) >= 30
    untested = [line[:60] for line in rows if not _nodes(line)]
    assert untested == []
    ids = [_ROW.match(line).group(1) for line in rows]  # type: ignore[union-attr]
    assert len(ids) == len(set(ids)), "row ids are unique"


def test_the_resolver_catches_a_missing_test(tmp_path: Path) -> None:
    module = tmp_path / "t.py"
    module.write_text("def test_a():\n    pass\nclass K:\n    def test_b(self):\n        pass\n")
    assert _defined(module) >= {"test_a", "K", "K::test_b"}
    assert "test_c" not in _defined(module)
    assert _nodes("see `tests/x/y.py::test_z` and `tests/a.py::K::m`") == [
        ("tests/x/y.py", "test_z"),
        ("tests/a.py", "K::m"),
    ]
