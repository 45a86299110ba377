"""okeios: client-side provenance for personal health records.

Records are canonicalised, committed to field by field with salts, described by EIP-712 signed
provenance events, appended to an RFC 9162 Merkle log and packed into self-contained proof
bundles that anyone can verify offline.

Importing :mod:`okeios` is light: the names below load their module on first use
(``okeios.Publisher`` imports the write side, ``okeios.verify_bundle`` the read side only).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from okeios.chain.connect import chain_view
    from okeios.crypto.recipients import (
        RecipientBinding,
        RecipientPrivateKey,
        Suite,
        bind_recipient_key,
    )
    from okeios.crypto.share import Share
    from okeios.errors import OkeiosError, VerificationError
    from okeios.protocol.bundle import AnchorRef, Bundle, InclusionProof
    from okeios.protocol.canonical import (
        Profile,
        canonical_bytes,
        canonicalize,
        iter_leaves,
        parse_json,
    )
    from okeios.protocol.commitment import Commitment, Disclosure, commit
    from okeios.protocol.events import (
        Checkpoint,
        Event,
        EventKind,
        SignedCheckpoint,
        SignedEvent,
        event_from_message,
    )
    from okeios.protocol.merkle import MerkleLog
    from okeios.protocol.signing import EthAccountSigner, LocalSigner, Signer
    from okeios.publish.publisher import LoggedEvent, Publisher
    from okeios.report import audit_html, log_entries, plots, record_html
    from okeios.samples import synthetic_records
    from okeios.verify.audit import audit_log
    from okeios.verify.bulk import verify_many
    from okeios.verify.bundle import verify_bundle, verify_bundle_or_raise
    from okeios.verify.keyhistory import load_authority
    from okeios.verify.lineage import LineageReport, verify_lineage
    from okeios.verify.policy import ANYONE, TrustPolicy
    from okeios.verify.report import Property, Reason, Report, Status, Verdict
    from okeios.verify.share import open_share

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "ANYONE": "okeios.verify.policy",
    "AnchorRef": "okeios.protocol.bundle",
    "Bundle": "okeios.protocol.bundle",
    "Checkpoint": "okeios.protocol.events",
    "Commitment": "okeios.protocol.commitment",
    "Disclosure": "okeios.protocol.commitment",
    "EthAccountSigner": "okeios.protocol.signing",
    "Event": "okeios.protocol.events",
    "EventKind": "okeios.protocol.events",
    "InclusionProof": "okeios.protocol.bundle",
    "LocalSigner": "okeios.protocol.signing",
    "LoggedEvent": "okeios.publish.publisher",
    "MerkleLog": "okeios.protocol.merkle",
    "OkeiosError": "okeios.errors",
    "Profile": "okeios.protocol.canonical",
    "Property": "okeios.verify.report",
    "Publisher": "okeios.publish.publisher",
    "Reason": "okeios.verify.report",
    "Report": "okeios.verify.report",
    "SignedCheckpoint": "okeios.protocol.events",
    "SignedEvent": "okeios.protocol.events",
    "Signer": "okeios.protocol.signing",
    "Status": "okeios.verify.report",
    "TrustPolicy": "okeios.verify.policy",
    "Verdict": "okeios.verify.report",
    "VerificationError": "okeios.errors",
    "canonical_bytes": "okeios.protocol.canonical",
    "canonicalize": "okeios.protocol.canonical",
    "commit": "okeios.protocol.commitment",
    "parse_json": "okeios.protocol.canonical",
    "verify_bundle": "okeios.verify.bundle",
    "verify_bundle_or_raise": "okeios.verify.bundle",
    # the rest of the verify side, recipients, and what examples and notebooks use
    "audit_log": "okeios.verify.audit",
    "verify_lineage": "okeios.verify.lineage",
    "LineageReport": "okeios.verify.lineage",
    "open_share": "okeios.verify.share",
    "Share": "okeios.crypto.share",
    "RecipientPrivateKey": "okeios.crypto.recipients",
    "RecipientBinding": "okeios.crypto.recipients",
    "Suite": "okeios.crypto.recipients",
    "bind_recipient_key": "okeios.crypto.recipients",
    "event_from_message": "okeios.protocol.events",
    "iter_leaves": "okeios.protocol.canonical",
    "chain_view": "okeios.chain.connect",
    "synthetic_records": "okeios.samples",
    "audit_html": "okeios.report",
    "record_html": "okeios.report",
    "log_entries": "okeios.report",
    "load_authority": "okeios.verify.keyhistory",
    "verify_many": "okeios.verify.bulk",
}
#: Modules reached as attributes: ``okeios.plots`` (the figures of the reports and notebooks).
_LAZY_MODULES: dict[str, str] = {"plots": "okeios.report.plots"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        loaded = importlib.import_module(_LAZY_MODULES[name])
        globals()[name] = loaded
        return loaded
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'okeios' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ANYONE",
    "AnchorRef",
    "Bundle",
    "Checkpoint",
    "Commitment",
    "Disclosure",
    "EthAccountSigner",
    "Event",
    "EventKind",
    "InclusionProof",
    "LineageReport",
    "LocalSigner",
    "LoggedEvent",
    "MerkleLog",
    "OkeiosError",
    "Profile",
    "Property",
    "Publisher",
    "Reason",
    "RecipientBinding",
    "RecipientPrivateKey",
    "Report",
    "Share",
    "SignedCheckpoint",
    "SignedEvent",
    "Signer",
    "Status",
    "Suite",
    "TrustPolicy",
    "Verdict",
    "VerificationError",
    "__version__",
    "audit_html",
    "audit_log",
    "bind_recipient_key",
    "canonical_bytes",
    "canonicalize",
    "chain_view",
    "commit",
    "event_from_message",
    "iter_leaves",
    "load_authority",
    "log_entries",
    "open_share",
    "parse_json",
    "plots",
    "record_html",
    "synthetic_records",
    "verify_bundle",
    "verify_bundle_or_raise",
    "verify_lineage",
    "verify_many",
]
