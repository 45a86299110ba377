"""A record version's selective disclosure as an SD-JWT (RFC 9901), tied to its okeios commitment.

The mapping (``docs/interop.md``), fixed here and nowhere else:

* the issuer-signed JWT is a JWS in compact form, ``alg`` ``ES256K`` (ECDSA over secp256k1 with
  SHA-256), signed by the publisher's key, the key whose address signs the log's checkpoints;
  the header carries ``typ: okeios+sd-jwt`` and the public key as a ``jwk``, and a verifier
  accepts it only when that key's Ethereum address is a publisher it trusts;
* the payload holds ``iss`` (the publisher address, EIP-55), ``iat``, ``_sd_alg: sha-256``,
  ``okeios`` (the tie: event id, log id, record id, version, the record commitment and every
  field digest, sorted) and ``record``: the record, with *every* object member and *every*
  array element made selectively disclosable, recursively (an object's members become ``_sd``
  digests; an array's elements become ``{"...": digest}``), so the structure itself is hidden
  until disclosed;
* one disclosure per revealed JSON element: ``[salt, name, value]`` for an object member,
  ``[salt, value]`` for an array element (RFC 9901 section 4.2); a container's value is its own
  concealed form, so revealing a field reveals the disclosures of its ancestors;
* a *field* (a leaf in okeios terms) is disclosed with its okeios salt, base64url, and its okeios
  canonical value, so an okeios-aware verifier recomputes the okeios field digest
  ``field_digest(salt, path, value)`` from the disclosure and its position, finds it in
  ``okeios.digests``, and recomputes ``okeios.commitment`` from them: the commitment the
  author's EIP-712 event signed and the log anchored. Containers get fresh random salts;
* digests in ``_sd`` are sorted, so their order says nothing about the record.

Only the disclosures for the fields the caller names are emitted (none by default), and no key
binding JWT is produced: the SD-JWT ends with ``~``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time as _time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from okeios._internal.protocol.canonical import JSONValue, canonicalize, format_pointer, parse_json
from okeios._internal.protocol.commitment import (
    SALT_SIZE,
    Commitment,
    commitment_from_digests,
    field_digest,
)
from okeios._internal.protocol.events import Event
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.keccak import keccak256
from okeios._internal.protocol.signing import checksum_address
from okeios.errors import CanonicalizationError, CommitmentError, OkeiosError, SdJwtError

__all__ = [
    "SD_JWT_TYPE",
    "SdJwtTie",
    "VerifiedSdJwt",
    "check_tie",
    "issue_sd_jwt",
    "verify_sd_jwt",
]

SD_JWT_TYPE = "okeios+sd-jwt"
ALG = "ES256K"
_HALF_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2
MAX_SD_JWT = 1 << 22
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _field_path(tokens: tuple[str | int, ...]) -> str:
    """The okeios field path of the element reached by ``tokens`` (member names and array
    indices): the one place this module depends on how commitments name fields."""
    return format_pointer(tokens)


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64u(text: str, what: str) -> bytes:
    if not isinstance(text, str) or "=" in text or len(text) % 4 == 1:
        raise SdJwtError(f"{what} is not base64url without padding")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SdJwtError(f"{what} is not base64url") from exc
    if _b64u(raw) != text:
        raise SdJwtError(f"{what} is not canonical base64url")
    return raw


def _digest(disclosure: str) -> str:
    return _b64u(hashlib.sha256(disclosure.encode("ascii")).digest())


def _address(public: ec.EllipticCurvePublicKey) -> str:
    n = public.public_numbers()
    return checksum_address(keccak256(n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big"))[-20:])


def _jwk(public: ec.EllipticCurvePublicKey) -> dict[str, str]:
    n = public.public_numbers()
    return {
        "kty": "EC",
        "crv": "secp256k1",
        "x": _b64u(n.x.to_bytes(32, "big")),
        "y": _b64u(n.y.to_bytes(32, "big")),
    }


def _public_from_jwk(jwk: Any) -> ec.EllipticCurvePublicKey:
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "secp256k1":
        raise SdJwtError("the issuer key is a secp256k1 EC JWK")
    x = _unb64u(jwk.get("x", ""), "jwk x")
    y = _unb64u(jwk.get("y", ""), "jwk y")
    if len(x) != 32 or len(y) != 32:
        raise SdJwtError("jwk coordinates are 32 bytes")
    try:
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256K1()
        ).public_key()
    except ValueError as exc:
        raise SdJwtError("the jwk is not a point on secp256k1") from exc


@dataclass(frozen=True, slots=True)
class SdJwtTie:
    """What ties an SD-JWT to okeios: the event and the commitment it signed."""

    event_id: bytes
    log_id: bytes
    record_id: bytes
    version: int
    commitment: bytes
    digests: tuple[bytes, ...]

    def to_claim(self) -> dict[str, Any]:
        return {
            "event": to_hex(self.event_id),
            "logId": to_hex(self.log_id),
            "recordId": to_hex(self.record_id),
            "version": self.version,
            "commitment": to_hex(self.commitment),
            "digests": [to_hex(d) for d in self.digests],
        }

    @classmethod
    def from_claim(cls, claim: Any) -> SdJwtTie:
        def h(value: Any, n: int | None = 32) -> bytes:
            return from_hex(value, "an okeios claim value", size=n, error=SdJwtError)

        if claim is None:
            raise SdJwtError(
                "this SD-JWT has no okeios claim: it is a plain SD-JWT, not one made by"
                " `okeios sd-jwt export`, so nothing ties it to a logged event"
            )
        if not isinstance(claim, dict):
            raise SdJwtError("the okeios claim is a JSON object")
        missing = [k for k in ("event", "logId", "recordId", "version", "commitment", "digests")
                   if k not in claim]  # fmt: skip
        if missing:
            raise SdJwtError(f"the okeios claim lacks {', '.join(missing)}")
        try:
            version = claim["version"]
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise SdJwtError("the okeios version is a positive integer")
            return cls(
                h(claim["event"]),
                h(claim["logId"]),
                h(claim["recordId"]),
                version,
                h(claim["commitment"]),
                tuple(h(d) for d in claim["digests"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SdJwtError(f"malformed okeios claim: {exc}") from exc


def issue_sd_jwt(
    record: JSONValue,
    commitment: Commitment,
    event: Event,
    *,
    issuer_key: bytes,
    reveal: Iterable[str] = (),
    now: Callable[[], float] = _time.time,
    rng: Callable[[int], bytes] = os.urandom,
) -> str:
    """An SD-JWT of ``record`` (the version ``event`` committed to) disclosing only the fields
    named by ``reveal`` (JSON Pointers; a container reveals everything beneath it), signed with
    the publisher's secp256k1 ``issuer_key``."""
    if not isinstance(record, dict | list) or not record:
        raise SdJwtError("only a non-empty JSON object or array has elements to disclose")
    if commitment.root != event.commitment:
        raise SdJwtError("the commitment is not the one the event signed")
    chosen = {f.path for f in commitment.disclose(reveal).fields} if reveal else set()
    disclosures: list[str] = []

    def conceal(node: JSONValue, tokens: tuple[str | int, ...]) -> tuple[Any, bool]:
        """The node's concealed form, and whether anything beneath it is revealed."""
        if isinstance(node, dict) and node:
            digests, any_shown = [], False
            for key, value in node.items():
                if key in ("_sd", "..."):
                    raise SdJwtError(f"a member named {key!r} cannot be put in an SD-JWT")
                inner, shown = conceal(value, (*tokens, key))
                text = _disclosure(rng, (*tokens, key), [key], value, inner)
                digests.append(_digest(text))
                if shown:
                    disclosures.append(text)
                any_shown |= shown
            return {"_sd": sorted(digests)}, any_shown
        if isinstance(node, list) and node:
            items, any_shown = [], False
            for i, value in enumerate(node):
                inner, shown = conceal(value, (*tokens, i))
                text = _disclosure(rng, (*tokens, i), [], value, inner)
                items.append({"...": _digest(text)})
                if shown:
                    disclosures.append(text)
                any_shown |= shown
            return items, any_shown
        return None, _field_path(tokens) in chosen

    def _disclosure(
        rng: Callable[[int], bytes],
        tokens: tuple[str | int, ...],
        name: list[str],
        value: JSONValue,
        inner: Any,
    ) -> str:
        leaf = not (isinstance(value, dict | list) and value)
        if leaf:
            path = _field_path(tokens)
            field = commitment.fields.get(tokens)
            if field is None:
                raise SdJwtError(f"the commitment has no field at {path!r}")
            salt, value_json = field.salt, field.value.decode("utf-8")
        else:
            salt = rng(SALT_SIZE)
            value_json = json.dumps(inner, separators=(",", ":"))
        head = json.dumps([_b64u(salt), *name], separators=(",", ":"))[:-1]
        return _b64u(f"{head},{value_json}]".encode())

    concealed, _ = conceal(record, ())
    signer = ec.derive_private_key(int.from_bytes(issuer_key, "big"), ec.SECP256K1())
    public = signer.public_key()
    tie = SdJwtTie(event.id, event.log_id, event.record_id, event.version, commitment.root,
                   commitment.digests)  # fmt: skip
    payload = {
        "iss": _address(public),
        "iat": int(now()),
        "_sd_alg": "sha-256",
        "okeios": tie.to_claim(),
        "record": concealed,
    }
    header = {"alg": ALG, "typ": SD_JWT_TYPE, "jwk": _jwk(public)}
    signing_input = (
        _b64u(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64u(json.dumps(payload, separators=(",", ":")).encode())
    )
    r, s = decode_dss_signature(signer.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    if s > _N // 2:
        s = _N - s
    jws = signing_input + "." + _b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return "~".join([jws, *sorted(disclosures)]) + "~"


@dataclass(frozen=True, slots=True)
class VerifiedSdJwt:
    """A verified SD-JWT: its issuer, the tie to okeios, and the revealed fields by path."""

    issuer: str
    issued_at: int
    tie: SdJwtTie
    record: JSONValue
    fields: Mapping[str, JSONValue]


def verify_sd_jwt(token: str, publishers: Iterable[str]) -> VerifiedSdJwt:
    """Verify an okeios SD-JWT: RFC 9901 processing, the issuer is one of ``publishers``, and
    every disclosed field is a field of the okeios commitment. Raises :class:`SdJwtError`.

    This proves the publisher issued these values as the fields of the record version behind
    ``tie.event_id``; whether that event is signed, logged and anchored is the bundle's question
    (verify its bundle and compare the event id and commitment).
    """
    if not isinstance(token, str) or len(token) > MAX_SD_JWT:
        raise SdJwtError("an SD-JWT is a string of bounded size")
    parts = token.split("~")
    if len(parts) < 2 or parts[-1] != "":
        raise SdJwtError("an SD-JWT without key binding ends with '~'")
    jws, texts = parts[0], parts[1:-1]
    segments = jws.split(".")
    if len(segments) != 3:
        raise SdJwtError("the issuer-signed JWT is a compact JWS")
    try:
        header = json.loads(_unb64u(segments[0], "the JWS header"))
        payload = json.loads(_unb64u(segments[1], "the JWS payload"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SdJwtError(f"the JWS is not JSON: {exc}") from exc
    if not isinstance(header, dict) or header.get("alg") != ALG:
        raise SdJwtError(f"the JWS algorithm must be {ALG}")
    if header.get("typ") != SD_JWT_TYPE or set(header) - {"alg", "typ", "jwk"}:
        raise SdJwtError(f"the JWS header is alg, typ {SD_JWT_TYPE} and jwk")
    public = _public_from_jwk(header.get("jwk"))
    sig = _unb64u(segments[2], "the JWS signature")
    if len(sig) != 64:
        raise SdJwtError("an ES256K signature is 64 bytes")
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not 0 < s <= _HALF_N:  # one encoding per signature, as for every okeios signature
        raise SdJwtError("the issuer signature has a high s (only low-s signatures are accepted)")
    try:
        public.verify(
            encode_dss_signature(r, s),
            f"{segments[0]}.{segments[1]}".encode("ascii"),
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, ValueError) as exc:
        raise SdJwtError("the issuer signature does not verify") from exc
    issuer = _address(public)
    trusted = {checksum_address(p) for p in publishers}
    if issuer not in trusted:
        raise SdJwtError(f"the SD-JWT is signed by {issuer}, not a trusted publisher")
    if not isinstance(payload, dict) or payload.get("iss") != issuer:
        raise SdJwtError("the iss claim is not the signing key's address")
    if payload.get("_sd_alg") != "sha-256":
        raise SdJwtError("the digest algorithm is sha-256")
    iat = payload.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise SdJwtError("iat is an integer")
    tie = SdJwtTie.from_claim(payload.get("okeios"))
    try:
        if commitment_from_digests(tie.digests) != tie.commitment:
            raise SdJwtError("the field digests do not make the okeios commitment")
    except CommitmentError as exc:
        raise SdJwtError(f"bad okeios digests: {exc}") from exc
    digest_set = set(tie.digests)
    by_digest: dict[str, list[Any]] = {}
    for text in texts:
        d = _digest(text)
        if d in by_digest:
            raise SdJwtError("a disclosure is repeated")
        try:
            decoded = parse_json(_unb64u(text, "a disclosure"))
        except (OkeiosError, UnicodeDecodeError) as exc:
            raise SdJwtError(f"a disclosure is not a JSON array: {exc}") from exc
        if not isinstance(decoded, list) or len(decoded) not in (2, 3):
            raise SdJwtError("a disclosure is [salt, value] or [salt, name, value]")
        if len(decoded) == 3 and (not isinstance(decoded[1], str) or decoded[1] in ("_sd", "...")):
            raise SdJwtError("a disclosed name is a string other than _sd and ...")
        by_digest[d] = decoded
    used: set[str] = set()
    seen: set[str] = set()
    fields: dict[str, JSONValue] = {}

    def take(d: Any) -> list[Any] | None:
        if not isinstance(d, str):
            raise SdJwtError("a digest is a string")
        if d in seen:
            raise SdJwtError("a digest appears twice in the SD-JWT")
        seen.add(d)
        found = by_digest.get(d)
        if found is not None:
            used.add(d)
        return found

    def reveal(node: Any, tokens: tuple[str | int, ...]) -> JSONValue:
        if isinstance(node, dict):
            out: dict[str, JSONValue] = {}
            for key in node:
                if key != "_sd":
                    raise SdJwtError(f"a plain member {key!r} in an okeios record")
            sd = node.get("_sd")
            if not isinstance(sd, list) or not sd:
                raise SdJwtError("_sd is a non-empty array of digests")
            for d in sd:
                found = take(d)
                if found is None:
                    continue
                if len(found) != 3:
                    raise SdJwtError("an object member's disclosure has a name")
                salt, name, value = found
                if name in out:
                    raise SdJwtError(f"member {name!r} disclosed twice")
                out[name] = leaf_or_inner(salt, value, (*tokens, name))
            return out
        if isinstance(node, list):
            items: list[JSONValue] = []
            for i, element in enumerate(node):
                if not (isinstance(element, dict) and set(element) == {"..."}):
                    raise SdJwtError("every array element of an okeios record is concealed")
                found = take(element["..."])
                if found is None:
                    continue  # an undisclosed element: skipped, as RFC 9901 says
                if len(found) != 2:
                    raise SdJwtError("an array element's disclosure has no name")
                items.append(leaf_or_inner(found[0], found[1], (*tokens, i)))
            return items
        raise SdJwtError("the concealed record holds only objects and arrays")

    def leaf_or_inner(salt: Any, value: Any, tokens: tuple[str | int, ...]) -> JSONValue:
        if isinstance(value, dict) and value and set(value) == {"_sd"}:
            return reveal(value, tokens)
        if (
            isinstance(value, list)
            and value
            and all(isinstance(e, dict) and set(e) == {"..."} for e in value)
        ):
            return reveal(value, tokens)
        # A field: its okeios digest must be one of the committed field digests.
        raw_salt = _unb64u(salt, "a field salt") if isinstance(salt, str) else b""
        if len(raw_salt) != SALT_SIZE:
            raise SdJwtError(f"a field's salt is {SALT_SIZE} bytes")
        path = _field_path(tokens)
        try:
            canonical = canonicalize(value)
        except CanonicalizationError as exc:
            raise SdJwtError(f"the value at {path} is not canonical JSON: {exc}") from exc
        if field_digest(raw_salt, tokens, canonical) not in digest_set:
            raise SdJwtError(f"the field at {path} is not a field of the okeios commitment")
        fields[path] = value
        return value  # type: ignore[no-any-return]

    record = reveal(payload.get("record"), ())
    if used != set(by_digest):
        raise SdJwtError("a disclosure is not referenced by the SD-JWT")
    return VerifiedSdJwt(issuer, iat, tie, record, fields)


def check_tie(verified: VerifiedSdJwt, event: Event) -> None:
    """Raise :class:`SdJwtError` unless the SD-JWT is about exactly ``event`` (take it from a
    bundle that verified: signed by a trusted author, included, anchored): same event id, log,
    record, version and commitment."""
    tie = verified.tie
    if (tie.event_id, tie.log_id, tie.record_id, tie.version, tie.commitment) != (
        event.id,
        event.log_id,
        event.record_id,
        event.version,
        event.commitment,
    ):
        raise SdJwtError(
            f"the SD-JWT is about event {to_hex(tie.event_id)}, not {to_hex(event.id)}, or its "
            "commitment is not the event's"
        )
