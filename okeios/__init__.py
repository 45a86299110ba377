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
    from okeios._internal.chain.connect import chain_view
    from okeios._internal.crypto.recipients import (
        RecipientBinding,
        RecipientPrivateKey,
        Suite,
        bind_recipient_key,
    )
    from okeios._internal.crypto.share import Share
    from okeios._internal.protocol.bundle import AnchorRef, Bundle, InclusionProof
    from okeios._internal.protocol.canonical import (
        Profile,
        canonical_bytes,
        canonicalize,
        iter_leaves,
        parse_json,
    )
    from okeios._internal.protocol.commitment import Commitment, Disclosure, commit
    from okeios._internal.protocol.events import (
        Checkpoint,
        Event,
        EventKind,
        SignedCheckpoint,
        SignedEvent,
        event_from_message,
    )
    from okeios._internal.protocol.merkle import MerkleLog
    from okeios._internal.protocol.signing import EthAccountSigner, LocalSigner, Signer
    from okeios._internal.publish.publisher import LoggedEvent, Publisher
    from okeios._internal.report import audit_html, log_entries, plots, record_html
    from okeios._internal.samples import synthetic_records
    from okeios._internal.verify.audit import audit_log
    from okeios._internal.verify.bulk import verify_many
    from okeios._internal.verify.bundle import verify_bundle, verify_bundle_or_raise
    from okeios._internal.verify.keyhistory import load_authority
    from okeios._internal.verify.lineage import LineageReport, verify_lineage
    from okeios._internal.verify.policy import ANYONE, TrustPolicy
    from okeios._internal.verify.report import Property, Reason, Report, Status, Verdict
    from okeios._internal.verify.share import open_share
    from okeios.errors import OkeiosError, VerificationError

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "ANYONE": "okeios._internal.verify.policy",
    "AnchorRef": "okeios._internal.protocol.bundle",
    "Bundle": "okeios._internal.protocol.bundle",
    "Checkpoint": "okeios._internal.protocol.events",
    "Commitment": "okeios._internal.protocol.commitment",
    "Disclosure": "okeios._internal.protocol.commitment",
    "EthAccountSigner": "okeios._internal.protocol.signing",
    "Event": "okeios._internal.protocol.events",
    "EventKind": "okeios._internal.protocol.events",
    "InclusionProof": "okeios._internal.protocol.bundle",
    "LocalSigner": "okeios._internal.protocol.signing",
    "LoggedEvent": "okeios._internal.publish.publisher",
    "MerkleLog": "okeios._internal.protocol.merkle",
    "OkeiosError": "okeios.errors",
    "Profile": "okeios._internal.protocol.canonical",
    "Property": "okeios._internal.verify.report",
    "Publisher": "okeios._internal.publish.publisher",
    "Reason": "okeios._internal.verify.report",
    "Report": "okeios._internal.verify.report",
    "SignedCheckpoint": "okeios._internal.protocol.events",
    "SignedEvent": "okeios._internal.protocol.events",
    "Signer": "okeios._internal.protocol.signing",
    "Status": "okeios._internal.verify.report",
    "TrustPolicy": "okeios._internal.verify.policy",
    "Verdict": "okeios._internal.verify.report",
    "VerificationError": "okeios.errors",
    "canonical_bytes": "okeios._internal.protocol.canonical",
    "canonicalize": "okeios._internal.protocol.canonical",
    "commit": "okeios._internal.protocol.commitment",
    "parse_json": "okeios._internal.protocol.canonical",
    "verify_bundle": "okeios._internal.verify.bundle",
    "verify_bundle_or_raise": "okeios._internal.verify.bundle",
    # the rest of the verify side, recipients, and what examples and notebooks use
    "audit_log": "okeios._internal.verify.audit",
    "verify_lineage": "okeios._internal.verify.lineage",
    "LineageReport": "okeios._internal.verify.lineage",
    "open_share": "okeios._internal.verify.share",
    "Share": "okeios._internal.crypto.share",
    "RecipientPrivateKey": "okeios._internal.crypto.recipients",
    "RecipientBinding": "okeios._internal.crypto.recipients",
    "Suite": "okeios._internal.crypto.recipients",
    "bind_recipient_key": "okeios._internal.crypto.recipients",
    "event_from_message": "okeios._internal.protocol.events",
    "iter_leaves": "okeios._internal.protocol.canonical",
    "chain_view": "okeios._internal.chain.connect",
    "synthetic_records": "okeios._internal.samples",
    "audit_html": "okeios._internal.report",
    "record_html": "okeios._internal.report",
    "log_entries": "okeios._internal.report",
    "load_authority": "okeios._internal.verify.keyhistory",
    "verify_many": "okeios._internal.verify.bulk",
}
#: Modules reached as attributes: ``okeios.plots`` (the figures of the reports and notebooks).
_LAZY_MODULES: dict[str, str] = {"plots": "okeios._internal.report.plots"}


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
