"""The okeios error hierarchy.

Every error raised on purpose by okeios derives from :class:`OkeiosError`, so a caller (or the
command line) can catch the whole family in one place. Foreign exceptions met while handling
untrusted input are re-raised as one of these, chained with ``from``.
"""

from __future__ import annotations

__all__ = [
    "AccessError",
    "BadMagicError",
    "BundleError",
    "CanonicalizationError",
    "ChainError",
    "ChainMismatchError",
    "CommitmentError",
    "CryptoError",
    "DecryptionError",
    "DuplicateKeyError",
    "EncodingError",
    "ErasurePendingError",
    "EventError",
    "FileWriteError",
    "IdentityError",
    "InputError",
    "KeyProtectionError",
    "KeyRotationError",
    "MalformedJSONError",
    "MalformedRPCError",
    "MasterKeyMismatchError",
    "NestingError",
    "NonCanonicalEncodingError",
    "NoteError",
    "NoteVerificationError",
    "NumberError",
    "OkeiosError",
    "PolicyError",
    "ProofError",
    "ProofMismatchError",
    "PublisherKeyChangedError",
    "RecipientError",
    "RegistryMissingError",
    "RegistryVersionError",
    "ReportError",
    "SdJwtError",
    "SignatureError",
    "SnapshotMissError",
    "StoreError",
    "TileError",
    "TileUnavailableError",
    "TrailingGarbageError",
    "TruncationError",
    "UnknownFieldError",
    "UnsupportedVersionError",
    "UsageError",
    "VerificationError",
]


class OkeiosError(Exception):
    """Root of every error okeios raises on purpose."""


class InputError(OkeiosError, ValueError):
    """Input that okeios refuses to process (bad record, bad argument, bad file)."""


# --- records and canonical bytes -------------------------------------------------------------


class CanonicalizationError(InputError):
    """A record cannot be turned into canonical bytes."""


class MalformedJSONError(CanonicalizationError):
    """The input is not well-formed UTF-8 JSON text."""


class DuplicateKeyError(CanonicalizationError):
    """A JSON object has the same member name twice."""


class NumberError(CanonicalizationError):
    """A number cannot be represented without changing it (NaN, infinity, lost precision)."""


class NestingError(CanonicalizationError):
    """The input nests arrays or objects deeper than the allowed limit."""


# --- commitments, events, signatures, proofs -------------------------------------------------


class CommitmentError(InputError):
    """A commitment, salt or field disclosure is malformed."""


class EventError(InputError):
    """A provenance event is malformed (bad kind, id, version, address ...)."""


class SignatureError(OkeiosError):
    """A signature is malformed, or a signer produced a signature for another key."""


class ProofError(InputError):
    """A Merkle proof request or proof is malformed (bad sizes, indices or lengths)."""


class ProofMismatchError(ProofError):
    """A well-formed proof that does not lead to the expected root (or roots)."""


class PolicyError(InputError):
    """A trust policy is malformed or likely misused (for example an empty allow-list)."""


# --- the bundle file format ------------------------------------------------------------------


class BundleError(InputError):
    """A proof bundle cannot be decoded."""


class BadMagicError(BundleError):
    """The bytes do not start with the okeios bundle magic."""


class UnsupportedVersionError(BundleError):
    """The bundle's major version is not one this library reads."""


class TruncationError(BundleError):
    """The bundle ends before its content does."""


class TrailingGarbageError(BundleError):
    """Bytes follow the end of the bundle's content."""


class EncodingError(BundleError):
    """The bundle's content has the wrong shape or types."""


class NonCanonicalEncodingError(BundleError):
    """The bundle decodes, but is not in the single canonical encoding."""


class UnknownFieldError(BundleError):
    """The bundle carries a field this major version does not define."""


# --- confidentiality ---------------------------------------------------------------------------


class CryptoError(OkeiosError):
    """Encryption, decryption or key handling failed."""


class DecryptionError(CryptoError):
    """A ciphertext or wrapped key does not open with this key (wrong key, or tampered)."""


class KeyProtectionError(CryptoError):
    """A protected key file cannot be opened (wrong passphrase, or damaged)."""


class RecipientError(CryptoError):
    """A recipient key is malformed, unbound, or bound to another address."""


class AccessError(CryptoError):
    """Access to a record is refused: never granted, revoked, or the record was erased."""


# --- stores, files and the command line ------------------------------------------------------


class StoreError(InputError):
    """The store is missing, locked, corrupt or of an unknown version."""


class FileWriteError(InputError):
    """A file could not be written (missing folder, no permission, full disk)."""


class UsageError(InputError):
    """A usage problem found after argument parsing (exit 2)."""


# --- verification and chains -----------------------------------------------------------------


class VerificationError(OkeiosError):
    """Raised by the raising verification variants; carries the full report."""

    def __init__(self, report: object, message: str) -> None:
        super().__init__(message)
        self.report = report


class IdentityError(InputError):
    """A log's identity events break the rules (an authorisation, deauthorisation or handover
    not signed by the key holding the log, about the wrong key, or out of order)."""


class KeyRotationError(InputError):
    """A publisher key rotation cannot go on or be undone in the state the store is in (a
    handover logged but not yet final on chain refuses new events until it is finished; a
    logged handover cannot be rolled back)."""


class PublisherKeyChangedError(KeyRotationError):
    """A writer signs with a publisher key that is no longer the store's current one (the store
    was rotated by another process or machine since this one opened it): nothing was written;
    reopen the store."""


class MasterKeyMismatchError(InputError):
    """The store's rows are sealed under another master key than the one this home holds (two
    homes, one database): refused before anything is written."""


class ChainError(OkeiosError):
    """A chain could not be reached or answered something unusable."""


class ChainMismatchError(ChainError):
    """The node answers another chain id than the one pinned."""


class RegistryMissingError(ChainError):
    """The chain answered, but there is no contract at the registry address."""


class RegistryVersionError(ChainError):
    """The contract at the registry address is not an AnchorRegistry of the version okeios
    reads (a version 2 registry, or another contract)."""


class MalformedRPCError(ChainError):
    """The node answered, but not with what the JSON-RPC method returns (``null`` or an
    object where a value was due)."""


class SnapshotMissError(OkeiosError, LookupError):
    """A chain snapshot (bulk verification) was asked for a fact it does not hold.

    Deliberately not a :class:`ChainError`: the verifier would turn that into a "chain
    unavailable" verdict, while a missing fact is a bug to surface, never a verdict.
    """


# --- interoperable formats (C2SP notes and tiles, SD-JWT) -------------------------------------


class NoteError(InputError):
    """A C2SP signed note, checkpoint, cosignature or verifier key is malformed."""


class NoteVerificationError(NoteError):
    """A signed note carries no valid signature by a trusted key, or a known key's signature
    fails to verify."""


class TileError(InputError):
    """A C2SP tlog-tiles path, tile or entry bundle is malformed or does not match the tree."""


class TileUnavailableError(TileError):
    """A tiled log could not be reached (network or server error): never reported as tampering,
    unlike a tile that the server says it does not have."""


class SdJwtError(InputError):
    """An SD-JWT (RFC 9901) is malformed or does not verify."""


# --- reports ---------------------------------------------------------------------------------


class ReportError(OkeiosError):
    """A report could not be produced: an optional tool (jinja2, matplotlib, a Chromium for
    PDF) is missing or failed."""


class ErasurePendingError(StoreError):
    """An erasure is logged, but its secrets could not be verified gone from the store's files
    yet (a reader holds old pages, the disk is full, the server was lost): run the same
    ``erase`` again to finish (``okeios/_internal/publish/erasure.py``)."""


def short_cause(exc: BaseException) -> str:
    """One short line for a transport failure (a node refusing connections, a timeout, a name
    that does not resolve), instead of the whole text of the HTTP library's exception chain;
    other errors as their first line, at most 200 characters."""
    text = str(exc)
    lowered = text.lower()
    name = type(exc).__name__
    if "connection refused" in lowered:
        return "connection refused (is the node running, at this address?)"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "the host name does not resolve"
    if "timed out" in lowered or "timeout" in name.lower():
        return "no answer in time (timed out)"
    if name in {"ConnectionError", "NewConnectionError", "MaxRetryError"}:
        return "cannot connect"
    first = text.splitlines()[0] if text else name
    return f"{name}: {first[:200]}"
