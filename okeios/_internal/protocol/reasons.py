"""The one vocabulary of failures: every reason a verdict, a lineage check, an audit, a witness
or a publisher's own checks can name, defined below the read and write sides so that both speak
it (the verifier reports a :class:`Reason`; the publisher refuses with one). Their words and
properties are :mod:`okeios._internal.verify.words`; the spec's reason table lists every member.
"""

from __future__ import annotations

import enum

__all__ = ["Reason"]


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
    # witnessing (docs/interop.md)
    BAD_CHECKPOINT_NOTE = "bad-checkpoint-note"
    BAD_NOTE_KEY = "bad-note-key"
    NOTE_MISMATCH = "note-mismatch"
    WITNESS_QUORUM = "witness-quorum"
    BAD_COSIGNATURE = "bad-cosignature"
    FUTURE_COSIGNATURE = "future-cosignature"
    # tiled logs (docs/interop.md)
    TILE_MISMATCH = "tile-mismatch"
    TILE_MISSING = "tile-missing"
    LOG_UNAVAILABLE = "log-unavailable"
    BAD_CHECKPOINT = "bad-checkpoint"
    STALE_CHECKPOINT = "stale-checkpoint"
    INCONSISTENT_CHECKPOINT = "inconsistent-checkpoint"
    # identity (docs/identity.md): delegation from a trusted organisation
    AUTHOR_NOT_AUTHORISED = "author-not-authorised"
    AUTHOR_EXPIRED = "author-expired"
    AUTHOR_REVOKED = "author-revoked"
    AUTHOR_ROLE_NOT_TRUSTED = "author-role-not-trusted"
    AUTHORISATIONS_MISSING = "authorisations-missing"
    PUBLISHER_RETIRED = "publisher-retired"
    IDENTITY_INVALID = "identity-invalid"
    # one history (docs/threat-model.md): identifiers, origins, note keys, witness answers
    NON_CANONICAL_ID = "non-canonical-id"
    SECOND_ORIGIN = "second-origin"
    SECOND_NOTE_KEY = "second-note-key"
    UNKNOWN_COSIGNER = "unknown-cosigner"
    # anchoring not decidable yet: an honest bundle exported before the publisher's next anchor
    ANCHOR_PENDING = "anchor-pending"
    # a key history that cannot be shown complete: a later revocation may be hidden
    KEY_HISTORY_INCOMPLETE = "key-history-incomplete"
