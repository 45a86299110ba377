"""One home per concept: every public exception is defined in ``okeios/errors.py``, and no
module spells a list of event kinds by hand (they come from
``okeios/_internal/protocol/kinds.py``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import okeios.errors

PACKAGE = Path(__file__).resolve().parents[2] / "okeios"


def _classes() -> list[tuple[Path, ast.ClassDef]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        out.extend((path, node) for node in ast.walk(tree) if isinstance(node, ast.ClassDef))
    return out


def _is_exception(name: str) -> bool:
    value = getattr(okeios.errors, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def test_every_public_exception_lives_in_errors() -> None:
    strays = []
    for path, node in _classes():
        if path.name == "errors.py" or node.name.startswith("_"):
            continue
        bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
        if any(b.endswith(("Error", "Exception")) or _is_exception(b) for b in bases):
            strays.append(f"{path.relative_to(PACKAGE.parent)}: {node.name}")
    assert strays == [], f"public exceptions outside okeios/errors.py: {strays}"
    for name in okeios.errors.__all__:
        assert _is_exception(name), name


# A literal tuple, set or SQL list of two or more kind names, e.g. ("create", "derive") or
# kind IN ('create', 'derive'): such lists are derived from the kinds table instead.
_KIND = r"create|amend|derive|grant|revoke|access|erase|authorise|deauthorise|handover"
_LITERAL_LIST = re.compile(rf"""['"](?:{_KIND})['"]\s*,\s*['"](?:{_KIND})['"]""")


def test_no_module_lists_kinds_by_hand() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "kinds.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _LITERAL_LIST.search(line):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert found == [], "kind lists spelled by hand:\n" + "\n".join(found)


def test_every_whole_log_check_reports_one_finding_shape() -> None:
    """The audit, lineage, tiles and identity audits all report :class:`Finding` values, and
    no other finding or defect class is defined anywhere."""
    import typing

    from okeios._internal.verify.audit import AuditReport
    from okeios._internal.verify.finding import Finding
    from okeios._internal.verify.identity_audit import IdentityAudit
    from okeios._internal.verify.lineage import check_lineage

    assert typing.get_type_hints(AuditReport)["defects"] == list[Finding]
    assert typing.get_type_hints(IdentityAudit)["findings"] == list[Finding]
    assert typing.get_type_hints(check_lineage)["return"] == list[Finding]
    others = [
        f"{path.relative_to(PACKAGE.parent)}: {node.name}"
        for path, node in _classes()
        if node.name.endswith(("Finding", "Defect")) and path.name != "finding.py"
    ]
    assert others == []


#: Renames that move a file already written whole (not writes): the staged publisher key
#: becoming the current one at the last step of a rotation.
_RENAMES_ALLOWED = {"okeios/_internal/publish/home.py"}


def test_one_atomic_file_writer() -> None:
    """Files are written whole through ``okeios/_internal/files.py`` only: no module makes its
    own temporary file and rename (four did, some without fsync or cleanup)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE.parent))
        if path.name == "files.py" or rel in _RENAMES_ALLOWED:
            continue
        text = path.read_text(encoding="utf-8")
        found += [f"{rel}: {m}" for m in re.findall(r"mkstemp\(|os\.replace\(|os\.rename\(", text)]
    assert found == []
