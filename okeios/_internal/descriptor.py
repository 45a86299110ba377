"""The trust descriptor: one JSON document a publisher (a hospital) publishes so that a verifier
pins it in one step, instead of typing hex values by hand.

It names the organisation, the chain its history lives on, the registry, the log, the note key
of its tiles and the witnesses it asks to cosign. ``okeios trust --export-descriptor FILE``
writes it from a store; ``okeios trust --import FILE|URL`` reads it into trust.json (a URL is
fetched with one deadline and a size cap). The format is in ``docs/trust-descriptor.md``.

The descriptor is *what the publisher says*: importing it is an act of trust, like pinning the
same values by hand. Its values are checked for form (every field, its type and its one
canonical spelling); anything else is refused with an :class:`~okeios.errors.InputError`.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from okeios._internal.protocol.anchors import CANONICAL_REGISTRY
from okeios._internal.protocol.canonical import load_json_strict
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.ids import LogId
from okeios._internal.protocol.jsonlimits import nesting_exceeds
from okeios._internal.protocol.signing import checksum_address
from okeios.errors import InputError

__all__ = [
    "DESCRIPTOR_TYPE",
    "DESCRIPTOR_VERSION",
    "MAX_DESCRIPTOR",
    "TrustDescriptor",
    "fetch_descriptor",
    "parse_descriptor",
]

DESCRIPTOR_TYPE = "okeios-trust-descriptor"
DESCRIPTOR_VERSION = 1
MAX_DESCRIPTOR = 64 * 1024  # bytes: a descriptor is a few hundred
FETCH_DEADLINE = 10.0  # seconds for the whole download of a descriptor URL
_FIELDS = {
    "type",
    "version",
    "organisation",
    "publisher",
    "chainId",
    "registry",
    "privateRegistry",
    "logId",
    "noteKey",
    "witnesses",
}
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True, slots=True)
class TrustDescriptor:
    """A publisher's trust descriptor (``docs/trust-descriptor.md``)."""

    organisation: str | None
    """The organisation's address (its first publisher key, EIP-55), or None."""
    publisher: str
    """The publisher key that signs the log now (EIP-55)."""
    chain_id: int
    """The one chain the history is anchored on."""
    registry: str
    """The registry (EIP-55): the chain's canonical one unless ``private_registry``."""
    private_registry: bool
    log_id: bytes
    note_key: str | None
    """The C2SP verifier key of the log's tiles checkpoints, or None if not published."""
    witnesses: tuple[str, ...]
    """The C2SP verifier keys of the witnesses the publisher asks to cosign."""

    def to_json(self) -> dict[str, Any]:
        return {
            "type": DESCRIPTOR_TYPE,
            "version": DESCRIPTOR_VERSION,
            "organisation": self.organisation,
            "publisher": self.publisher,
            "chainId": self.chain_id,
            "registry": self.registry,
            "privateRegistry": self.private_registry,
            "logId": to_hex(self.log_id),
            "noteKey": self.note_key,
            "witnesses": list(self.witnesses),
        }

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2) + "\n").encode()


def _address(value: object, what: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise InputError(f"trust descriptor: {what} is not a 0x address of 40 hex digits")
    canonical = checksum_address(value)
    if value != canonical:
        raise InputError(f"trust descriptor: {what} is not in its EIP-55 form {canonical}")
    return canonical


def _vkey(value: object, what: str) -> str:
    from okeios._internal.protocol.note import parse_vkey

    if not isinstance(value, str):
        raise InputError(f"trust descriptor: {what} is not a string")
    try:
        return parse_vkey(value).vkey()
    except Exception as exc:
        raise InputError(f"trust descriptor: {what} is not a C2SP verifier key: {exc}") from exc


def parse_descriptor(data: bytes) -> TrustDescriptor:
    """Parse and check a descriptor; :class:`~okeios.errors.InputError` for anything else."""
    if len(data) > MAX_DESCRIPTOR:
        raise InputError(f"trust descriptor: larger than {MAX_DESCRIPTOR} bytes")
    if nesting_exceeds(data, 4):
        raise InputError("trust descriptor: nests too deep")
    try:
        raw = load_json_strict(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"trust descriptor: not strict JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InputError("trust descriptor: not a JSON object")
    unknown = set(raw) - _FIELDS
    missing = (_FIELDS - {"organisation", "noteKey", "witnesses"}) - set(raw)
    if unknown or missing:
        raise InputError(
            f"trust descriptor: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}"
        )
    if raw["type"] != DESCRIPTOR_TYPE or raw["version"] != DESCRIPTOR_VERSION:
        raise InputError(
            f"trust descriptor: type {raw['type']!r} version {raw['version']!r}; this okeios "
            f"reads {DESCRIPTOR_TYPE!r} version {DESCRIPTOR_VERSION}"
        )
    chain_id = raw["chainId"]
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or not 0 < chain_id < 2**63:
        raise InputError("trust descriptor: chainId is not a positive integer")
    private = raw["privateRegistry"]
    if not isinstance(private, bool):
        raise InputError("trust descriptor: privateRegistry is not true or false")
    registry = _address(raw["registry"], "registry")
    if private == (registry == CANONICAL_REGISTRY):
        raise InputError(
            "trust descriptor: privateRegistry must be false exactly when registry is the "
            f"canonical {CANONICAL_REGISTRY}"
        )
    log_id = LogId.parse(raw["logId"], "trust descriptor: logId")
    organisation = raw.get("organisation")
    note_key = raw.get("noteKey")
    witnesses = raw.get("witnesses", [])
    if not isinstance(witnesses, list) or len(witnesses) > 64:
        raise InputError("trust descriptor: witnesses is not a list of at most 64 keys")
    return TrustDescriptor(
        organisation=None if organisation is None else _address(organisation, "organisation"),
        publisher=_address(raw["publisher"], "publisher"),
        chain_id=chain_id,
        registry=registry,
        private_registry=private,
        log_id=log_id.raw,
        note_key=None if note_key is None else _vkey(note_key, "noteKey"),
        witnesses=tuple(_vkey(w, "a witness key") for w in witnesses),
    )


def fetch_descriptor(url: str, *, deadline: float = FETCH_DEADLINE) -> bytes:
    """Download a descriptor over http(s): at most :data:`MAX_DESCRIPTOR` bytes, within one
    ``deadline`` for the whole download (a server trickling bytes is cut off)."""
    import requests

    if not url.startswith(("https://", "http://")):
        raise InputError(f"a descriptor URL is http(s), got {url[:40]!r}")
    end = time.monotonic() + deadline
    try:
        with requests.get(url, stream=True, timeout=min(deadline, 10.0)) as response:
            if response.status_code != 200:
                raise InputError(f"fetching {url}: HTTP {response.status_code}")
            body = bytearray()
            # One byte at a time: a read of more waits until it is filled, past the deadline
            # when the server trickles (a descriptor is small; this is cheap).
            for chunk in response.iter_content(1):
                body += chunk
                if len(body) > MAX_DESCRIPTOR:
                    raise InputError(f"{url}: a descriptor is at most {MAX_DESCRIPTOR} bytes")
                if time.monotonic() > end:
                    raise InputError(f"{url}: not fetched within {deadline:g} s")
            return bytes(body)
    except requests.RequestException as exc:
        raise InputError(f"fetching {url} failed: {type(exc).__name__}") from exc
