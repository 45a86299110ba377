"""What verification hands back: one verdict per property, a named reason per failure.

:class:`Reason` is the one vocabulary of failures: a bundle verdict, a lineage verdict and an
audit defect name the same failure the same way.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import enum
from dataclasses import dataclass
from typing import Any

from okeios._internal.protocol.hexcodec import hex_repr, to_hex
from okeios._internal.protocol.reasons import (
    Reason as Reason,  # re-exported: the verifier speaks it
)
from okeios.errors import (
    VerificationError,
)


class Property(enum.StrEnum):
    """What a verdict is about."""

    INTEGRITY = "integrity"
    AUTHENTICITY = "authenticity"
    INCLUSION = "inclusion"
    ANCHORING = "anchoring"
    CONSISTENCY = "consistency"
    CONFIDENTIALITY = "confidentiality"
    LINEAGE = "lineage"
    WITNESSING = "witnessing"


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"  # not checked (for example no chain was given); never a pass
    UNDECIDED = "undecided"  # checking was attempted but could not finish (chain unreachable)


#: What a verifier requires by default: the properties a bundle proves offline. Anchoring and
#: consistency need a chain; require them (``TrustPolicy(required=...)``) to make their absence
#: count against the result.
OFFLINE_PROPERTIES = frozenset(
    {Property.INTEGRITY, Property.AUTHENTICITY, Property.INCLUSION, Property.CONFIDENTIALITY}
)
CHAIN_PROPERTIES = frozenset({Property.ANCHORING, Property.CONSISTENCY})


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome for one property: pass, or fail with a named reason and a detail."""

    property: Property
    status: Status
    reason: Reason | None = None
    detail: str = ""

    @builtins.property  # the field above shadows the builtin inside this class body
    def passed(self) -> bool:
        return self.status is Status.PASS

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"property": str(self.property), "result": str(self.status)}
        if self.reason is not None:
            out["reason"] = str(self.reason)
        if self.detail:
            out["detail"] = self.detail
        return out


_UNCHECKED = (Status.SKIPPED, Status.UNDECIDED)


def headline(outcome: Status, verdicts: tuple[Verdict, ...], required: frozenset[Property]) -> str:
    """``PASS``, ``FAIL (...)`` or ``UNDECIDED (...)``, naming failures and what was not
    checked."""
    failed = [f"{v.property}: {v.reason}" for v in verdicts if v.status is Status.FAIL]
    unchecked = [v for v in verdicts if v.status in _UNCHECKED]
    parts = []
    if failed:
        parts.append("failed: " + ", ".join(failed))
    missing = [str(v.property) for v in unchecked if v.property in required]
    optional = [str(v.property) for v in unchecked if v.property not in required]
    if missing:
        parts.append("required but not checked: " + ", ".join(missing))
    if optional:
        parts.append("not checked: " + ", ".join(optional))
    word = str(outcome).upper()
    return f"{word} ({'; '.join(parts)})" if parts else word


def _pass(prop: Property, detail: str = "") -> Verdict:
    return Verdict(prop, Status.PASS, None, detail)


def _fail(prop: Property, reason: Reason, detail: str) -> Verdict:
    return Verdict(prop, Status.FAIL, reason, detail)


@dataclass(frozen=True, slots=True)
class Report:
    """The verification report of one bundle."""

    def __repr__(self) -> str:
        return hex_repr(self)

    event_id: bytes
    record_id: bytes
    kind: str
    author: str
    publisher: str
    tree_size: int
    verdicts: tuple[Verdict, ...]
    disclosed: tuple[tuple[str, str], ...]
    anchored_block: int | None = None
    anchored_time: int | None = None
    required: frozenset[Property] = OFFLINE_PROPERTIES
    #: the typed paths of ``disclosed``, in the same order (an index and a member ``"0"`` are
    #: one JSON Pointer but two paths): what batch verification compares across bundles
    disclosed_paths: tuple[tuple[str | int, ...], ...] = ()

    @property
    def outcome(self) -> Status:
        """``FAIL`` if any verdict failed; else ``UNDECIDED`` if a required verdict was not
        checked (skipped, or the chain could not be read); else ``PASS``. Never ``SKIPPED``."""
        if self.failures:
            return Status.FAIL
        if any(v.property in self.required and not v.passed for v in self.verdicts):
            return Status.UNDECIDED
        return Status.PASS

    @property
    def passed(self) -> bool:
        """Whether every required verdict passed and none failed. A verdict that was not
        checked (anchoring without a chain) never counts as passed: :attr:`not_checked` lists
        it, and it makes the outcome ``UNDECIDED`` when the policy requires it."""
        return self.outcome is Status.PASS

    @property
    def not_checked(self) -> tuple[Property, ...]:
        """The properties that were skipped or could not be decided."""
        return tuple(v.property for v in self.verdicts if v.status in _UNCHECKED)

    def headline(self) -> str:
        """One line that says what was and was not checked, e.g. ``PASS (not checked:
        anchoring, consistency)``; it never reads as a bare pass when something was skipped."""
        return headline(self.outcome, self.verdicts, self.required)

    @property
    def failures(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.status is Status.FAIL)

    def verdict(self, prop: Property | str) -> Verdict:
        for v in self.verdicts:
            if v.property == prop:
                return v
        raise KeyError(prop)

    def raise_for_failure(self) -> None:
        """Raise :class:`VerificationError` unless the report passed, naming every failed or
        required-but-unchecked verdict."""
        if not self.passed:
            summary = "; ".join(
                f"{v.property}: {v.status} {v.reason} ({v.detail})"
                for v in self.verdicts
                if v.status is Status.FAIL or (v.property in self.required and not v.passed)
            )
            raise VerificationError(self, f"bundle {self.event_id.hex()} {self.outcome}: {summary}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": str(self.outcome),
            "headline": self.headline(),
            "required": sorted(str(p) for p in self.required),
            "notChecked": [str(p) for p in self.not_checked],
            "event": to_hex(self.event_id),
            "record": to_hex(self.record_id),
            "kind": self.kind,
            "author": self.author,
            "publisher": self.publisher,
            "treeSize": self.tree_size,
            "verdicts": {str(v.property): v.to_dict() for v in self.verdicts},
            "disclosed": {path: _json_value(value) for path, value in self.disclosed},
            "anchoredBlock": self.anchored_block,
            "anchoredTime": self.anchored_time,
            "anchoredAt": None
            if self.anchored_time is None
            else _dt.datetime.fromtimestamp(self.anchored_time, _dt.UTC)
            .isoformat()
            .replace("+00:00", "Z"),
        }


# --- the checks -------------------------------------------------------------------------------


def _skip(prop: Property, detail: str) -> Verdict:
    return Verdict(prop, Status.SKIPPED, Reason.NO_CHAIN, detail)


def _undecided(prop: Property, reason: Reason, detail: str) -> Verdict:
    return Verdict(prop, Status.UNDECIDED, reason, detail)


def _json_value(text: str) -> Any:
    """A disclosed value (canonical JSON text) as the JSON value it is; the text itself when
    it does not parse (integrity then failed, and says why)."""
    from okeios._internal.protocol.canonical import parse_json, to_plain
    from okeios.errors import OkeiosError

    try:
        return to_plain(parse_json(text))
    except OkeiosError:
        return text
