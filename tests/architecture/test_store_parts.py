"""The store is storage, kept small: ``publish/store.py`` holds the lifecycle and the wiring
(at most 300 lines), and no part of it receives the whole store. Each part (records, access,
keys, checkpoints, journal, check, erasure, ...) is handed the unit of work it needs
(:class:`~okeios._internal.publish.unit.Unit`) and the other parts by name.

Above the store sit the modules that drive a whole store from outside, as the CLI and the
service do: anchoring (which a key rotation's chain step runs).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PUBLISH = ROOT / "okeios" / "_internal" / "publish"
STORE = PUBLISH / "store.py"
MAX_STORE_LINES = 300
ABOVE_THE_STORE = {"store.py", "anchoring.py"}
_STORE_NAME = re.compile(r"\bStore\b")


def _parts() -> list[Path]:
    return sorted(p for p in PUBLISH.glob("*.py") if p.name not in ABOVE_THE_STORE)


def _takes_a_store(tree: ast.AST) -> list[str]:
    """Every function or method (constructors included) with a parameter annotated as the
    store, and every import of the store's module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is None or arg.annotation is None:
                    continue
                if _STORE_NAME.search(ast.unparse(arg.annotation)):
                    found.append(f"{node.name}({arg.arg}: {ast.unparse(arg.annotation)})")
        elif isinstance(node, ast.ImportFrom) and node.module == "okeios._internal.publish.store":
            found.append(f"imports {node.module}")
    return found


def test_the_store_is_at_most_300_lines() -> None:
    lines = len(STORE.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_STORE_LINES, f"store.py has {lines} lines (at most {MAX_STORE_LINES})"


def test_no_part_of_the_store_receives_the_store() -> None:
    parts = _parts()
    assert {"records.py", "access.py", "keys.py", "checkpoints.py", "journal.py"} <= {
        p.name for p in parts
    }
    offenders = {
        p.name: found
        for p in parts
        if (found := _takes_a_store(ast.parse(p.read_text(encoding="utf-8"))))
    }
    assert not offenders, offenders


def test_the_check_finds_a_part_that_takes_the_store() -> None:
    # the check itself can fail: a constructor typed with the store, a function with it as a
    # string annotation, a keyword-only parameter, an import of the store's module
    samples = [
        "class A:\n    def __init__(self, store: Store) -> None: ...",
        "def f(x: int, store: 'Store | None') -> None: ...",
        "def g(*, s: Store) -> None: ...",
        "from okeios._internal.publish.store import Store",
    ]
    for text in samples:
        assert _takes_a_store(ast.parse(text)), text
    assert not _takes_a_store(ast.parse("def h(e: StoreError, t: StoredTree) -> None: ..."))
