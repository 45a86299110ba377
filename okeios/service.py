"""The high-level Python API for services: one object that persists, anchors, exports and
verifies, with typed errors only.

A hospital service, a patient's device or a batch job opens a home (creating it the first
time), adds FHIR resources by identity, anchors on a chain and exports bundles::

    from okeios.service import Okeios

    with Okeios.open("/var/lib/okeios", create=True) as ok:
        results = ok.add_file("Observation.ndjson")      # created / amended / unchanged
        ok.anchor("http://127.0.0.1:8545")               # funding checked, registry pinned
        bundle = ok.export("Observation/hba1c-77")       # no field disclosed
        assert ok.verify(bundle, chain="http://127.0.0.1:8545").passed

This module sits at the top with :mod:`okeios._internal.cli` (it joins the write side, the chains
and the read side); the ``okeios`` commands use the same :func:`anchor_home` glue, so a service and
the shell anchor the same way, and any number of both may share one home at once.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from okeios._internal.config import EMBEDDED, Settings, TrustConfig
from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.canonical import JSONValue
from okeios._internal.protocol.fhir import MAX_FILE_BYTES, stream_resources
from okeios._internal.protocol.ids import (
    EventId,
    EventOrRecordId,
    RecordId,
    RecordRef,
    ResourceKey,
    as_ref,
    parse_ref,
)
from okeios._internal.protocol.signing import checksum_address
from okeios._internal.publish.anchoring import AnchorResult, anchor
from okeios._internal.publish.publisher import LoggedEvent
from okeios._internal.publish.store import (
    PutResult,
    RecordFilter,
    RecordInfo,
    Store,
    StoreError,
    resolve_home,
)
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Report
from okeios.errors import ChainError, ChainMismatchError, InputError, OkeiosError

if TYPE_CHECKING:
    from okeios._internal.crypto.recipients import RecipientBinding
    from okeios._internal.crypto.share import Share

__all__ = [
    "CHAIN_REFRESH",
    "FUND_EMBEDDED",
    "EventId",
    "EventOrRecordId",
    "HistoryEntry",
    "Okeios",
    "RecordId",
    "RecordRef",
    "ResourceKey",
    "anchor_home",
    "content_event",
    "content_event_id",
    "parse_ref",
]

_log = logging.getLogger("okeios.service")

FUND_EMBEDDED = 10**20  # 100 ether for the publisher on the embedded chain
ANCHOR_GAS = 250_000  # an upper bound of one anchor transaction's gas (see benchmarks/gas.py)
DEPLOY_GAS = 2_500_000  # an upper bound of the registry deployment's gas

Echo = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def anchor_home(
    store: Store,
    chain: str = EMBEDDED,
    *,
    registry: str | None = None,
    chain_id: int | None = None,
    confirmations: int = 1,
    timeout: float = 60.0,
    rpc_timeout: float = 10.0,
    echo: Echo = _quiet,
) -> AnchorResult:
    """Anchor a store's log on ``chain`` (``embedded`` or a JSON-RPC URL).

    The registry is the chain's canonical one (``docs/anchoring.md``), deployed through the
    CREATE2 deployment proxy if it is not there yet, so every home anchoring into one chain
    uses one registry whatever URL reaches the node. A private registry is used only when
    asked for: ``registry`` given, or trust.json pinning that chain id on a private registry
    (said through ``echo``). A registry that is not an AnchorRegistry of the current version
    is refused (:class:`~okeios.errors.RegistryVersionError`). The chain id the node answers
    is checked against ``chain_id``, else against trust.json's pin for that chain. On the
    embedded chain the publisher is funded; on any other the balance is checked first (a
    ChainError saying the publisher has no funds, or how much is missing, rather than a
    failed transaction). Every failure to reach or read the chain is a
    :class:`~okeios.errors.ChainError`. Runs under the home's anchoring lock, so processes
    sharing the home anchor one at a time.
    """
    try:
        return _anchor_home(
            store, chain, registry, chain_id, confirmations, timeout, rpc_timeout, echo
        )
    except OkeiosError:
        raise
    except Exception as exc:  # a transport failure outside a wrapped read
        raise ChainError(f"anchoring on {chain} failed: {type(exc).__name__}: {exc}") from exc


def _anchor_home(
    store: Store,
    chain: str,
    registry: str | None,
    chain_id: int | None,
    confirmations: int,
    timeout: float,
    rpc_timeout: float,
    echo: Echo,
) -> AnchorResult:
    from okeios._internal.chain.canonical import deploy_canonical
    from okeios._internal.chain.connect import open_chain
    from okeios._internal.chain.registry import Registry
    from okeios._internal.protocol.anchors import CANONICAL_REGISTRY

    home = store.home
    with store.exclusive("anchor"), open_chain(chain, home, timeout=rpc_timeout) as handle:
        trust = TrustConfig.load(home)
        pinned = trust.chain(chain, fallback=False)  # the node tells which chain a new URL is
        w3 = handle.w3
        probe = Registry(w3, CANONICAL_REGISTRY, label=handle.label)
        actual = probe.chain_id
        expected = chain_id if chain_id is not None else (pinned[0] if pinned else None)
        if expected is not None and actual != expected:
            raise ChainMismatchError(
                f"{handle.label} answers chain id {actual}, but {expected} is pinned for it"
            )
        by_id = trust.chain_by_id(actual)
        address = registry or (by_id[1] if by_id else CANONICAL_REGISTRY)
        address = checksum_address(address)
        if address != CANONICAL_REGISTRY:
            echo(
                f"warning: anchoring into the private registry {address} on chain {actual}, "
                f"not the chain's canonical registry {CANONICAL_REGISTRY}: verifiers must opt "
                "in to it with --registry"
            )
        canonical_missing = address == CANONICAL_REGISTRY and not probe.has_code()

        def read(what: str, fn: Callable[[], int]) -> int:
            return int(probe._call(what, fn))

        if handle.embedded is not None:
            if read("reading a balance", lambda: w3.eth.get_balance(store.address)) < (
                FUND_EMBEDDED // 10
            ):
                handle.fund(store.address, FUND_EMBEDDED)
        else:
            price = read("reading the gas price", lambda: w3.eth.gas_price)
            need = price * (ANCHOR_GAS + (DEPLOY_GAS if canonical_missing else 0))
            have = read("reading a balance", lambda: w3.eth.get_balance(store.address))
            if have == 0:
                raise ChainError(
                    f"the publisher {store.address} has no funds on chain {actual} "
                    f"({handle.label}): send it some ether to pay for anchoring (about {need} wei "
                    "at the current gas price), fund it first, then run anchor again"
                )
            if have < need:
                raise ChainError(
                    f"the publisher {store.address} has {have} wei on {handle.label}; anchoring "
                    f"needs about {need} wei at the current gas price: fund it first"
                )
        if address == CANONICAL_REGISTRY:
            fund = handle.fund if handle.embedded is not None else None
            reg, deployed = deploy_canonical(w3, store.signer, label=handle.label, fund=fund)
            if deployed:
                echo(f"deployed the canonical AnchorRegistry at {reg.address} on {handle.label}")
        else:
            reg = Registry(w3, address, label=handle.label)
        reg.require_version()
        trust.pin_chain(chain, actual, reg.address)
        trust.save(home)
        handle.save()
        try:
            return anchor(store, reg, confirmations=confirmations, timeout=timeout, echo=echo)
        finally:
            handle.save()


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One event of a record's history (:meth:`Okeios.history`), in log order."""

    index: int  # its position in the log
    event: str  # its id, 0x-hex
    kind: str  # create, amend, derive, grant, revoke, access or erase
    version: int
    time: int  # the time its author claims, Unix seconds
    author: str
    subject: str  # the recipient or reader of a grant, revoke or access (else the zero address)
    purpose: str

    def to_dict(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in self.__slots__}


#: How long a chain view's facts (head block, anchors read) are reused by :meth:`Okeios.verify`
#: before they are read again, in seconds.
CHAIN_REFRESH = 10.0


def content_event_id(store: Store, record: RecordRef | str) -> tuple[EventId, str | None]:
    """The event a disclosure of ``record`` cites, and why it is not anchored (None when it
    is): the latest content event (CREATE, AMEND or DERIVE) of the record's latest version,
    never a GRANT, REVOKE or ACCESS, which would tell every later reader who was given
    access. An event named by its own id is cited as it is."""
    ref = as_ref(record)
    logged = store.find_event(ref)
    if isinstance(ref, EventId | EventOrRecordId) and ref.raw == logged.id:
        cited = EventId(logged.id)
    else:
        version = store.latest_version(logged.record_id)
        found = store.events.content_event(logged.record_id, version)
        if found is None:  # pragma: no cover - every version has its content event
            raise InputError(f"{ref} has no content event for version {version}")
        cited = EventId(found)
    if store.export(cited).anchor is not None:
        return cited, None
    kind = store.publisher.event(cited.raw).signed.event.kind
    return cited, (
        f"the {kind} {cited} of the latest version is not anchored yet: the disclosure "
        "verifies against a chain as anchor-pending until the log's next anchor (anchor, then "
        "disclose again)"
    )


def content_event(store: Store, record: RecordRef | str) -> tuple[str, str | None]:
    """:func:`content_event_id` with the event's id as its text (``0x`` hex)."""
    cited, unanchored = content_event_id(store, record)
    return str(cited), unanchored


class Okeios:
    """A store opened for a service; see the module docstring. Close it (or use ``with``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # chain spec -> (handle, view, when the view was made): one connection per chain for
        # the life of this object, a view's facts reused for CHAIN_REFRESH seconds.
        self._chains: dict[str, tuple[Any, Any, float]] = {}

    @classmethod
    def open(
        cls,
        home: str | Path | None = None,
        *,
        create: bool = False,
        passphrase: str | None = None,
        log_name: str = "main",
    ) -> Okeios:
        """Open the store in ``home`` (``$OKEIOS_HOME``, else ``~/.okeios``); with ``create``,
        make it first if there is none (trusting itself, as ``okeios init``)."""
        path = resolve_home(home)
        if create:
            # Store.init decides under the home's init lock, so of several processes creating
            # one home at once exactly one creates it and the others open it once it is whole.
            try:
                return cls(Store.init(path, passphrase=passphrase, log_name=log_name))
            except StoreError:
                if not (path / "store.sqlite").exists():
                    raise  # not a store created meanwhile: a real error
        return cls(Store.open(path, passphrase=passphrase))

    def close(self) -> None:
        chains, self._chains = self._chains, {}
        try:
            for handle, _view, _made in chains.values():
                handle.close()
        finally:
            self.store.close()

    def __enter__(self) -> Okeios:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def address(self) -> str:
        """The publisher's address (its signing key is the store's)."""
        return self.store.address

    # -- writing ----------------------------------------------------------------------------

    def add(
        self, resources: Iterable[bytes | JSONValue], *, keys: Sequence[str | None] | None = None
    ) -> list[PutResult]:
        """Add resources by identity, in one transaction (see :meth:`Store.put`)."""
        return self.store.put(resources, keys=keys)

    def add_file(self, path: str | Path, *, chunk: int = 500) -> list[PutResult]:
        """Add the resources of a FHIR JSON file, Bundle or NDJSON file (see
        :meth:`iter_add_file`; this collects its results)."""
        return list(self.iter_add_file(path, chunk=chunk))

    def iter_add_file(self, path: str | Path, *, chunk: int = 500) -> Iterator[PutResult]:
        """Add a file's resources by identity as ``okeios add`` does, yielding each result once
        its chunk is committed.

        NDJSON is read a line at a time and put ``chunk`` resources per transaction, so memory
        stays bounded whatever the file's length (a resource or a Bundle is read whole, within
        :data:`okeios._internal.protocol.fhir.MAX_FILE_BYTES`). A bad line raises
        :class:`~okeios.errors.InputError` naming it; the chunks before it stay logged, and
        adding the same file again is safe (what is stored already is ``unchanged``).
        """
        if chunk < 1:
            raise InputError("chunk must be a positive number of resources")
        try:
            fh = open(path, "rb")  # noqa: SIM115 - the with below closes it, also on an early stop
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from exc
        with fh:
            items = stream_resources(fh, limit=MAX_FILE_BYTES, name=str(path))
            while batch := list(itertools.islice(items, chunk)):
                names = [where for where, _ in batch]
                yield from self.store.put([value for _, value in batch], names=names)

    def amend(self, record: RecordRef | str, resource: bytes | JSONValue) -> LoggedEvent:
        """A new version of a record (by record id or ``Type/id``)."""
        return self.store.amend(as_ref(record), resource)

    def derive(
        self, resource: bytes | JSONValue, sources: Sequence[RecordRef | str]
    ) -> LoggedEvent:
        """A new record derived from others."""
        return self.store.derive(resource, [as_ref(s, "a source") for s in sources])

    # -- reading ----------------------------------------------------------------------------

    def records(self, match: RecordFilter | None = None, **filters: Any) -> list[RecordInfo]:
        """What the store holds (filters and paging as :meth:`Store.records`)."""
        return self.store.records(match, **filters)

    def history(self, record: RecordRef | str) -> list[HistoryEntry]:
        """A record's events in log order (by record id, event id or ``Type/id``)."""
        return [
            HistoryEntry(
                index=int(e["index"]),  # type: ignore[call-overload]
                event=str(e["event"]),
                kind=str(e["kind"]),
                version=int(e["version"]),  # type: ignore[call-overload]
                time=int(e["time"]),  # type: ignore[call-overload]
                author=str(e["author"]),
                subject=str(e["subject"]),
                purpose=str(e["purpose"]),
            )
            for e in self.store.history(as_ref(record))
        ]

    def show(self, record: RecordRef | str, *, version: int | None = None) -> Any:
        """The record's content (the owner's view), the latest version unless ``version``.

        Plain Python values that :func:`json.dumps` serialises: a number with a fraction is a
        ``float`` when one holds its value exactly, else a :class:`decimal.Decimal` (see
        :func:`okeios._internal.protocol.canonical.to_plain`); :meth:`show_json` gives the exact
        text."""
        from okeios._internal.protocol.canonical import to_plain

        return to_plain(self.store.show(as_ref(record), version)[0])

    def show_json(self, record: RecordRef | str, *, version: int | None = None) -> str:
        """The record's content as JSON text, every number written as it was stored."""
        from okeios._internal.protocol.canonical import dumps_exact

        return dumps_exact(self.store.show(as_ref(record), version)[0])

    # -- sharing, reading, erasing ------------------------------------------------------------

    def grant(
        self,
        record: RecordRef | str,
        recipient: RecipientBinding | bytes | str,
        *,
        purpose: str = "",
    ) -> Share:
        """Give a recipient access to a record's current version (logs a GRANT) and return the
        share to send them. ``recipient`` is their signed binding (``okeios recipient`` writes
        it), as an object or its JSON."""
        from okeios._internal.crypto.recipients import RecipientBinding

        binding = (
            recipient
            if isinstance(recipient, RecipientBinding)
            else RecipientBinding.from_json(recipient)
        )
        return self.store.access.grant(as_ref(record), binding, purpose=purpose)

    def share(self, record: RecordRef | str, recipient: str) -> Share:
        """The share again, for a recipient (by address) whose grant is in force (logs
        nothing)."""
        return self.store.access.share(as_ref(record), recipient)

    def revoke(self, record: RecordRef | str, recipient: str, *, purpose: str = "") -> LoggedEvent:
        """Stop a recipient's access (logs a REVOKE); a later version gets a new data key."""
        return self.store.access.revoke(as_ref(record), recipient, purpose=purpose)

    def access(self, record: RecordRef | str, reader: str, *, purpose: str = "") -> LoggedEvent:
        """Log an access receipt (ACCESS): ``reader`` read the record, for ``purpose``."""
        return self.store.access.receipt(as_ref(record), reader, purpose=purpose)

    def erase(self, record: RecordRef | str, *, purpose: str = "") -> LoggedEvent:
        """Crypto-shred a record (logs an ERASE): its keys and identity are destroyed, its
        events still verify. Irreversible."""
        return self.store.access.erase(as_ref(record), purpose=purpose)

    def disclose(self, record: RecordRef | str, fields: Iterable[str]) -> Bundle:
        """A bundle of the record's latest content that reveals only ``fields`` (JSON
        Pointers, at least one), as ``okeios disclose`` writes. It cites the latest content
        event (CREATE, AMEND or DERIVE; see :func:`content_event_id`), never a later GRANT or
        ACCESS; when that event is not anchored yet, a warning on the ``okeios.service``
        logger says so."""
        ref = as_ref(record)
        wanted = list(fields)
        if not wanted:
            raise InputError("name at least one field (a JSON Pointer) to disclose")
        event, unanchored = content_event_id(self.store, ref)
        if unanchored is not None:
            _log.warning("%s", unanchored)
        return self.store.export(event, fields=wanted)

    # -- the log's author keys ----------------------------------------------------------------

    def authorise(
        self,
        author: str,
        role: str,
        *,
        not_before: int | None = None,
        not_after: int | None = None,
        purpose: str = "",
    ) -> LoggedEvent:
        """Authorise an author key for ``role`` (logs an AUTHORISE; ``docs/identity.md``)."""
        return self.store.keys.authorise(
            author, role, not_before=not_before, not_after=not_after, purpose=purpose
        )

    def deauthorise(
        self, author: str, *, effective: int | None = None, purpose: str = ""
    ) -> LoggedEvent:
        """Withdraw an author key from ``effective`` (default now; earlier for a stolen key)."""
        return self.store.keys.deauthorise(author, effective=effective, purpose=purpose)

    # -- chains, bundles --------------------------------------------------------------------

    def anchor(
        self,
        chain: str | None = None,
        *,
        registry: str | None = None,
        confirmations: int | None = None,
        timeout: float | None = None,
    ) -> AnchorResult:
        """Anchor the log's current checkpoint (see :func:`anchor_home`). What is not given
        comes from the home's ``okeios.toml`` and ``$OKEIOS_CHAIN``
        (:class:`okeios._internal.config.Settings`), else: the embedded chain, 1 confirmation, 60
        s."""
        settings = Settings.load(self.store.home)
        chain = chain or settings.chain or EMBEDDED
        confirmations = confirmations or settings.confirmations or 1
        timeout = timeout or settings.anchor_timeout or 60.0
        self._release(chain)  # the embedded chain opens in one place at a time
        return anchor_home(
            self.store,
            chain,
            registry=registry,
            confirmations=confirmations,
            timeout=timeout,
            rpc_timeout=min(settings.timeout or 10.0, 10.0),
        )

    def export(
        self, record: RecordRef | str, *, fields: Iterable[str] = (), reveal_all: bool = False
    ) -> Bundle:
        """The proof bundle of a record's latest event (or of an event, by its id),
        disclosing ``fields`` (default: none; nothing is then decrypted), or every field with
        ``reveal_all``."""
        return self.store.export(as_ref(record), fields=list(fields), reveal_all=reveal_all)

    def bundles(self, record: RecordRef | str, *, reveal_all: bool = False) -> list[Bundle]:
        """The bundle of every event of a record, in log order: what
        :func:`okeios.verify_lineage` checks. No field is disclosed unless ``reveal_all`` (an
        erased record's bundles carry its digests only, whatever is asked)."""
        from okeios.errors import AccessError

        out = []
        for raw in self.store.event_ids_of(self.store.record_id_of(as_ref(record))):
            event = EventId(raw)
            try:
                out.append(self.store.export(event, reveal_all=reveal_all))
            except AccessError:  # erased: nothing left to disclose
                out.append(self.store.export(event))
        return out

    def write_log(self, path: str | Path) -> int:
        """Publish the log as an audit file (what ``okeios log -o`` writes; its lines are what
        :func:`okeios.audit_log` reads); returns the number of entries."""
        from okeios._internal.files import write_atomic

        lines: list[str] = []
        count = self.store.write_log(lines.append)
        write_atomic(str(path), "".join(lines).encode())
        return count

    @property
    def signer(self) -> Any:
        """The publisher's signer: it signs this log's events and checkpoints."""
        return self.store.signer

    def policy(self, chain: str | None = None) -> TrustPolicy:
        """The home's trust.json as a policy (authors, publishers and organisations; with the
        chain's pinned registry, if given), built as every verifying verb builds it
        (:func:`okeios._internal.verify.trust.build_policy`)."""
        from okeios._internal.verify.trust import build_policy

        trust = TrustConfig.load(self.store.home)
        pin = trust.chain(chain) if chain is not None else None
        if chain is not None and pin is None:
            raise InputError(f"no registry pinned for {chain}: anchor there first")
        return build_policy(
            trust,
            chain_id=pin[0] if pin else None,
            registry=pin[1] if pin else None,
        )

    def verify(
        self,
        bundle: Bundle | bytes,
        *,
        chain: str | None = None,
        record: bytes | JSONValue | None = None,
        keys: Sequence[bytes | str] = (),
    ) -> Report:
        """Verify a bundle with this home's trust (offline, or against ``chain``).

        The chain's connection is opened once and kept until :meth:`close`; what was read of
        it (its head, the anchors) is reused for :data:`CHAIN_REFRESH` seconds, so verifying
        bundle after bundle costs what the bulk path costs per bundle. For many bundles at
        once, :meth:`verify_many` also spreads the work over an executor. (The embedded chain
        is one process's at a time: it stays open here until :meth:`close` or the next
        :meth:`anchor`.) A bundle exported before the log's next anchor reads as undecided
        with ``anchor-pending``, saying when it becomes decidable; never as a failure. ``keys``
        are key-history files (``okeios authors export``) of the organisations trust.json
        pins, as ``okeios verify --keys`` takes them."""
        from okeios._internal.verify.bundle import verify_bundle
        from okeios._internal.verify.trust import load_authorities

        policy = self.policy(chain)
        if chain is None:
            authorities = load_authorities(keys, policy)
            return verify_bundle(bundle, policy, record=record, authorities=authorities)
        view = self._view(chain)
        authorities = load_authorities(keys, policy, view)
        return verify_bundle(bundle, policy, record=record, chain=view, authorities=authorities)

    def verify_many(
        self,
        bundles: Iterable[Bundle | bytes],
        *,
        chain: str | None = None,
        executor: Executor | None = None,
    ) -> list[Report]:
        """Verify many bundles with this home's trust (see
        :func:`okeios._internal.verify.bulk.verify_many`): the chain is read once per fact for the
        whole call, the work spread over ``executor`` if given. Reports in input order."""
        from okeios._internal.verify.bulk import verify_many

        policy = self.policy(chain)
        encoded = (b.to_bytes() if isinstance(b, Bundle) else bytes(b) for b in bundles)
        view = None if chain is None else self._view(chain, fresh=True)
        return verify_many(encoded, policy, executor=executor, chain=view)

    def _release(self, chain: str) -> None:
        """Close the kept connection to ``chain``, if any."""
        known = self._chains.pop(chain, None)
        if known is not None:
            known[0].close()

    def _view(self, chain: str, *, fresh: bool = False) -> Any:
        """The chain view of ``chain``: its connection opened once, the view made again
        after :data:`CHAIN_REFRESH` seconds, after a failed read, or when ``fresh``."""
        import time

        from okeios._internal.chain.connect import open_chain
        from okeios._internal.chain.registry import RegistryView

        now = time.monotonic()
        known = self._chains.get(chain)
        if known is None:
            handle = open_chain(chain, self.store.home)
        else:
            handle, view, made = known
            if not fresh and now - made < CHAIN_REFRESH and view._failure is None:
                return view
        view = RegistryView(handle.w3, label=handle.label)
        self._chains[chain] = (handle, view, now)
        return view
