"""A store's records: adding them (:meth:`Records.add`, :meth:`Records.put`), amending and
deriving them, listing, reading and exporting them; reached through the store's verbs
(``store.add``, ``store.put``...).

Every new event goes down one way: the record is parsed, its canonical bytes made once (a
:class:`~okeios._internal.protocol.commitment.Canonical` carried from the identity check to
the commitment, the sealed payload and the content check), committed, sealed, its event signed
and handed to :meth:`Publisher.append <okeios._internal.publish.publisher.Publisher.append>`,
the one function that checks the chain rules, gives the event its log index and writes its
rows: one event at a time (``amend``, a changed ``put``), or a batch prepared ahead, in this
process or in an executor's workers (``add``, the new resources of a ``put``; see
:mod:`okeios._internal.publish.ingest`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.canonical import JSONValue, parse_json
from okeios._internal.protocol.commitment import Canonical
from okeios._internal.protocol.events import SignedEvent
from okeios._internal.protocol.fhir import resource_identity
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.ids import RecordRef
from okeios._internal.protocol.logfile import write_log
from okeios._internal.protocol.signing import Signer
from okeios._internal.publish import ingest
from okeios._internal.publish.identity import Judgement, PutResult, RecordFilter, RecordInfo
from okeios._internal.publish.ingest import DEFAULT_CHUNK_SIZE
from okeios._internal.publish.journal import AnchorJournal
from okeios._internal.publish.publisher import Entry, LoggedEvent
from okeios._internal.publish.tables import ResourceRow
from okeios.errors import AccessError, InputError

if TYPE_CHECKING:
    from okeios._internal.protocol.signing import LocalSigner
    from okeios._internal.publish.identity import Identities
    from okeios._internal.publish.publisher import Publisher
    from okeios._internal.publish.tables import Database, Events
    from okeios._internal.publish.versions import SealedVersions

__all__ = ["RecordLookup", "Records", "RecordsUnit"]


class RecordLookup(Protocol):
    """Finding a store's records by what names them
    (:class:`~okeios._internal.publish.unit.Unit` satisfies it): what the records and the access
    part both look up."""

    def find_event(self, ident: RecordRef | str) -> LoggedEvent: ...
    def record_id_of(self, ident: RecordRef | str) -> bytes: ...
    def is_erased(self, record_id: bytes) -> bool: ...
    def latest_version(self, record_id: bytes) -> int: ...


class RecordsUnit(RecordLookup, Protocol):
    """What the records use of a store's unit of work
    (:class:`~okeios._internal.publish.unit.Unit` satisfies it): the publisher and its key, the
    tables of events, versions and resources, the clock and randomness, and one transaction."""

    @property
    def db(self) -> Database: ...
    @property
    def events(self) -> Events: ...
    @property
    def versions(self) -> SealedVersions: ...
    @property
    def identities(self) -> Identities: ...
    @property
    def publisher(self) -> Publisher: ...
    @property
    def signer(self) -> LocalSigner: ...
    @property
    def log_id(self) -> bytes: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def rng(self) -> Callable[[int], bytes]: ...
    def fresh(self) -> None: ...
    def transaction(
        self, ahead: Sequence[tuple[str, Sequence[object]]] = ()
    ) -> AbstractContextManager[sqlite3.Connection]: ...


@dataclass(frozen=True, slots=True)
class _NewPut:
    """A resource new to the store, prepared by :meth:`Records.put` and waiting to be
    appended."""

    draw: ingest.Draw
    prepared: ingest.Prepared
    row: tuple[bytes, bytes, bytes, bytes, str | None, bytes] | None  # its resources row
    label: str | None


class Records:
    """The records of one store (see the module docstring)."""

    def __init__(self, unit: RecordsUnit, journal: AnchorJournal) -> None:
        self._unit = unit
        self._journal = journal

    def add(
        self,
        records: Iterable[bytes | JSONValue],
        *,
        author: Signer | None = None,
        progress: Callable[[int], None] | None = None,
        executor: Executor | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> list[LoggedEvent]:
        """Log each record as a new record (CREATE), all in one transaction, whatever it holds.

        ``author`` signs the events (default: the publisher's own key). :meth:`put` is the
        variant that knows FHIR resource identity.

        With an ``executor`` (any :class:`concurrent.futures.Executor`: a process pool, a Dask
        client's ``get_executor()``) the records are canonicalised, committed, sealed and
        signed in its workers, ``chunk_size`` records per task, and only the append runs here;
        the store ends up with exactly the bytes a serial run writes (see
        :mod:`okeios._internal.publish.ingest`, which also says what the workers are trusted with).
        ``progress`` is called with the number of records of each chunk appended.
        """
        signer = author if author is not None else self._unit.signer
        out: list[LoggedEvent] = []
        chunks = ingest.pipeline(
            records,
            lambda n: ingest.draw(n, self._unit.rng, self._unit.clock, self._seal_secrets),
            log_id=self._unit.log_id,
            author=signer,
            executor=executor,
            chunk_size=chunk_size,
        )
        # closing: a failure cancels the chunks submitted ahead
        with self._unit.transaction(), closing(chunks):
            for prepared, draws in chunks:
                out.extend(self._append_prepared(prepared, draws))
                if progress is not None:
                    progress(len(prepared))
        return out

    def _seal_secrets(self, record_id: bytes, data_key: bytes, seed: bytes) -> tuple[bytes, bytes]:
        """A new version 1's data key and seed, sealed under the master key."""
        return self._unit.versions.seal_keys(record_id, 1, data_key, seed)

    def _append_prepared(
        self, chunk: Sequence[ingest.Prepared], draws: Sequence[ingest.Draw]
    ) -> list[LoggedEvent]:
        """Append prepared new records (inside the write transaction): their events through
        the publisher's one write path, then their sealed versions."""
        entries = []
        for p in chunk:
            assert p.signed is not None
            entries.append(Entry(p.signed, p.message, p.leaf))
        out = self._unit.publisher.append(entries)
        self._unit.versions.rows.insert_many(
            [
                (p.record_id, 1, p.sealed, d.sealed_key, d.sealed_seed, p.digests)
                for p, d in zip(chunk, draws, strict=True)
            ]
        )
        return out

    def put(
        self,
        records: Iterable[bytes | JSONValue],
        *,
        keys: Sequence[str | None] | None = None,
        author: Signer | None = None,
        progress: Callable[[int], None] | None = None,
        names: Sequence[str] | None = None,
    ) -> list[PutResult]:
        """Log resources by identity, all in one transaction (all or nothing).

        A FHIR resource is identified by ``resourceType/id``; other JSON by the caller's key
        (``keys[i]``), else not at all (always a new record). A resource seen before becomes a
        new version (AMEND) of its record when its content changed, and logs nothing when it
        did not (``unchanged``). An older version is not applied (``stale``): older by
        ``meta.lastUpdated`` when both versions carry one, else by numeric ``meta.versionId``;
        the same ``versionId`` with different content, and a tie nothing orders, are refused
        (:class:`~okeios.errors.InputError`; :mod:`okeios._internal.publish.identity` has the
        rules).

        One call is one transaction and returns one result per resource: to add a long stream
        (an NDJSON export), call it once per chunk, as ``okeios add`` does, so that memory stays
        bounded and a crash loses at most the chunk in progress (running the same input again
        is safe: what was kept is ``unchanged``). ``names[i]`` (``"file line 12"``) prefixes
        the error about ``records[i]``.

        The map from identity to record is kept private in the store: its key is an HMAC of
        the identity under a key derived from the master key, its label sealed; record ids are
        random and reveal nothing of the resource.
        """

        def stored(record_id: bytes) -> JSONValue:  # the latest version, for lastUpdated
            latest = self._unit.versions.rows.latest(record_id)
            if latest is None:  # pragma: no cover - an identity always has a version
                raise InputError(f"no record {to_hex(record_id)} in this store")
            return parse_json(self._unit.versions.get_version(record_id, latest)[0])

        items = list(records)
        signer = author if author is not None else self._unit.signer

        def named(i: int, exc: InputError) -> InputError:
            return exc if names is None else type(exc)(f"{names[i]}: {exc}")

        forms: dict[int, Canonical] = {}  # each resource parsed and canonicalised once

        def form_of(i: int) -> Canonical:
            form = forms.get(i)
            if form is None:
                record = items[i]
                value = parse_json(record) if isinstance(record, bytes) else record
                form = forms[i] = Canonical(value)
            return form

        def judged(
            i: int, known: dict[bytes, ResourceRow] | None = None
        ) -> tuple[Canonical, Judgement]:
            """The resource (its canonical bytes made once, when first needed) and what adding
            it means."""
            try:
                form = form_of(i)
                key = keys[i] if keys is not None else None
                ids = self._unit.identities
                return form, ids.judge(form.value, key, stored=stored, known=known, form=form)
            except InputError as exc:
                raise named(i, exc) from exc

        def rows_ahead() -> dict[bytes, ResourceRow] | None:
            """The stored rows of the identities of the whole call, in one query."""
            macs = []
            for i in range(len(items)):
                try:
                    value = form_of(i).value
                    label = self._unit.identities.label_of(value, keys[i] if keys else None)
                except InputError:
                    return None  # judged one by one below, which names the error
                if label is not None:
                    macs.append(self._unit.identities.key(label))
            return self._unit.identities.rows.get_many(macs)

        # The leading run of resources new to the store is prepared (committed, sealed and
        # signed) before the write lock is taken, so that other writers wait only for the
        # append; its randomness is drawn in the order a one-by-one run draws it.
        ahead: list[_NewPut] = []
        seen: set[bytes] = set()
        known = rows_ahead() if len(items) > 1 else None
        for i in range(len(items)):
            form, j = judged(i, known)
            mac = self._unit.identities.key(j.label) if j.label is not None else None
            if j.status != "new" or (mac is not None and mac in seen):
                break
            ahead.append(self._new_put(i, form, j, signer, named))
            if mac is not None:
                seen.add(mac)
        out: list[PutResult] = []
        present = self._unit.identities.rows.present_queries(sorted(seen)) if ahead else []
        with self._unit.transaction(present):  # the identities asked with the lock
            start = 0
            if ahead and not self._unit.identities.rows.present(sorted(seen)):
                start = len(ahead)
                self._put_flush(ahead, out, progress)
            queue: list[_NewPut] = []
            queued: set[bytes] = set()
            for i in range(start):
                forms.pop(i, None)  # appended ahead: nothing more to judge
            for i in range(start, len(items)):
                if queue:  # a resource already waiting in the queue is judged once written
                    try:
                        value = form_of(i).value
                        label = self._unit.identities.label_of(value, keys[i] if keys else None)
                    except InputError as exc:
                        raise named(i, exc) from exc
                    if label is not None and self._unit.identities.key(label) in queued:
                        self._put_flush(queue, out, progress)
                        queued.clear()
                form, j = judged(i)
                del forms[i]  # judged for the last time: its bytes go down from here
                if j.status == "new":
                    queue.append(self._new_put(i, form, j, signer, named))
                    if j.label is not None:
                        queued.add(self._unit.identities.key(j.label))
                    continue
                self._put_flush(queue, out, progress)  # what a one-by-one run logged before
                queued.clear()
                try:
                    out.append(self._put_one(form, j, author))
                except InputError as exc:
                    raise named(i, exc) from exc
                if progress is not None:
                    progress(1)
            self._put_flush(queue, out, progress)
        return out

    def _new_put(
        self,
        i: int,
        form: Canonical,
        j: Judgement,
        signer: Signer,
        named: Callable[[int, InputError], InputError],
    ) -> _NewPut:
        """A new resource prepared for :meth:`put`: its randomness drawn (record id, seed, data
        key, nonces, time, then the label's nonce: the order of a one-by-one create), its
        record committed, sealed and its event signed."""
        try:
            d = ingest.draw(1, self._unit.rng, self._unit.clock, self._seal_secrets)[0]
            p = ingest.prepare(form, d, self._unit.log_id, signer.address, signer)
        except InputError as exc:
            raise named(i, exc) from exc
        sealed = (
            self._unit.identities.seal_label(d.record_id, j.label) if j.label is not None else None
        )
        row = None
        if j.label is not None and sealed is not None:
            row = self._unit.identities.new_row(
                d.record_id, j.kind, j.label, j.version_id, sealed, form.bytes
            )
        return _NewPut(d, p, row, j.label)

    def _put_flush(
        self,
        queue: list[_NewPut],
        out: list[PutResult],
        progress: Callable[[int], None] | None,
    ) -> None:
        """Append the queued new resources: one statement per table for all of them."""
        if not queue:
            return
        logged = self._append_prepared([n.prepared for n in queue], [n.draw for n in queue])
        rows = [n.row for n in queue if n.row is not None]
        if rows:
            self._unit.identities.rows.put_many(rows)
        for n, e in zip(queue, logged, strict=True):
            out.append(PutResult("created", e.record_id, e, n.label))
        if progress is not None:
            for _ in queue:
                progress(1)
        queue.clear()

    def _put_one(self, form: Canonical, j: Judgement, author: Signer | None) -> PutResult:
        if j.row is not None and j.status in ("unchanged", "stale"):
            return PutResult(j.status, j.row.record_id, None, j.label)
        if j.row is None:
            logged = self._unit.publisher.create(form, author=author)
            status = "created"
        else:
            logged = self._amend(j.row.record_id, form, author)
            status = "amended"
        if j.label is not None:
            self._remember(logged.record_id, j.kind, j.label, j.version_id, form)
        return PutResult(status, logged.record_id, logged, j.label)

    def _remember(
        self, record_id: bytes, kind: str, label: str, version_id: str | None, form: Canonical
    ) -> None:
        self._unit.identities.remember(
            record_id, kind, label, version_id, form.value, canonical=form.bytes
        )

    def _amend(self, record_id: bytes, form: Canonical, author: Signer | None) -> LoggedEvent:
        if self._unit.is_erased(record_id):
            raise AccessError(f"record {to_hex(record_id)} was erased")
        return self._unit.publisher.amend(record_id, form, author=author)

    def amend(
        self, ident: RecordRef | str, record: bytes | JSONValue, *, author: Signer | None = None
    ) -> LoggedEvent:
        """Log a new version of a record (fresh data key and seed). ``ident`` is a record or
        event id, or ``Type/id``. A FHIR resource must keep the record's identity."""
        value = parse_json(record) if isinstance(record, bytes) else record
        with self._unit.transaction():
            record_id = self._unit.record_id_of(ident)
            identity = resource_identity(value)
            held = self._unit.identities.label(record_id)
            if identity is not None:
                kind, label, version_id = identity[0], f"{identity[0]}/{identity[1]}", identity[2]
                if held is not None and held != label:
                    raise InputError(f"record holds {held}; this resource is {label}")
                if held is None and self._unit.identities.find(label) is not None:
                    raise InputError(f"{label} is held by another record")
            elif held is not None:  # not a FHIR resource: the record keeps its identity
                row = self._unit.identities.rows.of_record(record_id)
                first = held.split("/", 1)[0]
                type_mac = self._unit.identities.type_mac(first)
                fhir = "/" in held and row is not None and row.type == type_mac
                kind, label, version_id = (first if fhir else ""), held, None
            form = Canonical(value)
            logged = self._amend(record_id, form, author)
            if identity is not None or held is not None:
                self._remember(record_id, kind, label, version_id, form)
        return logged

    def derive(
        self,
        record: bytes | JSONValue,
        sources: Sequence[RecordRef | str],
        *,
        author: Signer | None = None,
    ) -> LoggedEvent:
        """Log a new record derived from others (DERIVE), linked to each source record's
        latest event (``sources``: record or event ids, or ``Type/id``)."""
        if not sources:
            raise InputError("a derived record needs at least one source")
        value = parse_json(record) if isinstance(record, bytes) else record
        with self._unit.transaction():
            source_events = [self._unit.find_event(s).id for s in sources]
            form = Canonical(value)
            j = self._unit.identities.judge(value, form=form)
            if j.row is not None:
                raise InputError(f"{j.label} is in the store already: amend it instead")
            logged = self._unit.publisher.create(form, author=author, sources=source_events)
            if j.label is not None:
                self._remember(logged.record_id, j.kind, j.label, j.version_id, form)
        return logged

    # -- reading ----------------------------------------------------------------------------

    def history(self, ident: RecordRef | str) -> list[dict[str, object]]:
        """A record's events in log order: kind, version, time, author, subject, purpose."""
        record_id = self._unit.record_id_of(ident)
        out: list[dict[str, object]] = []
        for logged in self._unit.events.of_record(record_id):
            e = logged.signed.event
            out.append(
                {
                    "index": logged.index,
                    "event": to_hex(logged.id),
                    "kind": str(e.kind),
                    "version": e.version,
                    "time": e.time,
                    "author": e.author,
                    "subject": e.subject,
                    "purpose": e.purpose,
                }
            )
        return out

    def records(
        self,
        match: RecordFilter | None = None,
        *,
        limit: int | None = None,
        after: int | None = None,
        **filters: Any,
    ) -> list[RecordInfo]:
        """What the store holds, one line per record in the order records were first logged,
        filtered by ``match`` (a :class:`RecordFilter`) or its fields as keywords:
        ``resource_type``, ``resource_id``, ``kind`` (of the last event), ``since``/``until``
        (its time), ``erased``; paged by ``limit`` and ``after`` (a keyset cursor: the
        ``index`` of the last record of the previous page), each page read in ``O(limit)``
        rows whatever the size of the store. ``store.identities.count(store.db, match)``
        counts them."""
        return self._unit.identities.records(
            self._unit.db, match, limit=limit, after=after, **filters
        )

    def show(
        self, ident: RecordRef | str, version: int | None = None
    ) -> tuple[JSONValue, dict[str, Any]]:
        """The owner's view of a record: its content (decrypted) and what the store knows of
        it. :class:`~okeios.errors.AccessError` once erased."""
        record_id = self._unit.record_id_of(ident)
        latest = self._unit.latest_version(record_id)
        wanted = latest if version is None else version
        payload, _ = self._unit.versions.get_version(record_id, wanted)
        head = self._unit.events.head_event(record_id)
        assert head is not None
        info = {
            "record": to_hex(record_id),
            "resource": self._unit.identities.label(record_id),
            "version": wanted,
            "versions": latest,
            "lastEvent": str(head.signed.event.kind),
            "event": to_hex(head.id),
            "time": head.signed.event.time,
        }
        return parse_json(payload), info

    def iter_events(self) -> Iterator[SignedEvent]:
        """Every logged event, in log order."""
        return self._unit.events.all()

    def write_log(self, out: Callable[[str], object]) -> int:
        """Publish the log (every entry, then the signed checkpoints) as an audit file."""
        # the log's bound key: the organisation's first key, also after a rotation
        return write_log(
            out,
            self._unit.publisher.organisation,
            self._unit.log_id,
            self.iter_events(),
            self._journal.checkpoints.all(),
        )

    # -- export -----------------------------------------------------------------------------

    def export(
        self,
        ident: RecordRef | str,
        *,
        fields: Iterable[str] = (),
        reveal_all: bool = False,
        chain_id: int | None = None,
    ) -> Bundle:
        """The proof bundle of a record's latest event (or of an event, by id).

        Private by default: ``fields`` are the JSON Pointers to disclose (default: none, and
        then nothing is decrypted: the bundle carries the stored salted digests);
        ``reveal_all=True`` discloses every field, as ``okeios export --reveal-all`` does.
        Both at once is an :class:`~okeios.errors.InputError`. The bundle's
        checkpoint is the smallest *anchored* checkpoint that holds the event, with the anchor
        reference filled in and, when the log was anchored again later, the latest anchored
        tree head with a consistency proof to it. If no anchor holds the event yet, the bundle
        carries the latest checkpoint and no anchor reference
        (:meth:`~okeios._internal.publish.journal.AnchorJournal.proof_point`). With ``chain_id`` the
        bundle cites an anchor on that chain only (a StoreError if none holds the event yet).
        """
        if isinstance(fields, str):
            raise InputError("fields is a list of JSON Pointers, not one string")
        chosen = list(fields)
        if reveal_all and chosen:
            raise InputError("reveal_all discloses every field: give it or fields, not both")
        self._unit.fresh()
        logged = self._unit.find_event(ident)
        checkpoint, ref = self._journal.proof_point(logged.index, chain_id)
        return self._unit.publisher.bundle(
            logged.id,
            fields=None if reveal_all else chosen,
            checkpoint=checkpoint,
            anchor=ref,
            logged=logged,
        )
