"""What each :class:`~okeios._internal.verify.report.Reason` means, in words for people who do not
know the protocol, and which property it speaks about: one table keyed by the enum, total (a test
fails when a reason has no row), read by the reports, the command line and the spec's table.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from okeios._internal.verify.report import Property, Reason

__all__ = ["REASON_PROPERTY", "REASON_WORDS", "words"]

_P = Property
_R = Reason

# (property, words) per reason. The property is the verdict a bundle or lineage check names the
# reason under; audit, tiles and witness findings name the property they put in doubt.
_TABLE: dict[Reason, tuple[Property, str]] = {
    # integrity
    _R.DIGESTS_MALFORMED: (_P.INTEGRITY, "The list of field digests cannot be read."),
    _R.COMMITMENT_MISMATCH: (
        _P.INTEGRITY,
        "The field digests are not the ones the author signed: the record was altered.",
    ),
    _R.FIELD_MALFORMED: (_P.INTEGRITY, "A disclosed field's value is not canonical JSON."),
    _R.FIELD_NOT_COMMITTED: (
        _P.INTEGRITY,
        "A disclosed value is not the one the author signed: it was altered after signing.",
    ),
    _R.FIELD_CONFLICT: (
        _P.INTEGRITY,
        "The disclosed fields cannot all belong to one document (a path twice, or a path "
        "both an object and an array).",
    ),
    _R.EQUIVOCATION: (
        _P.INTEGRITY,
        "Two disclosures of one event show different values for one field: the author "
        "committed to two versions at once.",
    ),
    _R.RECORD_MALFORMED: (_P.INTEGRITY, "The record given cannot be read as JSON."),
    _R.RECORD_MISMATCH: (
        _P.INTEGRITY,
        "The record given is not the one the author signed: it was altered.",
    ),
    _R.RECORD_NOT_VERIFIABLE: (
        _P.INTEGRITY,
        "The bundle discloses only some fields, so it cannot vouch for a whole record.",
    ),
    # authenticity
    _R.SIGNATURE_MALFORMED: (_P.AUTHENTICITY, "The signature cannot be read."),
    _R.SIGNATURE_MISMATCH: (
        _P.AUTHENTICITY,
        "The signature is not its claimed author's: the event was altered or forged.",
    ),
    _R.AUTHOR_NOT_TRUSTED: (_P.AUTHENTICITY, "The event is signed by a key nobody trusted."),
    # inclusion
    _R.CHECKPOINT_SIGNATURE_MALFORMED: (_P.INCLUSION, "The checkpoint's signature cannot be read."),
    _R.CHECKPOINT_SIGNATURE_MISMATCH: (
        _P.INCLUSION,
        "The checkpoint's signature is not its publisher's.",
    ),
    _R.PUBLISHER_NOT_TRUSTED: (_P.INCLUSION, "The log's publisher is not trusted."),
    _R.LOG_MISMATCH: (_P.INCLUSION, "The event and the checkpoint name different logs."),
    _R.LOG_NOT_BOUND: (
        _P.INCLUSION,
        "The log is not its publisher's one log: a second history under the same key.",
    ),
    _R.TREE_SIZE_MISMATCH: (
        _P.INCLUSION,
        "The inclusion proof is for another tree size than the checkpoint's.",
    ),
    _R.PROOF_MALFORMED: (_P.INCLUSION, "The inclusion proof cannot be read."),
    _R.ROOT_MISMATCH: (
        _P.INCLUSION,
        "The event is not in the log the checkpoint signs: the proof does not lead to its root.",
    ),
    # anchoring
    _R.NO_CHAIN: (_P.ANCHORING, "No chain was given, so the anchors were not checked."),
    _R.CHAIN_UNAVAILABLE: (
        _P.ANCHORING,
        "The chain could not be read, so the anchors were not checked (this is not evidence "
        "of tampering).",
    ),
    _R.CHAIN_MISMATCH: (_P.ANCHORING, "The anchor is on another chain than the one trusted."),
    _R.REGISTRY_NOT_TRUSTED: (
        _P.ANCHORING,
        "The anchor is in a registry contract the verifier does not trust.",
    ),
    _R.NOT_ANCHORED: (_P.ANCHORING, "The checkpoint was never anchored on the chain."),
    _R.ANCHOR_ROOT_MISMATCH: (
        _P.ANCHORING,
        "The chain holds another root for this tree size: the log was rewritten.",
    ),
    _R.NOT_FINAL: (_P.ANCHORING, "The anchor is not deep enough in the chain yet to be final."),
    _R.REGISTRY_MISSING: (_P.ANCHORING, "No registry contract is at the trusted address."),
    # consistency
    _R.INCONSISTENT_HISTORY: (
        _P.CONSISTENCY,
        "The anchored histories are not consistent: the history was rewritten.",
    ),
    _R.EXTENSION_NOT_ANCHORED: (
        _P.CONSISTENCY,
        "The log grew beyond its last anchor, and the extension is not anchored.",
    ),
    _R.CONSISTENCY_UNPROVEN: (
        _P.CONSISTENCY,
        "Nothing proves this checkpoint is consistent with the latest anchor yet.",
    ),
    # confidentiality
    _R.NOT_ENCRYPTED: (_P.CONFIDENTIALITY, "The event names no encrypted payload."),
    _R.CIPHERTEXT_MISMATCH: (
        _P.CONFIDENTIALITY,
        "The encrypted payload is not the one the event names.",
    ),
    # lineage
    _R.MIXED_RECORDS: (_P.LINEAGE, "The bundles belong to different records."),
    _R.EVENT_UNVERIFIED: (_P.LINEAGE, "An event of the history did not verify on its own."),
    _R.FORK: (
        _P.LINEAGE,
        "Two events claim the same predecessor: the record has two competing histories.",
    ),
    _R.MISSING_ENTRY: (
        _P.LINEAGE,
        "An event's predecessor is absent: an entry was removed from the log.",
    ),
    _R.REORDERED: (_P.LINEAGE, "An event appears before the event it follows: entries moved."),
    _R.DUPLICATE_ENTRY: (_P.LINEAGE, "The same event appears twice."),
    _R.BAD_VERSION: (
        _P.LINEAGE,
        "A version number does not follow the record's previous version.",
    ),
    _R.BAD_START: (
        _P.LINEAGE,
        "A record starts with something other than a creation, starts twice, or follows "
        "another record's event.",
    ),
    _R.MISSING_SOURCE: (_P.LINEAGE, "A derived record names a source event that is absent."),
    _R.BACKDATED: (
        _P.LINEAGE,
        "An event claims a time well before the anchor that first proves it existed.",
    ),
    _R.TIME_REVERSED: (
        _P.LINEAGE,
        "An event claims an earlier time than the event it follows: times never run backwards.",
    ),
    _R.AFTER_ERASE: (
        _P.LINEAGE,
        "Events of a record were logged after it was erased: erasure is final.",
    ),
    _R.MIXED_LOGS: (_P.LINEAGE, "The events of one record come from different logs."),
    # audit
    _R.MALFORMED_ENTRY: (_P.LINEAGE, "An entry of the log cannot be read as a signed event."),
    _R.FOREIGN_LOG: (
        _P.INCLUSION,
        "The log belongs to another publisher than the one audited.",
    ),
    _R.SECOND_LOG: (
        _P.CONSISTENCY,
        "The publisher keeps a second log: one key, two histories.",
    ),
    _R.CHECKPOINT_MISMATCH: (
        _P.INCLUSION,
        "The publisher's own signed checkpoint does not match this log: the log was changed "
        "after it was signed.",
    ),
    _R.TRUNCATED_LOG: (
        _P.CONSISTENCY,
        "The chain holds an anchor of a longer log than this one: entries were cut off the end.",
    ),
    _R.HISTORY_MISMATCH: (
        _P.CONSISTENCY,
        "The log's entries are not the history anchored on the chain: entries were rewritten "
        "after they were anchored.",
    ),
    _R.FUTURE_DATED: (_P.LINEAGE, "An event claims a time after the anchor that holds it."),
    # witnessing
    _R.BAD_CHECKPOINT_NOTE: (_P.WITNESSING, "The signed checkpoint note cannot be read."),
    _R.BAD_NOTE_KEY: (
        _P.WITNESSING,
        "The note's key is not bound to the log by its publisher.",
    ),
    _R.NOTE_MISMATCH: (
        _P.WITNESSING,
        "The signed note does not say what the log's checkpoint says.",
    ),
    _R.WITNESS_QUORUM: (_P.WITNESSING, "Too few trusted witnesses cosigned the checkpoint."),
    _R.BAD_COSIGNATURE: (_P.WITNESSING, "A witness cosignature does not verify."),
    _R.FUTURE_COSIGNATURE: (_P.WITNESSING, "A witness cosignature is dated in the future."),
    # tiled logs
    _R.TILE_MISMATCH: (_P.INCLUSION, "A tile of the published log does not hash to its root."),
    _R.TILE_MISSING: (_P.INCLUSION, "A tile of the published log is missing."),
    _R.LOG_UNAVAILABLE: (
        _P.INCLUSION,
        "The published log could not be read in time (this is not evidence of tampering).",
    ),
    _R.BAD_CHECKPOINT: (_P.INCLUSION, "The published checkpoint cannot be read or verified."),
    _R.STALE_CHECKPOINT: (
        _P.CONSISTENCY,
        "The published checkpoint is older than one this auditor has already seen: a rollback.",
    ),
    _R.INCONSISTENT_CHECKPOINT: (
        _P.CONSISTENCY,
        "The published checkpoint is not an extension of the one seen before: a split view.",
    ),
    # identity
    _R.AUTHOR_NOT_AUTHORISED: (
        _P.AUTHENTICITY,
        "The author's key was never authorised by the trusted organisation.",
    ),
    _R.AUTHOR_EXPIRED: (
        _P.AUTHENTICITY,
        "The author's authorisation was not valid at the time the event was proven.",
    ),
    _R.AUTHOR_REVOKED: (
        _P.AUTHENTICITY,
        "The author's key was revoked by the organisation before this event.",
    ),
    _R.AUTHOR_ROLE_NOT_TRUSTED: (
        _P.AUTHENTICITY,
        "The author's role is not one the verifier accepts.",
    ),
    _R.AUTHORISATIONS_MISSING: (
        _P.AUTHENTICITY,
        "The organisation's key history was not given, so the author cannot be judged.",
    ),
    _R.PUBLISHER_RETIRED: (
        _P.INCLUSION,
        "The checkpoint is signed by a publisher key the organisation had already retired.",
    ),
    _R.IDENTITY_INVALID: (_P.AUTHENTICITY, "The organisation's key history is not valid."),
    # one history (docs/threat-model.md)
    _R.NON_CANONICAL_ID: (
        _P.INTEGRITY,
        "An identifier is not written in its one canonical form (lower-case hex of the exact "
        "length): it could pass for another log or record.",
    ),
    _R.SECOND_ORIGIN: (
        _P.CONSISTENCY,
        "The log is published under a name other than the one its log id gives: a second "
        "history could be kept under it.",
    ),
    _R.SECOND_NOTE_KEY: (
        _P.CONSISTENCY,
        "The publisher bound a second key to sign this log's checkpoints: a second history "
        "could be kept under it.",
    ),
    _R.UNKNOWN_COSIGNER: (
        _P.WITNESSING,
        "A witness answered with a signature by a key that is not one of the witnesses asked.",
    ),
    _R.ANCHOR_PENDING: (
        _P.ANCHORING,
        "Not anchored yet: the event is newer than the publisher's latest anchor, so its "
        "anchoring can be decided only after the next one (not evidence of tampering).",
    ),
    _R.KEY_HISTORY_INCOMPLETE: (
        _P.AUTHENTICITY,
        "The key history given cannot be shown complete: a later revocation may be missing.",
    ),
}
del _P, _R

REASON_PROPERTY: Mapping[Reason, Property] = MappingProxyType(
    {reason: prop for reason, (prop, _) in _TABLE.items()}
)
"""The property each reason speaks about."""
REASON_WORDS: Mapping[Reason, str] = MappingProxyType(
    {reason: text for reason, (_, text) in _TABLE.items()}
)
"""What each reason means, in plain words."""


def words(reason: Reason | str) -> str:
    """The plain words of ``reason`` (a member, or its string from a JSON report); a string
    this version does not know is named as it is."""
    try:
        return REASON_WORDS[Reason(reason)]
    except ValueError:
        return f"Defect “{reason}”."
