"""okeios: client-side provenance for personal health records.

Records are canonicalised, committed to field by field with salts, described by EIP-712 signed
provenance events, appended to an RFC 9162 Merkle log and packed into self-contained proof
bundles that anyone can verify offline.
"""

from .bundle import AnchorRef, Bundle, InclusionProof
from .canonical import Profile, canonical_bytes, canonicalize, parse_json
from .commitment import Commitment, Disclosure, commit
from .errors import OkeiosError, VerificationError
from .events import Checkpoint, Event, EventKind, SignedCheckpoint, SignedEvent
from .merkle import MerkleLog
from .publisher import LoggedEvent, Publisher
from .signing import EthAccountSigner, LocalSigner, Signer
from .verify import (
    ANYONE,
    Property,
    Reason,
    Report,
    Status,
    TrustPolicy,
    Verdict,
    verify_bundle,
    verify_bundle_or_raise,
)

__version__ = "0.1.0"

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
