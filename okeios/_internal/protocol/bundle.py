"""The proof bundle: one self-contained, self-describing file per event.

Binary form (``application/vnd.okeios.bundle+msgpack``), specified by ``docs/spec/bundle.md``
(normative; ``docs/bundle.md`` explains it)::

    magic    7 bytes   0x89 "OKEIOS"
    major    1 byte    0x02
    body     msgpack   one map, keys and nesting exactly as below, nothing after it

The body is encoded canonically (shortest msgpack forms, ``bin`` for bytes, ``str`` for text,
keys in the fixed order below, disclosed fields in ascending order of their hashed path); a
decoder re-encodes what it read and refuses the input unless the bytes are identical, so every
bundle has exactly one encoding. Unknown fields are refused (a new field means a new major
version). A JSON form exists for people (``application/vnd.okeios.bundle+json``): the
same content, bytes as ``0x``-hex, disclosed values as their canonical JSON text; a JSON reader
refuses a repeated member name and members out of the documented order.

Version 1 bundles (major byte 0x01) are refused with :class:`UnsupportedVersionError`: their
commitments did not type path tokens and their log ids were not bound to a publisher, so a
version-2 reader cannot give them a verdict it could stand behind (``docs/bundle.md``).
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from okeios._internal.protocol.canonical import load_json_strict
from okeios._internal.protocol.commitment import (
    REMEMBERED_SIZE,
    DisclosedField,
    Disclosure,
    path_bytes,
)
from okeios._internal.protocol.events import (
    Checkpoint,
    Event,
    EventKind,
    SignedCheckpoint,
    SignedEvent,
)
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.jsonlimits import nesting_exceeds
from okeios._internal.protocol.signing import checksum_address
from okeios.errors import (
    BadMagicError,
    BundleError,
    DuplicateKeyError,
    EncodingError,
    NonCanonicalEncodingError,
    OkeiosError,
    TrailingGarbageError,
    TruncationError,
    UnknownFieldError,
    UnsupportedVersionError,
)

__all__ = [
    "JSON_MEDIA_TYPE",
    "MAGIC",
    "MAJOR_VERSION",
    "MEDIA_TYPE",
    "AnchorRef",
    "Bundle",
    "Extension",
    "InclusionProof",
]

MAGIC = b"\x89OKEIOS"
MAJOR_VERSION = 2
MEDIA_TYPE = "application/vnd.okeios.bundle+msgpack"
JSON_MEDIA_TYPE = "application/vnd.okeios.bundle+json"
MAX_BUNDLE_SIZE = 64 * 1024 * 1024
#: Decoding caps, so that memory stays proportional to the input (about 1x plus a fixed cost
#: per element) whatever a crafted file holds: the elements (array items and map entries) of
#: the whole body, and so of any one array (a record's fields, digests, proof hashes).
MAX_FIELDS = 100_000
MAX_ELEMENTS = 4 * MAX_FIELDS + 1024
MAX_JSON_DEPTH = 16  # the JSON form nests 4 deep
_HEADER = MAGIC + bytes([MAJOR_VERSION])
_U64 = 1 << 64

_EVENT_KEYS = (
    "kind",
    "logId",
    "recordId",
    "version",
    "previous",
    "commitment",
    "ciphertextDigest",
    "author",
    "time",
    "sources",
    "subject",
    "purpose",
    "role",
    "notBefore",
    "notAfter",
)
_TOP_KEYS = ("event", "signature", "disclosure", "inclusion", "checkpoint", "anchor")
_JSON_TOP_KEYS = ("mediaType", "version", *_TOP_KEYS)
_FIELD_KEYS = ("path", "salt", "value")
_DISCLOSURE_KEYS = ("digests", "fields")
_INCLUSION_KEYS = ("index", "treeSize", "path")
_CHECKPOINT_KEYS = ("logId", "treeSize", "root", "publisher", "signature")
_ANCHOR_KEYS = ("chainId", "registry", "transaction", "block", "extension")
_EXTENSION_KEYS = ("treeSize", "root", "proof")


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """An RFC 9162 inclusion proof of the event's leaf in the checkpoint's tree."""

    index: int
    tree_size: int
    path: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Extension:
    """A later anchored tree head and the RFC 9162 consistency proof from the bundle's
    checkpoint to it: evidence that the history the bundle sits in was kept, not rewritten."""

    tree_size: int
    root: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class AnchorRef:
    """Where the bundle's checkpoint was anchored.

    A pointer, never trusted by itself: a verifier checks it against the chain id and registry
    pinned in its own policy, and reads the anchored root from the chain.
    """

    chain_id: int
    registry: bytes
    transaction: bytes
    block: int
    extension: Extension | None = None


@dataclass(frozen=True, slots=True)
class Bundle:
    """Everything needed to verify one event offline."""

    event: SignedEvent
    disclosure: Disclosure
    inclusion: InclusionProof
    checkpoint: SignedCheckpoint
    anchor: AnchorRef | None = None

    # -- binary form ---------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The canonical binary form."""
        body = msgpack.packb(_to_body(self), use_bin_type=True)
        return _HEADER + bytes(body)

    @classmethod
    def from_bytes(cls, data: bytes) -> Bundle:
        """Decode and validate a binary bundle; every problem raises a :class:`BundleError`."""
        return _read_binary(data, fast=True)

    # -- JSON form -----------------------------------------------------------------------------

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON form (bytes as 0x-hex, disclosed values as canonical JSON text)."""
        return {
            "mediaType": JSON_MEDIA_TYPE,
            "version": MAJOR_VERSION,
            **_to_body(self, hexify=True),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_json_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Bundle:
        """Decode the JSON form; every problem raises a :class:`BundleError`."""
        if not isinstance(text, str | bytes | bytearray):
            raise EncodingError(f"a JSON bundle is text, got {type(text).__name__}")
        if len(text) > MAX_BUNDLE_SIZE:
            raise EncodingError(f"a bundle is at most {MAX_BUNDLE_SIZE} bytes")
        # Every element but the first follows a comma: a cheap upper bound on their number.
        commas = text.count(b",") if isinstance(text, bytes | bytearray) else text.count(",")
        if commas > MAX_ELEMENTS:
            raise EncodingError(f"the bundle has more than {MAX_ELEMENTS} elements")
        if nesting_exceeds(text, MAX_JSON_DEPTH):
            raise EncodingError(f"the bundle nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(text, bytes | bytearray):
            # UTF-8 only: Python's json would also guess UTF-16 and UTF-32 from the bytes.
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EncodingError(f"a JSON bundle is UTF-8 text: {exc}") from exc
        try:
            raw = load_json_strict(text, parse_int=_json_uint)
            # Lone surrogates (legal in JSON escapes, not in UTF-8) are refused here.
            json.dumps(raw, ensure_ascii=False).encode("utf-8")
        except DuplicateKeyError as exc:
            raise EncodingError(f"the JSON bundle is ambiguous: {exc}") from None
        except (ValueError, RecursionError) as exc:
            raise EncodingError(f"the bundle is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise EncodingError("a JSON bundle is an object")
        if raw.get("mediaType") != JSON_MEDIA_TYPE:
            raise BadMagicError(f"not an okeios JSON bundle (mediaType {raw.get('mediaType')!r})")
        if raw.get("version") != MAJOR_VERSION:
            raise UnsupportedVersionError(_version_message(raw.get("version")))
        _check_order(raw, _JSON_TOP_KEYS, "bundle")
        body = {k: v for k, v in raw.items() if k not in ("mediaType", "version")}
        try:
            return _from_body(body, _unhex)
        except UnicodeError as exc:
            raise EncodingError(f"the bundle holds text that is not UTF-8: {exc}") from exc

    @staticmethod
    def load(data: bytes) -> Bundle:
        """Decode either form, telling them apart by their first byte."""
        if data[:1] == MAGIC[:1]:
            return Bundle.from_bytes(data)
        if data.lstrip()[:1] == b"{":
            return Bundle.from_json(data)
        raise BadMagicError("not an okeios bundle (neither the binary magic nor a JSON object)")


def _read_binary(data: Any, *, fast: bool) -> Bundle:
    """:meth:`Bundle.from_bytes`; ``fast=False`` is the plain reading (each field checked by the
    general code, the canonical test by encoding the decoded bundle again), kept as the
    reference the fast one is tested against: the two accept the same inputs, give equal
    bundles and raise the same errors."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EncodingError(f"a bundle is bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_BUNDLE_SIZE:
        raise EncodingError(f"a bundle is at most {MAX_BUNDLE_SIZE} bytes")
    if len(data) < len(_HEADER):
        if MAGIC.startswith(data[: len(MAGIC)]) and data:
            raise TruncationError("the bundle ends inside its header")
        raise BadMagicError("not an okeios bundle (no magic)")
    if data[: len(MAGIC)] != MAGIC:
        raise BadMagicError("not an okeios bundle: the magic bytes do not match")
    major = data[len(MAGIC)]
    if major != MAJOR_VERSION:
        raise UnsupportedVersionError(_version_message(major))
    body = data[len(_HEADER) :]
    # Every element takes at least one byte: a body no longer than the budget cannot
    # exceed it, and is decoded without counting.
    hooks: dict[str, Any] = {}
    if len(body) > MAX_ELEMENTS:
        budget = _ElementBudget()
        hooks = {"list_hook": budget.list, "object_hook": budget.map}
    try:
        raw = msgpack.unpackb(
            body,
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_array_len=MAX_ELEMENTS,
            max_map_len=MAX_ELEMENTS,
            **hooks,
        )
    except _TooLargeError as exc:
        raise EncodingError(str(exc)) from exc
    except msgpack.ExtraData as exc:
        raise TrailingGarbageError(f"{len(exc.extra)} bytes follow the bundle body") from exc
    except ValueError as exc:
        # msgpack caps every length at the buffer size, so "exceeds max_..." means a
        # length prefix promises more than the remaining bytes: the input was cut short.
        if "max_array_len" in str(exc) or "max_map_len" in str(exc):
            raise EncodingError(f"the bundle has too many elements ({exc})") from exc
        if "incomplete" in str(exc) or "exceeds max_" in str(exc):
            raise TruncationError(f"the bundle body is truncated ({exc})") from exc
        raise EncodingError(f"the bundle body is not valid msgpack: {exc}") from exc
    except Exception as exc:  # msgpack raises FormatError, StackError, TypeError...
        raise EncodingError(f"the bundle body is not valid msgpack: {exc!r}") from exc
    bundle = _from_body(raw, _bin, fast=fast)
    # One encoding per bundle: what was read must re-encode to the very bytes given. The fast
    # way re-encodes the decoded body itself; a body that decodes to a bundle holds only the
    # values the bundle's own encoding writes back (bytes, text, integers, nil, arrays and maps
    # in the documented order), so this is the same test as encoding the bundle again.
    again = msgpack.packb(raw, use_bin_type=True) if fast else bundle.to_bytes()[len(_HEADER) :]
    if again != body:
        raise NonCanonicalEncodingError("the bundle is not in its canonical encoding")
    return bundle


def _json_uint(text: str) -> int | float:
    """An integer token of the JSON form. A negative one (``-0`` included) is read as a float,
    which every integer member refuses; so is a fraction or an exponent. Only digits make an
    integer, so each integer has one spelling."""
    return float(text) if text.startswith("-") else int(text)


def _version_message(major: object) -> str:
    if major == 1:
        return (
            "this is a version 1 bundle; version 1 is no longer verified (its commitments do not "
            "type path tokens and its log ids are not bound to a publisher): ask the publisher "
            "for a version 2 bundle"
        )
    return f"bundle major version {major!r} is not supported (this library reads {MAJOR_VERSION})"


def _check_order(value: Any, keys: Sequence[str], where: str) -> None:
    """Members in exactly the documented order (checked after the shape, which names unknown
    and missing members), so one content has one JSON text up to whitespace."""
    if (
        isinstance(value, dict)
        and tuple(value) != tuple(keys)  # the common case ends here
        and len(value) == len(keys)
        and all(k in keys for k in value)
    ):
        raise NonCanonicalEncodingError(
            f"{where}: members must come in the order {', '.join(keys)}"
        )


class _TooLargeError(Exception):
    """Raised inside msgpack's hooks to stop a body with too many elements."""


class _ElementBudget:
    """Counts decoded elements and stops the decoder past :data:`MAX_ELEMENTS`."""

    def __init__(self) -> None:
        self.left = MAX_ELEMENTS

    def _take(self, n: int) -> None:
        self.left -= n + 1
        if self.left < 0:
            raise _TooLargeError(f"the bundle has more than {MAX_ELEMENTS} elements")

    def list(self, value: list[Any]) -> list[Any]:
        self._take(len(value))
        return value

    def map(self, value: dict[str, Any]) -> dict[str, Any]:
        self._take(len(value))
        return value


# --- encoding ---------------------------------------------------------------------------------


def _to_body(b: Bundle, *, hexify: bool = False) -> dict[str, Any]:
    def h(value: bytes) -> Any:
        return to_hex(value) if hexify else value

    def addr(value: str) -> Any:
        return value if hexify else from_hex(value, any_case=True)

    e = b.event.event
    c = b.checkpoint
    fields: list[Any] = [
        {"path": list(f.tokens), "salt": h(f.salt), "value": f.value.decode("utf-8")}
        if hexify
        else [list(f.tokens), f.salt, f.value]
        for f in b.disclosure.fields
    ]
    return {
        "event": {
            "kind": str(e.kind),
            "logId": h(e.log_id),
            "recordId": h(e.record_id),
            "version": e.version,
            "previous": h(e.previous),
            "commitment": h(e.commitment),
            "ciphertextDigest": h(e.ciphertext_digest),
            "author": addr(e.author),
            "time": e.time,
            "sources": [h(s) for s in e.sources],
            "subject": addr(e.subject),
            "purpose": e.purpose,
            "role": e.role,
            "notBefore": e.not_before,
            "notAfter": e.not_after,
        },
        "signature": h(b.event.signature),
        "disclosure": {"digests": [h(d) for d in b.disclosure.digests], "fields": fields},
        "inclusion": {
            "index": b.inclusion.index,
            "treeSize": b.inclusion.tree_size,
            "path": [h(p) for p in b.inclusion.path],
        },
        "checkpoint": {
            "logId": h(c.checkpoint.log_id),
            "treeSize": c.checkpoint.tree_size,
            "root": h(c.checkpoint.root),
            "publisher": addr(c.publisher),
            "signature": h(c.signature),
        },
        "anchor": None
        if b.anchor is None
        else {
            "chainId": b.anchor.chain_id,
            "registry": checksum_address(b.anchor.registry) if hexify else b.anchor.registry,
            "transaction": h(b.anchor.transaction),
            "block": b.anchor.block,
            "extension": None
            if b.anchor.extension is None
            else {
                "treeSize": b.anchor.extension.tree_size,
                "root": h(b.anchor.extension.root),
                "proof": [h(p) for p in b.anchor.extension.proof],
            },
        },
    }


# --- decoding (shape checks; crypto checks are the verifier's) -------------------------------


def _bin(value: Any, where: str) -> bytes:
    if not isinstance(value, bytes):
        raise EncodingError(f"{where}: expected bytes, got {type(value).__name__}")
    return value


def _unhex(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise EncodingError(f"{where}: expected 0x-hex text")
    try:
        raw = from_hex(value.lower())
    except ValueError as exc:
        raise EncodingError(f"{where}: bad hex") from exc
    if value != to_hex(raw):  # one spelling per value: lower-case digits only
        raise NonCanonicalEncodingError(f"{where}: hex digits must be lower case")
    return raw


def _fixed(read: Callable[[Any, str], bytes], value: Any, where: str, size: int) -> bytes:
    raw = read(value, where)
    if len(raw) != size:
        raise EncodingError(f"{where}: expected {size} bytes, got {len(raw)}")
    return raw


def _map(value: Any, keys: Sequence[str], where: str) -> list[Any]:
    if not isinstance(value, dict):
        raise EncodingError(f"{where}: expected a map, got {type(value).__name__}")
    if tuple(value) == tuple(keys):  # exactly the keys, in order: what the checks below pass
        return list(value.values())
    unknown = [k for k in value if k not in keys]
    if unknown:
        raise UnknownFieldError(f"{where}: unknown field(s) {unknown!r}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise EncodingError(f"{where}: missing field(s) {missing!r}")
    _check_order(value, keys, where)
    return [value[k] for k in keys]


def _path(value: Any, where: str) -> tuple[str | int, ...]:
    """A typed path: an array of member names (text) and array indices (unsigned integers)."""
    tokens = _list(value, where)
    if all(type(t) is str or (type(t) is int and 0 <= t < _U64) for t in tokens):
        return tuple(tokens)  # what the loop below gives, without a call per token
    out: list[str | int] = []
    for i, t in enumerate(tokens):
        if isinstance(t, str):
            out.append(t)
        else:
            out.append(_uint(t, f"{where}[{i}]"))
    return tuple(out)


def _uint(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _U64:
        raise EncodingError(f"{where}: expected an unsigned 64-bit integer")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise EncodingError(f"{where}: expected text, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise EncodingError(f"{where}: expected an array, got {type(value).__name__}")
    return value


def _hashes(read: Callable[[Any, str], bytes], value: Any, where: str) -> tuple[bytes, ...]:
    """An array of 32-byte hashes (binary form: checked in one go when all are 32 bytes)."""
    listed = _list(value, where)
    if (
        read is _bin
        and _BYTES.issuperset(map(type, listed))
        and _LEN32.issuperset(map(len, listed))
    ):
        return tuple(listed)  # what _fixed gives each of them, without a call per hash
    return tuple(_fixed(read, h, f"{where}[{i}]", 32) for i, h in enumerate(listed))


def _address(read: Callable[[Any, str], bytes], value: Any, where: str) -> str:
    if read is _unhex:
        text = _text(value, where)
        if not text.startswith("0x") or len(text) != 42:
            raise EncodingError(f"{where}: expected a 0x-prefixed 20-byte address")
        try:
            checksummed = checksum_address(text)
        except OkeiosError as exc:
            raise EncodingError(f"{where}: {exc}") from exc
        if text != checksummed:  # one spelling per address: exactly its EIP-55 form
            raise NonCanonicalEncodingError(f"{where}: an address is written in EIP-55 form")
        return checksummed
    return checksum_address(_fixed(read, value, where, 20))


_TOKEN_TYPES = frozenset((str, int))
_BYTES = frozenset((bytes,))
_LISTS = frozenset((list,))
_LEN3 = frozenset((3,))
_LEN16 = frozenset((16,))
_LEN32 = frozenset((32,))
#: The typed paths of disclosed fields met so far, each with its path bytes: a field path
#: recurs from bundle to bundle, so its tokens are checked and encoded once. Bounded in
#: number and in size (a long path from a crafted bundle is not kept): other paths are
#: encoded each time.
_PATHS: dict[tuple[Any, ...], tuple[tuple[str | int, ...], bytes]] = {}
_PATHS_MAX = 1 << 14


def _remember_path(tokens: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], bytes]:
    """A checked path's tokens and path bytes, kept for the next bundle."""
    known = (tokens, path_bytes(tokens))
    if len(_PATHS) < _PATHS_MAX and len(known[1]) <= REMEMBERED_SIZE:
        _PATHS[tokens] = known
    return known


def _fields_one_by_one(
    listed: list[Any], read: Callable[[Any, str], bytes], *, fast: bool
) -> list[DisclosedField]:
    """The disclosed fields, each checked by itself (naming the first bad one)."""
    fields: list[DisclosedField] = []
    known_paths = _PATHS if fast and read is _bin else None
    for i, f in enumerate(listed):
        if known_paths is not None and type(f) is list and len(f) == 3:
            # The common case checked in one go: what the general code below accepts, with
            # the path's tokens and bytes looked up (a field path recurs in bundle after
            # bundle). Only text and integer tokens reach the lookup (a bool or a float is
            # equal to an integer, so the types are checked first); an integer equal to one
            # already checked is in range.
            path, salt, value = f
            if (
                type(path) is list
                and type(salt) is bytes
                and len(salt) == 16
                and type(value) is bytes
                and _TOKEN_TYPES.issuperset(map(type, path))
            ):
                key = tuple(path)
                known = known_paths.get(key)
                if known is None and all(0 <= t < _U64 for t in key if type(t) is int):
                    known = _remember_path(key)
                if known is not None:
                    try:
                        value.decode("utf-8")
                    except UnicodeDecodeError:
                        pass  # the general code names the error
                    else:
                        fields.append(DisclosedField._known(known[0], salt, value, known[1]))
                        continue
        where = f"disclosure.fields[{i}]"
        if read is _unhex:
            path, salt, value = _map(f, _FIELD_KEYS, where)
            value_bytes = _text(value, f"{where}.value").encode("utf-8")
        else:
            items = _list(f, where)
            if len(items) != 3:
                raise EncodingError(f"{where}: expected [path, salt, value]")
            path, salt, value = items
            value_bytes = read(value, f"{where}.value")
            try:
                value_bytes.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EncodingError(f"{where}.value: not UTF-8") from exc
        tokens = _path(path, f"{where}.path")
        salt_bytes = _fixed(read, salt, f"{where}.salt", 16)
        fields.append(DisclosedField._known(tokens, salt_bytes, value_bytes, path_bytes(tokens)))
    return fields


def _all_known_fields(listed: list[Any]) -> list[DisclosedField] | None:
    """The disclosed fields of a binary bundle checked all at once, when every one is a
    ``[path, salt, value]`` the one-by-one reading accepts and every path was met before;
    else None (the one-by-one reading then decides, and names what is wrong). Each check is
    the one-by-one reading's, over every field at once: the path an array of text and
    integer tokens equal to a remembered path (types first: ``True == 1.0 == 1``), the salt
    16 bytes, the value UTF-8 bytes (joined with NUL bytes, which are whole characters of
    any UTF-8 text, the values decode exactly when each does)."""
    if not (_LISTS.issuperset(map(type, listed)) and _LEN3.issuperset(map(len, listed)) and listed):
        return None
    paths, salts, values = zip(*listed, strict=True)
    if not (
        _LISTS.issuperset(map(type, paths))
        and _TOKEN_TYPES.issuperset(map(type, itertools.chain.from_iterable(paths)))
        and _BYTES.issuperset(map(type, salts))
        and _LEN16.issuperset(map(len, salts))
        and _BYTES.issuperset(map(type, values))
    ):
        return None
    known = list(map(_PATHS.get, map(tuple, paths)))
    if None in known:
        return None
    try:
        b"\x00".join(values).decode("utf-8")
    except UnicodeDecodeError:
        return None
    tokens, encoded = zip(*known, strict=True)
    return list(map(DisclosedField._known, tokens, salts, values, encoded))


def _from_body(raw: Any, read: Callable[[Any, str], bytes], *, fast: bool = False) -> Bundle:
    try:
        return _decode(raw, read, fast=fast)
    except BundleError:
        raise
    except OkeiosError as exc:  # an event or checkpoint that is not valid once built
        raise EncodingError(f"the bundle holds an invalid value: {exc}") from exc


def _decode(raw: Any, read: Callable[[Any, str], bytes], *, fast: bool = False) -> Bundle:
    def h32(value: Any, where: str) -> bytes:
        return _fixed(read, value, where, 32)

    ev, sig, disc, inc, cp, anchor = _map(raw, _TOP_KEYS, "bundle")
    (
        kind,
        log_id,
        record_id,
        version,
        previous,
        commitment,
        ct_digest,
        author,
        time,
        sources,
        subject,
        purpose,
        role,
        not_before,
        not_after,
    ) = _map(ev, _EVENT_KEYS, "event")
    kind_text = _text(kind, "event.kind")
    if kind_text not in EventKind.__members__.values():
        raise EncodingError(f"event.kind: unknown kind {kind_text!r}")
    event = Event(
        kind=EventKind(kind_text),
        log_id=h32(log_id, "event.logId"),
        record_id=h32(record_id, "event.recordId"),
        version=_uint(version, "event.version"),
        previous=h32(previous, "event.previous"),
        commitment=h32(commitment, "event.commitment"),
        ciphertext_digest=h32(ct_digest, "event.ciphertextDigest"),
        author=_address(read, author, "event.author"),
        time=_uint(time, "event.time"),
        sources=_hashes(read, sources, "event.sources"),
        subject=_address(read, subject, "event.subject"),
        purpose=_text(purpose, "event.purpose"),
        role=_text(role, "event.role"),
        not_before=_uint(not_before, "event.notBefore"),
        not_after=_uint(not_after, "event.notAfter"),
    )
    signed = SignedEvent(event, _fixed(read, sig, "signature", 65))

    digests_raw, fields_raw = _map(disc, _DISCLOSURE_KEYS, "disclosure")
    digests = _hashes(read, digests_raw, "disclosure.digests")
    listed_fields = _list(fields_raw, "disclosure.fields")
    fields = _all_known_fields(listed_fields) if fast and read is _bin else None
    if fields is None:
        fields = _fields_one_by_one(listed_fields, read, fast=fast)
    order = [f.encoded_path for f in fields]
    if any(map(operator.ge, order, itertools.islice(order, 1, None))):
        raise NonCanonicalEncodingError(
            "disclosure.fields: fields must be in strictly ascending order of their hashed path"
        )
    disclosure = Disclosure(digests, tuple(fields))

    index, tree_size, path = _map(inc, _INCLUSION_KEYS, "inclusion")
    inclusion = InclusionProof(
        _uint(index, "inclusion.index"),
        _uint(tree_size, "inclusion.treeSize"),
        _hashes(read, path, "inclusion.path"),
    )

    cp_log, cp_size, cp_root, cp_pub, cp_sig = _map(cp, _CHECKPOINT_KEYS, "checkpoint")
    checkpoint = SignedCheckpoint(
        Checkpoint(
            h32(cp_log, "checkpoint.logId"),
            _uint(cp_size, "checkpoint.treeSize"),
            h32(cp_root, "checkpoint.root"),
        ),
        _address(read, cp_pub, "checkpoint.publisher"),
        _fixed(read, cp_sig, "checkpoint.signature", 65),
    )

    anchor_ref = None
    if anchor is not None:
        chain_id, registry, tx, block, ext = _map(anchor, _ANCHOR_KEYS, "anchor")
        extension = None
        if ext is not None:
            ext_size, ext_root, ext_proof = _map(ext, _EXTENSION_KEYS, "anchor.extension")
            extension = Extension(
                _uint(ext_size, "anchor.extension.treeSize"),
                h32(ext_root, "anchor.extension.root"),
                _hashes(read, ext_proof, "anchor.extension.proof"),
            )
        anchor_ref = AnchorRef(
            _uint(chain_id, "anchor.chainId"),
            from_hex(_address(read, registry, "anchor.registry").lower()),
            h32(tx, "anchor.transaction"),
            _uint(block, "anchor.block"),
            extension,
        )
    return Bundle(signed, disclosure, inclusion, checkpoint, anchor_ref)
