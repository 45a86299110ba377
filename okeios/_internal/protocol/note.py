"""C2SP signed notes, tlog checkpoints and timestamped Ed25519 cosignatures.

The formats, fixed here and nowhere else (``docs/interop.md`` says how they map onto okeios):

* **signed note** (c2sp.org/signed-note): a UTF-8 text ending in a newline, a blank line, then
  signature lines ``"\u2014 " name " " base64(keyID || signature) "\\n"``. The note text is
  everything before the blank line, its final newline included. No ASCII control character
  other than newline is allowed anywhere. ``keyID = SHA-256(name || 0x0A || type ||
  public key)[:4]``; type ``0x01`` is Ed25519 over the note text.
* **verifier key** (vkey): ``name "+" hex(keyID) "+" base64(type || public key)``.
* **checkpoint** (c2sp.org/tlog-checkpoint): the note text is the origin line, the tree size in
  decimal (no leading zeros), the base64 RFC 6962 root hash, then optional extension lines.
* **cosignature/v1** (c2sp.org/tlog-cosignature): type ``0x04``; the signature is ``u64be
  timestamp || Ed25519(message)`` with ``message = "cosignature/v1\\ntime " timestamp "\\n" ||
  checkpoint note text``.
* **origin** (okeios): a log has exactly one checkpoint origin, derived from its log id:
  :func:`log_origin` gives ``"okeios/0x" || 64 lower-case hex digits``, and
  :func:`log_id_from_origin` reads it back, refusing every other spelling. So the origin is a
  function of the log, and anyone keeping state per log (a witness, an auditor) keys it by the
  log id bytes, never by a string a publisher chose.
* **note key binding** (okeios, version 2): the publisher's secp256k1 key signs, as EIP-712
  data in the okeios domain (``{name: "okeios", version: "2"}``),
  ``NoteKey(bytes32 logId,string origin,string vkey)`` with ``origin = log_origin(logId)`` and
  a ``vkey`` whose key name is that origin. The Ed25519 note key that signs a log's
  checkpoints is thereby the publisher's, for anyone who trusts the publisher's address, and
  for that one origin only. :func:`derive_note_seed` derives the note key from the publisher's
  key, so there is no second secret to keep and an honest publisher has one note key per log
  and key: two different bindings for one log and one publisher are evidence of equivocation.
  (Version 1 signed ``NoteKey(bytes32 logId,string vkey)`` and left the origin free; its
  bindings are refused.)

Parsing never trusts its input: every rule above is checked and a breach raises
:class:`~okeios.errors.NoteError`. Verification follows the spec: signatures by unknown keys are
ignored, a known key whose signature fails rejects the whole note, and a note with no valid
signature by a known key is rejected (:class:`~okeios.errors.NoteVerificationError`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from okeios._internal.protocol.eip712 import TypedDataEncoder
from okeios._internal.protocol.events import DOMAIN
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.ids import LogId
from okeios._internal.protocol.signing import Signer, checksum_address, recover_address, sign_typed
from okeios.errors import NoteError, NoteVerificationError, SignatureError

__all__ = [
    "COSIGNATURE_V1",
    "ED25519",
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "CosignatureSigner",
    "CosignatureVerifier",
    "Ed25519NoteSigner",
    "Ed25519Verifier",
    "NoteCheckpoint",
    "NoteKeyBinding",
    "NoteSignature",
    "NoteVerifier",
    "SignedNote",
    "add_checkpoint_request",
    "derive_note_seed",
    "key_id",
    "log_id_from_origin",
    "log_origin",
    "parse_checkpoint",
    "parse_cosignatures",
    "parse_note",
    "parse_vkey",
    "verify_note",
]

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
MAX_NOTE_SIZE = 1 << 16  # bytes; the spec asks for at least 16 signatures, this allows ~500
MAX_SIGNATURES = 256
_DASH = "\u2014 "
_COSIG_HEADER = "cosignature/v1\n"
_B64 = re.compile(r"\A[A-Za-z0-9+/]*={0,2}\Z")
_DECIMAL = re.compile(r"\A(0|[1-9][0-9]*)\Z")
_U63 = (1 << 63) - 1
_U64 = (1 << 64) - 1
_NOTE_SEED_TAG = b"okeios/note-key/v1\x00"
_BINDING_TYPE = "NoteKey"
BINDING_VERSION = 2
ORIGIN_PREFIX = "okeios/"
_ORIGIN = re.compile(r"\Aokeios/0x[0-9a-f]{64}\Z")
_BINDING_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
    ],
    _BINDING_TYPE: [
        {"name": "logId", "type": "bytes32"},
        {"name": "origin", "type": "string"},
        {"name": "vkey", "type": "string"},
    ],
}
_BINDING_ENCODER = TypedDataEncoder(_BINDING_TYPES)
_BINDING_DOMAIN = _BINDING_ENCODER.domain_separator(DOMAIN)


# --- encodings -----------------------------------------------------------------------------


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 section 4), as the C2SP specs use."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: the alphabet, padding, and the one canonical encoding."""
    if not _B64.match(text) or len(text) % 4:
        raise NoteError(f"{what} is not standard base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not standard base64") from exc
    if b64encode(raw) != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def parse_decimal(text: str, what: str, limit: int = _U64) -> int:
    """An ASCII decimal without leading zeros, at most ``limit``."""
    if not _DECIMAL.match(text) or len(text) > 20:
        raise NoteError(f"{what} is not a decimal number without leading zeros: {text[:24]!r}")
    value = int(text)
    if value > limit:
        raise NoteError(f"{what} is too large")
    return value


def check_key_name(name: str) -> str:
    """A key name: non-empty, no Unicode space, no ``+``, no control character."""
    if (
        not isinstance(name, str)
        or not name
        or "+" in name
        or any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in name)
    ):
        raise NoteError(f"bad key name {name!r}: non-empty, no spaces, no '+'")
    return name


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || public key)[:4]``."""
    check_key_name(name)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key).digest()[
        :4
    ]


def _check_text(text: str, what: str) -> None:
    for c in text:
        if (ord(c) < 0x20 and c != "\n") or c == "\x7f":
            raise NoteError(f"{what} contains a control character")


# --- notes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID, and the algorithm's signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_DASH}{self.name} {b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True, slots=True)
class SignedNote:
    """A note text with its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        if not self.text.endswith("\n"):
            raise NoteError("a note text ends with a newline")
        _check_text(self.text, "the note text")

    def to_text(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def to_bytes(self) -> bytes:
        return self.to_text().encode("utf-8")

    def with_signatures(self, extra: Iterable[NoteSignature]) -> SignedNote:
        """This note with more signature lines (duplicates of present lines dropped)."""
        merged = list(self.signatures)
        merged.extend(s for s in extra if s not in merged)
        return SignedNote(self.text, tuple(merged))


def parse_signature_line(line: str) -> NoteSignature:
    """One ``— name base64`` line, without its newline."""
    if not line.startswith(_DASH):
        raise NoteError("a signature line starts with an em dash and a space")
    parts = line[len(_DASH) :].split(" ")
    if len(parts) != 2:
        raise NoteError("a signature line is: em dash, space, key name, space, signature")
    name, sig64 = parts
    check_key_name(name)
    raw = b64decode(sig64, "a note signature")
    if len(raw) < 5:
        raise NoteError("a note signature is a 4-byte key ID and a signature")
    return NoteSignature(name, raw[:4], raw[4:])


def parse_note(data: bytes | str) -> SignedNote:
    """Parse a signed note (bytes must be UTF-8); at most :data:`MAX_SIGNATURES` signatures."""
    if isinstance(data, bytes):
        if len(data) > MAX_NOTE_SIZE:
            raise NoteError(f"a note is at most {MAX_NOTE_SIZE} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("a note is UTF-8") from exc
    elif isinstance(data, str):
        text = data
        if len(text.encode("utf-8", "surrogatepass")) > MAX_NOTE_SIZE:
            raise NoteError(f"a note is at most {MAX_NOTE_SIZE} bytes")
    else:
        raise NoteError("a note is text")
    _check_text(text, "the note")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise NoteError("a note is UTF-8 (lone surrogate)")
    if not text.endswith("\n"):
        raise NoteError("a signed note ends with a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("a signed note has a blank line before its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    lines = block.split("\n")[:-1]
    if not lines:
        raise NoteError("a signed note has at least one signature")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note carries at most {MAX_SIGNATURES} signatures")
    return SignedNote(body, tuple(parse_signature_line(line) for line in lines))


# --- keys ----------------------------------------------------------------------------------


class NoteVerifier(Protocol):
    """A trusted key: its name and ID select the signature lines it checks."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, text: str, signature: bytes) -> bool: ...

    def vkey(self) -> str: ...


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _load_public(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise NoteError("an Ed25519 public key is 32 bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:  # pragma: no cover - any 32 bytes load; checked on verify
        raise NoteError("bad Ed25519 public key") from exc


class _Ed25519Key:
    sig_type = ED25519

    def __init__(self, name: str, public_key: bytes) -> None:
        self._name = check_key_name(name)
        self.public_key = bytes(public_key)
        self._key = _load_public(self.public_key)
        self._id = key_id(name, self.sig_type, self.public_key)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._id

    def vkey(self) -> str:
        return (
            f"{self._name}+{self._id.hex()}+{b64encode(bytes([self.sig_type]) + self.public_key)}"
        )

    def _check(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey()!r})"


class Ed25519Verifier(_Ed25519Key):
    """A signed-note Ed25519 key (type 0x01): the signature is over the note text."""

    def verify(self, text: str, signature: bytes) -> bool:
        return len(signature) == 64 and self._check(text.encode("utf-8"), signature)


def cosignature_message(text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: header, time line, then the checkpoint note text."""
    return f"{_COSIG_HEADER}time {timestamp}\n{text}".encode()


class CosignatureVerifier(_Ed25519Key):
    """A witness's timestamped Ed25519 cosignature key (type 0x04)."""

    sig_type = COSIGNATURE_V1

    def verify(self, text: str, signature: bytes) -> bool:
        return self.timestamp(text, signature) is not None

    def timestamp(self, text: str, signature: bytes) -> int | None:
        """The cosignature's timestamp if it verifies over ``text``, else None."""
        if len(signature) != 8 + 64:
            return None
        ts = int.from_bytes(signature[:8], "big")
        if ts > _U63:
            return None
        return ts if self._check(cosignature_message(text, ts), signature[8:]) else None


def parse_vkey(vkey: str) -> Ed25519Verifier | CosignatureVerifier:
    """A verifier key ``name+hexid+base64(type||key)``: Ed25519 (0x01) or cosignature (0x04)."""
    if not isinstance(vkey, str):
        raise NoteError("a verifier key is text")
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key is name+keyid+key")
    name, hex_id, key64 = parts
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise NoteError("a verifier key's ID is 8 lowercase hex digits")
    raw = b64decode(key64, "a verifier key")
    if not raw:
        raise NoteError("a verifier key names its signature type")
    verifier: Ed25519Verifier | CosignatureVerifier
    if raw[0] == ED25519:
        verifier = Ed25519Verifier(name, raw[1:])
    elif raw[0] == COSIGNATURE_V1:
        verifier = CosignatureVerifier(name, raw[1:])
    else:
        raise NoteError(f"unsupported note signature type 0x{raw[0]:02x}")
    if verifier.key_id.hex() != hex_id:
        raise NoteError("the verifier key's ID does not match its name and key")
    return verifier


class _Ed25519Signer:
    sig_type = ED25519
    _verifier_class: type[_Ed25519Key] = Ed25519Verifier

    def __init__(self, name: str, seed: bytes) -> None:
        if len(seed) != 32:
            raise NoteError("an Ed25519 private key is a 32-byte seed")
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self._verifier = self._verifier_class(name, _raw_public(self._private.public_key()))

    @property
    def name(self) -> str:
        return self._verifier.name

    @property
    def key_id(self) -> bytes:
        return self._verifier.key_id

    def vkey(self) -> str:
        return self._verifier.vkey()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey()!r})"


class Ed25519NoteSigner(_Ed25519Signer):
    """Signs note texts with an Ed25519 key (type 0x01)."""

    @property
    def verifier(self) -> Ed25519Verifier:
        assert isinstance(self._verifier, Ed25519Verifier)
        return self._verifier

    def sign(self, text: str) -> NoteSignature:
        _check_text(text, "the note text")
        if not text.endswith("\n"):
            raise NoteError("a note text ends with a newline")
        return NoteSignature(self.name, self.key_id, self._private.sign(text.encode("utf-8")))

    def sign_note(self, text: str) -> SignedNote:
        return SignedNote(text, (self.sign(text),))


class CosignatureSigner(_Ed25519Signer):
    """A witness key: timestamped cosignatures (type 0x04) over checkpoint note texts."""

    sig_type = COSIGNATURE_V1
    _verifier_class = CosignatureVerifier

    @property
    def verifier(self) -> CosignatureVerifier:
        assert isinstance(self._verifier, CosignatureVerifier)
        return self._verifier

    def cosign(self, text: str, timestamp: int) -> NoteSignature:
        parse_checkpoint(text)  # only checkpoints are cosigned
        if not 0 < timestamp <= _U63:
            raise NoteError("a cosignature timestamp is a positive POSIX time below 2^63")
        sig = self._private.sign(cosignature_message(text, timestamp))
        return NoteSignature(self.name, self.key_id, timestamp.to_bytes(8, "big") + sig)


def verify_note(
    note: SignedNote, verifiers: Sequence[NoteVerifier]
) -> list[tuple[NoteVerifier, NoteSignature]]:
    """The (key, signature) pairs that verify, by the signed-note rules.

    Signatures whose (name, key ID) match no given key are ignored. If one matching a known key
    fails, the whole note is rejected; if none verifies, too. Both raise
    :class:`NoteVerificationError`.
    """
    known = {(v.name, v.key_id): v for v in verifiers}
    good: list[tuple[NoteVerifier, NoteSignature]] = []
    for sig in note.signatures:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            continue
        if not v.verify(note.text, sig.signature):
            raise NoteVerificationError(
                f"the signature by {sig.name} ({sig.key_id.hex()}) does not verify"
            )
        if all(v is not w for w, _ in good):
            good.append((v, sig))
    if not good:
        raise NoteVerificationError("the note carries no signature by a trusted key")
    return good


# --- checkpoints ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteCheckpoint:
    """A tlog-checkpoint body: origin, tree size, RFC 6962 root hash, extension lines."""

    origin: str
    tree_size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or "\n" in self.origin:
            raise NoteError("a checkpoint origin is one non-empty line")
        _check_text(self.origin, "the origin")
        if not isinstance(self.tree_size, int) or not 0 <= self.tree_size <= _U64:
            raise NoteError("a tree size is an unsigned 64-bit integer")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise NoteError("a checkpoint root is a 32-byte SHA-256 hash")
        for line in self.extensions:
            if not line or "\n" in line:
                raise NoteError("an extension line is one non-empty line")
            _check_text(line, "an extension line")

    def text(self) -> str:
        lines = [self.origin, str(self.tree_size), b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> NoteCheckpoint:
    """Parse a checkpoint note text (the body, without signatures)."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteError("a checkpoint text ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint has an origin, a tree size and a root hash")
    if any(not line for line in lines):
        raise NoteError("checkpoint lines are non-empty")
    size = parse_decimal(lines[1], "the tree size")
    root = b64decode(lines[2], "the root hash")
    return NoteCheckpoint(lines[0], size, root, tuple(lines[3:]))


# --- the tlog-witness wire format ----------------------------------------------------------


def add_checkpoint_request(old_size: int, proof: Sequence[bytes], note: SignedNote) -> bytes:
    """The body of a tlog-witness ``add-checkpoint`` request: ``old <size>``, one base64
    consistency proof hash per line, an empty line, then the signed checkpoint."""
    head = f"old {old_size}\n" + "".join(b64encode(h) + "\n" for h in proof)
    return (head + "\n" + note.to_text()).encode("utf-8")


def parse_cosignatures(body: bytes) -> list[NoteSignature]:
    """The signature lines of a witness's 200 answer to ``add-checkpoint``."""
    if len(body) > MAX_NOTE_SIZE:
        raise NoteError("the answer is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError("the answer is UTF-8") from exc
    _check_text(text, "the answer")
    if not text.endswith("\n") or text == "\n":
        raise NoteError("cosignature lines end with a newline")
    return [parse_signature_line(line) for line in text[:-1].split("\n")]


# --- the publisher's note key --------------------------------------------------------------


def log_origin(log_id: bytes) -> str:
    """The one checkpoint origin of log ``log_id``: ``okeios/0x`` and its lower-case hex."""
    if not isinstance(log_id, bytes) or len(log_id) != 32:
        raise NoteError("a log id is 32 bytes")
    return ORIGIN_PREFIX + to_hex(log_id)


def log_id_from_origin(origin: str) -> bytes:
    """The log id an okeios origin names; anything but the one canonical spelling (upper-case
    digits, another length, another prefix, a trailing space) raises :class:`NoteError`."""
    if not isinstance(origin, str) or _ORIGIN.match(origin) is None:
        shown = origin[:80] if isinstance(origin, str) else type(origin).__name__
        raise NoteError(
            f"{shown!r} is not an okeios log origin (okeios/0x and 64 lower-case hex digits)"
        )
    return LogId.parse(origin[len(ORIGIN_PREFIX) :], "the origin's log id", error=NoteError).raw


def derive_note_seed(publisher_key: bytes, log_id: bytes) -> bytes:
    """The Ed25519 seed of a log's note key, derived from the publisher's secp256k1 key:
    ``HMAC-SHA256(publisher key, "okeios/note-key/v1" 0x00 || logId)``."""
    if len(publisher_key) != 32 or len(log_id) != 32:
        raise NoteError("a publisher key and a log id are 32 bytes")
    return hmac.new(publisher_key, _NOTE_SEED_TAG + log_id, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class NoteKeyBinding:
    """The publisher's EIP-712 statement that ``vkey`` signs the checkpoints of ``log_id``
    under its one origin (:func:`log_origin`); version :data:`BINDING_VERSION`."""

    log_id: bytes
    vkey: str
    publisher: str
    signature: bytes

    @property
    def origin(self) -> str:
        return log_origin(self.log_id)

    @staticmethod
    def _digest(log_id: bytes, vkey: str) -> tuple[dict[str, Any], bytes]:
        message = {"logId": to_hex(log_id), "origin": log_origin(log_id), "vkey": vkey}
        typed = {
            "types": _BINDING_TYPES,
            "primaryType": _BINDING_TYPE,
            "domain": dict(DOMAIN),
            "message": message,
        }
        return typed, _BINDING_ENCODER.digest(_BINDING_DOMAIN, _BINDING_TYPE, message)

    @classmethod
    def sign(cls, signer: Signer, log_id: bytes, vkey: str) -> NoteKeyBinding:
        if len(log_id) != 32:
            raise NoteError("a log id is 32 bytes")
        if parse_vkey(vkey).name != log_origin(log_id):
            raise NoteError(f"a log's note key is named after its one origin {log_origin(log_id)}")
        typed, digest = cls._digest(log_id, vkey)
        return cls(
            log_id, vkey, checksum_address(signer.address), sign_typed(signer, typed, digest)
        )

    def verify(self, publisher: str) -> Ed25519Verifier:
        """The bound key, if the binding is signed by ``publisher``; raises otherwise."""
        verifier = parse_vkey(self.vkey)
        if not isinstance(verifier, Ed25519Verifier):
            raise NoteVerificationError("a log's note key is an Ed25519 (0x01) key")
        if verifier.name != log_origin(self.log_id):
            raise NoteVerificationError(
                f"the note key is named {verifier.name!r}, not the log's one origin "
                f"{log_origin(self.log_id)}"
            )
        _, digest = self._digest(self.log_id, self.vkey)
        try:
            signer = recover_address(digest, self.signature)
        except (SignatureError, ValueError) as exc:
            raise NoteVerificationError(
                f"the note key binding signature is malformed: {exc}"
            ) from exc
        if signer != checksum_address(publisher) or signer != checksum_address(self.publisher):
            raise NoteVerificationError(
                f"the note key binding is signed by {signer}, not by {checksum_address(publisher)}"
            )
        return verifier

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": BINDING_VERSION,
            "logId": to_hex(self.log_id),
            "origin": self.origin,
            "vkey": self.vkey,
            "publisher": self.publisher,
            "signature": to_hex(self.signature),
        }

    @classmethod
    def from_dict(cls, data: Any) -> NoteKeyBinding:
        """A binding read strictly: version 2, canonical hex, the derived origin."""
        if not isinstance(data, dict):
            raise NoteError("a note key binding is a JSON object")
        if data.get("version") != BINDING_VERSION:
            raise NoteError(
                f"note key binding version {data.get('version')!r}: okeios reads version "
                f"{BINDING_VERSION} (version 1 left the origin unbound)"
            )
        try:
            log_id = LogId.parse(data["logId"], "the binding's logId", error=NoteError).raw
            sig = from_hex(data["signature"], "the binding's signature", error=NoteError)
            publisher = checksum_address(str(data["publisher"]))
            vkey = data["vkey"]
            origin = data["origin"]
        except (KeyError, TypeError, ValueError) as exc:
            raise NoteError(f"malformed note key binding: {exc}") from exc
        if not isinstance(vkey, str):
            raise NoteError("a note key binding's vkey is text")
        if origin != log_origin(log_id):
            raise NoteError(
                f"the binding names origin {str(origin)[:80]!r}, not {log_origin(log_id)}"
            )
        return cls(log_id, vkey, publisher, sig)
