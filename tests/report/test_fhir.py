"""A record's history as FHIR R4 resources (okeios._internal.report.fhir), checked with the
fhir.resources models.

fhir.resources 8 ships no R4 (4.0.1) models with pydantic 2; its ``R4B`` (4.3.0) package is the
closest, and the elements used here are the same in R4 and R4B. The R4 examples of both
resources are validated too, to show the models accept R4 content.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.crypto.recipients import RecipientPrivateKey, bind_recipient_key
from okeios._internal.protocol.canonical import JSONValue
from okeios._internal.protocol.events import EventKind, SignedEvent
from okeios._internal.protocol.signing import LocalSigner, recover_address
from okeios._internal.publish.publisher import LoggedEvent
from okeios._internal.publish.store import Store
from okeios._internal.report.fhir import (
    ADDRESS_SYSTEM,
    EVENT_KIND_SYSTEM,
    EVENT_SYSTEM,
    RECORD_SYSTEM,
    SIGNATURE_FORMAT,
    AnchorInfo,
    anchor_urn,
    audit_event_resources,
    event_urn,
    history_bundle,
    history_resources,
    provenance_resources,
    record_history_fhir,
)
from okeios.errors import InputError, SignatureError
from tests.conftest import shared_dir
from tests.helpers import AUTHOR_KEY, SMALL_RECORD, make_publisher

try:
    from fhir.resources import R4B
    from fhir.resources.R4B.auditevent import AuditEvent
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.provenance import Provenance
except ImportError:  # pragma: no cover - the test extra installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("fhir.resources is not installed (pip install -e .[test])", allow_module_level=True)

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
CHAIN_ID = 31337
REGISTRY = "0x" + "ab" * 20
TX_HASH = bytes(range(32))
BLOCK = 42

Resource = dict[str, Any]


def validate(resource: Resource) -> None:
    """Validate with the R4B model of its type, and check the model keeps every element."""
    kind = resource["resourceType"]
    if kind == "Provenance":
        dumped = Provenance.model_validate(resource).model_dump_json(
            exclude_none=True, by_alias=True
        )
    elif kind == "AuditEvent":
        dumped = AuditEvent.model_validate(resource).model_dump_json(
            exclude_none=True, by_alias=True
        )
    else:
        assert kind == "Bundle"
        dumped = Bundle.model_validate(resource).model_dump_json(exclude_none=True, by_alias=True)
    assert json.loads(dumped) == resource


def instant(value: str) -> int:
    assert value.endswith("Z")
    return int(datetime.fromisoformat(value).astimezone(UTC).timestamp())


def address_of(reference: Resource) -> str:
    assert reference["identifier"]["system"] == ADDRESS_SYSTEM
    return str(reference["identifier"]["value"])


def kinds_of(resource: Resource) -> str:
    if resource["resourceType"] == "AuditEvent":
        read, subtype = resource["subtype"]
        assert read == {
            "system": "http://hl7.org/fhir/restful-interaction",
            "code": "read",
            "display": "read",
        }
        assert subtype["system"] == EVENT_KIND_SYSTEM
        return str(subtype["code"])
    codes = [c for c in resource["activity"]["coding"] if c["system"] == EVENT_KIND_SYSTEM]
    assert len(codes) == 1
    return str(codes[0]["code"])


# -- a store with every kind of event ---------------------------------------------------------


@dataclass
class History:
    store: Store
    patient: LoggedEvent
    observation: LoggedEvent
    erased: LoggedEvent
    derived: LoggedEvent
    reader: str
    late_access: LoggedEvent  # logged after the anchored checkpoint

    def hex(self, logged: LoggedEvent) -> str:
        return "0x" + logged.record_id.hex()

    def bundle(self, logged: LoggedEvent) -> Resource:
        return record_history_fhir(self.store, self.hex(logged))

    def events(self, logged: LoggedEvent) -> list[SignedEvent]:
        return [
            self.store.publisher.event(eid).signed
            for eid in self.store.event_ids_of(logged.record_id)
        ]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    ticks = itertools.count(1_750_000_000, 60)
    store = Store.init(tmp_path_factory.mktemp("fhir-store"), clock=lambda: float(next(ticks)))
    patient, observation, erased, _ = store.add(synthetic_records(4))
    obs_id = "0x" + observation.record_id.hex()

    amended = json.loads(synthetic_records(2, seed=99)[1])
    amended["id"] = "obs-0000"
    store.amend(obs_id, amended)

    recipient = RecipientPrivateKey.generate()
    binding = bind_recipient_key(recipient.public_key(), LocalSigner.generate())
    reader = store.access.grant(obs_id, binding, purpose="second opinion").recipient
    store.access.receipt(obs_id, reader, purpose="treatment")
    store.access.receipt(obs_id, reader, purpose="quality review")
    store.access.receipt(obs_id, reader)
    store.access.revoke(obs_id, reader, purpose="consultation over")
    store.access.erase("0x" + erased.record_id.hex(), purpose="patient request")

    derived_record: JSONValue = {
        "resourceType": "Observation",
        "id": "obs-trend",
        "status": "final",
        "code": {"text": "HbA1c trend"},
        "subject": {"reference": "Patient/x"},
    }
    derived = store.derive(derived_record, ["0x" + observation.id.hex(), "0x" + patient.id.hex()])

    checkpoint = store.checkpoints.current()
    entry = store.journal.add(
        CHAIN_ID, REGISTRY, checkpoint.checkpoint.tree_size, checkpoint.checkpoint.root
    )
    store.journal.update(
        entry.id, state="final", tx_hash=TX_HASH, block_number=BLOCK, timestamp=1_750_100_000
    )
    late = store.access.receipt(obs_id, reader, purpose="follow-up")
    yield History(store, patient, observation, erased, derived, reader, late)
    store.close()


# -- validation ---------------------------------------------------------------------------------


def test_models_are_the_r4_compatible_ones() -> None:
    assert R4B.__fhir_version__ == "4.3.0"  # R4B: the closest to R4 4.0.1 that the library has


def test_every_resource_and_bundle_validates(history: History) -> None:
    seen = 0
    for record_id in history.store.record_ids():
        bundle = record_history_fhir(history.store, "0x" + record_id.hex())
        validate(bundle)
        parsed = Bundle.model_validate(bundle)
        assert parsed.type == "collection"
        assert len(bundle["entry"]) == len(history.store.event_ids_of(record_id))
        for entry in bundle["entry"]:
            validate(entry["resource"])
            assert entry["fullUrl"].startswith("urn:uuid:")
            seen += 1
    assert seen == history.store.size
    urls = [
        e["fullUrl"]
        for rid in history.store.record_ids()
        for e in record_history_fhir(history.store, "0x" + rid.hex())["entry"]
    ]
    assert len(set(urls)) == len(urls)


def test_validation_is_strict_enough_to_catch_mistakes(history: History) -> None:
    resource = history.bundle(history.observation)["entry"][0]["resource"]
    broken = {k: v for k, v in resource.items() if k != "recorded"}
    with pytest.raises(ValueError, match="recorded"):
        Provenance.model_validate(broken)
    with pytest.raises(ValueError, match="data"):
        Provenance.model_validate(
            {**resource, "signature": [{**resource["signature"][0], "data": "not base64!"}]}
        )


def test_the_r4_examples_of_both_resources_validate() -> None:
    folder = shared_dir("fhir", "r4-examples")
    files = sorted(folder.glob("Provenance-*.json")) + sorted(folder.glob("AuditEvent-*.json"))
    assert len(files) >= 10
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        model = Provenance if data["resourceType"] == "Provenance" else AuditEvent
        model.model_validate(data)


# -- the history of one record ----------------------------------------------------------------


def test_counts_and_kinds_follow_the_log(history: History) -> None:
    bundle = history.bundle(history.observation)
    resources = [e["resource"] for e in bundle["entry"]]
    log = history.store.history(history.hex(history.observation))
    assert [r["id"] for r in resources] == [h["event"][2:] for h in log]  # type: ignore[index]
    assert [kinds_of(r) for r in resources] == [h["kind"] for h in log]
    assert [kinds_of(r) for r in resources] == [
        "create",
        "amend",
        "grant",
        "access",
        "access",
        "access",
        "revoke",
        "access",
    ]
    types = [r["resourceType"] for r in resources]
    assert types.count("Provenance") == 4
    assert types.count("AuditEvent") == 4
    for r in resources:
        assert (r["resourceType"] == "AuditEvent") == (kinds_of(r) == "access")


def test_activities_use_data_operation_codes(history: History) -> None:
    expected = {
        "create": "CREATE",
        "amend": "UPDATE",
        "derive": "CREATE",
        "erase": "DELETE",
        "grant": None,
        "revoke": None,
    }
    seen = set()
    for logged in (history.observation, history.erased, history.derived):
        for entry in history.bundle(logged)["entry"]:
            r = entry["resource"]
            if r["resourceType"] != "Provenance":
                continue
            kind = kinds_of(r)
            codes = [c["code"] for c in r["activity"]["coding"] if c["system"] == DATA_OPERATION]
            assert codes == ([expected[kind]] if expected[kind] else [])
            assert r["activity"]["text"] == kind
            seen.add(kind)
    assert seen == set(expected)


def test_recorded_times_are_the_event_times(history: History) -> None:
    for logged in (history.observation, history.erased, history.derived):
        log = history.store.history(history.hex(logged))
        resources = [e["resource"] for e in history.bundle(logged)["entry"]]
        times = [h["time"] for h in log]
        assert len(set(times)) == len(times)  # the test clock ticks, so a swap would show
        assert [instant(r["recorded"]) for r in resources] == times
        for r in resources:
            if r["resourceType"] == "Provenance":
                assert r["signature"][0]["when"] == r["recorded"]


def test_signatures_are_the_events_and_recover_to_the_authors(history: History) -> None:
    checked = 0
    for logged in (history.patient, history.observation, history.erased, history.derived):
        for entry in history.bundle(logged)["entry"]:
            r = entry["resource"]
            event_id = bytes.fromhex(r["id"])
            signed = history.store.find_event("0x" + r["id"]).signed
            if r["resourceType"] == "Provenance":
                (sig,) = r["signature"]
                assert sig["type"][0]["code"] == "1.2.840.10065.1.12.1.1"
                assert sig["sigFormat"] == SIGNATURE_FORMAT
                data = base64.b64decode(sig["data"], validate=True)
                signer = address_of(sig["who"])
                assert address_of(r["agent"][0]["who"]) == signer
                assert event_urn(event_id) in r["policy"]
            else:
                detail = {d["type"]: d for d in r["entity"][1]["detail"]}
                data = base64.b64decode(detail["signature"]["valueBase64Binary"], validate=True)
                signer = address_of(r["agent"][1]["who"])
                assert r["entity"][1]["what"]["identifier"] == {
                    "system": EVENT_SYSTEM,
                    "value": "0x" + r["id"],
                }
            assert data == signed.signature
            assert len(data) == 65
            assert recover_address(event_id, data) == signer == signed.event.author
            assert signer == history.store.address
            checked += 1
    assert checked == len(history.store.event_ids_of(history.observation.record_id)) + 1 + 2 + 1


def test_targets_are_versioned_references_to_the_record(history: History) -> None:
    resources = [e["resource"] for e in history.bundle(history.observation)["entry"]]
    versions = [h["version"] for h in history.store.history(history.hex(history.observation))]
    for r, version in zip(resources, versions, strict=True):
        target = r["target"][0] if r["resourceType"] == "Provenance" else r["entity"][0]["what"]
        assert target["reference"] == f"Observation/obs-0000/_history/{version}"
        assert target["identifier"] == {
            "system": RECORD_SYSTEM,
            "value": history.hex(history.observation),
        }
    amend = resources[1]
    assert amend["entity"] == [
        {
            "role": "revision",
            "what": {
                "reference": "Observation/obs-0000/_history/1",
                "identifier": {"system": RECORD_SYSTEM, "value": history.hex(history.observation)},
                "display": "version 1",
            },
        }
    ]
    assert "entity" not in resources[0]


def test_grant_and_revoke_name_the_recipient(history: History) -> None:
    resources = [e["resource"] for e in history.bundle(history.observation)["entry"]]
    by_kind = {kinds_of(r): r for r in resources}
    for kind, purpose in (("grant", "second opinion"), ("revoke", "consultation over")):
        r = by_kind[kind]
        author, recipient = r["agent"]
        assert author["type"]["coding"][0]["code"] == "author"
        assert recipient["type"]["coding"][0]["code"] == "IRCP"
        assert recipient["role"]
        assert address_of(recipient["who"]) == history.reader
        assert r["reason"] == [{"text": purpose}]
    assert len(by_kind["create"]["agent"]) == 1
    assert "reason" not in by_kind["create"]


def test_audit_events_carry_the_readers_and_purposes(history: History) -> None:
    audits = [
        e["resource"]
        for e in history.bundle(history.observation)["entry"]
        if e["resource"]["resourceType"] == "AuditEvent"
    ]
    purposes = []
    for r in audits:
        # IHE BALP, read pattern: type rest, action R, outcome 0, the user and server agents.
        assert r["type"] == {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "Restful Operation",
        }
        assert r["action"] == "R"
        assert r["outcome"] == "0"
        reader, author = r["agent"]
        assert reader["type"]["coding"] == [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "IRCP",
                "display": "information recipient",
            }
        ]
        assert author["type"]["coding"] == [
            {"system": DICOM, "code": "110153", "display": "Source Role ID"}
        ]
        assert "network" not in author  # okeios does not know the transport: see docs/fhir.md
        assert "meta" not in r  # so no BALP profile is claimed
        data = r["entity"][0]
        assert (data["type"]["code"], data["role"]["code"]) == ("2", "4")
        reader_purposes = reader.get("purposeOfUse", [])
        if reader_purposes and reader_purposes[0]["text"] == "treatment":
            assert reader_purposes[0]["coding"] == [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                    "code": "TREAT",
                    "display": "treatment",
                }
            ]
        assert reader["requestor"] is True
        assert author["requestor"] is False
        assert address_of(reader["who"]) == history.reader
        assert address_of(author["who"]) == history.store.address
        assert r["source"]["observer"]["identifier"]["value"] == "0x" + history.store.log_id.hex()
        purposes.append([p["text"] for p in reader.get("purposeOfUse", [])])
    assert purposes == [["treatment"], ["quality review"], [], ["follow-up"]]


def test_derive_lists_its_sources(history: History) -> None:
    (entry,) = history.bundle(history.derived)["entry"]
    r = entry["resource"]
    assert kinds_of(r) == "derive"
    assert r["target"][0]["reference"] == "Observation/obs-trend/_history/1"
    assert r["entity"] == [
        {"role": "source", "what": {"identifier": {"system": EVENT_SYSTEM, "value": "0x" + i}}}
        for i in (history.observation.id.hex(), history.patient.id.hex())
    ]


def test_erased_records_are_referred_to_by_id_alone(history: History) -> None:
    resources = [e["resource"] for e in history.bundle(history.erased)["entry"]]
    assert [kinds_of(r) for r in resources] == ["create", "erase"]
    for r in resources:
        assert "reference" not in r["target"][0]  # the content, so its FHIR id, is gone
        assert r["target"][0]["identifier"]["value"] == history.hex(history.erased)
    assert resources[1]["reason"] == [{"text": "patient request"}]
    named = record_history_fhir(
        history.store, history.hex(history.erased), record_reference="Observation/obs-0001"
    )
    assert named["entry"][1]["resource"]["target"][0]["reference"] == (
        "Observation/obs-0001/_history/1"
    )


def test_anchors_come_from_the_journal(history: History) -> None:
    info = AnchorInfo(CHAIN_ID, REGISTRY, TX_HASH, BLOCK)
    anchor = anchor_urn(info)
    assert anchor == f"urn:okeios:anchor:31337:{info.registry}:0x{TX_HASH.hex()}:42"
    resources = [e["resource"] for e in history.bundle(history.observation)["entry"]]
    for r in resources:
        late = r["id"] == history.late_access.id.hex()
        if r["resourceType"] == "Provenance":
            assert (anchor in r["policy"]) is not late
            assert len(r["policy"]) == (1 if late else 2)
        else:
            details = {d["type"]: d.get("valueString") for d in r["entity"][1]["detail"]}
            assert details.get("anchor") == (None if late else anchor)
    assert resources[-1]["id"] == history.late_access.id.hex()


def test_a_record_is_found_by_any_of_its_event_ids(history: History) -> None:
    by_record = history.bundle(history.observation)
    by_event = record_history_fhir(history.store, "0x" + history.observation.id.hex())
    assert by_event == by_record
    with pytest.raises(InputError):
        record_history_fhir(history.store, "0x" + "00" * 32)


# -- the pure functions ---------------------------------------------------------------------------


def _small_history() -> tuple[list[SignedEvent], LocalSigner, str]:
    publisher = make_publisher()
    author = LocalSigner.from_key(AUTHOR_KEY)
    reader = LocalSigner.generate().address
    created = publisher.create(SMALL_RECORD, author=author)
    rid = created.record_id
    events = [
        created.signed,
        publisher.record_event(EventKind.GRANT, rid, subject=reader).signed,
        publisher.record_event(EventKind.ACCESS, rid, subject=reader, purpose="care").signed,
        publisher.amend(rid, SMALL_RECORD).signed,
        publisher.create(SMALL_RECORD, sources=[created.id]).signed,
    ]
    return events, author, reader


def test_provenance_and_audit_split_the_kinds() -> None:
    events, author, _ = _small_history()
    one_record = events[:4]
    provenances = provenance_resources(one_record, record_reference="Observation/hba1c")
    audits = audit_event_resources(one_record, record_reference="Observation/hba1c")
    assert [kinds_of(r) for r in provenances] == ["create", "grant", "amend"]
    assert [kinds_of(r) for r in audits] == ["access"]
    mixed = history_resources(one_record, record_reference="Observation/hba1c")
    assert [r["id"] for r in mixed] == [s.id.hex() for s in one_record]
    for r in mixed:
        validate(r)
    # another author than the publisher signs the create
    assert address_of(provenances[0]["agent"][0]["who"]) == author.address
    assert provenances[0]["signature"][0]["who"] == provenances[0]["agent"][0]["who"]
    validate(history_bundle(mixed))
    assert history_bundle(mixed) == history_bundle(mixed)


def test_reference_forms() -> None:
    events, _, _ = _small_history()
    created = events[0]
    none = provenance_resources([created], record_reference=None)[0]["target"][0]
    assert none == {
        "identifier": {"system": RECORD_SYSTEM, "value": "0x" + created.event.record_id.hex()},
        "display": "version 1",
    }
    urn = "urn:uuid:0b5e5a5e-9d1c-4c1a-8d2e-8f7a9c2f2a11"
    assert provenance_resources([created], record_reference=urn)[0]["target"][0]["reference"] == urn
    absolute = "https://fhir.example.org/r4/Observation/hba1c"
    assert (
        provenance_resources([created], record_reference=absolute)[0]["target"][0]["reference"]
        == absolute + "/_history/1"
    )


def test_derive_without_a_store() -> None:
    events, _, _ = _small_history()
    derived = events[4]
    (r,) = provenance_resources([derived], record_reference="Observation/trend")
    validate(r)
    assert r["entity"] == [
        {
            "role": "source",
            "what": {"identifier": {"system": EVENT_SYSTEM, "value": "0x" + events[0].id.hex()}},
        }
    ]


def test_events_of_several_records_are_refused() -> None:
    events, _, _ = _small_history()
    with pytest.raises(InputError, match="more than one record"):
        provenance_resources(events, record_reference=None)


def test_a_signature_that_is_not_the_authors_is_refused() -> None:
    events, _, _ = _small_history()
    forged = SignedEvent(events[1].event, events[3].signature)  # a valid signature, wrong event
    with pytest.raises(SignatureError):
        provenance_resources([forged], record_reference=None)
    with pytest.raises(SignatureError):
        audit_event_resources([forged], record_reference=None)


def test_times_beyond_a_fhir_instant_are_refused() -> None:
    publisher = make_publisher()
    far = publisher.create(SMALL_RECORD, time=253_402_300_800).signed  # year 10000
    with pytest.raises(InputError, match="instant"):
        provenance_resources([far], record_reference=None)
    last = make_publisher().create(SMALL_RECORD, time=253_402_300_799).signed
    assert provenance_resources([last], record_reference=None)[0]["recorded"] == (
        "9999-12-31T23:59:59Z"
    )


def test_anchor_info_is_checked() -> None:
    with pytest.raises(InputError):
        AnchorInfo(1, REGISTRY, b"short", 1)
    with pytest.raises(InputError):
        AnchorInfo(1, REGISTRY, TX_HASH, -1)
    assert AnchorInfo(1, REGISTRY, TX_HASH, 1).registry != REGISTRY  # checksummed


def test_a_keys_identity_events_map_to_fhir() -> None:
    """An AUTHORISE, DEAUTHORISE or HANDOVER has its words and FHIR coding like every kind (the
    display table once lacked the identity kinds: a bare KeyError)."""
    publisher = make_publisher()
    clinician = LocalSigner.from_key(AUTHOR_KEY)
    given = publisher.authorise(clinician.address, "clinician", purpose="ward 3")
    taken = publisher.deauthorise(clinician.address)
    resources = history_resources([given.signed, taken.signed], record_reference=None)
    assert [kinds_of(r) for r in resources] == ["authorise", "deauthorise"]
    for r in resources:
        validate(r)
    codes = [c for c in resources[0]["activity"]["coding"] if c["system"] == EVENT_KIND_SYSTEM]
    assert codes == [
        {"system": EVENT_KIND_SYSTEM, "code": "authorise", "display": "key authorised"}
    ]


def test_a_key_record_exports_its_history(tmp_path: Any) -> None:
    """``record_history_fhir`` of a key's record (it has no stored content) names it by its
    record id instead of failing to read a version 1."""
    home = tmp_path / "home"
    with Store.init(home) as store:
        clinician = LocalSigner.from_key(AUTHOR_KEY)
        given = store.keys.authorise(clinician.address, "clinician")
        bundle = record_history_fhir(store, "0x" + given.id.hex())
    (entry,) = bundle["entry"]
    target = entry["resource"]["target"][0]
    assert target["identifier"]["value"] == "0x" + given.signed.event.record_id.hex()
    validate(bundle)
