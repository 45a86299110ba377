"""The publishing pipeline, in memory: records in, signed and logged events, bundles out.

A :class:`Publisher` decides what is written: for each record version the salted commitment
(over the record's canonical bytes, made once), the sealed payload (handed to a
:class:`VersionStore`) and the signed event. :meth:`Publisher.append` is the one way an event of
any kind is written, alone or in a batch prepared ahead (:mod:`okeios._internal.publish.ingest`):
it checks the chain rules (:func:`~okeios._internal.protocol.chainrules.advance`) and the
store's guard, then its :class:`EventLog` gives each event its log index and keeps it.
Authors (the publisher itself by default, or any
:class:`~okeios._internal.protocol.signing.Signer`) sign each event; the publisher signs
checkpoints and assembles proof bundles (the one bundle assembler) that disclose all of a
record's fields, some, or none (then from the stored digests, nothing decrypted).

By default everything stays in memory (:class:`MemoryVersions`, :class:`MemoryEvents`); a
store's :class:`~okeios._internal.publish.unit.Unit` passes the store's tables, so data goes
down one way and the publisher keeps no state of its own beyond its key. Time and randomness
are injectable so runs are reproducible. It does no I/O itself.
"""

from __future__ import annotations

import json
import os
import time as _time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from okeios._internal.crypto.payload import (
    new_data_key,
    open_payload,
    payload_aad,
    payload_digest,
    seal_payload,
)
from okeios._internal.protocol.bundle import AnchorRef, Bundle, InclusionProof
from okeios._internal.protocol.canonical import JSONValue, parse_json
from okeios._internal.protocol.chainrules import advance
from okeios._internal.protocol.commitment import (
    Canonical,
    Commitment,
    Disclosure,
    commit,
    commit_canonical,
    commitment_from_digests,
    disclose_stored,
)
from okeios._internal.protocol.events import (
    KEY_KINDS,
    ZERO_ADDRESS,
    ZERO_HASH,
    Checkpoint,
    Event,
    EventKind,
    SignedCheckpoint,
    SignedEvent,
    derive_log_id,
    key_record_id,
)
from okeios._internal.protocol.hexcodec import hex_repr
from okeios._internal.protocol.kinds import CONTENT_KINDS
from okeios._internal.protocol.merkle import MerkleLog, leaf_hash
from okeios._internal.protocol.signing import Signer, checksum_address
from okeios.errors import AccessError, CommitmentError, EventError, InputError

__all__ = [
    "MAX_TIME",
    "Entry",
    "EventLog",
    "Head",
    "LogTree",
    "LoggedEvent",
    "MemoryEvents",
    "MemoryVersions",
    "Publisher",
    "VersionStore",
]

MAX_TIME = (1 << 64) - 1
"""``notAfter`` of an authorisation without an end."""


class VersionStore(Protocol):
    """Where a publisher keeps each record version's canonical bytes, commitment seed and field
    digests.

    The default keeps them in memory, unencrypted; :class:`okeios._internal.publish.store.Store`
    encrypts them in SQLite.
    """

    def put_version(
        self, record_id: bytes, version: int, payload: bytes, seed: bytes, digests: Sequence[bytes]
    ) -> bytes:
        """Remember a record version (before its event is logged); return the digest of the
        stored ciphertext, which the event signs (all zero when nothing is encrypted)."""
        ...

    def get_version(self, record_id: bytes, version: int) -> tuple[bytes, bytes]:
        """The canonical bytes and seed of a record version (``AccessError`` once erased)."""
        ...

    def version_digests(self, record_id: bytes, version: int) -> tuple[bytes, ...]:
        """The version's sorted field digests (kept after erasure: they reveal nothing)."""
        ...

    def sealed_payload(self, record_id: bytes, version: int) -> bytes:
        """The version's ciphertext, whose SHA-256 the events sign."""
        ...


class MemoryVersions:
    """A :class:`VersionStore` in memory: each version sealed under a fresh data key, as in
    the persistent store, so events always sign a ciphertext digest."""

    def __init__(self, rng: Callable[[int], bytes] = os.urandom) -> None:
        self._rng = rng
        self._versions: dict[tuple[bytes, int], tuple[bytes, bytes, bytes, tuple[bytes, ...]]] = {}

    def put_version(
        self, record_id: bytes, version: int, payload: bytes, seed: bytes, digests: Sequence[bytes]
    ) -> bytes:
        data_key = new_data_key(self._rng)
        aad = payload_aad(record_id, version)
        sealed = seal_payload(data_key, payload, aad=aad, rng=self._rng)
        self._versions[(record_id, version)] = (sealed, data_key, seed, tuple(digests))
        return payload_digest(sealed)

    def _get(self, record_id: bytes, version: int) -> tuple[bytes, bytes, bytes, tuple[bytes, ...]]:
        try:
            return self._versions[(record_id, version)]
        except KeyError:
            raise InputError(f"record {record_id.hex()} has no version {version}") from None

    def get_version(self, record_id: bytes, version: int) -> tuple[bytes, bytes]:
        sealed, data_key, seed, _ = self._get(record_id, version)
        return open_payload(data_key, sealed, aad=payload_aad(record_id, version)), seed

    def version_digests(self, record_id: bytes, version: int) -> tuple[bytes, ...]:
        return self._get(record_id, version)[3]

    def sealed_payload(self, record_id: bytes, version: int) -> bytes:
        return self._get(record_id, version)[0]


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """A signed event and where it sits in the log."""

    def __repr__(self) -> str:
        return hex_repr(self)

    signed: SignedEvent
    index: int

    @property
    def id(self) -> bytes:
        return self.signed.id

    @property
    def record_id(self) -> bytes:
        return self.signed.event.record_id


@dataclass(frozen=True, slots=True)
class Entry:
    """A signed event on its way into the log, with what its rows need made once: its EIP-712
    message as stored (JSON) and its RFC 9162 leaf hash (batch ingest makes both in its
    workers)."""

    signed: SignedEvent
    message: str
    leaf: bytes

    @classmethod
    def of(cls, signed: SignedEvent) -> Entry:
        return cls(signed, json.dumps(signed.event.message()), leaf_hash(signed.leaf_data()))


@dataclass(frozen=True, slots=True)
class Head:
    """What a new event about a record links to: the record's latest event and version."""

    event_id: bytes
    version: int
    commitment: bytes
    ciphertext: bytes


class LogTree(Protocol):
    """The Merkle log of event leaves (:class:`~okeios._internal.protocol.merkle.MerkleLog` in
    memory,
    :class:`~okeios._internal.publish.tree.StoredTree` in a store)."""

    @property
    def size(self) -> int: ...

    def root(self, size: int | None = None) -> bytes: ...

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]: ...

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]: ...

    def leaf_hash_at(self, index: int) -> bytes: ...


class EventLog(Protocol):
    """Where a publisher's signed events go once logged, and where it reads them back."""

    @property
    def tree(self) -> LogTree:
        """The Merkle log of the events' leaves."""
        ...

    def append(self, entries: Sequence[Entry]) -> list[LoggedEvent]:
        """Give each entry the next index of the log (its leaf appended to the tree) and keep
        it; the events' chain rules are checked before (:meth:`Publisher.append`)."""
        ...

    def get(self, event_id: bytes) -> LoggedEvent | None:
        """A logged event by id, if there is one."""
        ...

    def head(self, record_id: bytes) -> Head | None:
        """A record's latest event, if the record exists."""
        ...

    def identity_count(self) -> int:
        """How many identity events (authorise, deauthorise, handover) the log holds."""
        ...


class MemoryEvents:
    """An :class:`EventLog` in memory."""

    def __init__(self) -> None:
        self.tree: MerkleLog = MerkleLog()
        self.events: list[LoggedEvent] = []
        self._by_id: dict[bytes, LoggedEvent] = {}
        self._heads: dict[bytes, Head] = {}

    def append(self, entries: Sequence[Entry]) -> list[LoggedEvent]:
        out = []
        for entry in entries:
            logged = LoggedEvent(entry.signed, self.tree.append_leaf_hash(entry.leaf))
            e = logged.signed.event
            self.events.append(logged)
            self._by_id[logged.id] = logged
            self._heads[e.record_id] = Head(logged.id, e.version, e.commitment, e.ciphertext_digest)
            out.append(logged)
        return out

    def get(self, event_id: bytes) -> LoggedEvent | None:
        return self._by_id.get(event_id)

    def head(self, record_id: bytes) -> Head | None:
        return self._heads.get(record_id)

    def identity_count(self) -> int:
        return sum(1 for e in self.events if e.signed.event.kind in KEY_KINDS)


class Publisher:
    """One publisher's log: decides what is written (commitment, sealed payload, signed
    event), hands it down to its :class:`VersionStore` and :class:`EventLog`, signs
    checkpoints and assembles bundles. It keeps no state of its own besides its key, so any
    number of publishers (processes) may share one persistent store."""

    def __init__(
        self,
        signer: Signer,
        *,
        log_name: str = "main",
        clock: Callable[[], float] = _time.time,
        rng: Callable[[int], bytes] = os.urandom,
        versions: VersionStore | None = None,
        events: EventLog | None = None,
        organisation: str | None = None,
    ) -> None:
        self.signer = signer
        # A publisher has exactly one log, bound to its organisation's first key (docs/log.md,
        # docs/identity.md): it keeps that id after a handover. ``log_name`` is only a local
        # label kept by the store, it does not change the log id.
        self.log_name = log_name
        self.organisation = checksum_address(organisation or signer.address)
        self.log_id = derive_log_id(self.organisation)
        self.versions: VersionStore = versions if versions is not None else MemoryVersions(rng)
        self.event_log: EventLog = events if events is not None else MemoryEvents()
        self._clock = clock
        self._rng = rng
        # called before each event is signed and appended: a store checks there that its key
        # is still the log's current one (okeios._internal.publish.store)
        self.guard: Callable[[], None] | None = None

    @property
    def log(self) -> LogTree:
        """The Merkle log of this publisher's events."""
        return self.event_log.tree

    @property
    def address(self) -> str:
        return self.signer.address

    @property
    def events(self) -> Sequence[LoggedEvent]:
        """Every logged event, in order (an in-memory publisher only)."""
        if not isinstance(self.event_log, MemoryEvents):
            raise InputError("only an in-memory publisher lists its events; ask its store")
        return tuple(self.event_log.events)

    def event(self, event_id: bytes) -> LoggedEvent:
        """A logged event by id."""
        found = self.event_log.get(event_id)
        if found is None:
            raise InputError(f"unknown event {event_id.hex()}")
        return found

    def head(self, record_id: bytes) -> bytes:
        """The id of a record's latest event."""
        return self._head(record_id).event_id

    def _head(self, record_id: bytes) -> Head:
        head = self.event_log.head(record_id)
        if head is None:
            raise InputError(f"unknown record {record_id.hex()}")
        return head

    def commitment(self, event_id: bytes) -> Commitment:
        """The commitment (with salts and values) of the record version an event is about."""
        return self._commitment(self.event(event_id).signed.event, event_id)

    def _commitment(self, e: Event, event_id: bytes) -> Commitment:
        payload, seed = self.versions.get_version(e.record_id, e.version)
        commitment, _ = commit(parse_json(payload), seed=seed)
        if commitment.root != e.commitment:
            raise InputError(f"stored record version does not match event {event_id.hex()}")
        return commitment

    def disclosure(self, event_id: bytes, fields: Iterable[str] | None = None) -> Disclosure:
        """The disclosure a bundle of this event carries: the chosen fields (default all).

        Once the record was erased only its field digests remain: the disclosure then holds
        no field, and asking for fields raises :class:`~okeios.errors.AccessError`.
        """
        return self._disclosure(self.event(event_id), fields)

    def _disclosure(self, logged: LoggedEvent, fields: Iterable[str] | None) -> Disclosure:
        e, event_id = logged.signed.event, logged.id
        if e.kind in KEY_KINDS:  # an identity event commits to no content
            if fields:
                raise InputError(f"a {e.kind} event has no fields to disclose")
            return Disclosure((), ())
        wanted = None if fields is None else list(fields)
        if wanted is not None and not wanted:  # nothing disclosed: the stored digests only
            return Disclosure(self.versions.version_digests(e.record_id, e.version), ())
        try:
            return self._stored_disclosure(e, event_id, wanted)
        except AccessError:
            if wanted:  # disclosing no field needs only the digests, erased or not
                raise
            return Disclosure(self.versions.version_digests(e.record_id, e.version), ())

    def _stored_disclosure(self, e: Event, event_id: bytes, wanted: list[str] | None) -> Disclosure:
        """The disclosure of ``wanted`` (None: every field) from the stored version, without
        deriving its commitment again (:func:`disclose_stored`): the stored digests must give
        the event's commitment (one hash); the payload and the seed are authenticated by their
        seals."""
        payload, seed = self.versions.get_version(e.record_id, e.version)
        digests = self.versions.version_digests(e.record_id, e.version)
        try:
            matches = commitment_from_digests(digests) == e.commitment
        except CommitmentError:
            matches = False
        if not matches:
            raise InputError(f"stored record version does not match event {event_id.hex()}")
        return disclose_stored(payload, seed, digests, wanted)

    def _commit(
        self,
        record_id: bytes,
        version: int,
        record: bytes | JSONValue | Canonical,
        seed: bytes | None,
    ) -> tuple[bytes, bytes]:
        """Commit to a record version and hand its sealed payload down: the canonical bytes
        come from the one walk of a :class:`~okeios._internal.protocol.commitment.Canonical`
        record (made here for any other)."""
        if isinstance(record, Canonical):
            form = record
        else:
            form = Canonical(parse_json(record) if isinstance(record, bytes) else record)
        commitment, seed, canonical = commit_canonical(form, seed=seed, rng=self._rng)
        ciphertext = self.versions.put_version(
            record_id, version, canonical, seed, commitment.digests
        )
        return commitment.root, ciphertext

    # -- events -------------------------------------------------------------------------------

    def create(
        self,
        record: bytes | JSONValue | Canonical,
        *,
        author: Signer | None = None,
        record_id: bytes | None = None,
        seed: bytes | None = None,
        time: int | None = None,
        sources: Sequence[bytes] = (),
    ) -> LoggedEvent:
        """Log a new record (CREATE, or DERIVE when ``sources`` lists the events it came from)."""
        rid = record_id if record_id is not None else self._rng(32)
        if self.event_log.head(rid) is not None:
            raise InputError(f"record {rid.hex()} exists already")
        for s in sources:
            self.event(s)  # raises for an event that is not in this log
        root, ciphertext = self._commit(rid, 1, record, seed)
        kind = EventKind.DERIVE if sources else EventKind.CREATE
        return self._emit(
            kind, rid, 1, ZERO_HASH, root, ciphertext, author, time, sources=tuple(sources)
        )

    def amend(
        self,
        record_id: bytes,
        record: bytes | JSONValue | Canonical,
        *,
        author: Signer | None = None,
        seed: bytes | None = None,
        time: int | None = None,
    ) -> LoggedEvent:
        """Log a new version of a record (AMEND), linked to the record's previous event."""
        head = self._head(record_id)
        root, ciphertext = self._commit(record_id, head.version + 1, record, seed)
        return self._emit(
            EventKind.AMEND,
            record_id,
            head.version + 1,
            head.event_id,
            root,
            ciphertext,
            author,
            time,
        )

    def record_event(
        self,
        kind: EventKind,
        record_id: bytes,
        *,
        subject: str = ZERO_ADDRESS,
        purpose: str = "",
        author: Signer | None = None,
        time: int | None = None,
    ) -> LoggedEvent:
        """Log a GRANT, REVOKE, ACCESS or ERASE about a record's current version."""
        if kind in CONTENT_KINDS:
            raise EventError(f"use create/amend for {kind} events")
        head = self._head(record_id)
        return self._emit(
            kind,
            record_id,
            head.version,
            head.event_id,
            head.commitment,
            head.ciphertext,
            author,
            time,
            subject=subject,
            purpose=purpose,
        )

    def _emit(
        self,
        kind: EventKind,
        record_id: bytes,
        version: int,
        previous: bytes,
        commitment: bytes,
        ciphertext: bytes,
        author: Signer | None,
        time: int | None,
        *,
        sources: tuple[bytes, ...] = (),
        subject: str = ZERO_ADDRESS,
        purpose: str = "",
    ) -> LoggedEvent:
        signer = author if author is not None else self.signer
        now = int(self._clock()) if time is None else time
        prior = None
        if previous != ZERO_HASH:
            prior = self.event(previous).signed.event
            if time is None:
                now = max(now, prior.time)  # a clock behind the record's last event waits
        event = Event(
            kind=kind,
            log_id=self.log_id,
            record_id=record_id,
            version=version,
            previous=previous,
            commitment=commitment,
            ciphertext_digest=ciphertext,
            author=signer.address,
            time=now,
            sources=sources,
            subject=subject,
            purpose=purpose,
        )
        return self._append(event, signer, prior)

    def _append(self, event: Event, signer: Signer, head: Event | None) -> LoggedEvent:
        """Sign ``event`` (which follows ``head`` on its record's chain) and append it."""
        return self.append([Entry.of(event.sign(signer))], [head])[0]

    def append(
        self, entries: Sequence[Entry], heads: Sequence[Event | None] | None = None
    ) -> list[LoggedEvent]:
        """The one way an event is written, for every kind and for one event or a batch: check
        each event may follow its record's head (``heads[i]``; ``None``, the default for all,
        when the record has no chain yet) by the chain rules (what a verifier refuses, an
        honest publisher never writes), run the store's guard, then let the log give each its
        index and keep it, in order. Nothing is written when a check fails."""
        for i, entry in enumerate(entries):
            event = entry.signed.event
            broken = advance(None if heads is None else heads[i], event)
            if broken:
                raise InputError(
                    f"record {event.record_id.hex()}: " + "; ".join(step.detail for step in broken)
                )
        if self.guard is not None:
            self.guard()
        return self.event_log.append(entries)

    # -- identity (docs/identity.md) ----------------------------------------------------------

    def _key_event(
        self,
        kind: EventKind,
        key: str,
        *,
        role: str = "",
        not_before: int = 0,
        not_after: int = 0,
        purpose: str = "",
        time: int | None = None,
    ) -> LoggedEvent:
        signer = self.signer
        subject = checksum_address(key)
        record_id = key_record_id(self.log_id, subject)
        head = self.event_log.head(record_id)  # a key's identity events form one chain
        event = Event(
            kind=kind,
            log_id=self.log_id,
            record_id=record_id,
            # numbered 1, 2, ... across the log: a key history shows it holds them all
            version=self.event_log.identity_count() + 1,
            previous=ZERO_HASH if head is None else head.event_id,
            commitment=ZERO_HASH,
            ciphertext_digest=ZERO_HASH,
            author=signer.address,
            time=int(self._clock()) if time is None else time,
            subject=subject,
            purpose=purpose,
            role=role,
            not_before=not_before,
            not_after=not_after,
        )
        prior = None if head is None else self.event(head.event_id).signed.event
        return self._append(event, signer, prior)

    def authorise(
        self,
        key: str,
        role: str,
        *,
        not_before: int | None = None,
        not_after: int = MAX_TIME,
        purpose: str = "",
        time: int | None = None,
    ) -> LoggedEvent:
        """Log an AUTHORISE: the author key ``key`` may sign as ``role`` from ``not_before``
        (default: now) to ``not_after`` (default: no end), for events logged after this one."""
        now = int(self._clock()) if time is None else time
        return self._key_event(
            EventKind.AUTHORISE,
            key,
            role=role,
            not_before=now if not_before is None else not_before,
            not_after=not_after,
            purpose=purpose,
            time=now,
        )

    def deauthorise(
        self,
        key: str,
        *,
        effective: int | None = None,
        purpose: str = "",
        time: int | None = None,
    ) -> LoggedEvent:
        """Log a DEAUTHORISE: ``key`` may no longer sign from ``effective`` (default: now). A
        compromised key is deauthorised from the time it may have been stolen: its events not
        anchored before then stop verifying."""
        now = int(self._clock()) if time is None else time
        return self._key_event(
            EventKind.DEAUTHORISE,
            key,
            not_before=now if effective is None else effective,
            purpose=purpose,
            time=now,
        )

    def handover(
        self, new_signer: Signer, *, purpose: str = "", time: int | None = None
    ) -> LoggedEvent:
        """Hand the log to the publisher key ``new_signer``: log a HANDOVER signed by the
        current key, then sign every later checkpoint with the new key (the log id stays)."""
        if checksum_address(new_signer.address) == checksum_address(self.signer.address):
            raise InputError("the new publisher key is the current one")
        now = int(self._clock()) if time is None else time
        logged = self._key_event(
            EventKind.HANDOVER, new_signer.address, not_before=now, purpose=purpose, time=now
        )
        self.signer = new_signer
        return logged

    # -- checkpoints and bundles --------------------------------------------------------------

    def checkpoint(self, tree_size: int | None = None) -> SignedCheckpoint:
        """Sign the log's state at ``tree_size`` (default: now)."""
        size = self.log.size if tree_size is None else tree_size
        return Checkpoint(self.log_id, size, self.log.root(size)).sign(self.signer)

    def bundle(
        self,
        event_id: bytes,
        *,
        fields: Iterable[str] | None = None,
        checkpoint: SignedCheckpoint | None = None,
        anchor: AnchorRef | None = None,
        logged: LoggedEvent | None = None,
    ) -> Bundle:
        """The proof bundle of one event, disclosing ``fields`` (default: all of them).
        ``logged``: the event, when the caller has just read it (it is then not read again)."""
        if logged is None or logged.id != event_id:
            logged = self.event(event_id)
        cp = checkpoint if checkpoint is not None else self.checkpoint()
        size = cp.checkpoint.tree_size
        if logged.index >= size:
            raise InputError(f"event {event_id.hex()} is not in the checkpoint of size {size}")
        proof = InclusionProof(
            logged.index, size, tuple(self.log.inclusion_proof(logged.index, size))
        )
        return Bundle(logged.signed, self._disclosure(logged, fields), proof, cp, anchor)
