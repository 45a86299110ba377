"""The publishing pipeline, in memory: records in, signed and logged events, bundles out.

A :class:`Publisher` owns one Merkle log and the key that signs its checkpoints. Authors (the
publisher itself by default, or any :class:`~okeios.signing.Signer`) sign each event; the
publisher appends it to the log, signs checkpoints, and assembles proof bundles that disclose
all of a record's fields or only some. Time and randomness are injectable so runs are
reproducible. Persistence and anchoring sit on top of this class; it does no I/O.
"""

from __future__ import annotations

import os
import time as _time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .bundle import AnchorRef, Bundle, InclusionProof
from .canonical import JSONValue, parse_json
from .commitment import Commitment, commit
from .errors import EventError, InputError
from .events import (
    ZERO_ADDRESS,
    ZERO_HASH,
    Checkpoint,
    Event,
    EventKind,
    SignedCheckpoint,
    SignedEvent,
    derive_log_id,
)
from .merkle import MerkleLog
from .signing import Signer

__all__ = ["LoggedEvent", "Publisher"]


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """A signed event, where it sits in the log, and the commitment data its owner keeps."""

    signed: SignedEvent
    index: int
    commitment: Commitment
    seed: bytes

    @property
    def id(self) -> bytes:
        return self.signed.id

    @property
    def record_id(self) -> bytes:
        return self.signed.event.record_id


@dataclass(slots=True)
class _Head:
    event_id: bytes
    version: int
    commitment: Commitment
    seed: bytes


class Publisher:
    """One publisher's log: sign, append, checkpoint, bundle."""

    def __init__(
        self,
        signer: Signer,
        *,
        log_name: str = "main",
        clock: Callable[[], float] = _time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.signer = signer
        self.log_id = derive_log_id(signer.address, log_name)
        self.log = MerkleLog()
        self._clock = clock
        self._rng = rng
        self._events: list[LoggedEvent] = []
        self._by_id: dict[bytes, LoggedEvent] = {}
        self._heads: dict[bytes, _Head] = {}

    @property
    def address(self) -> str:
        return self.signer.address

    @property
    def events(self) -> Sequence[LoggedEvent]:
        return tuple(self._events)

    def head(self, record_id: bytes) -> bytes:
        """The id of a record's latest event."""
        return self._head(record_id).event_id

    def _head(self, record_id: bytes) -> _Head:
        try:
            return self._heads[record_id]
        except KeyError:
            raise InputError(f"unknown record {record_id.hex()}") from None

    @staticmethod
    def _parse(record: bytes | JSONValue) -> JSONValue:
        return parse_json(record) if isinstance(record, bytes) else record

    # -- events -------------------------------------------------------------------------------

    def create(
        self,
        record: bytes | JSONValue,
        *,
        author: Signer | None = None,
        record_id: bytes | None = None,
        seed: bytes | None = None,
        time: int | None = None,
        sources: Sequence[bytes] = (),
    ) -> LoggedEvent:
        """Log a new record (CREATE, or DERIVE when ``sources`` lists the events it came from)."""
        rid = record_id if record_id is not None else self._rng(32)
        if rid in self._heads:
            raise InputError(f"record {rid.hex()} exists already")
        for s in sources:
            if s not in self._by_id:
                raise EventError(f"source event {s.hex()} is not in this log")
        commitment, seed = commit(self._parse(record), seed=seed, rng=self._rng)
        kind = EventKind.DERIVE if sources else EventKind.CREATE
        return self._emit(
            kind, rid, 1, ZERO_HASH, commitment, seed, author, time, sources=tuple(sources)
        )

    def amend(
        self,
        record_id: bytes,
        record: bytes | JSONValue,
        *,
        author: Signer | None = None,
        seed: bytes | None = None,
        time: int | None = None,
    ) -> LoggedEvent:
        """Log a new version of a record (AMEND), linked to the record's previous event."""
        head = self._head(record_id)
        commitment, seed = commit(self._parse(record), seed=seed, rng=self._rng)
        return self._emit(
            EventKind.AMEND,
            record_id,
            head.version + 1,
            head.event_id,
            commitment,
            seed,
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
        if kind in (EventKind.CREATE, EventKind.DERIVE, EventKind.AMEND):
            raise EventError(f"use create/amend for {kind} events")
        head = self._head(record_id)
        return self._emit(
            kind,
            record_id,
            head.version,
            head.event_id,
            head.commitment,
            head.seed,
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
        commitment: Commitment,
        seed: bytes,
        author: Signer | None,
        time: int | None,
        *,
        sources: tuple[bytes, ...] = (),
        subject: str = ZERO_ADDRESS,
        purpose: str = "",
    ) -> LoggedEvent:
        signer = author if author is not None else self.signer
        event = Event(
            kind=kind,
            log_id=self.log_id,
            record_id=record_id,
            version=version,
            previous=previous,
            commitment=commitment.root,
            ciphertext_digest=ZERO_HASH,
            author=signer.address,
            time=int(self._clock()) if time is None else time,
            sources=sources,
            subject=subject,
            purpose=purpose,
        )
        signed = event.sign(signer)
        index = self.log.append(signed.leaf_data())
        logged = LoggedEvent(signed, index, commitment, seed)
        self._events.append(logged)
        self._by_id[signed.id] = logged
        self._heads[record_id] = _Head(signed.id, version, commitment, seed)
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
    ) -> Bundle:
        """The proof bundle of one event, disclosing ``fields`` (default: all of them)."""
        try:
            logged = self._by_id[event_id]
        except KeyError:
            raise InputError(f"unknown event {event_id.hex()}") from None
        cp = checkpoint if checkpoint is not None else self.checkpoint()
        size = cp.checkpoint.tree_size
        if logged.index >= size:
            raise InputError(f"event {event_id.hex()} is not in the checkpoint of size {size}")
        proof = InclusionProof(
            logged.index, size, tuple(self.log.inclusion_proof(logged.index, size))
        )
        return Bundle(logged.signed, logged.commitment.disclose(fields), proof, cp, anchor)
