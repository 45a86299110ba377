"""A record's history as FHIR R4 resources: a ``Provenance`` per change, an ``AuditEvent`` per
read receipt (after the IHE Basic Audit Log Patterns read pattern), gathered in a ``Bundle``.

FHIR in (the resources of a file, a resource's identity) is :mod:`okeios._internal.protocol.fhir`.
The functions here are pure: they take signed events already loaded (and, optionally, where
each one was anchored) and return plain JSON-ready dicts. :func:`record_history_fhir` is the one
convenience that reads a :class:`~okeios._internal.publish.store.Store`. The mapping is described in
``docs/fhir.md``.

Nothing here is trusted more than the events themselves: every signature is checked to recover
to its event's author before it is exported, and the exported ``Signature.data`` is the
65-byte EIP-712 signature over the event id, so a reader can check it again with any secp256k1
library. Codes specific to okeios live under ``urn:okeios:`` names, never under a web address
that would look official.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from okeios._internal.protocol.canonical import parse_json
from okeios._internal.protocol.events import EventKind, SignedEvent
from okeios._internal.protocol.fhir import resource_identity
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.kinds import spec
from okeios._internal.protocol.signing import checksum_address
from okeios.errors import AccessError, InputError, SignatureError

if TYPE_CHECKING:
    from okeios._internal.protocol.ids import RecordRef
    from okeios._internal.publish.store import Store

__all__ = [
    "ADDRESS_SYSTEM",
    "EVENT_KIND_SYSTEM",
    "EVENT_SYSTEM",
    "FHIR_VERSION",
    "LOG_SYSTEM",
    "RECORD_SYSTEM",
    "SIGNATURE_FORMAT",
    "AnchorInfo",
    "anchor_urn",
    "audit_event_resources",
    "event_urn",
    "history_bundle",
    "history_resources",
    "provenance_resources",
    "record_history_fhir",
]

FHIR_VERSION = "4.0.1"


# okeios names (URNs: okeios publishes no web pages that define them).
EVENT_KIND_SYSTEM = "urn:okeios:event-kind"
ADDRESS_SYSTEM = "urn:okeios:ethereum-address"
RECORD_SYSTEM = "urn:okeios:record"
EVENT_SYSTEM = "urn:okeios:event"
LOG_SYSTEM = "urn:okeios:log"

# Published code systems.
_DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
_PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
_DICOM = "http://dicom.nema.org/resources/ontology/DCM"
_AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_LIFECYCLE = "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle"
_AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

# IHE Basic Audit Log Patterns (BALP), the read pattern: the agent slices' types.
BALP_USER_TYPE = ("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP")
BALP_SERVER_TYPE = ("http://dicom.nema.org/resources/ontology/DCM", "110153")

# A purpose written as one of these words (or as the code itself) is also coded with the HL7
# v3 PurposeOfUse code BALP asks for; any other purpose stays free text.
_PURPOSE_OF_USE: Mapping[str, tuple[str, str]] = {
    "treatment": ("TREAT", "treatment"),
    "emergency": ("ETREAT", "Emergency Treatment"),
    "emergency treatment": ("ETREAT", "Emergency Treatment"),
    "payment": ("HPAYMT", "healthcare payment"),
    "operations": ("HOPERAT", "healthcare operations"),
    "research": ("HRESCH", "healthcare research"),
    "patient request": ("PATRQT", "patient requested"),
    "public health": ("PUBHLTH", "public health"),
    "marketing": ("HMARKT", "healthcare marketing"),
}

# The signature is the raw 65 bytes r || s || v (secp256k1, EIP-712 digest = the event id).
SIGNATURE_FORMAT = "application/octet-stream"


# A literal FHIR reference, relative ("Observation/obs-1") or absolute ("https://x/Observation/1").
_LITERAL_REFERENCE = re.compile(r"(?:https?://\S+/)?[A-Z][A-Za-z]{1,63}/[A-Za-z0-9.\-]{1,64}")
_MAX_YEAR_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z, the last FHIR instant


@dataclass(frozen=True, slots=True)
class AnchorInfo:
    """Where the log checkpoint holding an event was anchored (a pointer, not a proof)."""

    chain_id: int
    registry: str
    transaction: bytes
    block: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "registry", checksum_address(self.registry))
        if len(self.transaction) != 32:
            raise InputError("an anchor transaction hash is 32 bytes")
        for name in ("chain_id", "block"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"anchor {name} must be a non-negative integer, got {value!r}")


def _hx(value: bytes) -> str:
    return to_hex(value)


def event_urn(event_id: bytes) -> str:
    """``urn:okeios:event:0x<event id>``."""
    return f"{EVENT_SYSTEM}:{_hx(event_id)}"


def anchor_urn(anchor: AnchorInfo) -> str:
    """``urn:okeios:anchor:<chain id>:<registry>:<0x transaction>:<block>``."""
    return (
        f"urn:okeios:anchor:{anchor.chain_id}:{anchor.registry}:"
        f"{_hx(anchor.transaction)}:{anchor.block}"
    )


def _instant(seconds: int) -> str:
    """A FHIR ``instant`` in UTC, to the second."""
    if not 0 <= seconds <= _MAX_YEAR_SECONDS:
        raise InputError(f"event time {seconds} cannot be written as a FHIR instant")
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"system": system, "code": code}
    if display is not None:
        out["display"] = display
    return out


def _concept(*codings: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if codings:
        out["coding"] = list(codings)
    if text is not None:
        out["text"] = text
    return out


def _address(address: str) -> dict[str, Any]:
    return {"identifier": {"system": ADDRESS_SYSTEM, "value": checksum_address(address)}}


def _event_ref(event_id: bytes) -> dict[str, Any]:
    return {"identifier": {"system": EVENT_SYSTEM, "value": _hx(event_id)}}


def _record_ref(record_reference: str | None, record_id: bytes, version: int) -> dict[str, Any]:
    """A Reference to one version of the record: the literal reference (made version-specific
    when it has the ``Type/id`` form) plus the okeios record id."""
    out: dict[str, Any] = {}
    if record_reference:
        literal = _LITERAL_REFERENCE.fullmatch(record_reference) is not None
        out["reference"] = f"{record_reference}/_history/{version}" if literal else record_reference
    out["identifier"] = {"system": RECORD_SYSTEM, "value": _hx(record_id)}
    out["display"] = f"version {version}"
    return out


def _activity(kind: EventKind) -> dict[str, Any]:
    codings = []
    row = spec(kind)
    if row.data_operation is not None:
        code, display = row.data_operation
        codings.append(_coding(_DATA_OPERATION, code, display))
    codings.append(_coding(EVENT_KIND_SYSTEM, str(kind), row.display))
    return _concept(*codings, text=str(kind))


def _checked(events: Iterable[SignedEvent]) -> list[SignedEvent]:
    """The events, refused unless they are of one record and each signature is the author's."""
    out = list(events)
    records = {e.event.record_id for e in out}
    if len(records) > 1:
        raise InputError("the events belong to more than one record")
    for signed in out:
        if signed.recover() != signed.event.author:
            raise SignatureError(
                f"event {_hx(signed.id)} is not signed by its author {signed.event.author}"
            )
    return out


def _provenance(
    signed: SignedEvent, record_reference: str | None, anchor: AnchorInfo | None
) -> dict[str, Any]:
    e = signed.event
    when = _instant(e.time)
    author = _address(e.author)
    agents: list[dict[str, Any]] = [
        {"type": _concept(_coding(_PARTICIPANT_TYPE, "author", "Author")), "who": author}
    ]
    if e.kind in (EventKind.GRANT, EventKind.REVOKE):
        role = "recipient granted access" if e.kind is EventKind.GRANT else "access revoked"
        agents.append(
            {
                "type": _concept(_coding(_PARTICIPATION_TYPE, "IRCP", "information recipient")),
                "role": [_concept(text=role)],
                "who": _address(e.subject),
            }
        )
    entities: list[dict[str, Any]] = []
    if e.kind is EventKind.DERIVE:
        entities = [{"role": "source", "what": _event_ref(s)} for s in e.sources]
    elif e.kind is EventKind.AMEND:
        entities = [
            {"role": "revision", "what": _record_ref(record_reference, e.record_id, e.version - 1)}
        ]
    policy = [event_urn(signed.id)]
    if anchor is not None:
        policy.append(anchor_urn(anchor))
    out: dict[str, Any] = {
        "resourceType": "Provenance",
        "id": signed.id.hex(),
        "target": [_record_ref(record_reference, e.record_id, e.version)],
        "recorded": when,
        "policy": policy,
    }
    if e.purpose:
        out["reason"] = [_concept(text=e.purpose)]
    out["activity"] = _activity(e.kind)
    out["agent"] = agents
    if entities:
        out["entity"] = entities
    out["signature"] = [
        {
            "type": [_coding(_SIGNATURE_TYPE, "1.2.840.10065.1.12.1.1", "Author's Signature")],
            "when": when,
            "who": author,
            "sigFormat": SIGNATURE_FORMAT,
            "data": base64.b64encode(signed.signature).decode("ascii"),
        }
    ]
    return out


def _purpose_of_use(purpose: str) -> dict[str, Any]:
    """The purpose as text, coded with its v3 PurposeOfUse code when it names one."""
    key = purpose.strip().lower()
    for word, (code, display) in _PURPOSE_OF_USE.items():
        if key in (word, code.lower()):
            return _concept(_coding(_ACT_REASON, code, display), text=purpose)
    return _concept(text=purpose)


def _audit_event(
    signed: SignedEvent, record_reference: str | None, anchor: AnchorInfo | None
) -> dict[str, Any]:
    """An AuditEvent after the IHE BALP read pattern (docs/fhir.md says where it departs)."""
    e = signed.event
    reader: dict[str, Any] = {
        "type": _concept(_coding(*BALP_USER_TYPE, "information recipient")),
        "who": _address(e.subject),
        "requestor": True,
    }
    if e.purpose:
        reader["purposeOfUse"] = [_purpose_of_use(e.purpose)]
    details: list[dict[str, Any]] = [
        {
            "type": "signature",
            "valueBase64Binary": base64.b64encode(signed.signature).decode("ascii"),
        }
    ]
    if anchor is not None:
        details.append({"type": "anchor", "valueString": anchor_urn(anchor)})
    return {
        "resourceType": "AuditEvent",
        "id": signed.id.hex(),
        "type": _coding(_AUDIT_EVENT_TYPE, "rest", "Restful Operation"),
        "subtype": [
            _coding(_RESTFUL_INTERACTION, "read", "read"),
            _coding(EVENT_KIND_SYSTEM, str(e.kind), spec(e.kind).display),
        ],
        "action": "R",
        "recorded": _instant(e.time),
        "outcome": "0",
        "agent": [
            reader,
            {
                "type": _concept(_coding(*BALP_SERVER_TYPE, "Source Role ID")),
                "who": _address(e.author),
                "requestor": False,
            },
        ],
        "source": {
            "observer": {
                "identifier": {"system": LOG_SYSTEM, "value": _hx(e.log_id)},
                "display": "okeios log",
            }
        },
        "entity": [
            {
                "what": _record_ref(record_reference, e.record_id, e.version),
                "type": _coding(_AUDIT_ENTITY_TYPE, "2", "System Object"),
                "role": _coding(_OBJECT_ROLE, "4", "Domain Resource"),
                "lifecycle": _coding(_LIFECYCLE, "6", "Access / Use"),
            },
            {
                "what": _event_ref(signed.id),
                "type": _coding(_AUDIT_ENTITY_TYPE, "4", "Other"),
                "description": "signed okeios access receipt (EIP-712 signature over the id)",
                "detail": details,
            },
        ],
    }


def _anchor_of(anchors: Mapping[bytes, AnchorInfo] | None, event_id: bytes) -> AnchorInfo | None:
    return None if anchors is None else anchors.get(event_id)


def provenance_resources(
    events: Sequence[SignedEvent],
    *,
    record_reference: str | None,
    anchors: Mapping[bytes, AnchorInfo] | None = None,
) -> list[dict[str, Any]]:
    """One FHIR ``Provenance`` per create, amend, derive, grant, revoke and erase event, in the
    given order (access events are skipped: see :func:`audit_event_resources`).

    ``record_reference`` is the record's FHIR reference (``Observation/obs-1``, made
    version-specific per event), or ``None`` to refer to it by its okeios record id alone;
    ``anchors`` maps event ids to where they were anchored. Raises
    :class:`~okeios.errors.InputError` when the events are of several records and
    :class:`~okeios.errors.SignatureError` when a signature is not its author's.
    """
    return [
        _provenance(s, record_reference, _anchor_of(anchors, s.id))
        for s in _checked(events)
        if s.event.kind is not EventKind.ACCESS
    ]


def audit_event_resources(
    events: Sequence[SignedEvent],
    *,
    record_reference: str | None,
    anchors: Mapping[bytes, AnchorInfo] | None = None,
) -> list[dict[str, Any]]:
    """One FHIR ``AuditEvent`` per access event, in the given order (other kinds are skipped).

    Same arguments and errors as :func:`provenance_resources`.
    """
    return [
        _audit_event(s, record_reference, _anchor_of(anchors, s.id))
        for s in _checked(events)
        if s.event.kind is EventKind.ACCESS
    ]


def history_resources(
    events: Sequence[SignedEvent],
    *,
    record_reference: str | None,
    anchors: Mapping[bytes, AnchorInfo] | None = None,
) -> list[dict[str, Any]]:
    """One resource per event, in the given order: an ``AuditEvent`` for an access, else a
    ``Provenance``."""
    out = []
    for s in _checked(events):
        anchor = _anchor_of(anchors, s.id)
        if s.event.kind is EventKind.ACCESS:
            out.append(_audit_event(s, record_reference, anchor))
        else:
            out.append(_provenance(s, record_reference, anchor))
    return out


def history_bundle(resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A ``collection`` Bundle of the resources, each with a stable ``urn:uuid`` full URL
    (a name-based UUID of the resource's type and id)."""
    entries = []
    for resource in resources:
        name = f"{EVENT_SYSTEM}:{resource['resourceType']}/{resource['id']}"
        entries.append(
            {"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}", "resource": resource}
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _reference_from_content(store: Store, record_id: bytes, version: int) -> str | None:
    """``ResourceType/id`` of the record's stored version, when it is still readable."""
    try:
        payload, _ = store.versions.get_version(record_id, version)
    except AccessError:
        return None  # erased: the content, and so its type and id, are gone
    identity = resource_identity(parse_json(payload))
    return None if identity is None else f"{identity[0]}/{identity[1]}"


def record_history_fhir(
    store: Store, ident: RecordRef | str, *, record_reference: str | None = None
) -> dict[str, Any]:
    """The whole history of a record (by record id, or by the id of any of its events) as a
    FHIR ``collection`` Bundle of Provenance and AuditEvent resources, in log order.

    Anchors come from the store's journal (the smallest final anchor holding each event). The
    record's reference is ``record_reference`` if given, else ``ResourceType/id`` read from its
    latest version, else (erased, or not a FHIR resource) its okeios record id alone.
    """
    record_id = store.find_event(ident).record_id
    logged = [store.publisher.event(eid) for eid in store.event_ids_of(record_id)]
    anchors: dict[bytes, AnchorInfo] = {}
    for item in logged:
        entry = store.journal.anchored_for(item.index)
        if entry is not None and entry.tx_hash is not None and entry.block_number is not None:
            anchors[item.id] = AnchorInfo(
                chain_id=entry.chain_id,
                registry=entry.registry,
                transaction=bytes(entry.tx_hash),
                block=entry.block_number,
            )
    content = [item for item in logged if spec(item.signed.event.kind).content]
    if record_reference is None and content:  # a key's history has no content to name it by
        latest = max(item.signed.event.version for item in content)
        record_reference = _reference_from_content(store, record_id, latest)
    resources = history_resources(
        [item.signed for item in logged], record_reference=record_reference, anchors=anchors
    )
    return history_bundle(resources)
