"""Offline verification of proof bundles: one verdict per property, a named reason per failure.

The checks are pure: they take a decoded :class:`~okeios.bundle.Bundle`, the caller's
:class:`TrustPolicy` and optionally the record itself, and never touch a file or a network.
Whom to trust is the caller's policy, never the bundle's word.

* **integrity**: the disclosed fields (and the record, if given) match the signed commitment;
* **authenticity**: the event signature is valid and its author is allowed by the policy;
* **inclusion**: the event's log entry is in the tree of a checkpoint signed by an allowed
  publisher, for the same log.

:func:`verify_bundle` returns a :class:`Report`; :func:`verify_bundle_or_raise` raises
:class:`~okeios.errors.VerificationError` (carrying the report) unless every verdict passes.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .bundle import Bundle
from .canonical import JSONValue, canonicalize, iter_leaves, parse_json
from .commitment import commitment_from_digests
from .errors import CommitmentError, OkeiosError, PolicyError, ProofError, VerificationError
from .merkle import ProofMismatchError, leaf_hash, verify_inclusion
from .signing import checksum_address

__all__ = [
    "ANYONE",
    "Property",
    "Reason",
    "Report",
    "Status",
    "TrustPolicy",
    "Verdict",
    "verify_bundle",
    "verify_bundle_or_raise",
]


class Property(enum.StrEnum):
    """What a verdict is about."""

    INTEGRITY = "integrity"
    AUTHENTICITY = "authenticity"
    INCLUSION = "inclusion"


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"


class Reason(enum.StrEnum):
    """Why a verdict failed."""

    # integrity
    DIGESTS_MALFORMED = "digests-malformed"
    COMMITMENT_MISMATCH = "commitment-mismatch"
    FIELD_MALFORMED = "field-malformed"
    FIELD_NOT_COMMITTED = "field-not-committed"
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
    TREE_SIZE_MISMATCH = "tree-size-mismatch"
    PROOF_MALFORMED = "proof-malformed"
    ROOT_MISMATCH = "root-mismatch"


class _Anyone:
    """The explicit "trust any address" policy value."""

    def __repr__(self) -> str:
        return "ANYONE"


ANYONE = _Anyone()


@dataclass(frozen=True, slots=True, init=False)
class TrustPolicy:
    """Which authors and publishers a verifier accepts.

    Pass address lists, or :data:`ANYONE` to accept any signer explicitly. An empty list is
    refused as likely misuse (it would reject everything, or, worse, be read as "no limit").
    """

    authors: frozenset[str] | _Anyone
    publishers: frozenset[str] | _Anyone

    def __init__(
        self, *, authors: Iterable[str] | _Anyone, publishers: Iterable[str] | _Anyone
    ) -> None:
        object.__setattr__(self, "authors", self._normalise("authors", authors))
        object.__setattr__(self, "publishers", self._normalise("publishers", publishers))

    @staticmethod
    def _normalise(name: str, value: Iterable[str] | _Anyone) -> frozenset[str] | _Anyone:
        if isinstance(value, _Anyone):
            return value
        if isinstance(value, str):
            raise PolicyError(f"{name} must be a list of addresses, not one string")
        try:
            found = frozenset(checksum_address(a) for a in value)
        except OkeiosError as exc:
            raise PolicyError(f"{name}: {exc}") from exc
        if not found:
            raise PolicyError(f"{name} is empty: pass addresses, or ANYONE to trust any")
        return found

    def allows_author(self, address: str) -> bool:
        return isinstance(self.authors, _Anyone) or address in self.authors

    def allows_publisher(self, address: str) -> bool:
        return isinstance(self.publishers, _Anyone) or address in self.publishers


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

    @property
    def passed(self) -> bool:
        """Whether every verdict passed."""
        return all(v.passed for v in self.verdicts)

    @property
    def failures(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if not v.passed)

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
        }


# --- the checks -------------------------------------------------------------------------------


def _check_integrity(bundle: Bundle, record: bytes | JSONValue | None) -> Verdict:
    p = Property.INTEGRITY
    d = bundle.disclosure
    try:
        commitment = commitment_from_digests(d.digests)
    except CommitmentError as exc:
        return _fail(p, Reason.DIGESTS_MALFORMED, str(exc))
    if commitment != bundle.event.event.commitment:
        return _fail(
            p, Reason.COMMITMENT_MISMATCH, "the field digests do not give the signed commitment"
        )
    digests = set(d.digests)
    seen: set[str] = set()
    for f in d.fields:
        if f.path in seen:
            return _fail(p, Reason.FIELD_MALFORMED, f"field {f.path!r} is disclosed twice")
        seen.add(f.path)
        if f.digest not in digests:
            return _fail(
                p, Reason.FIELD_NOT_COMMITTED, f"field {f.path!r} is not in the commitment"
            )
        try:
            canonical = canonicalize(parse_json(f.value))
        except OkeiosError as exc:
            return _fail(p, Reason.FIELD_MALFORMED, f"field {f.path!r}: {exc}")
        if canonical != f.value:
            return _fail(p, Reason.FIELD_MALFORMED, f"field {f.path!r} is not canonical JSON")
    if record is None:
        shown = f"{len(d.fields)} of {len(d.digests)} fields disclosed and committed"
        return _pass(p, shown)
    try:
        value = parse_json(record) if isinstance(record, bytes) else record
        leaves = {path: canonicalize(v) for path, v in iter_leaves(value)}
    except OkeiosError as exc:
        return _fail(p, Reason.RECORD_MALFORMED, str(exc))
    disclosed = {f.path: f.value for f in d.fields}
    for path, v in leaves.items():
        if path not in disclosed:
            if len(disclosed) < len(d.digests):
                return _fail(
                    p,
                    Reason.RECORD_NOT_VERIFIABLE,
                    f"the bundle discloses {len(disclosed)} of {len(d.digests)} fields; "
                    f"field {path!r} of the record cannot be checked",
                )
            return _fail(
                p, Reason.RECORD_MISMATCH, f"the record has a field {path!r} not committed"
            )
        if disclosed[path] != v:
            return _fail(p, Reason.RECORD_MISMATCH, f"the record's field {path!r} differs")
    if len(leaves) != len(d.digests):
        missing = sorted(set(disclosed) - set(leaves))
        where = f" (missing {missing[0]!r})" if missing else ""
        return _fail(
            p,
            Reason.RECORD_MISMATCH,
            f"the record has {len(leaves)} fields, the commitment {len(d.digests)}{where}",
        )
    return _pass(p, f"the record matches the commitment ({len(leaves)} fields)")


def _check_authenticity(bundle: Bundle, policy: TrustPolicy) -> Verdict:
    p = Property.AUTHENTICITY
    event = bundle.event.event
    try:
        signer = bundle.event.recover()
    except OkeiosError as exc:
        return _fail(p, Reason.SIGNATURE_MALFORMED, str(exc))
    if signer != event.author:
        return _fail(
            p,
            Reason.SIGNATURE_MISMATCH,
            f"the signature recovers to {signer}, the event names {event.author} as its author",
        )
    if not policy.allows_author(signer):
        return _fail(p, Reason.AUTHOR_NOT_TRUSTED, f"author {signer} is not in the trust policy")
    return _pass(p, f"signed by {signer}")


def _check_inclusion(bundle: Bundle, policy: TrustPolicy) -> Verdict:
    p = Property.INCLUSION
    signed = bundle.checkpoint
    cp = signed.checkpoint
    try:
        publisher = signed.recover()
    except OkeiosError as exc:
        return _fail(p, Reason.CHECKPOINT_SIGNATURE_MALFORMED, str(exc))
    if publisher != signed.publisher:
        return _fail(
            p,
            Reason.CHECKPOINT_SIGNATURE_MISMATCH,
            f"the checkpoint signature recovers to {publisher}, not {signed.publisher}",
        )
    if not policy.allows_publisher(publisher):
        return _fail(p, Reason.PUBLISHER_NOT_TRUSTED, f"publisher {publisher} is not trusted")
    if bundle.event.event.log_id != cp.log_id:
        return _fail(p, Reason.LOG_MISMATCH, "the event belongs to another log than the checkpoint")
    inc = bundle.inclusion
    if inc.tree_size != cp.tree_size:
        return _fail(
            p,
            Reason.TREE_SIZE_MISMATCH,
            f"the proof is for a tree of {inc.tree_size}, the checkpoint has {cp.tree_size}",
        )
    leaf = leaf_hash(bundle.event.leaf_data())
    try:
        verify_inclusion(inc.index, inc.tree_size, leaf, inc.path, cp.root)
    except ProofMismatchError as exc:
        return _fail(p, Reason.ROOT_MISMATCH, str(exc))
    except ProofError as exc:
        return _fail(p, Reason.PROOF_MALFORMED, str(exc))
    return _pass(p, f"entry {inc.index} of {cp.tree_size}, checkpoint signed by {publisher}")


def verify_bundle(
    bundle: Bundle | bytes, policy: TrustPolicy, *, record: bytes | JSONValue | None = None
) -> Report:
    """Verify a bundle offline and return the report (never raises for a failed check).

    ``bundle`` may be encoded bytes (either form); bytes that do not decode raise a
    :class:`~okeios.errors.BundleError`, since there is nothing to report on. ``record``, the
    record's JSON bytes or parsed value, is checked field by field against the commitment.
    """
    if not isinstance(policy, TrustPolicy):
        raise PolicyError("verify_bundle needs a TrustPolicy")
    if not isinstance(bundle, Bundle):
        bundle = Bundle.load(bytes(bundle))
    event = bundle.event.event
    verdicts = (
        _check_integrity(bundle, record),
        _check_authenticity(bundle, policy),
        _check_inclusion(bundle, policy),
    )
    disclosed = tuple((f.path, f.value.decode("utf-8")) for f in bundle.disclosure.fields)
    return Report(
        event_id=event.id,
        record_id=event.record_id,
        kind=str(event.kind),
        author=event.author,
        publisher=bundle.checkpoint.publisher,
        tree_size=bundle.checkpoint.checkpoint.tree_size,
        verdicts=verdicts,
        disclosed=disclosed,
    )


def verify_bundle_or_raise(
    bundle: Bundle | bytes, policy: TrustPolicy, *, record: bytes | JSONValue | None = None
) -> Report:
    """Like :func:`verify_bundle`, but raise :class:`VerificationError` on any failure."""
    report = verify_bundle(bundle, policy, record=record)
    report.raise_for_failure()
    return report
