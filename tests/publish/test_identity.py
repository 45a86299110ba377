"""FHIR resource identity in the store: the same resource again logs nothing, a changed one is
an AMEND of its record, meta.versionId is respected, and no identifying digest leaves."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.protocol.events import EventKind
from okeios._internal.publish.store import Store
from okeios.errors import AccessError, InputError
from tests.helpers import CountingRng

OBS: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "hba1c-77",
    "status": "preliminary",
    "code": {"text": "HbA1c"},
    "subject": {"reference": "Patient/p-123"},
    "valueQuantity": {"value": 6.1, "unit": "%"},
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.init(tmp_path / "home", key=CountingRng(b"publisher")(32)) as s:
        yield s


def _changed(**fields: Any) -> dict[str, Any]:
    value = copy.deepcopy(OBS)
    value.update(fields)
    return value


def test_the_same_resource_again_is_a_no_op_that_says_so(store: Store) -> None:
    (first,) = store.put([OBS])
    assert first.status == "created"
    assert first.resource == "Observation/hba1c-77"
    size = store.size
    # The same content, with keys in another order: the same canonical resource.
    shuffled = json.loads(json.dumps(OBS, sort_keys=True))
    again, bytes_again = store.put([shuffled, json.dumps(OBS).encode()])
    assert again.status == bytes_again.status == "unchanged"
    assert again.event is None
    assert again.record_id == first.record_id
    assert store.size == size  # nothing logged
    assert len(store.record_ids()) == 1


def test_a_changed_resource_amends_its_record(store: Store) -> None:
    (first,) = store.put([OBS])
    (corrected,) = store.put([_changed(status="final", valueQuantity={"value": 6.4, "unit": "%"})])
    assert corrected.status == "amended"
    assert corrected.record_id == first.record_id
    assert corrected.event is not None
    e = corrected.event.signed.event
    assert e.kind is EventKind.AMEND
    assert e.version == 2
    assert first.event is not None
    assert e.previous == first.event.id
    content, info = store.show("Observation/hba1c-77")
    assert content["status"] == "final"
    assert info["versions"] == 2
    old, _ = store.show("Observation/hba1c-77", version=1)
    assert old["status"] == "preliminary"
    # The history a hospital needs: one record, two versions, linked.
    assert [h["kind"] for h in store.history("Observation/hba1c-77")] == ["create", "amend"]


def test_version_ids_are_respected(store: Store) -> None:
    v2 = _changed(meta={"versionId": "2"}, status="final")
    store.put([v2])
    older = _changed(meta={"versionId": "1"}, status="preliminary")
    (stale,) = store.put([older])
    assert stale.status == "stale"
    assert stale.event is None
    with pytest.raises(InputError, match="same versionId"):
        store.put([_changed(meta={"versionId": "2"}, status="amended")])
    (v3,) = store.put([_changed(meta={"versionId": "3"}, status="amended")])
    assert v3.status == "amended"
    # A failed batch keeps nothing of itself.
    size = store.size
    with pytest.raises(InputError):
        store.put([_changed(meta={"versionId": "4"}), _changed(meta={"versionId": "4"}, x=1)])
    assert store.size == size


def test_resources_in_one_batch_and_non_fhir_keys(store: Store) -> None:
    other = {**OBS, "id": "hba1c-78"}
    results = store.put([OBS, other, _changed(status="final")])
    assert [r.status for r in results] == ["created", "created", "amended"]
    assert results[0].record_id == results[2].record_id != results[1].record_id
    note = {"text": "a free-form note"}
    (a,) = store.put([note], keys=["note-1"])
    (b,) = store.put([note], keys=["note-1"])
    (c,) = store.put([{"text": "edited"}], keys=["note-1"])
    assert (a.status, b.status, c.status) == ("created", "unchanged", "amended")
    (anon1,), (anon2,) = store.put([note]), store.put([note])
    assert anon1.record_id != anon2.record_id  # no identity: always a new record
    with pytest.raises(InputError, match="differs"):
        store.put([OBS], keys=["Observation/other"])


def test_records_lists_and_filters(store: Store) -> None:
    patient = {"resourceType": "Patient", "id": "p-123", "gender": "female"}
    store.put([OBS, patient, {**OBS, "id": "o2"}])
    store.put([_changed(status="final")])
    rows = store.records()
    assert [(r.resource_type, r.resource_id, r.version) for r in rows] == [
        ("Observation", "hba1c-77", 2),
        ("Patient", "p-123", 1),
        ("Observation", "o2", 1),
    ]
    assert [r.resource_id for r in store.records(resource_type="Observation")] == [
        "hba1c-77",
        "o2",
    ]
    (one,) = store.records(resource_type="Patient", resource_id="p-123")
    assert one.last_kind == "create"
    assert one.events == 1
    assert store.records(resource_type="Patient", resource_id="nobody") == []
    assert [r.resource_id for r in store.records(kind="amend")] == ["hba1c-77"]
    store.access.erase("Patient/p-123")
    assert [r.erased for r in store.records()] == [False, True, False]
    assert len(store.records(erased=False, limit=1)) == 1
    with pytest.raises(AccessError):
        store.show("0x" + one.record_id.hex())
    # Erasure forgets the identity: the resource comes back as a new record.
    with pytest.raises(InputError):
        store.find_event("Patient/p-123")
    (back,) = store.put([patient])
    assert back.status == "created"
    assert back.record_id != one.record_id


def test_amend_and_derive_keep_identity(store: Store) -> None:
    (obs,) = store.put([OBS])
    (pat,) = store.put([{"resourceType": "Patient", "id": "p-123"}])
    with pytest.raises(InputError, match="record holds Observation/hba1c-77"):
        store.amend("Observation/hba1c-77", {"resourceType": "Patient", "id": "p-123"})
    logged = store.amend("Observation/hba1c-77", _changed(status="final"))
    assert logged.signed.event.version == 2
    (again,) = store.put([_changed(status="final")])
    assert again.status == "unchanged"  # the amend updated what put compares with
    trend = {"resourceType": "Observation", "id": "trend", "code": {"text": "HbA1c trend"}}
    derived = store.derive(trend, ["Observation/hba1c-77", "0x" + pat.record_id.hex()])
    e = derived.signed.event
    assert e.kind is EventKind.DERIVE
    assert set(e.sources) == {logged.id, store.find_event("Patient/p-123").id}
    with pytest.raises(InputError, match="amend it instead"):
        store.derive(trend, ["Observation/hba1c-77"])
    with pytest.raises(InputError):
        store.derive(trend, [])
    assert obs.record_id == store.find_event("Observation/hba1c-77").record_id


def test_no_identifying_digest_leaves_or_rests_in_the_store(store: Store, tmp_path: Path) -> None:
    (obs,) = store.put([OBS])
    store.put([_changed(status="final")])
    bundle = store.export("Observation/hba1c-77", fields=[])
    public = bundle.to_bytes() + bundle.to_json().encode()
    home = store.home
    store.close()
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    identifiers = [b"hba1c-77", b"Observation", b"p-123", b"Observation/hba1c-77"]
    digests = [sha256(i).digest() for i in identifiers]
    for secret in identifiers + digests + [d.hex().encode() for d in digests]:
        assert secret not in public
        assert secret not in stored
    # The record id is random, not derived from the resource.
    assert obs.record_id not in digests


def test_export_without_disclosure_decrypts_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from okeios._internal.verify.bundle import verify_bundle
    from okeios._internal.verify.policy import TrustPolicy

    store.put([OBS])

    def refuse(*_a: object) -> None:
        raise AssertionError("export decrypted a record to build a bundle")

    monkeypatch.setattr(store.versions, "get_version", refuse)
    monkeypatch.setattr(store.versions, "secrets", refuse)
    bundle = store.export("Observation/hba1c-77", fields=[])
    assert bundle.disclosure.fields == ()
    assert len(bundle.disclosure.digests) == 7  # the stored salted digests, one per leaf
    policy = TrustPolicy(authors=[store.address], publishers=[store.address])
    assert verify_bundle(bundle, policy).passed
    with pytest.raises(AssertionError, match="decrypted"):
        store.export("Observation/hba1c-77", fields=["/status"])  # disclosing needs plaintext


@pytest.mark.sqlite_only(reason="traces the statements of SQLite connections")
def test_opening_reads_a_logarithmic_number_of_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a store runs the same few statements whatever its size (the Merkle frontier is
    one row per set bit of the size), and no whole-database check."""
    import sqlite3

    import okeios._internal.publish.tables as tables

    def statements_to_open(home: Path) -> list[str]:
        seen: list[str] = []
        real = sqlite3.connect

        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = real(*args, **kwargs)
            conn.set_trace_callback(seen.append)
            return conn

        monkeypatch.setattr(tables.sqlite3, "connect", connect)
        Store.open(home).close()
        monkeypatch.setattr(tables.sqlite3, "connect", real)
        return seen

    counts = {}
    for n in (3, 255):
        with Store.init(tmp_path / f"h{n}") as s:
            s.add([{"n": i} for i in range(n)])
        counts[n] = statements_to_open(tmp_path / f"h{n}")
    assert not any("check" in s for s in counts[255])
    node_reads = [s for s in counts[255] if "FROM nodes" in s]
    assert len(node_reads) == 1  # the size and the frontier's nodes in one query
    assert len(counts[255]) == len(counts[3])


@pytest.mark.sqlite_only(reason="writes a schema-1 SQLite file by hand")
def test_a_schema_1_store_is_upgraded_on_open(tmp_path: Path) -> None:
    """A store written before the tree was stored opens, gets its tree built once, and then
    gives the same roots and proofs."""
    import sqlite3

    home = tmp_path / "old"
    with Store.init(home) as store:
        store.add([{"n": i} for i in range(21)])
        root = store.tree.root()
        first = store.export("0x" + store.record_ids()[0].hex(), fields=[])
    db = sqlite3.connect(home / "store.sqlite")
    for sql in (
        "DROP TABLE nodes",
        "DROP TABLE resources",
        "DROP INDEX grants_record",
        "DROP INDEX journal_state",
        "DROP INDEX journal_final",
        "ALTER TABLE events DROP COLUMN version",
        "ALTER TABLE events DROP COLUMN time",
        "UPDATE meta SET value = '1' WHERE key = 'schema'",
    ):
        db.execute(sql)
    db.commit()
    db.close()
    with Store.open(home) as store:
        assert store.size == 21
        assert store.tree.root() == root
        assert store.check() == []
        again = store.export("0x" + store.record_ids()[0].hex(), fields=[])
        assert again.inclusion == first.inclusion
        assert [h["version"] for h in store.history("0x" + store.record_ids()[3].hex())] == [1]
        (put,) = store.put([OBS])
        assert put.status == "created"


def test_a_caller_key_cannot_take_a_fhir_identity(store: Store) -> None:
    """`add --key Observation/o1 invoice.json` amended the FHIR record Observation/o1 with the
    invoice (which then left `records --type Observation`). A caller's key of the Type/id
    shape is refused unless the document is that resource."""
    (obs,) = store.put([OBS])
    size = store.size
    with pytest.raises(InputError, match="shape of a FHIR identity"):
        store.put([{"invoice": 12}], keys=["Observation/hba1c-77"])
    with pytest.raises(InputError, match="shape of a FHIR identity"):
        store.put([{"invoice": 12}], keys=["Patient/new-one"])  # not stored yet: refused too
    assert store.size == size
    content, info = store.show("Observation/hba1c-77")
    assert (content["resourceType"], info["versions"]) == ("Observation", 1)
    # The resource itself under its own identity as key is fine; other keys are too.
    (same,) = store.put([OBS], keys=["Observation/hba1c-77"])
    assert (same.status, same.record_id) == ("unchanged", obs.record_id)
    (inv,) = store.put([{"invoice": 12}], keys=["invoice/2024/7"])  # not Type/id: lower case
    assert inv.status == "created"


@pytest.mark.parametrize("version_id", ["²", "١٢", "7\n", "", "a b", "x" * 65])
def test_a_version_id_that_is_not_a_fhir_id_is_refused(store: Store, version_id: str) -> None:
    """meta.versionId "²" passed isdigit() and crashed int(): an untyped ValueError and a
    traceback from `okeios add`. A versionId is a FHIR id: anything else is an InputError."""
    store.put([_changed(meta={"versionId": "1"})])
    with pytest.raises(InputError, match="not a FHIR id"):
        store.put([_changed(meta={"versionId": version_id}, status="final")])


def test_identity_macs_are_the_same_from_the_cache_and_past_its_size() -> None:
    """The keys and type MACs an Identities remembers are the HMACs it would compute, before
    and after its cache fills and is cleared."""
    import hmac as hmac_module

    from okeios._internal.publish import identity as identity_module

    master = CountingRng(b"identity cache")(32)
    ids = identity_module.Identities(None, master, CountingRng(b"rng"))  # type: ignore[arg-type]
    key = hmac_module.new(master, identity_module._IDENTITY_INFO, sha256).digest()

    def expected(domain: bytes, text: str) -> bytes:
        return hmac_module.new(key, domain + b"\x00" + text.encode(), sha256).digest()

    labels = [f"Observation/o-{i}" for i in range(identity_module._MAC_CACHE + 10)]
    for _ in range(2):  # the second round is served partly from the cache
        for label in labels[::997] + labels[-3:]:
            assert ids.key(label) == expected(b"resource", label)
        assert ids.type_mac("Observation") == expected(b"type", "Observation")
    for label in labels:  # fills the cache past its size: cleared, still right
        assert ids.key(label) == expected(b"resource", label)
    assert len(ids._keys) <= identity_module._MAC_CACHE
    assert ids.key(labels[0]) == expected(b"resource", labels[0])
    assert ids.key("Patient/p") != ids.type_mac("Patient/p")  # the domains stay apart


def test_an_erased_records_label_is_not_kept_in_memory() -> None:
    """Erasure forgets the record's identity row and every remembered label with it: the
    label of an erased record must not outlive it in a long-running service's memory."""
    from okeios._internal.publish import identity as identity_module

    class Rows:
        def __init__(self) -> None:
            self.forgotten: list[bytes] = []

        def forget(self, record_id: bytes) -> None:
            self.forgotten.append(record_id)

    rows = Rows()
    ids = identity_module.Identities(rows, b"\x01" * 32, CountingRng(b"rng"))  # type: ignore[arg-type]
    ids.key("Patient/erased-one")
    assert "Patient/erased-one" in ids._keys
    ids.forget(b"\x02" * 32)
    assert rows.forgotten == [b"\x02" * 32]
    assert ids._keys == {}
