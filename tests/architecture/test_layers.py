"""The layering rules of ``okeios/``, checked on the source: each layer imports only layers
below it, ``verify`` and ``publish`` never import each other, the pure core loads no chain or
database library, and importing the read side loads no web3."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "okeios"

# rank of each top-level part; a module may import only parts of a strictly lower rank, or
# its own part. publish and verify share a rank, so neither can import the other.
RANK = {
    "_internal": 0,
    "errors": 0,
    "faults": 0,
    "gcpause": 0,
    "files": 1,
    "protocol": 1,
    "crypto": 2,
    "config": 2,
    "descriptor": 2,
    "chain": 3,
    "publish": 4,
    "verify": 4,
    "samples": 1,
    "service": 6,
    "report": 6,
    "cli": 7,
    "__main__": 8,
    "__init__": 8,
}
# third-party libraries a layer must not load (directly or via a lower layer)
FORBIDDEN = {
    "protocol": {"web3", "eth_account", "eth_tester", "eth_abi", "sqlite3", "eth", "psycopg"},
    "crypto": {"web3", "eth_account", "eth_tester", "eth_abi", "sqlite3", "eth", "psycopg"},
    "verify": {"web3", "eth_account", "eth_tester", "eth_abi", "sqlite3", "eth", "psycopg"},
    "report": {"web3", "eth_account", "eth_tester", "eth_abi", "sqlite3", "eth", "psycopg"},
}


def _part(module: str) -> str:
    """The layer of a module: ``okeios.X`` for the public modules, ``okeios._internal.X``
    for the private ones (the package ``okeios._internal`` itself is empty, rank 0)."""
    parts = module.split(".")
    assert parts[0] == "okeios"
    if len(parts) > 1 and parts[1] == "_internal":
        parts = parts[1:]
    if parts[0] == "_internal":
        return parts[1] if len(parts) > 1 else "_internal"
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        out.append((name.removesuffix(".__init__"), path))
    return out


def _imports(name: str, path: Path) -> list[str]:
    """Every module this file imports, at any depth of the file (lazy imports included),
    except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append(mod)
            for alias in node.names:  # from okeios._internal.verify import bulk
                found.append(f"{mod}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


MODULES = _modules()


@pytest.mark.parametrize(("name", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_no_import_runs_up_a_layer(name: str, path: Path) -> None:
    part = _part(name)
    assert part in RANK, f"{name}: a new top-level part needs a rank in this test"
    for imported in _imports(name, path):
        if not imported.startswith("okeios.") and imported != "okeios":
            top = imported.split(".")[0]
            assert top not in FORBIDDEN.get(part, set()), f"{name} imports {imported}"
            continue
        if imported == "okeios" or imported == "okeios.__version__":
            continue  # the version string
        target = _part(imported)
        if target not in RANK:  # from okeios import X where X is a public name
            continue
        if target == part:
            continue
        assert RANK[target] < RANK[part], f"{name} ({part}) imports {imported} ({target})"


def test_the_rules_catch_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from okeios._internal.publish.store import Store\nimport web3\n")
    found = _imports("okeios._internal.verify.bad", bad)
    assert "okeios._internal.publish.store" in found
    assert "web3" in found
    assert RANK[_part("okeios._internal.publish.store")] >= RANK["verify"]


@pytest.mark.parametrize(
    "module",
    [
        "okeios",
        "okeios._internal.protocol.bundle",
        "okeios._internal.verify",
        "okeios._internal.verify.lineage",
    ],
)
def test_the_read_side_loads_no_chain_library(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "heavy = sorted(m for m in ('web3', 'eth_account', 'eth_tester', 'eth', 'sqlite3')"
        " if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"importing {module} loads {out}"


# --- one hex codec (okeios/_internal/protocol/hexcodec.py)
# -------------------------------------------------


def _fromhex_calls(tree: ast.AST) -> list[int]:
    """Line numbers of every ``<anything>.fromhex(...)`` call."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "fromhex"
    ]


def _outside_the_hex_codec(rule: Callable[[ast.AST], list[int]]) -> dict[str, list[int]]:
    """The lines a rule finds in each module of the package but the hex codec itself."""
    return {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "hexcodec.py"
        and (lines := rule(ast.parse(path.read_text(encoding="utf-8"))))
    }


def test_hex_text_becomes_bytes_only_in_the_one_hex_codec() -> None:
    """Issue 19, item 3: every identifier is parsed in one canonical form. ``bytes.fromhex``
    accepts upper case, spaces and any length, so outside ``hexcodec`` it is banned: a second,
    lenient parser is how a re-cased log id became a second log."""
    assert _outside_the_hex_codec(_fromhex_calls) == {}


def test_the_hex_rule_catches_a_lenient_parser() -> None:
    assert _fromhex_calls(ast.parse("x = bytes.fromhex(s.removeprefix('0x'))")) == [1]


def _calls_hex(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "hex"
        for n in ast.walk(node)
    )


def _ends_0x(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith("0x")
    )


def _hand_written_hex(tree: ast.AST) -> list[int]:
    """Line numbers of every ``"0x" + <...>.hex()`` and ``f"0x{<...>.hex()}"``: bytes written
    as ``0x`` text by hand instead of by the codec's :func:`to_hex`."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            if _ends_0x(node.left) and _calls_hex(node.right):
                found.add(node.lineno)
        elif isinstance(node, ast.JoinedStr):
            for text, value in itertools.pairwise(node.values):
                is_hex = isinstance(value, ast.FormattedValue) and _calls_hex(value.value)
                if _ends_0x(text) and is_hex:
                    found.add(node.lineno)
    return sorted(found)


def test_bytes_become_0x_text_only_in_the_one_hex_codec() -> None:
    """Issue 21: ids were written as ``"0x" + x.hex()`` in 41 places beside the codec, each a
    chance to write another spelling (upper case, a cut id, no prefix). ``to_hex`` (or a
    typed id's ``str()``) is the one writer; only the codec itself spells it out."""
    assert _outside_the_hex_codec(_hand_written_hex) == {}


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ('x = "0x" + event.id.hex()', [1]),
        ("x = ['0x' + d.hex() for d in ds]", [1]),
        ('x = f"event 0x{logged.id.hex()} logged"', [1]),
        ("x = f\"event 0x{(tx or b'').hex()[:16]}…\"", [1]),
        ("x = to_hex(event.id)", []),
        ('x = "0x" + "00" * 20', []),  # no bytes written: a literal
        ('x = f"{to_hex(event.id)}"', []),
    ],
)
def test_the_0x_rule_catches_a_hand_written_conversion(source: str, lines: list[int]) -> None:
    assert _hand_written_hex(ast.parse(source)) == lines


def test_the_one_hex_codec_reads_only_the_canonical_form() -> None:
    from okeios._internal.protocol.hexcodec import from_hex
    from okeios.errors import InputError

    assert from_hex("0x" + "ab" * 32, size=32) == b"\xab" * 32
    for bad in (
        "0x" + "AB" * 32,
        "0X" + "ab" * 32,
        "0x" + "ab" * 31,
        "0x" + "ab" * 33,
        "ab" * 32,
        " 0xab",
        "0xa",
    ):
        with pytest.raises(InputError):
            from_hex(bad, size=32 if len(bad) > 10 else None)
    assert from_hex("0x" + "AB" * 20, any_case=True) == b"\xab" * 20  # addresses (EIP-55) only
