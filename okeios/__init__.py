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
    from okeios.errors import OkeiosError, VerificationError
    from okeios.protocol.bundle import AnchorRef, Bundle, InclusionProof
    from okeios.protocol.canonical import Profile, canonical_bytes, canonicalize, parse_json
    from okeios.protocol.commitment import Commitment, Disclosure, commit
    from okeios.protocol.events import Checkpoint, Event, EventKind, SignedCheckpoint, SignedEvent
    from okeios.protocol.merkle import MerkleLog
    from okeios.protocol.signing import EthAccountSigner, LocalSigner, Signer
    from okeios.publish.publisher import LoggedEvent, Publisher
    from okeios.verify.bundle import verify_bundle, verify_bundle_or_raise
    from okeios.verify.policy import ANYONE, TrustPolicy
    from okeios.verify.report import Property, Reason, Report, Status, Verdict

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
}


def __getattr__(name: str) -> Any:
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
    "LocalSigner",
    "LoggedEvent",
    "MerkleLog",
    "OkeiosError",
    "Profile",
    "Property",
    "Publisher",
    "Reason",
    "Report",
    "SignedCheckpoint",
    "SignedEvent",
    "Signer",
    "Status",
    "TrustPolicy",
    "Verdict",
    "VerificationError",
    "__version__",
    "canonical_bytes",
    "canonicalize",
    "commit",
    "parse_json",
    "verify_bundle",
    "verify_bundle_or_raise",
]
