"""The store is storage, kept small: ``publish/store.py`` holds the lifecycle and the wiring
(at most 300 lines), and no part of it receives the whole store. Each part (records, access,
keys, checkpoints, journal, check, erasure, ...) is handed the slice of the unit of work it
uses, a ``typing.Protocol`` declared beside it that
:class:`~okeios._internal.publish.unit.Unit` satisfies (mypy checks that where the store wires
them), never the whole ``Unit``, and the other parts by name; no part holds an untyped
collaborator (``object``, ``Any``) either.

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
_UNIT_NAME = re.compile(r"\bUnit\b")
_UNTYPED = {"object", "Any", "typing.Any", "object | None", "Any | None"}
# each part and the slice of the unit it is handed: (module, function or class, the slice)
SLICES = {
    ("checkpoints.py", "SignedCheckpoints", "CheckpointsUnit"),
    ("journal.py", "AnchorJournal", "JournalUnit"),
    ("keys.py", "PublisherKeys", "KeysUnit"),
    ("records.py", "Records", "RecordsUnit"),
    ("access.py", "Access", "AccessUnit"),
    ("check.py", "check_store", "CheckUnit"),
    ("erasure.py", "purge", "ErasureUnit"),
    ("erasure.py", "pending_erasures", "ErasureUnit"),
}


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


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return [a for a in every if a is not None and a.arg not in ("self", "cls")]


def _wide_or_untyped(tree: ast.AST) -> list[str]:
    """Every function or method with a parameter annotated as the whole unit of work, and
    every constructor with a parameter annotated ``object`` or ``Any`` or not at all (a
    collaborator whose type says nothing of what is used of it)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for arg in _params(node):
            text = "" if arg.annotation is None else ast.unparse(arg.annotation).strip("'\"")
            if _UNIT_NAME.search(text):
                found.append(f"{node.name}({arg.arg}: {text})")
            elif node.name == "__init__" and (not text or text in _UNTYPED):
                found.append(f"{node.name}({arg.arg}: {text or 'untyped'})")
    return found


def _protocols(tree: ast.AST) -> set[str]:
    """The classes a module declares as a ``typing.Protocol``."""
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(ast.unparse(base) in ("Protocol", "typing.Protocol") for base in node.bases)
    }


def _unit_parameter(tree: ast.AST, name: str) -> str | None:
    """The annotation of the ``unit`` parameter of the function ``name`` or of the constructor
    of the class ``name``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            inits = [
                n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"
            ]
            return _unit_parameter(inits[0], "__init__") if inits else None
        if isinstance(node, ast.FunctionDef) and node.name == name:
            for arg in _params(node):
                if arg.arg == "unit" and arg.annotation is not None:
                    return ast.unparse(arg.annotation)
            return None
    return None


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


def test_no_part_takes_the_whole_unit_or_an_untyped_collaborator() -> None:
    offenders = {
        p.name: found
        for p in _parts()
        if p.name != "unit.py"
        and (found := _wide_or_untyped(ast.parse(p.read_text(encoding="utf-8"))))
    }
    assert not offenders, offenders


def test_each_part_is_handed_a_slice_declared_beside_it_or_shared() -> None:
    declared = {
        p.name: _protocols(ast.parse(p.read_text(encoding="utf-8"))) for p in PUBLISH.glob("*.py")
    }
    every = set().union(*declared.values())
    for module, part, slice_ in SLICES:
        tree = ast.parse((PUBLISH / module).read_text(encoding="utf-8"))
        assert _unit_parameter(tree, part) == slice_, (module, part)
        assert slice_ in every, slice_


def test_the_check_finds_a_part_that_takes_the_whole_unit_or_an_untyped_one() -> None:
    samples = [
        "class A:\n    def __init__(self, unit: Unit) -> None: ...",
        "def f(x: int, unit: 'Unit') -> None: ...",
        "def g(*, u: Unit | None = None) -> None: ...",
        "class B:\n    def __init__(self, owner: object) -> None: ...",
        "class C:\n    def __init__(self, owner: Any, n: int) -> None: ...",
        "class D:\n    def __init__(self, owner) -> None: ...",
    ]
    for text in samples:
        assert _wide_or_untyped(ast.parse(text)), text
    fine = (
        "class A:\n    def __init__(self, unit: KeysUnit, journal: AnchorJournal) -> None: ...\n"
        "def f(unit: ErasureUnit, seen: object) -> None: ...\n"
        "def g(units: list[Unity]) -> None: ..."
    )
    assert not _wide_or_untyped(ast.parse(fine))
    protocol = "class P(Protocol):\n    x: int\nclass Q(Base):\n    pass"
    assert _protocols(ast.parse(protocol)) == {"P"}
    typed = "class A:\n    def __init__(self, unit: P) -> None: ...\ndef f(unit: Q) -> None: ..."
    assert _unit_parameter(ast.parse(typed), "A") == "P"
    assert _unit_parameter(ast.parse(typed), "f") == "Q"
    assert _unit_parameter(ast.parse(typed), "g") is None
