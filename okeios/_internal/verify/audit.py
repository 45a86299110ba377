"""Whole-log audits: is a publisher's published log the history it anchored, intact?

The publisher publishes its log as a file (:mod:`okeios._internal.protocol.logfile`,
``okeios log -o FILE``): JSON lines, a header, then one line per entry in log order (the
EIP-712 event message and its signature), then the signed checkpoints. :func:`audit_log` checks
it against the chain:

* every entry decodes and its signature recovers to its author, an allowed one;
* every record's lineage is unbroken (:mod:`okeios._internal.verify.lineage`);
* every anchored tree head of the publisher's log (from the registry) is the root of the
  log file's first ``size`` entries; a mismatch that no entry-level defect explains is a
  rewritten history;
* every event's claimed time is at most ``tolerance`` seconds before the block time of the
  first anchor that holds it (otherwise it was backdated), and not after it;
* every checkpoint in the file is signed by the publisher and matches the log;
* the log is the publisher's one log (its id is ``derive_log_id(publisher)``,
  ``log-not-bound`` otherwise), the chain answering is the pinned one (``chain-mismatch``),
  and the registry's events show no other log anchored by the publisher (``second-log``).

It keeps going after a defect, and reports counts, the first defect of each kind, every defect,
and a timeline of the anchors (:meth:`AuditReport.to_dict`; the HTML and PDF reports for people
are drawn from it by :mod:`okeios._internal.report`). Defect kinds are
:class:`~okeios._internal.verify.report.Reason` members, the names bundle and lineage verdicts use
for the same failures. An unreachable chain is reported as ``chain-unavailable``, never as
tampering.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from okeios._internal.protocol.anchors import AnchorEntry
from okeios._internal.protocol.events import (
    SignedEvent,
    derive_log_id,
)
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.logfile import LogFile, read_log
from okeios._internal.protocol.merkle import MerkleLog
from okeios._internal.protocol.signing import checksum_address
from okeios._internal.verify.finding import Finding
from okeios._internal.verify.identity import Authority
from okeios._internal.verify.lineage import ORDER_TOLERANCE, check_lineage
from okeios._internal.verify.report import Reason
from okeios.errors import ChainError, OkeiosError, PolicyError, RegistryMissingError

__all__ = ["AnchorSource", "AuditReport", "Finding", "audit_log"]

STRUCTURAL = (Reason.MISSING_ENTRY, Reason.DUPLICATE_ENTRY, Reason.REORDERED)
DEFAULT_TOLERANCE = 24 * 3600
FUTURE_SKEW = 300


class AnchorSource(Protocol):
    """Where the audit reads a log's anchors (a
    :class:`~okeios._internal.chain.registry.Registry`)."""

    @property
    def chain_id(self) -> int: ...

    def anchors(self, publisher: str, log_id: bytes, start: int = 0) -> list[AnchorEntry]: ...

    def log_ids(self, publisher: str) -> list[bytes]:
        """Every log id the publisher anchored (or received by handover), from the chain."""
        ...


#: The findings that say the anchors were not checked (no chain given, it did not answer, or it
#: holds no registry where the trust policy says one is: a reset or foreign node): never a
#: failure, an undecided outcome when anchoring is required.
_UNCHECKED = frozenset({Reason.NO_CHAIN, Reason.CHAIN_UNAVAILABLE, Reason.REGISTRY_MISSING})


@dataclass
class AuditReport:
    publisher: str
    log_id: bytes
    entries: int = 0
    records: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    anchors: list[AnchorEntry] = field(default_factory=list)
    checkpoints: int = 0
    defects: list[Finding] = field(default_factory=list)

    #: Whether anchoring must have been checked for the audit to pass (``audit_log`` sets it:
    #: by default, when a chain was given).
    anchoring_required: bool = True

    @property
    def not_checked(self) -> list[str]:
        """``["anchoring"]`` when the anchors were not checked (no chain, or it did not answer)."""
        return ["anchoring"] if any(d.kind in _UNCHECKED for d in self.defects) else []

    @property
    def outcome(self) -> str:
        """``fail`` for any defect found; else ``undecided`` when required anchors were not
        checked; else ``pass`` (never a bare pass when anchors were skipped: see
        :meth:`headline`)."""
        if any(d.kind not in _UNCHECKED for d in self.defects):
            return "fail"
        if self.not_checked and self.anchoring_required:
            return "undecided"
        return "pass"

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"

    @property
    def anchored_size(self) -> int:
        """How many entries, from the first, the anchors vouch for: the latest anchor's tree
        size (0 without anchors). Entries after it carry only the publisher's signature until
        they are anchored: an audit that passes vouches for the log up to here."""
        return max((a.tree_size for a in self.anchors), default=0)

    def headline(self) -> str:
        word = self.outcome.upper()
        if not self.not_checked:
            return word
        what = "required but not checked" if self.anchoring_required else "not checked"
        return f"{word} ({what}: anchoring)"

    def first_of_each_kind(self) -> dict[str, Finding]:
        first: dict[str, Finding] = {}
        for d in self.defects:
            first.setdefault(str(d.kind), d)
        return first

    def defect_kinds(self) -> set[str]:
        return {str(d.kind) for d in self.defects}

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": self.outcome,
            "headline": self.headline(),
            "notChecked": self.not_checked,
            "publisher": self.publisher,
            "logId": to_hex(self.log_id),
            "counts": {
                "entries": self.entries,
                "records": self.records,
                "anchors": len(self.anchors),
                "anchoredEntries": self.anchored_size,
                "checkpoints": self.checkpoints,
                "defects": len(self.defects),
                "byKind": self.kinds,
            },
            "defectCounts": dict(Counter(str(d.kind) for d in self.defects)),
            "firstOfEachKind": {k: d.to_dict() for k, d in self.first_of_each_kind().items()},
            "defects": [d.to_dict() for d in self.defects],
            "timeline": [
                {
                    "treeSize": a.tree_size,
                    "root": to_hex(a.root),
                    "block": a.block_number,
                    "time": a.timestamp,
                    "timeIso": _dt.datetime.fromtimestamp(a.timestamp, _dt.UTC)
                    .isoformat()
                    .replace("+00:00", "Z"),
                }
                for a in self.anchors
            ],
        }


# --- the audit -------------------------------------------------------------------------------


def audit_log(
    lines: Iterable[str],
    *,
    publisher: str,
    chain: AnchorSource | None,
    chain_id: int | None = None,
    authors: Sequence[str] | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    order_tolerance: int = ORDER_TOLERANCE,
    progress: Callable[[int], None] | None = None,
    require_anchoring: bool | None = None,
) -> AuditReport:
    """Audit a published log file against the publisher's anchors (``chain``, which must be
    the chain ``chain_id`` pins; None: skip the chain checks and say so).

    The checks run in this order, each adding its defects to the report: whose log it is
    (:func:`_check_owner`), its entries (:func:`_check_entries`), the records' lineage
    (:func:`_check_lineage`), who held the log (:func:`_key_history`), the signed checkpoints
    (:func:`_check_checkpoints`); then against the chain: the pinned chain
    (:func:`_read_anchors`), one history per key (:func:`_check_one_history`), the handovers
    (:func:`_check_handovers`), the anchored tree heads (:func:`_check_anchored_history`) and
    the claimed times (:func:`_check_times`).
    """
    if chain is not None and chain_id is None:
        raise PolicyError("an audit against a chain needs the chain id pinned (chain_id)")
    parsed = read_log(lines)
    expected = checksum_address(publisher)
    report = AuditReport(expected, parsed.log_id)
    report.anchoring_required = (
        chain is not None if require_anchoring is None else require_anchoring
    )
    _check_owner(report, parsed)
    allowed = {checksum_address(a) for a in authors} if authors else None
    state = _check_entries(report, parsed, allowed, progress)
    _check_lineage(report, state, order_tolerance)
    authority = _key_history(report, state, len(parsed.entries))
    _check_checkpoints(report, parsed, authority, state)
    if chain is None:
        report.defects.append(Finding(Reason.NO_CHAIN, None, "no chain given: anchors not checked"))
        return report
    assert chain_id is not None  # checked above
    read = _read_anchors(report, chain, chain_id, authority)
    if read is None:
        return report
    by_key, others = read
    anchors = _merge_anchors(by_key.values())
    _check_one_history(report, others)
    _check_handovers(report, authority, by_key)
    report.anchors = anchors
    _check_anchored_history(report, anchors, state)
    _check_times(report, state.entries, anchors, tolerance)
    report.defects.sort(key=lambda d: (d.index is None, d.index or 0))
    return report


@dataclass
class _LogState:
    """What the checks after the entries need of the log file: its decoded entries (position
    and event), the Merkle tree of its leaves (an empty leaf for an entry that did not decode,
    so positions and roots stay those of the file), and, once the lineage is checked, where
    entry-level defects disturb the log."""

    entries: list[tuple[int, SignedEvent]] = field(default_factory=list)
    log: MerkleLog = field(default_factory=MerkleLog)
    #: The first disturbed index of each structural defect (missing, duplicate, reordered).
    structural: list[int] = field(default_factory=list)
    #: Whether entries are missing (anchors beyond the file are then explained).
    entries_missing: bool = False

    def disturbed_before(self, size: int) -> bool:
        """Whether a structural defect disturbs the first ``size`` entries (so a root of that
        size cannot match, and that is explained, not a separate finding)."""
        return any(i < size for i in self.structural)


def _check_owner(report: AuditReport, parsed: LogFile) -> None:
    """The log file is the audited publisher's (``foreign-log`` otherwise) and its one log, the
    one its key is bound to (``log-not-bound``: a second history, or another publisher's log
    replayed); lines that do not decode are ``malformed-entry``."""
    expected = report.publisher
    if parsed.publisher != expected:
        report.defects.append(
            Finding(
                Reason.FOREIGN_LOG,
                None,
                f"the log file is {parsed.publisher}'s, not {expected}'s",
            )
        )
    bound = derive_log_id(expected)
    if parsed.log_id != bound:
        report.defects.append(
            Finding(
                Reason.LOG_NOT_BOUND,
                None,
                f"log {to_hex(parsed.log_id)} is not {expected}'s one log ({to_hex(bound)}): a "
                "second history, or another publisher's log replayed",
            )
        )
    report.defects.extend(
        Finding(Reason.MALFORMED_ENTRY, position, message) for position, message in parsed.malformed
    )


def _check_entries(
    report: AuditReport,
    parsed: LogFile,
    allowed: set[str] | None,
    progress: Callable[[int], None] | None,
) -> _LogState:
    """Each entry's signature recovers to its author (``signature-malformed``,
    ``signature-mismatch``), an allowed one if ``allowed`` is given (``author-not-trusted``),
    and the entry names this log (``log-mismatch``). Counts entries, records and kinds, and
    returns the log's entries and tree."""
    state = _LogState()
    kinds: Counter[str] = Counter()
    records: set[bytes] = set()
    for index, (_, signed, leaf) in enumerate(parsed.entries):
        if signed is None or leaf is None:
            state.log.append(b"")  # keep positions; the root will not match, as it should not
            continue
        state.log.append(leaf)
        state.entries.append((index, signed))
        kinds[str(signed.event.kind)] += 1
        records.add(signed.event.record_id)
        report.defects.extend(_entry_defects(index, signed, parsed.log_id, allowed))
        if progress is not None and index % 1000 == 999:
            progress(1000)
    if progress is not None:
        progress(len(parsed.entries) % 1000)
    report.entries = len(parsed.entries)
    report.records = len(records)
    report.kinds = dict(kinds)
    return state


def _entry_defects(
    index: int, signed: SignedEvent, log_id: bytes, allowed: set[str] | None
) -> list[Finding]:
    """The defects of one decoded entry: its signature, its author, its log."""
    found: list[Finding] = []
    record = signed.event.record_id
    try:
        signer = signed.recover()
    except OkeiosError as exc:
        found.append(Finding(Reason.SIGNATURE_MALFORMED, index, str(exc), record))
    else:
        if signer != signed.event.author:
            found.append(
                Finding(
                    Reason.SIGNATURE_MISMATCH,
                    index,
                    f"signed by {signer}, claims {signed.event.author}",
                    record,
                )
            )
        elif allowed is not None and signer not in allowed:
            found.append(Finding(Reason.AUTHOR_NOT_TRUSTED, index, f"author {signer}", record))
    if signed.event.log_id != log_id:
        found.append(Finding(Reason.LOG_MISMATCH, index, "the event names another log", record))
    return found


def _check_lineage(report: AuditReport, state: _LogState, order_tolerance: int) -> None:
    """Every record's history is unbroken (:func:`~okeios._internal.verify.lineage.check_lineage`);
    notes where structural defects (missing, duplicate, reordered entries) disturb the log, since
    anchors and checkpoints beyond that point cannot match, and that is explained, not a
    separate finding."""
    lineage = check_lineage(state.entries, order_tolerance=order_tolerance)
    report.defects.extend(lineage)
    state.structural = sorted(
        d.since if d.since is not None else d.index
        for d in lineage
        if d.kind in STRUCTURAL and d.index is not None
    )
    state.entries_missing = any(d.kind is Reason.MISSING_ENTRY for d in lineage)


def _key_history(report: AuditReport, state: _LogState, size: int) -> Authority | None:
    """Who held the log when, from its own identity events (docs/identity.md); None, and an
    ``identity-invalid`` defect, if they do not make a valid key history."""
    try:
        return Authority.from_events(report.publisher, state.entries, size=size)
    except OkeiosError as exc:
        report.defects.append(Finding(Reason.IDENTITY_INVALID, None, str(exc)))
        return None


def _check_checkpoints(
    report: AuditReport, parsed: LogFile, authority: Authority | None, state: _LogState
) -> None:
    """Every signed checkpoint in the file decodes (``checkpoint-signature-malformed``), is
    signed by the key that held the log at its size (``checkpoint-signature-mismatch``), and
    is this log's tree head (``checkpoint-mismatch``, unless a structural defect explains)."""
    log = state.log
    for position, cp in parsed.checkpoints:
        report.checkpoints += 1
        assert cp is not None
        try:
            signer = cp.recover()
        except OkeiosError as exc:
            report.defects.append(
                Finding(
                    Reason.CHECKPOINT_SIGNATURE_MALFORMED,
                    None,
                    f"checkpoint line {position + 2}: {exc}",
                )
            )
            continue
        size = cp.checkpoint.tree_size
        holds = (
            signer == report.publisher
            if authority is None
            else authority.check_checkpoint(signer, size) is None
        )
        if not holds or cp.publisher != signer:
            report.defects.append(
                Finding(
                    Reason.CHECKPOINT_SIGNATURE_MISMATCH,
                    None,
                    f"the checkpoint of size {size} is signed by {signer}",
                )
            )
        elif (
            (size > log.size and not state.entries_missing)
            or (size <= log.size and log.root(size) != cp.checkpoint.root)
        ) and not state.disturbed_before(size):
            report.defects.append(
                Finding(
                    Reason.CHECKPOINT_MISMATCH,
                    None,
                    f"the signed checkpoint of size {size} is not this log",
                )
            )


def _read_anchors(
    report: AuditReport, chain: AnchorSource, chain_id: int, authority: Authority | None
) -> tuple[dict[str, list[AnchorEntry]], list[bytes]] | None:
    """The anchors of the log by each key that held it, and the other logs those keys
    anchored; None, with ``chain-mismatch`` when the chain answering is not the pinned one
    (its anchors say nothing about this log) or ``chain-unavailable`` when it cannot be read."""
    try:
        actual = chain.chain_id
        if actual != chain_id:
            report.defects.append(
                Finding(
                    Reason.CHAIN_MISMATCH,
                    None,
                    f"the chain answering is {actual}, the audit pins {chain_id}: its anchors "
                    "say nothing about this log",
                )
            )
            return None
        # Every key that held the log (docs/identity.md): its anchors are one history.
        keys = authority.publishers() if authority is not None else [report.publisher]
        by_key = {k: chain.anchors(k, report.log_id) for k in keys}
        others = [i for k in keys for i in chain.log_ids(k) if i != report.log_id]
    except RegistryMissingError as exc:
        report.defects.append(
            Finding(
                Reason.REGISTRY_MISSING,
                None,
                f"{exc}: the pinned registry does not exist on this chain (a reset or foreign "
                "node?); point --chain at a node that holds the publisher's history",
            )
        )
        return None
    except ChainError as exc:
        report.defects.append(
            Finding(Reason.CHAIN_UNAVAILABLE, None, f"the chain could not be read: {exc}")
        )
        return None
    return by_key, others


def _check_one_history(report: AuditReport, others: list[bytes]) -> None:
    """The publisher anchored no other log in the registry (``second-log``: a second history,
    which this audit does not cover)."""
    for other in others:
        report.defects.append(
            Finding(
                Reason.SECOND_LOG,
                None,
                f"{report.publisher} also anchored log {to_hex(other)} in this registry: a "
                "second history, which this audit does not cover",
            )
        )


def _check_handovers(
    report: AuditReport, authority: Authority | None, by_key: dict[str, list[AnchorEntry]]
) -> None:
    """A key that handed the log over anchored nothing beyond the handover
    (``publisher-retired``)."""
    for handover in authority.handovers if authority is not None else ():
        for a in by_key.get(handover.old, []):
            if a.tree_size > handover.index + 1:
                report.defects.append(
                    Finding(
                        Reason.PUBLISHER_RETIRED,
                        None,
                        f"{handover.old} handed the log over at entry {handover.index} but "
                        f"anchored {a.tree_size} entries in block {a.block_number}",
                    )
                )


def _check_anchored_history(
    report: AuditReport, anchors: list[AnchorEntry], state: _LogState
) -> None:
    """The log was anchored (``not-anchored``), and every anchored tree head is the root of
    the file's first ``size`` entries: ``truncated-log`` when the file is shorter (unless
    entries were found missing), ``history-mismatch`` when the root differs and no structural
    defect explains it (entries were rewritten)."""
    log = state.log
    if not anchors:
        report.defects.append(Finding(Reason.NOT_ANCHORED, None, "the log was never anchored"))
    for a in anchors:
        if a.tree_size > log.size:
            if state.entries_missing:
                continue  # explained by the missing entries found above
            report.defects.append(
                Finding(
                    Reason.TRUNCATED_LOG,
                    a.tree_size - 1,
                    f"anchor of size {a.tree_size}, but the log file has {log.size} entries",
                )
            )
        elif log.root(a.tree_size) != a.root and not state.disturbed_before(a.tree_size):
            report.defects.append(
                Finding(
                    Reason.HISTORY_MISMATCH,
                    None,
                    f"the log's first {a.tree_size} entries are not the history anchored in block "
                    f"{a.block_number}: entries were rewritten",
                )
            )


def _check_times(
    report: AuditReport,
    entries: list[tuple[int, SignedEvent]],
    anchors: list[AnchorEntry],
    tolerance: int,
) -> None:
    """Every anchored event's claimed time is at most ``tolerance`` seconds before the block
    time of the first anchor that holds it (``backdated``) and not more than a small skew after
    it (``future-dated``)."""
    sizes = [a.tree_size for a in anchors]
    for index, signed in entries:
        k = bisect.bisect_right(sizes, index)
        if k == len(anchors):
            continue  # not anchored yet: nothing proves its time
        proof = anchors[k]
        claimed = signed.event.time
        when = _dt.datetime.fromtimestamp(proof.timestamp, _dt.UTC).isoformat()
        if proof.timestamp - claimed > tolerance:
            report.defects.append(
                Finding(
                    Reason.BACKDATED,
                    index,
                    f"claims {_dt.datetime.fromtimestamp(claimed, _dt.UTC).isoformat()}, "
                    f"{proof.timestamp - claimed} s before the anchor that proves it ({when})",
                    signed.event.record_id,
                )
            )
        elif claimed - proof.timestamp > FUTURE_SKEW:
            report.defects.append(
                Finding(
                    Reason.FUTURE_DATED,
                    index,
                    f"claims a time {claimed - proof.timestamp} s after the anchor that holds it",
                    signed.event.record_id,
                )
            )


def _merge_anchors(groups: Iterable[list[AnchorEntry]]) -> list[AnchorEntry]:
    """The anchors of all the keys of a log by tree size; a tree head a handover copied to the
    successor (same size and root) is kept once, at its first block."""
    merged: dict[tuple[int, bytes], AnchorEntry] = {}
    for group in groups:
        for a in group:
            key = (a.tree_size, a.root)
            if key not in merged or a.block_number < merged[key].block_number:
                merged[key] = a
    return sorted(merged.values(), key=lambda a: (a.tree_size, a.block_number))
