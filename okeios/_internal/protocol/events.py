"""Provenance events and log checkpoints, and their EIP-712 signatures.

Signed bytes are defined here and in :mod:`okeios._internal.protocol.eip712` only. Both structures
are EIP-712 typed data in the domain ``{name: "okeios", version: "2"}`` (no chain id: an event is
signed before anyone knows which chain will anchor it), so any Ethereum wallet can show what it
signs and any contract can check it with ``ecrecover``.

Version 2 binds every log to its publisher: a publisher has exactly one log, whose id is
``derive_log_id(publisher)``, and every event and checkpoint names it (``docs/log.md``). It also
fixes the layout the identity events need (``role``, ``notBefore``, ``notAfter``; the kinds
``authorise``, ``deauthorise`` and ``handover``), so that delegation and key rotation add
verifier rules, not a new format.

An event's id is its EIP-712 digest. The Merkle log leaf of a signed event is
``event id (32 bytes) || signature (65 bytes)``, so the log commits to who signed, too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from okeios._internal.protocol.eip712 import TypedDataEncoder
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.keccak import keccak256
from okeios._internal.protocol.kinds import KEY_KINDS, EventKind, spec
from okeios._internal.protocol.signing import (
    SIGNATURE_SIZE,
    LocalSigner,
    Signer,
    checksum_address,
    recover_address,
    sign_typed,
)
from okeios.errors import EventError, SignatureError

__all__ = [
    "CHECKPOINT_TYPE",
    "DOMAIN",
    "EVENT_TYPE",
    "KEY_KINDS",
    "TYPES",
    "ZERO_ADDRESS",
    "ZERO_HASH",
    "Checkpoint",
    "Event",
    "EventKind",
    "SignedCheckpoint",
    "SignedEvent",
    "derive_log_id",
    "event_from_message",
    "key_record_id",
]

ZERO_HASH = bytes(32)
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
MAX_PURPOSE_LENGTH = 1024
MAX_SOURCES = 256
_U64 = 1 << 64

MAX_ROLE_LENGTH = 256
DOMAIN: Mapping[str, Any] = {"name": "okeios", "version": "2"}
EVENT_TYPE = "ProvenanceEvent"
CHECKPOINT_TYPE = "Checkpoint"
TYPES: Mapping[str, Sequence[Mapping[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
    ],
    EVENT_TYPE: [
        {"name": "kind", "type": "string"},
        {"name": "logId", "type": "bytes32"},
        {"name": "recordId", "type": "bytes32"},
        {"name": "version", "type": "uint64"},
        {"name": "previous", "type": "bytes32"},
        {"name": "commitment", "type": "bytes32"},
        {"name": "ciphertextDigest", "type": "bytes32"},
        {"name": "author", "type": "address"},
        {"name": "time", "type": "uint64"},
        {"name": "sources", "type": "bytes32[]"},
        {"name": "subject", "type": "address"},
        {"name": "purpose", "type": "string"},
        {"name": "role", "type": "string"},
        {"name": "notBefore", "type": "uint64"},
        {"name": "notAfter", "type": "uint64"},
    ],
    CHECKPOINT_TYPE: [
        {"name": "logId", "type": "bytes32"},
        {"name": "treeSize", "type": "uint64"},
        {"name": "root", "type": "bytes32"},
    ],
}

_ENCODER = TypedDataEncoder(TYPES)
_DOMAIN_SEPARATOR = _ENCODER.domain_separator(DOMAIN)
_EVENT_PREFIX = b"\x19\x01" + _DOMAIN_SEPARATOR
_EVENT_TYPE_HASH = _ENCODER.type_hash(EVENT_TYPE)
_EMPTY_HASH = keccak256(b"")


def _event_digest(e: Event) -> bytes:
    """The EIP-712 digest of a checked event: what ``_ENCODER.digest(_DOMAIN_SEPARATOR,
    EVENT_TYPE, e.message())`` gives (the tests hold them equal), from the event's own bytes
    rather than its hex message."""
    struct = b"".join(
        (
            _EVENT_TYPE_HASH,
            _KIND_HASHES[e.kind],
            e.log_id,
            e.record_id,
            e.version.to_bytes(32, "big"),
            e.previous,
            e.commitment,
            e.ciphertext_digest,
            bytes(12) + from_hex(e.author, any_case=True),
            e.time.to_bytes(32, "big"),
            keccak256(b"".join(e.sources)) if e.sources else _EMPTY_HASH,
            bytes(12) + from_hex(e.subject, any_case=True),
            keccak256(e.purpose.encode("utf-8")) if e.purpose else _EMPTY_HASH,
            keccak256(e.role.encode("utf-8")) if e.role else _EMPTY_HASH,
            e.not_before.to_bytes(32, "big"),
            e.not_after.to_bytes(32, "big"),
        )
    )
    return keccak256(_EVENT_PREFIX + keccak256(struct))


_CHECKPOINT_TYPE_HASH = _ENCODER.type_hash(CHECKPOINT_TYPE)
_KIND_HASHES = {kind: keccak256(str(kind).encode("utf-8")) for kind in EventKind}


def _checkpoint_digest(log_id: bytes, tree_size: int, root: bytes) -> bytes:
    """The EIP-712 digest of a checked checkpoint: what ``_ENCODER.digest(_DOMAIN_SEPARATOR,
    CHECKPOINT_TYPE, checkpoint.message())`` gives (the tests hold them equal), from its own
    bytes."""
    struct = _CHECKPOINT_TYPE_HASH + log_id + tree_size.to_bytes(32, "big") + root
    return keccak256(_EVENT_PREFIX + keccak256(struct))


def derive_log_id(publisher: str) -> bytes:
    """The one log id of a publisher: ``SHA-256("okeios/log/v2" 0x00 || address)`` over the
    20 address bytes. The registry refuses to open any other log for that key, and verifiers
    refuse a checkpoint whose log id is not its publisher's (``log-not-bound``)."""
    address = from_hex(checksum_address(publisher), any_case=True)
    return sha256(b"okeios/log/v2\x00" + address).digest()


def key_record_id(log_id: bytes, key: str) -> bytes:
    """The record id under which a log keeps the history of a key (identity events):
    ``SHA-256("okeios/key/v2" 0x00 || logId || address)``."""
    address = from_hex(checksum_address(key), any_case=True)
    return sha256(b"okeios/key/v2\x00" + log_id + address).digest()


def _hash32(name: str, value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        got = len(value) if isinstance(value, bytes) else type(value).__name__
        raise EventError(f"{name} must be 32 bytes, got {got}")
    return value


def _u64(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _U64:
        raise EventError(f"{name} must be an integer in 0..2^64-1, got {value!r}")
    return value


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _hx(value: bytes) -> str:
    return to_hex(value)


@dataclass(frozen=True, slots=True)
class Event:
    """One provenance event, valid once built.

    ``previous`` is the id of the record's preceding event (zero for the first); ``version`` is
    the record's content version (1 on create, +1 on each amend). ``sources`` lists the event
    ids a DERIVE was made from; ``subject`` is the recipient of a GRANT/REVOKE or the reader of
    an ACCESS; ``purpose`` says why (free text, may be empty). ``time`` is Unix seconds, the
    author's claim (an anchor later proves an upper bound).

    Identity events (:data:`KEY_KINDS`) are about the key ``subject``: AUTHORISE gives it a
    ``role`` from ``not_before`` to ``not_after`` (Unix seconds, inclusive), DEAUTHORISE removes
    it from ``not_before`` on (a compromise time may lie in the past), HANDOVER passes the log
    to the publisher key ``subject`` from ``not_before`` on. Their ``record_id`` is
    :func:`key_record_id`, ``version`` their number among the log's identity events (1 for the
    first, docs/identity.md), and they commit to no content. Every other kind has an
    empty ``role`` and zero ``not_before``/``not_after``.
    """

    kind: EventKind
    log_id: bytes
    record_id: bytes
    version: int
    previous: bytes
    commitment: bytes
    ciphertext_digest: bytes
    author: str
    time: int
    sources: tuple[bytes, ...] = ()
    subject: str = ZERO_ADDRESS
    purpose: str = ""
    role: str = ""
    not_before: int = 0
    not_after: int = 0
    id: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind = spec(self.kind).kind
        object.__setattr__(self, "kind", kind)
        for name in ("log_id", "record_id", "previous", "commitment", "ciphertext_digest"):
            _hash32(name, getattr(self, name))
        _u64("version", self.version)
        _u64("time", self.time)
        object.__setattr__(self, "author", checksum_address(self.author))
        object.__setattr__(self, "subject", checksum_address(self.subject))
        if not isinstance(self.sources, tuple):
            object.__setattr__(self, "sources", tuple(self.sources))
        if len(self.sources) > MAX_SOURCES:
            raise EventError(f"an event lists at most {MAX_SOURCES} sources")
        for i, s in enumerate(self.sources):
            _hash32(f"sources[{i}]", s)
        # The limits count bytes of UTF-8, the one unit every implementation agrees on.
        if not isinstance(self.purpose, str) or _utf8_size(self.purpose) > MAX_PURPOSE_LENGTH:
            raise EventError(f"purpose must be at most {MAX_PURPOSE_LENGTH} bytes of UTF-8")
        if not isinstance(self.role, str) or _utf8_size(self.role) > MAX_ROLE_LENGTH:
            raise EventError(f"role must be at most {MAX_ROLE_LENGTH} bytes of UTF-8")
        _u64("not_before", self.not_before)
        _u64("not_after", self.not_after)
        if self.version < 1:
            raise EventError("version starts at 1")
        if self.author == ZERO_ADDRESS:
            raise EventError("the author cannot be the zero address")
        if kind in KEY_KINDS:
            self._check_key_event(kind)
        else:
            self._check_record_event(kind)
        object.__setattr__(self, "id", _event_digest(self))

    def _check_key_event(self, kind: EventKind) -> None:
        if self.subject == ZERO_ADDRESS:
            raise EventError(f"a {kind} event names the key it is about as its subject")
        if self.record_id != key_record_id(self.log_id, self.subject):
            raise EventError(f"a {kind} event's record id is key_record_id(logId, subject)")
        if self.sources:
            raise EventError(f"a {kind} event has no sources")
        if self.commitment != ZERO_HASH or self.ciphertext_digest != ZERO_HASH:
            raise EventError(f"a {kind} event commits to no content")
        if kind is EventKind.AUTHORISE:
            if not self.role or self.not_after < self.not_before:
                raise EventError("an authorise event has a role and notBefore <= notAfter")
        elif self.role or self.not_after != 0:
            raise EventError(f"a {kind} event has no role and notAfter 0")

    def _check_record_event(self, kind: EventKind) -> None:
        if self.role or self.not_before or self.not_after:
            raise EventError(f"a {kind} event has no role, notBefore or notAfter")
        row = spec(kind)
        first = row.starts
        if first and (self.version != 1 or self.previous != ZERO_HASH):
            raise EventError(f"a {kind} event starts a record: version 1, no previous event")
        if not first and self.previous == ZERO_HASH:
            raise EventError(f"a {kind} event must link to the record's previous event")
        if row.sources != bool(self.sources):
            raise EventError("sources are required for derive and allowed only there")
        if row.subject != (self.subject != ZERO_ADDRESS):
            raise EventError(
                "a subject is required for grant, revoke, access and allowed only there"
            )

    def message(self) -> dict[str, Any]:
        """The EIP-712 ``message`` object (JSON-friendly: bytes as 0x-hex)."""
        return {
            "kind": str(self.kind),
            "logId": _hx(self.log_id),
            "recordId": _hx(self.record_id),
            "version": self.version,
            "previous": _hx(self.previous),
            "commitment": _hx(self.commitment),
            "ciphertextDigest": _hx(self.ciphertext_digest),
            "author": self.author,
            "time": self.time,
            "sources": [_hx(s) for s in self.sources],
            "subject": self.subject,
            "purpose": self.purpose,
            "role": self.role,
            "notBefore": self.not_before,
            "notAfter": self.not_after,
        }

    def typed_data(self) -> dict[str, Any]:
        """The full ``eth_signTypedData_v4`` document a wallet signs."""
        return _typed_data(EVENT_TYPE, self.message())

    def sign(self, signer: Signer) -> SignedEvent:
        """Sign with ``signer``, which must be the event's author."""
        if checksum_address(signer.address) != self.author:
            raise SignatureError(f"event author is {self.author}, signer is {signer.address}")
        if type(signer) is LocalSigner:  # signs the digest: the document is not shown
            return SignedEvent(self, signer.unsafe_sign_digest(self.id))
        return SignedEvent(self, sign_typed(signer, self.typed_data(), self.id))


def _typed_data(primary: str, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "types": {"EIP712Domain": list(TYPES["EIP712Domain"]), primary: list(TYPES[primary])},
        "primaryType": primary,
        "domain": dict(DOMAIN),
        "message": message,
    }


@dataclass(frozen=True, slots=True)
class SignedEvent:
    """An event with its author's signature (not yet checked: see :meth:`recover`)."""

    event: Event
    signature: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_SIZE:
            raise SignatureError(f"an event signature is {SIGNATURE_SIZE} bytes")

    @property
    def id(self) -> bytes:
        return self.event.id

    def leaf_data(self) -> bytes:
        """The log entry: ``event id || signature``."""
        return self.event.id + self.signature

    def recover(self) -> str:
        """The address that signed (raises :class:`SignatureError` when malformed)."""
        return recover_address(self.event.id, self.signature)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's state: (log id, tree size, root)."""

    log_id: bytes
    tree_size: int
    root: bytes
    id: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _hash32("log_id", self.log_id)
        _hash32("root", self.root)
        _u64("tree_size", self.tree_size)
        object.__setattr__(self, "id", _checkpoint_digest(self.log_id, self.tree_size, self.root))

    def message(self) -> dict[str, Any]:
        return {"logId": _hx(self.log_id), "treeSize": self.tree_size, "root": _hx(self.root)}

    def typed_data(self) -> dict[str, Any]:
        return _typed_data(CHECKPOINT_TYPE, self.message())

    def sign(self, signer: Signer) -> SignedCheckpoint:
        signature = sign_typed(signer, self.typed_data(), self.id)
        return SignedCheckpoint(self, checksum_address(signer.address), signature)


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint signed by the log's publisher."""

    checkpoint: Checkpoint
    publisher: str
    signature: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "publisher", checksum_address(self.publisher))
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_SIZE:
            raise SignatureError(f"a checkpoint signature is {SIGNATURE_SIZE} bytes")

    def recover(self) -> str:
        return recover_address(self.checkpoint.id, self.signature)


def event_from_message(message: Mapping[str, Any]) -> Event:
    """Rebuild an :class:`Event` from its EIP-712 message (as :meth:`Event.message` gives).

    The message must have exactly the fields of the type, no more (an unknown field would be
    unsigned data a reader might trust)."""
    if not isinstance(message, Mapping):
        raise EventError("an event message is an object")
    names = [f["name"] for f in TYPES[EVENT_TYPE]]
    if set(message) != set(names):
        extra = sorted(set(message) - set(names))
        missing = sorted(set(names) - set(message))
        raise EventError(f"malformed event message: unknown {extra}, missing {missing}")
    try:
        return Event(
            kind=EventKind(message["kind"]),
            log_id=_unhex(message["logId"]),
            record_id=_unhex(message["recordId"]),
            version=message["version"],
            previous=_unhex(message["previous"]),
            commitment=_unhex(message["commitment"]),
            ciphertext_digest=_unhex(message["ciphertextDigest"]),
            author=message["author"],
            time=message["time"],
            sources=tuple(_unhex(s) for s in message["sources"]),
            subject=message["subject"],
            purpose=message["purpose"],
            role=message["role"],
            not_before=message["notBefore"],
            not_after=message["notAfter"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, EventError):
            raise
        raise EventError(f"malformed event message: {exc!r}") from exc


def _unhex(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise EventError(f"expected 0x-hex, got {value!r}")
    try:
        return from_hex(value)
    except ValueError as exc:
        raise EventError(f"bad hex {value!r}") from exc
