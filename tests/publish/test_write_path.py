"""One way down for every write: each event of every kind, whether written one at a time or
appended in a batch prepared ahead (``add``, the new resources of a ``put``, parallel
ingest), goes through :meth:`Publisher.append`, which checks the chain rules before anything
is written; and each resource is canonicalised once per put, its canonical bytes carried
from the identity check to the commitment, the sealed payload and the content check."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.crypto.recipients import RecipientPrivateKey, Suite, bind_recipient_key
from okeios._internal.protocol import commitment
from okeios._internal.protocol.events import Event, EventKind
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish import identity, publisher
from okeios._internal.publish.publisher import Entry, Publisher
from okeios._internal.publish.store import Store
from okeios.errors import InputError
from tests.helpers import CountingRng


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.init(tmp_path / "home", trust=False, rng=CountingRng(b"write-path")) as s:
        yield s


def _patient(ident: str, family: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": ident, "name": [{"family": family}]}


def _count_canonicalisations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every canonicalisation of a whole resource (a walk for the commitment, or canonical
    bytes for the sealed payload or the content check), by who asked."""
    calls: list[str] = []
    real_walk = commitment._walk
    real_canonicalize = commitment.canonicalize

    def walk(record: Any) -> Any:
        if isinstance(record, dict) and "resourceType" in record:
            calls.append("walk")
        return real_walk(record)

    def canonicalize_in(module: str) -> Any:
        def canonicalize(value: Any, **kw: Any) -> bytes:
            if isinstance(value, dict) and "resourceType" in value:
                calls.append(module)
            return real_canonicalize(value, **kw)

        return canonicalize

    monkeypatch.setattr(commitment, "_walk", walk)
    monkeypatch.setattr(commitment, "canonicalize", canonicalize_in("commitment"))
    monkeypatch.setattr(identity, "canonicalize", canonicalize_in("identity"))
    # the publisher made the sealed payload's bytes by itself before they were carried down
    monkeypatch.setattr(publisher, "canonicalize", canonicalize_in("publisher"), raising=False)
    return calls


def test_a_put_canonicalises_each_resource_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_canonicalisations(monkeypatch)
    store.put([_patient("p1", "One"), _patient("p2", "Two")])
    assert len(calls) == 2, calls  # new resources: one walk each
    calls.clear()
    results = store.put([_patient("p1", "Changed")])  # an amend: judged, committed, remembered
    assert [r.status for r in results] == ["amended"]
    assert len(calls) == 1, calls
    calls.clear()
    assert [r.status for r in store.put([_patient("p1", "Changed")])] == ["unchanged"]
    assert len(calls) == 1, calls
    calls.clear()
    store.amend("Patient/p2", _patient("p2", "Amended"))
    assert len(calls) == 1, calls
    calls.clear()
    store.derive(_patient("p3", "Derived"), ["Patient/p1"])
    assert len(calls) == 1, calls
    calls.clear()
    store.add([_patient("p4", "Added"), _patient("p5", "Added")])
    assert len(calls) == 2, calls
    # and what was carried down is what a fresh reading gives
    value, info = store.show("Patient/p1")
    assert value == _patient("p1", "Changed")
    assert info["versions"] == 2


def test_every_event_of_every_kind_goes_through_the_one_write_path(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    appended: list[bytes] = []
    real_append = Publisher.append

    def spy(self: Publisher, entries: Any, heads: Any = None) -> Any:
        appended.extend(entry.signed.id for entry in entries)
        return real_append(self, entries, heads)

    monkeypatch.setattr(Publisher, "append", spy)
    store.add([_patient("a1", "Serial")])
    with ThreadPoolExecutor(2) as pool:  # batches prepared in an executor's workers
        store.add([_patient(f"a{i}", "Pooled") for i in range(2, 7)], executor=pool, chunk_size=2)
    store.put([_patient("p1", "One"), {"plain": "json"}], keys=[None, "doc-1"])
    store.put([_patient("p1", "Two")])
    store.amend("Patient/p1", _patient("p1", "Three"))
    store.derive(_patient("d1", "Derived"), ["Patient/p1"])
    who = LocalSigner.generate()
    key = RecipientPrivateKey.generate(Suite.X25519)
    store.access.grant("Patient/p1", bind_recipient_key(key.public_key(), who))
    store.access.receipt("Patient/p1", who.address, purpose="care")
    store.access.revoke("Patient/p1", who.address)
    store.access.erase("Patient/d1", wait=5)
    author = LocalSigner.generate()
    store.keys.authorise(author.address, "clinician")
    store.keys.deauthorise(author.address)
    store.keys.rotate(offline=True)
    logged = [e.id for e in store.iter_events()]
    kinds = {str(e.event.kind) for e in store.iter_events()}
    assert kinds == {str(k) for k in EventKind}, kinds  # every kind was written
    assert appended == logged  # each through the one path, in log order


def test_the_batch_path_checks_the_chain_rules_before_writing(store: Store) -> None:
    created = store.add([_patient("p1", "One")])[0]
    size = store.size
    # an AMEND handed to the path batch ingest uses, where records have no chain yet
    orphan = Event(
        kind=EventKind.AMEND,
        log_id=store.log_id,
        record_id=created.record_id,
        version=2,
        previous=created.id,
        commitment=created.signed.event.commitment,
        ciphertext_digest=created.signed.event.ciphertext_digest,
        author=store.address,
        time=created.signed.event.time,
    ).sign(store.signer)
    with pytest.raises(InputError, match="follows no event of its record"), store.transaction():
        store.publisher.append([Entry.of(orphan)])
    assert store.size == size
    assert [e.id for e in store.iter_events()] == [created.id]
