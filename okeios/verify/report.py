"""What verification hands back: one verdict per property, a named reason per failure.

:class:`Reason` is the one vocabulary of failures: a bundle verdict, a lineage verdict and an
audit defect name the same failure the same way.
"""

from __future__ import annotations

import builtins
import enum
from dataclasses import dataclass
from typing import Any

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


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"  # not checked (for example no chain was given); never a pass


class Reason(enum.StrEnum):
    """Why a verdict failed, or what an audit found: one name per failure, whichever check
    finds it (a bundle verdict, a lineage verdict, an audit defect). JSON output uses the
    string values."""

    # integrity
    DIGESTS_MALFORMED = "digests-malformed"
    COMMITMENT_MISMATCH = "commitment-mismatch"
    FIELD_MALFORMED = "field-malformed"
    FIELD_NOT_COMMITTED = "field-not-committed"
    FIELD_CONFLICT = "field-conflict"
    EQUIVOCATION = "equivocation"
    RECORD_MALFORMED = "record-malformed"
    RECORD_MISMATCH = "record-mismatch"
    RECORD_NOT_VERIFIABLE = "record-not-verifiable"
    # authenticity
    SIGNATURE_MALFORMED = "signature-malformed"
    SIGNATURE_MISMATCH = "signature-mismatch"
    AUTHOR_NOT_TRUSTED = "author-not-trusted"
    # inclusion
    CHECKPOINT_SIGNATURE_MALFORMED = "checkpoint-signature-malformed"
    CHECKPOINT_SIGNATURE_MISMATCH = "checkpoint-signature-mismatch"
    PUBLISHER_NOT_TRUSTED = "publisher-not-trusted"
    LOG_MISMATCH = "log-mismatch"
    LOG_NOT_BOUND = "log-not-bound"
    TREE_SIZE_MISMATCH = "tree-size-mismatch"
    PROOF_MALFORMED = "proof-malformed"
    ROOT_MISMATCH = "root-mismatch"
    # anchoring
    NO_CHAIN = "no-chain"
    CHAIN_UNAVAILABLE = "chain-unavailable"
    CHAIN_MISMATCH = "chain-mismatch"
    REGISTRY_NOT_TRUSTED = "registry-not-trusted"
    NOT_ANCHORED = "not-anchored"
    ANCHOR_ROOT_MISMATCH = "anchor-root-mismatch"
    NOT_FINAL = "not-final"
    REGISTRY_MISSING = "registry-missing"
    # consistency
    INCONSISTENT_HISTORY = "inconsistent-history"
    EXTENSION_NOT_ANCHORED = "extension-not-anchored"
    CONSISTENCY_UNPROVEN = "consistency-unproven"
    # confidentiality
    NOT_ENCRYPTED = "not-encrypted"
    CIPHERTEXT_MISMATCH = "ciphertext-mismatch"
    # lineage
    MIXED_RECORDS = "mixed-records"
    EVENT_UNVERIFIED = "event-unverified"
    FORK = "fork"
    MISSING_ENTRY = "missing-entry"
    REORDERED = "reordered"
    DUPLICATE_ENTRY = "duplicate-entry"
    BAD_VERSION = "bad-version"
    BAD_START = "bad-start"
    MISSING_SOURCE = "missing-source"
    BACKDATED = "backdated"
    TIME_REVERSED = "time-reversed"
    AFTER_ERASE = "after-erase"
    MIXED_LOGS = "mixed-logs"
    # audit (a published log file against the chain)
    MALFORMED_ENTRY = "malformed-entry"
    FOREIGN_LOG = "foreign-log"
    SECOND_LOG = "second-log"
    CHECKPOINT_MISMATCH = "checkpoint-mismatch"
    TRUNCATED_LOG = "truncated-log"
    HISTORY_MISMATCH = "history-mismatch"
    FUTURE_DATED = "future-dated"
    # identity (docs/identity.md): delegation from a trusted organisation
    AUTHOR_NOT_AUTHORISED = "author-not-authorised"
    AUTHOR_EXPIRED = "author-expired"
    AUTHOR_REVOKED = "author-revoked"
    AUTHOR_ROLE_NOT_TRUSTED = "author-role-not-trusted"
    AUTHORISATIONS_MISSING = "authorisations-missing"
    PUBLISHER_RETIRED = "publisher-retired"
    IDENTITY_INVALID = "identity-invalid"


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


def _pass(prop: Property, detail: str = "") -> Verdict:
    return Verdict(prop, Status.PASS, None, detail)


def _fail(prop: Property, reason: Reason, detail: str) -> Verdict:
    return Verdict(prop, Status.FAIL, reason, detail)


@dataclass(frozen=True, slots=True)
class Report:
    """The verification report of one bundle."""

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

    @property
    def passed(self) -> bool:
        """Whether no verdict failed (skipped verdicts, such as anchoring without a chain,
        are listed in the report but do not fail it)."""
        return not self.failures

    @property
    def failures(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.status is Status.FAIL)

    def verdict(self, prop: Property | str) -> Verdict:
        for v in self.verdicts:
            if v.property == prop:
                return v
        raise KeyError(prop)

    def raise_for_failure(self) -> None:
        """Raise :class:`VerificationError` naming every failed verdict, if any."""
        if self.failures:
            summary = "; ".join(f"{v.property}: {v.reason} ({v.detail})" for v in self.failures)
            raise VerificationError(self, f"bundle {self.event_id.hex()} failed: {summary}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": "pass" if self.passed else "fail",
            "event": "0x" + self.event_id.hex(),
            "record": "0x" + self.record_id.hex(),
            "kind": self.kind,
            "author": self.author,
            "publisher": self.publisher,
            "treeSize": self.tree_size,
            "verdicts": {str(v.property): v.to_dict() for v in self.verdicts},
            "disclosed": dict(self.disclosed),
            "anchoredBlock": self.anchored_block,
            "anchoredTime": self.anchored_time,
        }


# --- the checks -------------------------------------------------------------------------------


def _skip(prop: Property, detail: str) -> Verdict:
    return Verdict(prop, Status.SKIPPED, Reason.NO_CHAIN, detail)
