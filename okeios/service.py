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

This module sits at the top with :mod:`okeios.cli` (it joins the write side, the chains and
the read side); the ``okeios`` commands use the same :func:`anchor_home` glue, so a service and
the shell anchor the same way, and any number of both may share one home at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from okeios.config import EMBEDDED, TrustConfig
from okeios.errors import ChainError, ChainMismatchError, InputError
from okeios.protocol.bundle import Bundle
from okeios.protocol.canonical import JSONValue
from okeios.protocol.fhir import MAX_FILE_BYTES, stream_resources
from okeios.publish.anchoring import AnchorResult, anchor
from okeios.publish.publisher import LoggedEvent
from okeios.publish.store import (
    PutResult,
    RecordFilter,
    RecordInfo,
    Store,
    StoreError,
    resolve_home,
)
from okeios.verify.policy import TrustPolicy
from okeios.verify.report import Report

__all__ = ["FUND_EMBEDDED", "Okeios", "anchor_home"]

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

    The registry is ``registry``, else the one trust.json pins for that chain, else a new one
    deployed (and pinned). The chain id the node answers is checked against ``chain_id``, else
    against trust.json's pin for that chain. On the embedded chain the publisher is funded; on
    any other the balance is checked first (a ChainError saying the publisher has no funds, or
    how much is missing, rather than a failed transaction). Runs under the home's anchoring
    lock, so processes sharing the home anchor one at a time.
    """
    from okeios.chain.connect import open_chain
    from okeios.chain.registry import Registry

    home = store.home
    with store.exclusive("anchor"), open_chain(chain, home, timeout=rpc_timeout) as handle:
        trust = TrustConfig.load(home)
        pinned = trust.chain(chain)
        address = registry or (pinned[1] if pinned else None)
        w3 = handle.w3
        actual = int(w3.eth.chain_id)
        expected = chain_id if chain_id is not None else (pinned[0] if pinned else None)
        if expected is not None and actual != expected:
            raise ChainMismatchError(
                f"{handle.label} answers chain id {actual}, but {expected} is pinned for it"
            )
        if handle.embedded is not None:
            if w3.eth.get_balance(store.address) < FUND_EMBEDDED // 10:
                handle.fund(store.address, FUND_EMBEDDED)
        else:
            need = int(w3.eth.gas_price) * (ANCHOR_GAS + (DEPLOY_GAS if address is None else 0))
            have = int(w3.eth.get_balance(store.address))
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
        if address is None:
            reg = Registry.deploy(w3, store.signer, label=handle.label)
            echo(f"deployed AnchorRegistry at {reg.address} on {handle.label}")
        else:
            reg = Registry(w3, address, label=handle.label)
            if not reg.has_code():
                raise ChainError(f"no contract at {reg.address} on {handle.label}")
        trust.pin_chain(chain, reg.chain_id, reg.address)
        trust.save(home)
        handle.save()
        try:
            return anchor(store, reg, confirmations=confirmations, timeout=timeout, echo=echo)
        finally:
            handle.save()


class Okeios:
    """A store opened for a service; see the module docstring. Close it (or use ``with``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

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
        :data:`okeios.protocol.fhir.MAX_FILE_BYTES`). A bad line raises
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

    def amend(self, record: str, resource: bytes | JSONValue) -> LoggedEvent:
        """A new version of a record (by record id or ``Type/id``)."""
        return self.store.amend(record, resource)

    def derive(self, resource: bytes | JSONValue, sources: Sequence[str]) -> LoggedEvent:
        """A new record derived from others."""
        return self.store.derive(resource, sources)

    # -- reading ----------------------------------------------------------------------------

    def records(self, match: RecordFilter | None = None, **filters: Any) -> list[RecordInfo]:
        """What the store holds (filters and paging as :meth:`Store.records`)."""
        return self.store.records(match, **filters)

    def history(self, record: str) -> list[dict[str, object]]:
        return self.store.history(record)

    def show(self, record: str) -> JSONValue:
        """The record's latest content (the owner's view)."""
        return self.store.show(record)[0]

    # -- chains, bundles --------------------------------------------------------------------

    def anchor(
        self,
        chain: str = EMBEDDED,
        *,
        registry: str | None = None,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> AnchorResult:
        """Anchor the log's current checkpoint (see :func:`anchor_home`)."""
        return anchor_home(
            self.store, chain, registry=registry, confirmations=confirmations, timeout=timeout
        )

    def export(self, record: str, *, fields: Iterable[str] = ()) -> Bundle:
        """The proof bundle of a record's latest event, disclosing ``fields`` (default: none;
        nothing is then decrypted)."""
        return self.store.export(record, fields=list(fields))

    def policy(self, chain: str | None = None) -> TrustPolicy:
        """The home's trust.json as a policy (with the chain's pinned registry, if given)."""
        trust = TrustConfig.load(self.store.home)
        pin = trust.chain(chain) if chain is not None else None
        if chain is not None and pin is None:
            raise InputError(f"no registry pinned for {chain}: anchor there first")
        return TrustPolicy(
            authors=trust.authors,
            publishers=trust.publishers,
            chain_id=pin[0] if pin else None,
            registry=pin[1] if pin else None,
        )

    def verify(
        self,
        bundle: Bundle | bytes,
        *,
        chain: str | None = None,
        record: bytes | JSONValue | None = None,
    ) -> Report:
        """Verify a bundle with this home's trust (offline, or against ``chain``)."""
        from okeios.verify.bundle import verify_bundle

        policy = self.policy(chain)
        if chain is None:
            return verify_bundle(bundle, policy, record=record)
        from okeios.chain.connect import open_chain
        from okeios.chain.registry import RegistryView

        with open_chain(chain, self.store.home) as handle:
            view = RegistryView(handle.w3, label=handle.label)
            return verify_bundle(bundle, policy, record=record, chain=view)
