"""SD-JWT (RFC 9901) export: verified by the reference implementation (``sd-jwt`` on PyPI), and
by okeios against the anchored commitment; the attacks are refused with a reason."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from okeios._internal.protocol.canonical import parse_json
from okeios._internal.protocol.commitment import field_digest
from okeios._internal.protocol.sdjwt import verify_sd_jwt
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.sdjwt import export_sd_jwt
from okeios.errors import CommitmentError, SdJwtError
from tests.helpers import STRANGER_KEY, make_publisher

RECORD = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}, {"code": "x"}]},
    "valueQuantity": {"value": 6.1, "unit": "%"},
    "note": [],
    "performer": ["Practitioner/1", "Practitioner/2", "Practitioner/3"],
}


def _b64u_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def reference_verify(token: str, publisher: str) -> dict[str, Any]:
    """Verify with the RFC 9901 reference implementation; the issuer key is taken from the
    header only after checking it is the trusted publisher's (as an okeios verifier would)."""

    def issuer_key(issuer: str, header: dict[str, Any]) -> JWK:
        assert issuer == publisher
        return JWK(**header["jwk"])

    verifier = SDJWTVerifier(token, issuer_key)
    payload: dict[str, Any] = verifier.get_verified_payload()
    return payload


def _issue(fields: list[str]) -> tuple[Any, bytes, str]:
    publisher = make_publisher()
    logged = publisher.create(RECORD)
    token = export_sd_jwt(publisher, logged.id, fields, now=lambda: 1_750_000_000)
    return publisher, logged.id, token


def test_reference_implementation_verifies_a_partial_disclosure() -> None:
    publisher, event_id, token = _issue(["/valueQuantity", "/performer/1", "/status"])
    payload = reference_verify(token, publisher.address)
    assert payload["record"] == {
        "status": "final",
        "valueQuantity": {"value": 6.1, "unit": "%"},
        "performer": ["Practitioner/2"],  # undisclosed elements are dropped, per the RFC
    }
    assert payload["okeios"]["event"] == "0x" + event_id.hex()
    assert "code" not in json.dumps(payload["record"])
    # Nothing about the hidden fields is in the token but digests: no value, no name.
    assert "4548-4" not in token
    assert "loinc" not in json.dumps(_b64u_json(token.split("~")[0].split(".")[1]))


def test_okeios_ties_each_disclosed_field_to_the_signed_commitment() -> None:
    publisher, event_id, token = _issue(["/valueQuantity/value", "/code/coding/0/code"])
    verified = verify_sd_jwt(token, [publisher.address])
    assert verified.tie.event_id == event_id
    event = publisher.event(event_id).signed.event
    assert verified.tie.commitment == event.commitment  # the commitment the author signed
    assert dict(verified.fields) == {
        "/code/coding/0/code": "4548-4",
        "/valueQuantity/value": parse_json(b"6.1"),
    }
    # The field digest recomputed by hand from a disclosure is in the signed commitment.
    disclosures = [_b64u_json(d) for d in token.split("~")[1:-1]]
    leaf = next(d for d in disclosures if d[-2:] == ["code", "4548-4"])
    salt = base64.urlsafe_b64decode(leaf[0] + "==")
    assert field_digest(salt, ("code", "coding", 0, "code"), b'"4548-4"') in verified.tie.digests


def test_no_field_is_disclosed_unless_named() -> None:
    publisher, _, token = _issue([])
    assert token.count("~") == 1  # the JWT alone
    assert reference_verify(token, publisher.address)["record"] == {}
    with pytest.raises(CommitmentError):
        _issue(["/nope"])


def test_a_whole_record_round_trips() -> None:
    publisher, _, token = _issue([""])
    payload = reference_verify(token, publisher.address)
    assert payload["record"] == RECORD
    assert verify_sd_jwt(token, [publisher.address]).record == parse_json(json.dumps(RECORD))


def _swap_payload(token: str, change: Any) -> str:
    head, body, sig = token.split("~")[0].split(".")
    payload = _b64u_json(body)
    change(payload)
    raw = json.dumps(payload, separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return ".".join([head, body, sig]) + "~" + "~".join(token.split("~")[1:])


def test_attacks_are_refused() -> None:
    publisher, _, token = _issue(["/status", "/valueQuantity"])
    with pytest.raises(SdJwtError, match="not a trusted publisher"):
        verify_sd_jwt(token, [LocalSigner.from_key(STRANGER_KEY).address])
    # A changed payload breaks the issuer signature.
    forged = _swap_payload(token, lambda p: p["okeios"].update(version=2))
    with pytest.raises(SdJwtError, match="does not verify"):
        verify_sd_jwt(forged, [publisher.address])
    # A disclosure not referenced by the JWT (a value the issuer never signed) is refused.
    stray = base64.urlsafe_b64encode(b'["AAAAAAAAAAAAAAAAAAAAAA","status","amended"]')
    with pytest.raises(SdJwtError, match="not referenced"):
        verify_sd_jwt(token[:-1] + "~" + stray.rstrip(b"=").decode() + "~", [publisher.address])
    # A repeated disclosure.
    first = token.split("~")[1]
    with pytest.raises(SdJwtError, match="repeated"):
        verify_sd_jwt(token + first + "~", [publisher.address])
    # A key binding JWT is not produced, and a token with one is not silently accepted.
    with pytest.raises(SdJwtError):
        verify_sd_jwt(token + "eyJ.e30.AA", [publisher.address])


def _resign(token: str, key: bytes, change: Any, disclosures: list[str]) -> str:
    """Re-sign a token's payload with ``key`` after ``change`` (a lying issuer)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    head, body, _ = token.split("~")[0].split(".")
    payload = _b64u_json(body)
    change(payload)
    raw = json.dumps(payload, separators=(",", ":")).encode()
    signing_input = head + "." + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    private = ec.derive_private_key(int.from_bytes(key, "big"), ec.SECP256K1())
    r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = min(s, n - s)  # a lying issuer still signs with a low s, as okeios requires
    sig = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return signing_input + "." + sig.rstrip(b"=").decode() + "~" + "~".join(disclosures) + "~"


def test_a_publisher_cannot_disclose_a_value_it_did_not_commit_to() -> None:
    """The publisher itself signs an SD-JWT whose 'status' disclosure says 'amended': RFC 9901
    processing accepts it (the JWT is validly signed), the okeios tie does not."""
    import hashlib

    publisher, _, token = _issue(["/status"])
    [original] = token.split("~")[1:-1]
    salt = _b64u_json(original)[0]
    lie = base64.urlsafe_b64encode(json.dumps([salt, "status", "amended"]).encode())
    lie_text = lie.rstrip(b"=").decode()

    def digest(text: str) -> str:
        return (
            base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        )

    def swap(payload: dict[str, Any]) -> None:
        sd = payload["record"]["_sd"]
        sd[sd.index(digest(original))] = digest(lie_text)

    forged = _resign(token, publisher.signer.private_key, swap, [lie_text])
    assert reference_verify(forged, publisher.address)["record"] == {"status": "amended"}
    with pytest.raises(SdJwtError, match="not a field of the okeios commitment"):
        verify_sd_jwt(forged, [publisher.address])


def test_key_substitution_and_algorithm_confusion_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    publisher, _, token = _issue(["/status"])
    disclosures = token.split("~")[1:-1]
    head, body, sig = token.split("~")[0].split(".")
    header = _b64u_json(head)
    # A stranger re-signs the same payload and puts its own key in the header.
    stranger = ec.derive_private_key(int.from_bytes(STRANGER_KEY, "big"), ec.SECP256K1())
    numbers = stranger.public_key().public_numbers()

    def b64u(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header["jwk"] = header["jwk"] | {
        "x": b64u(numbers.x.to_bytes(32, "big")),
        "y": b64u(numbers.y.to_bytes(32, "big")),
    }
    swapped = b64u(json.dumps(header).encode()) + "." + body + "." + sig + "~"
    resigned = _resign(swapped, STRANGER_KEY, lambda p: None, disclosures)
    with pytest.raises(SdJwtError, match="not a trusted publisher"):
        verify_sd_jwt(resigned, [publisher.address])
    # "none", HS256 and a stray header member are refused before any signature check.
    for bad in ({"alg": "none"}, {"alg": "HS256"}, {"kid": "x"}):
        h = b64u(json.dumps(_b64u_json(head) | bad).encode())
        with pytest.raises(SdJwtError):
            verify_sd_jwt(f"{h}.{body}.{sig}~" + "~".join(disclosures) + "~", [publisher.address])


def test_the_token_is_tied_to_exactly_one_event() -> None:
    from okeios._internal.protocol.sdjwt import check_tie

    publisher, event_id, token = _issue(["/status"])
    verified = verify_sd_jwt(token, [publisher.address])
    check_tie(verified, publisher.event(event_id).signed.event)
    # Another version of the same record: same record id, other event and commitment.
    amended = publisher.amend(publisher.event(event_id).record_id, RECORD | {"status": "x"})
    with pytest.raises(SdJwtError, match="not 0x"):
        check_tie(verified, amended.signed.event)


def test_a_high_s_issuer_signature_is_refused() -> None:
    """docs/spec/fhir.md: the issuer signature has a low s, as every okeios signature; its
    high-s twin (n - s, valid ECDSA) is refused, so a token has one signature encoding."""
    publisher, _, token = _issue(["/status"])
    jws, *rest = token.split("~")
    head, body, sig = jws.split(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high = raw[:32] + (n - int.from_bytes(raw[32:], "big")).to_bytes(32, "big")
    twin = base64.urlsafe_b64encode(high).rstrip(b"=").decode()
    verify_sd_jwt(token, [publisher.address])
    with pytest.raises(SdJwtError, match="high s"):
        verify_sd_jwt("~".join([f"{head}.{body}.{twin}", *rest]), [publisher.address])


def test_a_plain_sd_jwt_without_the_okeios_claim_is_refused_plainly() -> None:
    """A plain SD-JWT (a valid issuer signature, no okeios claim) was refused with
    "malformed okeios claim: 'NoneType' object is not subscriptable"."""
    publisher, _, token = _issue(["/status"])
    disclosures = token.split("~")[1:-1]
    plain = _resign(token, publisher.signer.private_key, lambda p: p.pop("okeios"), disclosures)
    with pytest.raises(SdJwtError, match="no okeios claim: it is a plain SD-JWT") as info:
        verify_sd_jwt(plain, [publisher.address])
    assert "NoneType" not in str(info.value)
    wrong = _resign(token, publisher.signer.private_key, lambda p: p.update(okeios=[1]), [])
    with pytest.raises(SdJwtError, match="the okeios claim is a JSON object"):
        verify_sd_jwt(wrong, [publisher.address])
    partial = _resign(
        token, publisher.signer.private_key, lambda p: p["okeios"].pop("event"), disclosures
    )
    with pytest.raises(SdJwtError, match="the okeios claim lacks event"):
        verify_sd_jwt(partial, [publisher.address])
