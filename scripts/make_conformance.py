"""Write the conformance vectors of okeios protocol version 2 (``vectors/v2/``).

The vector format is specified in ``docs/spec/vectors.md``. Every case names the property it
is about and the reason it must produce (its ``intent``); this script builds the case from
fixed keys, seeds and clocks, runs the Python verifier on it, refuses to write a case whose
outcome does not match its intent, and records the full outcome as the case's ``expect``.
Regenerating gives the same bytes (``tests/conformance/test_conformance.py`` checks it):

    python scripts/make_conformance.py
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
from collections.abc import Callable
from hashlib import sha256
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from okeios._internal.protocol.bundle import AnchorRef, Bundle, Extension, InclusionProof  # noqa: E402
from okeios._internal.protocol.commitment import (  # noqa: E402
    DisclosedField,
    Disclosure,
    commitment_from_digests,
    derive_salt,
    path_bytes,
)
from okeios._internal.protocol.events import (  # noqa: E402
    ZERO_HASH,
    Checkpoint,
    Event,
    EventKind,
    SignedCheckpoint,
    SignedEvent,
    derive_log_id,
)
from okeios._internal.protocol.keyhistory import dump_key_history  # noqa: E402
from okeios._internal.protocol.merkle import MerkleLog  # noqa: E402
from okeios._internal.protocol.signing import LocalSigner, checksum_address  # noqa: E402
from okeios._internal.publish.publisher import LoggedEvent, Publisher  # noqa: E402
from tests.conformance.runner import (  # noqa: E402
    run_case,
    run_key_history,
    run_proof,
    run_share,
    run_tiles,
)
from tests.helpers import CountingRng  # noqa: E402

OUT = ROOT / "vectors" / "v2"
FORMAT = "okeios-conformance"
FORMAT_VERSION = 1
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
T0 = 1_800_000_000  # every clock of the vectors starts here
CHAIN_ID = 31337
U64_MAX = (1 << 64) - 1


def _key(label: str) -> LocalSigner:
    return LocalSigner.from_key(sha256(b"okeios conformance " + label.encode()).digest())


PUBLISHER = _key("publisher")
AUTHOR = _key("author")
STRANGER = _key("stranger")
NURSE = _key("nurse")
SUCCESSOR = _key("successor")
REGISTRY = checksum_address(sha256(b"okeios conformance registry").digest()[:20])
OTHER_REGISTRY = checksum_address(sha256(b"okeios conformance other registry").digest()[:20])

RECORD = (
    '{"resourceType":"Observation","id":"hba1c","status":"final",'
    '"code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},'
    '"subject":{"reference":"Patient/example"},'
    '"valueQuantity":{"value":6.10,"unit":"%"},"note":[],"extension":{},"a/b~c":true}'
)


def _seed(label: str) -> bytes:
    return sha256(b"okeios conformance seed " + label.encode()).digest()


def _rid(label: str) -> bytes:
    return sha256(b"okeios conformance record " + label.encode()).digest()


def _publisher(signer: LocalSigner = PUBLISHER, **kw: Any) -> Publisher:
    return Publisher(signer, clock=lambda: T0, rng=CountingRng(b"rng " + signer.private_key), **kw)


# --- raw building blocks -------------------------------------------------------------------------


class Forge:
    """A log built from events as given (signed or not by their author), for hostile cases."""

    def __init__(self, signer: LocalSigner = PUBLISHER, log_id: bytes | None = None) -> None:
        self.signer = signer
        self.log_id = log_id if log_id is not None else derive_log_id(signer.address)
        self.log = MerkleLog()
        self.entries: list[SignedEvent] = []

    def add(self, signed: SignedEvent) -> int:
        self.entries.append(signed)
        return self.log.append(signed.leaf_data())

    def checkpoint(self, size: int | None = None, signer: LocalSigner | None = None) -> Any:
        size = self.log.size if size is None else size
        return Checkpoint(self.log_id, size, self.log.root(size)).sign(signer or self.signer)

    def bundle(self, index: int, disclosure: Disclosure, cp: Any = None, **kw: Any) -> Bundle:
        cp = cp if cp is not None else self.checkpoint()
        size = cp.checkpoint.tree_size
        proof = InclusionProof(index, size, tuple(self.log.inclusion_proof(index, size)))
        return Bundle(self.entries[index], disclosure, proof, cp, kw.get("anchor"))


#: Whether key histories carry the entries after their last identity event (complete key
#: histories, identity.md rule 12): the writer takes them as ``tail``.
_TAILS = "tail" in inspect.signature(dump_key_history).parameters


def _history(
    pub: Publisher,
    cp: SignedCheckpoint,
    bundles: list[Bundle],
    continuity: list[Any] | tuple[Any, ...] = (),
    *,
    tail: bool = True,
) -> str:
    """The key history of ``pub``'s organisation at ``cp``: ``bundles`` (its identity events),
    ``continuity``, and (where the format has it) every entry after the last identity event
    with its inclusion proof, so it can be shown complete; ``tail=False`` leaves them out."""
    size = cp.checkpoint.tree_size
    kwargs: dict[str, Any] = {}
    if _TAILS:
        last = max((b.inclusion.index for b in bundles), default=-1)
        kwargs["tail"] = (
            [
                (k, pub.events[k].signed, pub.log.inclusion_proof(k, size))
                for k in range(last + 1, size)
            ]
            if tail
            else None
        )
    return dump_key_history(pub.organisation, size, bundles, list(continuity), **kwargs)


def _handed_over() -> tuple[Publisher, LoggedEvent, LoggedEvent, SignedCheckpoint, str]:
    """A log whose publisher authorised AUTHOR and handed over to SUCCESSOR, then a record
    AUTHOR created: the publisher, the HANDOVER, the CREATE, the latest checkpoint and the
    key history (the identity events and the old key's continuity)."""
    pub = _publisher()
    pub.authorise(AUTHOR.address, "physician", time=T0)
    h = pub.handover(SUCCESSOR, time=T0 + 60)
    after = pub.create(
        b'{"n":"after"}', author=AUTHOR, seed=_seed("h1"), record_id=_rid("h1"), time=T0 + 120
    )
    cp = pub.checkpoint()
    history = _history(
        pub,
        cp,
        [pub.bundle(e.signed.id, checkpoint=cp) for e in pub.events[: h.index + 1]],
        [
            (
                PUBLISHER.address,
                h.index + 1,
                pub.log.root(h.index + 1),
                pub.log.consistency_proof(h.index + 1, cp.checkpoint.tree_size),
            )
        ],
    )
    return pub, h, after, cp, history


def _event(**kw: Any) -> Event:
    base: dict[str, Any] = {
        "kind": EventKind.CREATE,
        "log_id": derive_log_id(PUBLISHER.address),
        "record_id": _rid("main"),
        "version": 1,
        "previous": ZERO_HASH,
        "commitment": commitment_from_digests(()),
        "ciphertext_digest": sha256(b"ciphertext").digest(),
        "author": AUTHOR.address,
        "time": T0,
    }
    base.update(kw)
    return Event(**base)


def _fields(pairs: list[tuple[tuple[Any, ...], bytes]], seed: bytes) -> list[DisclosedField]:
    out = [DisclosedField(p, derive_salt(seed, p), v) for p, v in pairs]
    return sorted(out, key=lambda f: path_bytes(f.tokens))


def _disclosure(fields: list[DisclosedField], extra: list[bytes] = ()) -> Disclosure:  # type: ignore[assignment]
    digests = tuple(sorted({f.digest for f in fields} | set(extra)))
    return Disclosure(digests, tuple(fields))


def _high_s(sig: bytes) -> bytes:
    """The same signature with s replaced by n - s (and v flipped): valid ECDSA, refused."""
    s = int.from_bytes(sig[32:64], "big")
    return sig[:32] + (N - s).to_bytes(32, "big") + bytes([55 - sig[64]])


def _unrecoverable() -> bytes:
    """A signature whose r is no x coordinate of a curve point: no key recovers from it."""
    p = 2**256 - 2**32 - 977
    r = 1
    while pow(r**3 + 7, (p - 1) // 2, p) == 1:
        r += 1
    return r.to_bytes(32, "big") + (1).to_bytes(32, "big") + bytes([27])


# --- the base scenario ---------------------------------------------------------------------------


def _base() -> dict[str, Any]:
    """One publisher's log: four earlier records, then the record under test, amended, granted,
    erased; one checkpoint over everything."""
    pub = _publisher()
    for i in range(4):
        pub.create(f'{{"n":{i}}}'.encode(), seed=_seed(f"n{i}"), record_id=_rid(f"n{i}"))
    created = pub.create(RECORD.encode(), author=AUTHOR, seed=_seed("main"), record_id=_rid("main"))
    amended_record = RECORD.replace("6.10", "6.20")
    amended = pub.amend(_rid("main"), amended_record.encode(), author=AUTHOR, seed=_seed("amend"))
    granted = pub.record_event(
        EventKind.GRANT, _rid("main"), subject=NURSE.address, purpose="care", author=AUTHOR
    )
    erased = pub.record_event(EventKind.ERASE, _rid("main"), author=AUTHOR)
    cp = pub.checkpoint()
    return {
        "pub": pub,
        "create": created,
        "amend": amended,
        "amended_record": amended_record,
        "grant": granted,
        "erase": erased,
        "cp": cp,
        "bundle": pub.bundle(created.signed.id, checkpoint=cp),
        "sealed": pub.versions.sealed_payload(_rid("main"), 1),
    }


def _policy(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"authors": [AUTHOR.address, PUBLISHER.address]}
    base["publishers"] = [PUBLISHER.address]
    base.update(kw)
    return base


def _chain_policy(**kw: Any) -> dict[str, Any]:
    return _policy(chainId=CHAIN_ID, registry=REGISTRY, **kw)


def _anchor(cp: SignedCheckpoint, block: int, *, root: bytes | None = None) -> dict[str, Any]:
    c = cp.checkpoint
    return {
        "publisher": cp.publisher,
        "logId": "0x" + c.log_id.hex(),
        "treeSize": c.tree_size,
        "root": "0x" + (root or c.root).hex(),
        "block": block,
        "timestamp": T0 + 12 * block,
    }


def _chain(anchors: list[dict[str, Any]], head: int = 200, **kw: Any) -> dict[str, Any]:
    registries: dict[str, Any] = {REGISTRY: anchors}
    registries.update(kw.pop("registries", {}))
    return {"chainId": kw.pop("chainId", CHAIN_ID), "head": head, "registries": registries}


def _ref(block: int, registry: str = REGISTRY, ext: Extension | None = None) -> AnchorRef:
    return AnchorRef(CHAIN_ID, bytes.fromhex(registry[2:]), sha256(b"tx").digest(), block, ext)


# --- binary and JSON encodings -------------------------------------------------------------------


def _hex(b: Bundle) -> dict[str, str]:
    return {"binary": b.to_bytes().hex()}


def _json(b: Bundle | dict[str, Any] | str) -> dict[str, str]:
    if isinstance(b, Bundle):
        return {"json": b.to_json()}
    if isinstance(b, dict):
        return {"json": json.dumps(b, indent=2, ensure_ascii=False)}
    return {"json": b}


def _body(b: Bundle) -> dict[str, Any]:
    return msgpack.unpackb(b.to_bytes()[8:], raw=False)  # type: ignore[no-any-return]


def _packed(body: Any) -> dict[str, str]:
    return {"binary": (b"\x89OKEIOS\x02" + msgpack.packb(body, use_bin_type=True)).hex()}


def _edited(value: Any, path: tuple[str | int, ...], edit: Callable[[Any], Any]) -> Any:
    """A copy of ``value`` with the part at ``path`` replaced by ``edit`` of it."""
    if not path:
        return edit(value)
    head, *rest = path
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[head] = _edited(value[head], tuple(rest), edit)  # type: ignore[index]
    return copy


# Binary bodies edited before they are packed: name, description, path, edit, decoding error.
BODY_EDITS: tuple[tuple[str, str, tuple[str | int, ...], Callable[[Any], Any], str], ...] = (
    (
        "field-order-binary",
        "The event's keys in another order.",
        ("event",),
        lambda event: dict(reversed(list(event.items()))),
        "non-canonical",
    ),
    (
        "unknown-field-binary",
        "A key version 2 does not define.",
        (),
        lambda body: body | {"extra": 1},
        "unknown-field",
    ),
    (
        "missing-field-binary",
        "No anchor key (it must be present, nil when empty).",
        (),
        lambda body: {k: v for k, v in body.items() if k != "anchor"},
        "malformed",
    ),
    (
        "unknown-kind",
        "An event kind version 2 does not define.",
        ("event", "kind"),
        lambda _: "transfer",
        "malformed",
    ),
    (
        "text-for-bin",
        "An address written as text instead of bin.",
        ("event", "author"),
        bytes.hex,
        "malformed",
    ),
    (
        "value-not-utf8",
        "A disclosed value that is not UTF-8: refused when decoding.",
        ("disclosure", "fields", 0, 2),
        lambda _: b"\xff\xfe",
        "malformed",
    ),
    (
        "fields-out-of-order",
        "Disclosed fields not in ascending path_bytes order.",
        ("disclosure", "fields"),
        lambda fields: fields[::-1],
        "non-canonical",
    ),
    ("float-number", "A float where a u64 is due.", ("event", "time"), float, "malformed"),
    (
        "create-with-previous",
        "A CREATE that names a previous event: an invalid event.",
        ("event", "previous"),
        lambda _: b"\x01" * 32,
        "malformed",
    ),
    (
        "purpose-too-long",
        "purpose of 1025 bytes (the limit is 1024 bytes of UTF-8).",
        ("event", "purpose"),
        lambda _: "x" * 1025,
        "malformed",
    ),
    (
        "purpose-too-long-utf8",
        "purpose of 513 characters, 1026 bytes of UTF-8: the limit counts bytes.",
        ("event", "purpose"),
        lambda _: "é" * 513,
        "malformed",
    ),
)


def _wide_int(b: Bundle) -> dict[str, str]:
    """The bundle with ``inclusion.index`` written as a uint64 instead of its shortest form."""
    raw = b.to_bytes()
    marker = msgpack.packb("index") + msgpack.packb(b.inclusion.index)
    assert raw.count(marker) == 1
    wide = msgpack.packb("index") + b"\xcf" + b.inclusion.index.to_bytes(8, "big")
    return {"binary": raw.replace(marker, wide).hex()}


def _dup_key(b: Bundle) -> dict[str, str]:
    """``event.kind`` written twice in the binary form (a msgpack map of 16 entries)."""
    raw = b.to_bytes()
    head = b"\x8f" + msgpack.packb("kind") + msgpack.packb(str(b.event.event.kind))
    assert raw.count(head) == 1
    twice = b"\xde\x00\x10" + head[1:] + head[1:]
    return {"binary": raw.replace(head, twice).hex()}


def _json_text(b: Bundle, edit: Callable[[str], str]) -> dict[str, str]:
    text = b.to_json()
    changed = edit(text)
    assert changed != text
    return {"json": changed}


# --- the cases -----------------------------------------------------------------------------------


def bundle_cases() -> list[dict[str, Any]]:
    s = _base()
    pub: Publisher = s["pub"]
    b: Bundle = s["bundle"]
    cp: SignedCheckpoint = s["cp"]
    cases: list[dict[str, Any]] = []

    def case(
        name: str, desc: str, bundle: dict[str, str], intent: dict[str, Any], **kw: Any
    ) -> None:
        cases.append(
            {
                "name": name,
                "description": desc,
                "bundle": bundle,
                "policy": kw.pop("policy", _policy()),
            }
            | kw
            | {"intent": intent}
        )

    ok = {"result": "pass"}
    # -- passing bundles
    case("pass-binary", "An honest CREATE bundle, every field disclosed, binary form.", _hex(b), ok)
    case("pass-json", "The same bundle in the JSON form.", _json(b), ok)
    case(
        "pass-record",
        "The record given beside the bundle matches the commitment, empty {} and [] leaves "
        "included.",
        _hex(b),
        ok,
        record=RECORD,
    )
    case(
        "pass-record-reformatted",
        "The record given in another JSON spelling (order, whitespace, number form) still "
        "matches: records are compared after canonicalisation.",
        _hex(b),
        ok,
        record=json.dumps(json.loads(RECORD, parse_float=str), indent=1).replace('"6.10"', "6.10"),
    )
    case(
        "record-number-form",
        "A record with 6.1 where 6.10 was committed: a decimal keeps its written digits.",
        _hex(b),
        {"integrity": "record-mismatch"},
        record=RECORD.replace("6.10", "6.1"),
    )
    partial = pub.bundle(s["create"].signed.id, fields=["/valueQuantity"], checkpoint=cp)
    case("pass-partial", "Two of nine fields disclosed.", _hex(partial), ok)
    case(
        "pass-ciphertext",
        "The sealed payload given beside the bundle is the one the event signed.",
        _hex(b),
        ok,
        ciphertext="0x" + s["sealed"].hex(),
    )
    case(
        "pass-any-author",
        "A policy that trusts any author explicitly.",
        _hex(b),
        ok,
        policy=_policy(authors="*"),
    )
    for kind in ("amend", "grant", "erase"):
        case(
            f"pass-{kind}",
            f"An honest {kind.upper()} bundle of the same record.",
            _hex(pub.bundle(s[kind].signed.id, checkpoint=cp)),
            ok,
        )
    case(
        "pass-u64-max-json",
        "An AUTHORISE with notAfter = 2^64-1 in the JSON form: integers are exact.",
        _json(_identity()["bundles"][0]),
        ok,
        policy=_policy(authors=[PUBLISHER.address]),
    )

    # -- decoding refusals: binary
    raw = b.to_bytes()
    case(
        "bad-magic",
        "The first byte is not 0x89.",
        {"binary": ("00" + raw.hex()[2:])},
        {"error": "bad-magic"},
    )
    case(
        "version-1",
        "Major version byte 0x01: refused, never decoded.",
        {"binary": raw[:7].hex() + "01" + raw[8:].hex()},
        {"error": "unsupported-version"},
    )
    case(
        "version-3",
        "Major version byte 0x03.",
        {"binary": raw[:7].hex() + "03" + raw[8:].hex()},
        {"error": "unsupported-version"},
    )
    case("truncated", "The body ends early.", {"binary": raw[:-5].hex()}, {"error": "truncated"})
    case(
        "trailing-bytes",
        "One byte after the body.",
        {"binary": raw.hex() + "00"},
        {"error": "trailing-bytes"},
    )
    case(
        "non-shortest-int",
        "inclusion.index written as uint64: not the shortest form.",
        _wide_int(b),
        {"error": "non-canonical"},
    )
    case(
        "duplicate-key-binary",
        "event.kind twice in one msgpack map.",
        _dup_key(b),
        {"error": "non-canonical"},
    )
    for name, about, path, edit, error in BODY_EDITS:
        case(name, about, _packed(_edited(_body(b), path, edit)), {"error": error})

    # -- decoding refusals: JSON
    doc = b.to_json_dict()
    case(
        "json-upper-hex",
        "An upper-case hex digit in the JSON form.",
        _json_text(
            b,
            lambda t: t.replace(
                doc["signature"], doc["signature"][:2] + doc["signature"][2:].upper()
            ),
        ),
        {"error": "non-canonical"},
    )
    case(
        "json-upper-prefix",
        "0X instead of 0x.",
        _json_text(b, lambda t: t.replace(doc["signature"], "0X" + doc["signature"][2:])),
        {"error": "malformed"},
    )
    case(
        "json-lower-address",
        "An author address in lower case, not EIP-55.",
        _json_text(b, lambda t: t.replace(doc["event"]["author"], doc["event"]["author"].lower())),
        {"error": "non-canonical"},
    )
    bad = doc["event"]["author"]
    flipped = bad[:2] + "".join(c.swapcase() if c.isalpha() else c for c in bad[2:])
    case(
        "json-bad-checksum",
        "An author address with a wrong EIP-55 checksum.",
        _json_text(b, lambda t: t.replace(bad, flipped)),
        {"error": "malformed"},
    )
    case(
        "json-duplicate-member",
        "The member signature twice.",
        _json_text(
            b,
            lambda t: t.replace(
                '"signature": "', '"signature": "' + doc["signature"] + '",\n  "signature": "', 1
            ),
        ),
        {"error": "malformed"},
    )
    reordered = dict(doc)
    reordered = {
        "mediaType": doc["mediaType"],
        "version": 2,
        "signature": doc["signature"],
        **{k: v for k, v in doc.items() if k not in ("mediaType", "version", "signature")},
    }
    case(
        "json-member-order",
        "Members out of the specified order.",
        _json(reordered),
        {"error": "non-canonical"},
    )
    case(
        "json-unknown-member",
        "A member version 2 does not define.",
        _json(doc | {"note": ""}),
        {"error": "unknown-field"},
    )
    case(
        "json-u64-string",
        "A u64 written as a string.",
        _json(doc | {"inclusion": doc["inclusion"] | {"index": str(doc["inclusion"]["index"])}}),
        {"error": "malformed"},
    )
    for label, text in (("fraction", "4.0"), ("exponent", "4e0"), ("negative-zero", "-0")):
        case(
            f"json-number-{label}",
            f"inclusion.index written {text}.",
            _json_text(b, lambda t, text=text: t.replace('"index": 4', f'"index": {text}')),
            {"error": "malformed"},
        )
    case(
        "json-u64-overflow",
        "treeSize 2^64.",
        _json(doc | {"inclusion": doc["inclusion"] | {"treeSize": 1 << 64}}),
        {"error": "malformed"},
    )
    case(
        "json-version-1",
        "JSON form with version 1.",
        _json(doc | {"version": 1}),
        {"error": "unsupported-version"},
    )
    case(
        "json-media-type",
        "Another mediaType.",
        _json(doc | {"mediaType": "application/json"}),
        {"error": "bad-magic"},
    )

    # -- integrity
    fields = list(b.disclosure.fields)
    digests = list(b.disclosure.digests)
    case(
        "digests-unsorted",
        "The field digests out of ascending order.",
        _hex(
            dataclasses.replace(b, disclosure=Disclosure(tuple(digests[::-1]), b.disclosure.fields))
        ),
        {"integrity": "digests-malformed"},
    )
    case(
        "digests-duplicate",
        "A field digest listed twice.",
        _hex(
            dataclasses.replace(b, disclosure=Disclosure(tuple(sorted(digests + digests[:1])), ()))
        ),
        {"integrity": "digests-malformed"},
    )
    case(
        "commitment-mismatch",
        "One digest dropped: the digests give another commitment.",
        _hex(dataclasses.replace(b, disclosure=Disclosure(tuple(digests[1:]), ()))),
        {"integrity": "commitment-mismatch"},
    )
    f0 = fields[0]
    wrong_salt = dataclasses.replace(f0, salt=bytes(16))
    case(
        "field-not-committed",
        "A disclosed field with another salt: its digest is not committed.",
        _hex(
            dataclasses.replace(
                b, disclosure=Disclosure(b.disclosure.digests, (wrong_salt, *fields[1:]))
            )
        ),
        {"integrity": "field-not-committed"},
    )
    case(
        "record-mismatch",
        "The record given has another value.",
        _hex(b),
        {"integrity": "record-mismatch"},
        record=RECORD.replace("final", "amended"),
    )
    case(
        "record-extra-field",
        "The record given has a field more.",
        _hex(b),
        {"integrity": "record-mismatch"},
        record=RECORD[:-1] + ',"x":1}',
    )
    case(
        "record-malformed",
        "The record given is not JSON.",
        _hex(b),
        {"integrity": "record-malformed"},
        record=RECORD[:-1],
    )
    case(
        "record-not-verifiable",
        "A partial bundle and a record: the hidden fields cannot be checked.",
        _hex(partial),
        {"integrity": "record-not-verifiable"},
        record=RECORD,
    )

    # Forged commitments: fields made by the author, so the commitment is signed.
    def forged(pairs: list[tuple[tuple[Any, ...], bytes]], label: str, *, extra: int = 0) -> Bundle:
        seed = _seed(label)
        fs = _fields(pairs, seed)
        more = [sha256(b"hidden %d" % i).digest() for i in range(extra)]
        disc = _disclosure(fs, more)
        ev = _event(record_id=_rid(label), commitment=commitment_from_digests(disc.digests))
        forge = Forge()
        forge.add(ev.sign(AUTHOR))
        return forge.bundle(0, disc)

    case(
        "field-not-canonical",
        "A committed value that is not canonical JSON (an escape "
        "where the character is written as itself).",
        _hex(forged([(("v",), b'"\\u0041"')], "noncanonical")),
        {"integrity": "field-malformed"},
    )
    case(
        "field-negative-zero",
        "A committed integer -0 (canonical form: 0).",
        _hex(forged([(("v",), b"-0")], "negzero")),
        {"integrity": "field-malformed"},
    )
    case(
        "field-number-verbatim",
        "A committed 1.0E1: a non-integer number token is canonical as written.",
        _hex(forged([(("v",), b"1.0E1")], "verbatim")),
        ok,
    )
    case(
        "field-not-json",
        "A committed value that is not JSON.",
        _hex(forged([(("v",), b"{")], "notjson")),
        {"integrity": "field-malformed"},
    )
    case(
        "field-not-leaf",
        "A committed value that is a non-empty object.",
        _hex(forged([(("v",), b'{"a":1}')], "notleaf")),
        {"integrity": "field-malformed"},
    )
    case(
        "field-empty-leaves",
        "Empty {} and [] are leaves.",
        _hex(forged([(("o",), b"{}"), (("a",), b"[]")], "empty")),
        ok,
    )
    case(
        "field-conflict-array-object",
        "One node both an array (/x/0) and an object (/x/y).",
        _hex(forged([(("x", 0), b"1"), (("x", "y"), b"2")], "arrobj")),
        {"integrity": "field-conflict"},
    )
    case(
        "field-conflict-string-index",
        '/x/0 as a member named "0" and as an index: an object and an array.',
        _hex(forged([(("x", 0), b"1"), (("x", "0"), b"2")], "strint")),
        {"integrity": "field-conflict"},
    )
    case(
        "field-conflict-prefix",
        "A leaf /x and a field below it /x/y.",
        _hex(forged([(("x",), b"1"), (("x", "y"), b"2")], "prefix")),
        {"integrity": "field-conflict"},
    )
    # An identity event commits to no content.
    ident = _identity()
    idb: Bundle = ident["bundles"][0]
    case(
        "identity-with-digests",
        "An AUTHORISE bundle carrying field digests.",
        _hex(dataclasses.replace(idb, disclosure=Disclosure(b.disclosure.digests, ()))),
        {"integrity": "field-malformed"},
        policy=_policy(authors=[PUBLISHER.address]),
    )

    # -- authenticity
    def resigned(sig: bytes, label: str) -> Bundle:
        forge = Forge()
        forge.add(SignedEvent(_event(record_id=_rid(label)), sig))
        return forge.bundle(0, Disclosure((), ()))

    ev = _event(record_id=_rid("sig"))
    good = ev.sign(AUTHOR).signature
    case(
        "signature-high-s",
        "The event signature with s > n/2: refused.",
        _hex(resigned(_high_s(good), "sig")),
        {"authenticity": "signature-malformed"},
    )
    case(
        "signature-bad-v",
        "v = 29.",
        _hex(resigned(good[:64] + bytes([29]), "sig")),
        {"authenticity": "signature-malformed"},
    )
    case(
        "signature-v-0",
        "v = 0 (27/28 only).",
        _hex(resigned(good[:64] + bytes([0]), "sig")),
        {"authenticity": "signature-malformed"},
    )
    case(
        "signature-r-zero",
        "r = 0.",
        _hex(resigned(bytes(32) + good[32:], "sig")),
        {"authenticity": "signature-malformed"},
    )
    case(
        "signature-unrecoverable",
        "r is no curve point's x: no key recovers, so malformed, not mismatch.",
        _hex(resigned(_unrecoverable(), "sig")),
        {"authenticity": "signature-malformed"},
    )
    case(
        "signature-mismatch",
        "Signed by another key than the author named.",
        _hex(resigned(STRANGER.unsafe_sign_digest(ev.id), "sig")),
        {"authenticity": "signature-mismatch"},
    )
    case(
        "author-not-trusted",
        "The author is not in the policy.",
        _hex(b),
        {"authenticity": "author-not-trusted"},
        policy=_policy(authors=[STRANGER.address]),
    )

    # -- inclusion
    sc = b.checkpoint
    case(
        "checkpoint-high-s",
        "The checkpoint signature with s > n/2.",
        _hex(
            dataclasses.replace(
                b, checkpoint=dataclasses.replace(sc, signature=_high_s(sc.signature))
            )
        ),
        {"inclusion": "checkpoint-signature-malformed"},
    )
    case(
        "checkpoint-signature-mismatch",
        "The checkpoint names another publisher than its signer.",
        _hex(
            dataclasses.replace(b, checkpoint=dataclasses.replace(sc, publisher=STRANGER.address))
        ),
        {"inclusion": "checkpoint-signature-mismatch"},
        policy=_policy(publishers="*"),
    )
    case(
        "publisher-not-trusted",
        "The publisher is not in the policy.",
        _hex(b),
        {"inclusion": "publisher-not-trusted"},
        policy=_policy(publishers=[STRANGER.address]),
    )
    other = Forge()
    other.add(_event(record_id=_rid("sig"), log_id=derive_log_id(STRANGER.address)).sign(AUTHOR))
    case(
        "log-mismatch",
        "The event names another log than the checkpoint.",
        _hex(other.bundle(0, Disclosure((), ()))),
        {"inclusion": "log-mismatch"},
    )
    second = Forge(log_id=sha256(b"a second log").digest())
    second.add(SignedEvent(_event(log_id=second.log_id, record_id=_rid("sig")), b"\0" * 65))
    second.entries[0] = _event(log_id=second.log_id, record_id=_rid("sig")).sign(AUTHOR)
    second.log = MerkleLog()
    second.log.append(second.entries[0].leaf_data())
    case(
        "log-not-bound",
        "A second log: its id is not the publisher's derived log id.",
        _hex(second.bundle(0, Disclosure((), ()))),
        {"inclusion": "log-not-bound"},
    )
    case(
        "tree-size-mismatch",
        "inclusion.treeSize differs from checkpoint.treeSize: decoded, "
        "then refused by the inclusion verdict.",
        _hex(
            dataclasses.replace(
                b, inclusion=dataclasses.replace(b.inclusion, tree_size=b.inclusion.tree_size + 1)
            )
        ),
        {"inclusion": "tree-size-mismatch"},
    )
    case(
        "proof-too-long",
        "One hash too many in the inclusion proof.",
        _hex(
            dataclasses.replace(
                b, inclusion=dataclasses.replace(b.inclusion, path=(*b.inclusion.path, bytes(32)))
            )
        ),
        {"inclusion": "proof-malformed"},
    )
    case(
        "index-past-size",
        "inclusion.index not below the tree size.",
        _hex(
            dataclasses.replace(
                b, inclusion=dataclasses.replace(b.inclusion, index=cp.checkpoint.tree_size)
            )
        ),
        {"inclusion": "proof-malformed"},
    )
    case(
        "root-mismatch",
        "One proof hash altered.",
        _hex(
            dataclasses.replace(
                b,
                inclusion=dataclasses.replace(b.inclusion, path=(bytes(32), *b.inclusion.path[1:])),
            )
        ),
        {"inclusion": "root-mismatch"},
    )

    # -- confidentiality
    plain = Forge()
    plain.add(_event(record_id=_rid("plain"), ciphertext_digest=ZERO_HASH).sign(AUTHOR))
    case(
        "not-encrypted",
        "ciphertextDigest is zero: no encrypted payload.",
        _hex(plain.bundle(0, Disclosure((), ()))),
        {"confidentiality": "not-encrypted"},
    )
    case(
        "ciphertext-mismatch",
        "The ciphertext given is not the signed one.",
        _hex(b),
        {"confidentiality": "ciphertext-mismatch"},
        ciphertext="0x" + s["sealed"][:-1].hex(),
    )

    # -- anchoring and consistency, against recorded chain facts
    size = cp.checkpoint.tree_size
    anchored = _chain([_anchor(cp, 100)])
    both = {"anchoring": "pass", "consistency": "pass"}
    case(
        "anchored",
        "Anchored in the pinned registry, 101 blocks deep.",
        _hex(b),
        both,
        policy=_chain_policy(),
        chain=anchored,
    )
    case(
        "anchored-with-pointer",
        "The same, the bundle pointing at the anchor.",
        _hex(dataclasses.replace(b, anchor=_ref(100))),
        both,
        policy=_chain_policy(),
        chain=anchored,
    )
    pointed = dataclasses.replace(b, anchor=_ref(100, ext=None))
    case(
        "anchored-json",
        "The bundle with its anchor pointer in the JSON form (anchor.registry in EIP-55 form).",
        _json(pointed),
        both,
        policy=_chain_policy(),
        chain=anchored,
    )
    case(
        "json-lower-registry",
        "anchor.registry written in lower case: an address is written in EIP-55 form.",
        _json_text(pointed, lambda t: t.replace(REGISTRY, REGISTRY.lower())),
        {"error": "non-canonical"},
    )
    case(
        "no-pointer-but-anchored",
        "No anchor pointer: the pinned registry is read anyway.",
        _hex(b),
        both,
        policy=_chain_policy(),
        chain=anchored,
    )
    case(
        "no-chain-required",
        "Anchoring required, no chain given: undecided.",
        _hex(b),
        {"result": "undecided", "anchoring": "no-chain"},
        policy=_policy(
            required=["integrity", "authenticity", "inclusion", "confidentiality", "anchoring"]
        ),
    )
    case(
        "chain-unavailable",
        "The chain does not answer: undecided, never pass or fail.",
        _hex(b),
        {"anchoring": "chain-unavailable", "result": "undecided"},
        policy=_chain_policy(),
        chain={"unavailable": "connection refused"},
    )
    case(
        "chain-mismatch",
        "The chain answering is another chain than the pinned one.",
        _hex(b),
        {"anchoring": "chain-mismatch"},
        policy=_chain_policy(),
        chain=_chain([_anchor(cp, 100)], chainId=1),
    )
    case(
        "registry-not-trusted",
        "The bundle points at a second registry.",
        _hex(dataclasses.replace(b, anchor=_ref(100, OTHER_REGISTRY))),
        {"anchoring": "registry-not-trusted"},
        policy=_chain_policy(),
        chain=_chain([], registries={OTHER_REGISTRY: [_anchor(cp, 100)]}),
    )
    case(
        "second-registry-only",
        "No pointer, the checkpoint anchored only in a second registry: the pinned one is read, "
        "it never saw the log, and a bundle that claims no anchor is pending, never a pass.",
        _hex(b),
        {"anchoring": "anchor-pending", "consistency": "anchor-pending", "result": "undecided"},
        policy=_chain_policy(),
        chain=_chain([], registries={OTHER_REGISTRY: [_anchor(cp, 100)]}),
    )
    case(
        "registry-missing",
        "No contract at the pinned registry address.",
        _hex(b),
        {"anchoring": "registry-missing"},
        policy=_chain_policy(),
        chain={"chainId": CHAIN_ID, "head": 200, "registries": {OTHER_REGISTRY: []}},
    )
    earlier = pub.checkpoint(size - 2)
    case(
        "not-anchored",
        "The bundle claims an anchor; the log is anchored, but not at the checkpoint's size.",
        _hex(dataclasses.replace(b, anchor=_ref(100))),
        {"anchoring": "not-anchored", "consistency": "consistency-unproven"},
        policy=_chain_policy(),
        chain=_chain([_anchor(earlier, 90)]),
    )
    case(
        "anchor-pending",
        "No pointer, and the checkpoint is newer than every anchor of the log: undecided until "
        "the publisher anchors it (anchoring.md rule 4).",
        _hex(b),
        {"anchoring": "anchor-pending", "consistency": "anchor-pending", "result": "undecided"},
        policy=_chain_policy(),
        chain=_chain([_anchor(earlier, 90)]),
    )
    case(
        "never-anchored",
        "The bundle claims an anchor; the log was never anchored.",
        _hex(dataclasses.replace(b, anchor=_ref(100))),
        {"anchoring": "not-anchored", "consistency": "consistency-unproven"},
        policy=_chain_policy(),
        chain=_chain([]),
    )
    case(
        "anchor-root-mismatch",
        "The registry holds another root for the size: two histories.",
        _hex(b),
        {"anchoring": "anchor-root-mismatch"},
        policy=_chain_policy(),
        chain=_chain([_anchor(cp, 100, root=bytes(32))]),
    )
    case(
        "not-final",
        "Anchored 2 blocks deep, 3 confirmations required.",
        _hex(b),
        {"anchoring": "not-final"},
        policy=_chain_policy(confirmations=3),
        chain=_chain([_anchor(cp, 100)], head=101),
    )
    case(
        "final-exactly",
        "Anchored 3 blocks deep (head - block + 1 = 3), 3 required.",
        _hex(b),
        both,
        policy=_chain_policy(confirmations=3),
        chain=_chain([_anchor(cp, 100)], head=102),
    )
    # an extension: the bundle's checkpoint at size-2, extended to the full size
    early = pub.bundle(s["create"].signed.id, checkpoint=earlier)
    proof = tuple(pub.log.consistency_proof(size - 2, size))
    ext = Extension(size, cp.checkpoint.root, proof)
    case(
        "extension",
        "Checkpoint not anchored itself; the carried extension to an anchored "
        "size proves it is in the anchored history.",
        _hex(dataclasses.replace(early, anchor=_ref(100, ext=ext))),
        {"anchoring": "not-anchored", "consistency": "pass"},
        policy=_chain_policy(),
        chain=_chain([_anchor(cp, 100)]),
    )
    bad_ext = Extension(size, cp.checkpoint.root, (bytes(32), *proof[1:]))
    case(
        "inconsistent-history",
        "The carried consistency proof does not hold.",
        _hex(dataclasses.replace(early, anchor=_ref(100, ext=bad_ext))),
        {"consistency": "inconsistent-history"},
        policy=_chain_policy(),
        chain=_chain([_anchor(cp, 100)]),
    )
    case(
        "extension-not-anchored",
        "The carried later tree head is not what was anchored.",
        _hex(dataclasses.replace(early, anchor=_ref(100, ext=ext))),
        {"consistency": "extension-not-anchored"},
        policy=_chain_policy(),
        chain=_chain([_anchor(earlier, 90), _anchor(cp, 100, root=bytes(32))]),
    )

    # -- identity: a key history given beside the bundle
    cases.extend(_identity_cases())
    return cases


def _identity() -> dict[str, Any]:
    """An organisation's log: a physician authorised (until a date), a nurse authorised then
    deauthorised, events by each; a key history over the identity events."""
    pub = _publisher()
    day = 86_400
    times = iter(range(T0, T0 + 1000 * day, 60))
    a1 = pub.authorise(AUTHOR.address, "physician", not_after=T0 + day, time=next(times))
    a2 = pub.authorise(NURSE.address, "nurse", time=next(times))
    by_doc = pub.create(
        b'{"n":"doc"}', author=AUTHOR, seed=_seed("d1"), record_id=_rid("d1"), time=next(times)
    )
    by_nurse = pub.create(
        b'{"n":"nurse"}', author=NURSE, seed=_seed("d2"), record_id=_rid("d2"), time=next(times)
    )
    by_stranger = pub.create(
        b'{"n":"s"}', author=STRANGER, seed=_seed("d3"), record_id=_rid("d3"), time=next(times)
    )
    late = pub.create(
        b'{"n":"late"}', author=AUTHOR, seed=_seed("d4"), record_id=_rid("d4"), time=T0 + 2 * day
    )
    d = pub.deauthorise(NURSE.address, purpose="left", time=T0 + 2 * day)
    by_gone = pub.create(
        b'{"n":"gone"}',
        author=NURSE,
        seed=_seed("d5"),
        record_id=_rid("d5"),
        time=T0 + 2 * day + 60,
    )
    locum = _key("locum").address
    l1 = pub.authorise(locum, "physician", time=T0 + 2 * day + 120)
    l2 = pub.deauthorise(locum, purpose="key compromised", time=T0 + 2 * day + 180)
    l3 = pub.authorise(locum, "physician", time=T0 + 2 * day + 240)
    cp = pub.checkpoint()
    ids = [a1, a2, d, l1, l2, l3]
    bundles = [pub.bundle(e.signed.id, checkpoint=cp) for e in ids]
    history = _history(pub, cp, bundles)
    return {
        "pub": pub,
        "cp": cp,
        "bundles": bundles,
        "history": history,
        "doc": pub.bundle(by_doc.signed.id, checkpoint=cp),
        "nurse": pub.bundle(by_nurse.signed.id, checkpoint=cp),
        "stranger": pub.bundle(by_stranger.signed.id, checkpoint=cp),
        "late": pub.bundle(late.signed.id, checkpoint=cp),
        "gone": pub.bundle(by_gone.signed.id, checkpoint=cp),
    }


def _identity_cases() -> list[dict[str, Any]]:
    i = _identity()
    org = {PUBLISHER.address: None}
    out = []

    def case(name: str, desc: str, b: Bundle, intent: dict[str, Any], **kw: Any) -> None:
        out.append(
            {
                "name": name,
                "description": desc,
                "bundle": _hex(b),
                "policy": kw.pop("policy", {"organisations": org}),
                "keyHistory": kw.pop("keyHistory", i["history"]),
            }
            | kw
            | {"intent": intent}
        )

    case(
        "org-authorised",
        "An author the organisation authorised, within its window.",
        i["doc"],
        {"result": "pass"},
    )
    case(
        "org-role-trusted",
        "The physician, the policy accepting physicians only.",
        i["doc"],
        {"result": "pass"},
        policy={"organisations": {PUBLISHER.address: ["physician"]}},
    )
    case(
        "author-role-not-trusted",
        "The physician, the policy accepting nurses only.",
        i["doc"],
        {"authenticity": "author-role-not-trusted"},
        policy={"organisations": {PUBLISHER.address: ["nurse"]}},
    )
    case(
        "revoked-unanchored",
        "The nurse's event logged before the DEAUTHORISE but never "
        "anchored: no proven time, so the revocation applies.",
        i["nurse"],
        {"authenticity": "author-revoked"},
    )
    case(
        "author-not-authorised",
        "A key the organisation never authorised.",
        i["stranger"],
        {"authenticity": "author-not-authorised"},
    )
    case(
        "author-expired",
        "An event dated after the authorisation's notAfter.",
        i["late"],
        {"authenticity": "author-expired"},
    )
    case(
        "author-revoked",
        "An event after the key's DEAUTHORISE.",
        i["gone"],
        {"authenticity": "author-revoked"},
    )
    out.append(
        {
            "name": "authorisations-missing",
            "description": "An organisation pinned, no key history given.",
            "bundle": _hex(i["doc"]),
            "policy": {"organisations": org},
            "intent": {"authenticity": "authorisations-missing"},
        }
    )
    trimmed = json.loads(i["history"])
    del trimmed["bundles"][4]
    case(
        "trimmed-key-history",
        "A key history with a DEAUTHORISE between two AUTHORISEs of a "
        "key left out: refused as a whole (the hidden event breaks the key's chain).",
        i["doc"],
        {"keyHistoryError": True},
        keyHistory=json.dumps(trimmed, indent=2),
    )
    if _TAILS:
        # The key's last DEAUTHORISE deleted from the file: the rest cannot be shown complete.
        pub = _publisher()
        first = pub.authorise(NURSE.address, "nurse", time=T0)
        pub.create(b'{"n":"k1"}', author=NURSE, seed=_seed("k1"), record_id=_rid("k1"), time=T0)
        gone = pub.deauthorise(NURSE.address, purpose="key compromised", time=T0 + 60)
        late = pub.create(
            b'{"n":"k2"}', author=NURSE, seed=_seed("k2"), record_id=_rid("k2"), time=T0 + 120
        )
        cp = pub.checkpoint()
        late_bundle = pub.bundle(late.signed.id, checkpoint=cp)
        shown = [pub.bundle(first.signed.id, checkpoint=cp)]
        case(
            "revoked-complete-history",
            "A complete key history (the entries after its last identity event shown): the "
            "event after the key's DEAUTHORISE is revoked.",
            late_bundle,
            {"authenticity": "author-revoked"},
            keyHistory=_history(pub, cp, [*shown, pub.bundle(gone.signed.id, checkpoint=cp)]),
        )
        case(
            "trimmed-key-history-end",
            "The key's last event, its DEAUTHORISE, deleted from the key history, with no entries "
            "after the last one shown: the history cannot be shown complete, so an event the "
            "rest would accept is undecided, never a pass.",
            late_bundle,
            {"authenticity": "key-history-incomplete", "result": "undecided"},
            keyHistory=_history(pub, cp, shown, tail=False),
        )
        case(
            "trimmed-key-history-end-tail",
            "The same deletion, the entries after the last shown event given: one of them is "
            "the hidden DEAUTHORISE, so the history is not complete.",
            late_bundle,
            {"authenticity": "key-history-incomplete", "result": "undecided"},
            keyHistory=_history(pub, cp, shown),
        )
    # publisher-retired: a handover, then the old key signs a later checkpoint
    pub, _, after, cp, history = _handed_over()
    case(
        "handed-over",
        "An event after a handover, its checkpoint signed by the new key.",
        pub.bundle(after.signed.id, checkpoint=cp),
        {"result": "pass"},
        keyHistory=history,
    )
    stale = Checkpoint(cp.checkpoint.log_id, cp.checkpoint.tree_size, cp.checkpoint.root).sign(
        PUBLISHER
    )
    case(
        "publisher-retired",
        "The old key signs a checkpoint past its handover.",
        pub.bundle(after.signed.id, checkpoint=stale),
        {"inclusion": "publisher-retired"},
        keyHistory=history,
    )
    return out


def lineage_cases() -> list[dict[str, Any]]:
    s = _base()
    pub: Publisher = s["pub"]
    cp = s["cp"]
    chain = [s["create"], s["amend"], s["grant"], s["erase"]]
    bundles = [pub.bundle(e.signed.id, checkpoint=cp) for e in chain]
    out: list[dict[str, Any]] = []

    def case(name: str, desc: str, bs: list[Bundle], reason: str | None, **kw: Any) -> None:
        intent = {"lineage": reason or "pass"}
        out.append(
            {
                "name": name,
                "description": desc,
                "bundles": [_hex(x) for x in bs],
                "policy": kw.pop("policy", _policy()),
            }
            | kw
            | {"intent": intent}
        )

    case("lineage-pass", "CREATE, AMEND, GRANT, ERASE of one record, in order.", bundles, None)
    case(
        "lineage-pass-shuffled",
        "The same bundles given in another order: lineage orders by log index.",
        bundles[::-1],
        None,
    )
    other = pub.bundle(pub.events[0].signed.id, checkpoint=cp)
    case("mixed-records", "Bundles of two records.", [bundles[0], other], "mixed-records")
    case(
        "missing-entry",
        "The AMEND left out: the GRANT's previous is not among the bundles.",
        [bundles[0], *bundles[2:]],
        "missing-entry",
    )
    case(
        "missing-start",
        "The CREATE left out: the history starts with an AMEND whose predecessor is missing.",
        bundles[1:],
        "missing-entry",
    )
    case(
        "duplicate-entry",
        "One event's bundle twice.",
        [bundles[0], bundles[0], *bundles[1:]],
        "duplicate-entry",
    )
    partial = pub.bundle(s["create"].signed.id, fields=["/status"], checkpoint=cp)
    case(
        "two-bundles-one-event",
        "Two bundles of one event that agree: still one event given twice.",
        [bundles[0], partial, *bundles[1:]],
        "duplicate-entry",
    )
    # equivocation: a second opening of the same path in another bundle of the same event
    f = partial.disclosure.fields[0]
    lie = dataclasses.replace(
        partial,
        disclosure=Disclosure(
            partial.disclosure.digests, (dataclasses.replace(f, value=b'"cancelled"'),)
        ),
    )
    case(
        "equivocation",
        "Two bundles of one event disclose two values at one path.",
        [bundles[0], lie, *bundles[1:]],
        "equivocation",
    )
    arr = dataclasses.replace(
        partial,
        disclosure=Disclosure(
            partial.disclosure.digests, (dataclasses.replace(f, tokens=("status", 0)),)
        ),
    )
    case(
        "equivocation-path-collision",
        "Two bundles of one event: /status a leaf in one, an array in the other.",
        [bundles[0], arr, *bundles[1:]],
        "equivocation",
    )
    case(
        "event-unverified",
        "One bundle's author is not trusted.",
        bundles,
        "event-unverified",
        policy=_policy(authors=[PUBLISHER.address]),
    )

    # Forged histories, signed by the (trusted) author, in a log of the trusted publisher.
    def forged(events: list[Event]) -> list[Bundle]:
        forge = Forge()
        for e in events:
            forge.add(e.sign(AUTHOR))
        cp2 = forge.checkpoint()
        return [forge.bundle(i, Disclosure((), ()), cp2) for i in range(len(events))]

    rid = _rid("forged")
    c = _event(record_id=rid)
    a = _event(kind=EventKind.AMEND, record_id=rid, version=2, previous=c.id, time=T0 + 60)
    case(
        "fork",
        "Two AMENDs name the same predecessor.",
        forged([c, a, dataclasses.replace(a, time=T0 + 120)]),
        "fork",
    )
    case(
        "bad-version",
        "An AMEND that raises the version by two.",
        forged([c, dataclasses.replace(a, version=3)]),
        "bad-version",
    )
    case("reordered", "The AMEND logged before the CREATE it follows.", forged([a, c]), "reordered")
    case(
        "time-reversed",
        "An AMEND dated before its predecessor (backwards time).",
        forged([c, dataclasses.replace(a, time=T0 - 1)]),
        "time-reversed",
    )
    e = _event(kind=EventKind.ERASE, record_id=rid, previous=c.id, time=T0 + 60)
    after = _event(
        kind=EventKind.ACCESS, record_id=rid, previous=e.id, subject=NURSE.address, time=T0 + 120
    )
    case(
        "after-erase",
        "An ACCESS logged after the record's ERASE.",
        forged([c, e, after]),
        "after-erase",
    )
    restart = _event(record_id=rid, time=T0 + 60, commitment=sha256(b"again").digest())
    case(
        "bad-start",
        "A second CREATE of one record: a record starts once.",
        forged([c, restart]),
        "bad-start",
    )
    # second log: the same record in another log of the same publisher key
    second = Forge(log_id=sha256(b"a second log").digest())
    second.add(dataclasses.replace(c, log_id=second.log_id).sign(AUTHOR))
    sb = second.bundle(0, Disclosure((), ()))
    case("mixed-logs", "The record's events in two logs.", [forged([c])[0], sb], "mixed-logs")
    case(
        "second-log",
        "The whole history in a second log of the publisher: not its bound log.",
        [sb],
        "log-not-bound",
    )
    # backdated: the event claims a time long before the anchor that proves it
    anchors = _chain([_anchor(cp, 100)])
    anchors["registries"][REGISTRY][0]["timestamp"] = s["erase"].signed.event.time + 2 * 86_400
    case(
        "backdated",
        "The anchor that proves the events is 2 days after their claimed time (tolerance 1 day).",
        bundles,
        "backdated",
        policy=_chain_policy(),
        chain=anchors,
        tolerance=86_400,
    )
    anchors_ok = _chain([_anchor(cp, 100)])
    anchors_ok["registries"][REGISTRY][0]["timestamp"] = s["erase"].signed.event.time + 600
    case(
        "lineage-anchored",
        "The same history anchored 10 minutes after its last event.",
        bundles,
        None,
        policy=_chain_policy(),
        chain=anchors_ok,
        tolerance=86_400,
    )
    return out


# --- shares ---------------------------------------------------------------------------------------


def _hpke_x25519_seal(pk_r: bytes, sk_e: bytes, info: bytes, plaintext: bytes) -> bytes:
    """RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, with a fixed
    ephemeral key, so a wrapped key is reproducible: ``enc || ct``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from tests.crypto.hpke_reference import (
        dhkem_x25519_shared_secret,
        key_schedule,
        x25519_exchange,
        x25519_raw,
    )

    enc = x25519_raw(sk_e).public_key().public_bytes_raw()
    shared = dhkem_x25519_shared_secret(x25519_exchange(sk_e, pk_r), enc, pk_r)
    key, nonce = key_schedule(0x0020, 0x0002, 32, shared, info)  # AES-256-GCM
    return enc + AESGCM(key).encrypt(nonce, plaintext, b"")


def share_cases() -> list[dict[str, Any]]:
    from okeios._internal.crypto.payload import payload_aad
    from okeios._internal.crypto.recipients import RecipientPrivateKey
    from okeios._internal.crypto.share import Share, grant_info, seal_seed

    s = _base()
    pub: Publisher = s["pub"]
    rid, version = _rid("main"), 1
    sealed, data_key, seed, _ = pub.versions._get(rid, version)  # type: ignore[attr-defined]
    content = pub.bundle(s["create"].signed.id, fields=[], checkpoint=s["cp"])
    nurse = RecipientPrivateKey.from_bytes(
        b"OKS1\x01" + sha256(b"okeios conformance nurse hpke").digest()
    )
    other = RecipientPrivateKey.from_bytes(
        b"OKS1\x01" + sha256(b"okeios conformance other hpke").digest()
    )
    info = grant_info(rid, version)
    eph = sha256(b"okeios conformance ephemeral").digest()
    wrapped = b"OKW1\x01\x00\x20" + _hpke_x25519_seal(nurse.public_key().raw, eph, info, data_key)
    seed_box = seal_seed(data_key, seed, rid, version, CountingRng(b"seed nonce"))

    def share(**kw: Any) -> str:
        fields = {
            "recipient": NURSE.address,
            "suite": "x25519",
            "wrapped_key": wrapped,
            "payload": sealed,
            "seed": seed_box,
            "bundle": content,
        }
        fields.update(kw)
        return Share(**fields).to_json()

    key = nurse.to_bytes().hex()
    out: list[dict[str, Any]] = []

    def case(name: str, desc: str, text: str, intent: dict[str, Any], **kw: Any) -> None:
        out.append(
            {
                "name": name,
                "description": desc,
                "share": text,
                "recipientKey": kw.pop("k", key),
                "policy": kw.pop("policy", _policy()),
            }
            | kw
            | {"intent": intent}
        )

    case(
        "share-opens",
        "The recipient opens the share: the record, every field checked, the "
        "ciphertext the signed one.",
        share(),
        {"result": "pass"},
    )
    case(
        "share-other-recipient",
        "Another recipient's key cannot unwrap the data key.",
        share(),
        {"error": "decryption-failed"},
        k=other.to_bytes().hex(),
    )
    flipped = sealed[:40] + bytes([sealed[40] ^ 1]) + sealed[41:]
    case(
        "share-payload-tampered",
        "One bit of the sealed payload flipped.",
        share(payload=flipped),
        {"error": "decryption-failed"},
    )
    from okeios._internal.crypto.payload import seal_payload

    resealed = seal_payload(
        data_key,
        pub.versions.get_version(rid, version)[0],
        aad=payload_aad(rid, version),
        rng=CountingRng(b"another nonce"),
    )
    case(
        "share-ciphertext-mismatch",
        "The same record sealed again with another nonce: it "
        "opens and matches the commitment, but it is not the ciphertext the event signed.",
        share(payload=resealed),
        {"confidentiality": "ciphertext-mismatch"},
    )
    other_seed = seal_seed(data_key, bytes(32), rid, version, CountingRng(b"seed nonce"))
    case(
        "share-wrong-seed",
        "A seed that does not give the bundle's field digests.",
        share(seed=other_seed),
        {"error": "decryption-failed"},
    )
    doc = json.loads(share())
    doc["payload"] = "0x" + doc["payload"][2:].upper()
    case(
        "share-upper-hex",
        "The payload in upper-case hex: refused like a bundle's hex.",
        json.dumps(doc, indent=2),
        {"error": "non-canonical"},
    )
    text = share()
    case(
        "share-duplicate-member",
        "The member payload twice.",
        text.replace('"payload": ', '"payload": "0x00",\n  "payload": ', 1),
        {"error": "malformed"},
    )
    case(
        "share-unknown-member",
        "A member the share format does not define.",
        json.dumps(json.loads(text) | {"note": ""}, indent=2),
        {"error": "unknown-field"},
    )
    case(
        "share-author-not-trusted",
        "The share opens, the event's author is not trusted.",
        share(),
        {"authenticity": "author-not-trusted"},
        policy=_policy(authors=[STRANGER.address]),
    )
    return out


# --- key histories -------------------------------------------------------------------------------


def key_history_cases() -> list[dict[str, Any]]:
    i = _identity()
    org = {"organisations": {PUBLISHER.address: None}}
    day = 86_400
    checks = [
        ({"author": AUTHOR.address, "index": 2, "time": T0 + 120}, "pass"),
        (
            {"author": AUTHOR.address, "index": 2, "time": T0 + 120, "roles": ["nurse"]},
            "author-role-not-trusted",
        ),
        ({"author": AUTHOR.address, "index": 0, "time": T0}, "author-not-authorised"),
        ({"author": AUTHOR.address, "index": 5, "time": T0 + 2 * day}, "author-expired"),
        (
            {"author": AUTHOR.address, "index": 5, "time": T0 + 100, "provenTime": T0 + 2 * day},
            "author-expired",
        ),
        ({"author": NURSE.address, "index": 3, "time": T0 + 180}, "author-revoked"),
        ({"author": NURSE.address, "index": 3, "time": T0 + 180, "provenTime": T0 + 3600}, "pass"),
        (
            {"author": NURSE.address, "index": 7, "time": T0 + 180, "provenTime": T0 + 3 * day},
            "author-revoked",
        ),
        ({"author": STRANGER.address, "index": 4, "time": T0 + 240}, "author-not-authorised"),
        ({"author": PUBLISHER.address, "index": 4, "time": T0 + 240}, "pass"),
        (
            {"author": PUBLISHER.address, "index": 4, "time": T0 + 240, "roles": ["nurse"]},
            "author-role-not-trusted",
        ),
        ({"author": AUTHOR.address, "index": 11, "time": T0 + 120}, "author-not-authorised"),
    ]
    out: list[dict[str, Any]] = []

    def case(name: str, desc: str, history: str, intent: Any, **kw: Any) -> None:
        out.append(
            {
                "name": name,
                "description": desc,
                "keyHistory": history,
                "policy": kw.pop("policy", org),
            }
            | kw
            | {"intent": intent}
        )

    case(
        "key-history-checks",
        "An organisation's key history and author checks against it (identity.md rule 3).",
        i["history"],
        [want for _, want in checks],
        checks=[c for c, _ in checks],
    )
    doc = json.loads(i["history"])
    case(
        "key-history-not-pinned",
        "The organisation is not pinned by the policy.",
        i["history"],
        "refused",
        policy={"organisations": {STRANGER.address: None}},
    )
    reordered = dict(doc, bundles=doc["bundles"][::-1])
    case(
        "key-history-out-of-order",
        "The bundles not in log order.",
        json.dumps(reordered, indent=1),
        "refused",
    )
    case(
        "key-history-wrong-size",
        "treeSize other than the bundles' checkpoint size.",
        json.dumps(dict(doc, treeSize=doc["treeSize"] + 1), indent=1),
        "refused",
    )
    gap = dict(doc, bundles=[b for k, b in enumerate(doc["bundles"]) if k != 4])
    case(
        "key-history-gap",
        "A DEAUTHORISE between two AUTHORISEs of one key left out.",
        json.dumps(gap, indent=1),
        "refused",
    )
    extra = dict(doc, note="")
    case(
        "key-history-unknown-member",
        "A member the format does not define.",
        json.dumps(extra, indent=1),
        "refused",
    )
    # A forged authorisation: signed by a key that does not hold the log.
    rogue = Publisher(
        STRANGER, clock=lambda: T0, rng=CountingRng(b"rogue"), organisation=PUBLISHER.address
    )
    forged = rogue.authorise(STRANGER.address, "physician", time=T0)
    fb = rogue.bundle(forged.signed.id)
    case(
        "key-history-forged",
        "An AUTHORISE in the organisation's log signed by another key.",
        dump_key_history(PUBLISHER.address, 1, [fb]),
        "refused",
    )
    # A handover: the checkpoint rule (identity.md rule 5).
    _, h, _, _, history = _handed_over()
    cps = [
        ({"publisher": PUBLISHER.address, "treeSize": h.index + 1}, "pass"),
        ({"publisher": SUCCESSOR.address, "treeSize": h.index + 1}, "pass"),
        ({"publisher": SUCCESSOR.address, "treeSize": h.index + 2}, "pass"),
        ({"publisher": PUBLISHER.address, "treeSize": h.index + 2}, "refused"),
        ({"publisher": SUCCESSOR.address, "treeSize": h.index}, "refused"),
    ]
    case(
        "key-history-handover",
        "A handover: which key may sign which checkpoint "
        "(identity.md rule 5); the old key authors nothing after it.",
        history,
        {
            "checks": ["author-not-authorised", "pass"],
            "checkpointChecks": [want for _, want in cps],
        },
        checks=[
            {"author": PUBLISHER.address, "index": h.index + 1, "time": T0 + 120},
            {"author": SUCCESSOR.address, "index": h.index + 1, "time": T0 + 120},
        ],
        checkpointChecks=[c for c, _ in cps],
    )
    broken = json.loads(history)
    broken["continuity"][0]["root"] = "0x" + bytes(32).hex()
    case(
        "key-history-broken-continuity",
        "The old key's last tree does not extend into the key history's tree.",
        json.dumps(broken, indent=1),
        "refused",
    )
    return out


# --- the log ------------------------------------------------------------------------------------


def log_cases() -> list[dict[str, Any]]:
    log = MerkleLog()
    entries = [sha256(b"entry %d" % k).digest() + bytes([27]) * 65 for k in range(13)]
    for e in entries:
        log.append(e)
    h = lambda b: "0x" + b.hex()  # noqa: E731
    out: list[dict[str, Any]] = []

    def inc(name: str, desc: str, index: int, size: int, intent: str, **kw: Any) -> None:
        proof = kw["proof"] if "proof" in kw else [h(p) for p in log.inclusion_proof(index, size)]
        entry = kw["entry"] if "entry" in kw else entries[index]
        out.append(
            {
                "name": name,
                "description": desc,
                "type": "inclusion",
                "index": index,
                "treeSize": size,
                "entry": h(entry),
                "root": h(kw.get("root", log.root(size))),
                "proof": proof,
                "intent": intent,
            }
        )

    def con(name: str, desc: str, old: int, new: int, intent: str, **kw: Any) -> None:
        if "proof" in kw:
            proof = kw["proof"]
        else:
            proof = [h(p) for p in log.consistency_proof(old, new)] if 0 < old <= new else []
        old_root = kw["oldRoot"] if "oldRoot" in kw else log.root(old)
        out.append(
            {
                "name": name,
                "description": desc,
                "type": "consistency",
                "oldSize": old,
                "newSize": new,
                "oldRoot": h(old_root),
                "newRoot": h(log.root(new)),
                "proof": proof,
                "intent": intent,
            }
        )

    for size in (1, 2, 3, 7, 8, 13):
        for index in sorted({0, size // 2, size - 1}):
            inc(f"inclusion-{index}-of-{size}", "A valid inclusion proof.", index, size, "pass")
    good = [h(p) for p in log.inclusion_proof(5, 13)]
    inc(
        "inclusion-long",
        "One hash too many.",
        5,
        13,
        "proof-malformed",
        proof=[*good, h(bytes(32))],
    )
    inc("inclusion-short", "One hash too few.", 5, 13, "proof-malformed", proof=good[:-1])
    inc(
        "inclusion-index-past-size",
        "Index equal to the tree size.",
        13,
        13,
        "proof-malformed",
        proof=good,
        entry=entries[5],
    )
    inc(
        "inclusion-wrong-entry",
        "Another entry at the index.",
        5,
        13,
        "root-mismatch",
        entry=entries[6],
    )
    inc("inclusion-wrong-root", "Another root.", 5, 13, "root-mismatch", root=log.root(12))
    inc(
        "inclusion-short-hash",
        "A proof hash of 31 bytes.",
        5,
        13,
        "proof-malformed",
        proof=[good[0][:-2], *good[1:]],
    )
    for old, new in ((1, 1), (1, 13), (4, 8), (5, 13), (8, 13), (12, 13), (13, 13)):
        con(f"consistency-{old}-{new}", "A valid consistency proof.", old, new, "pass")
    con(
        "consistency-from-empty",
        "From the empty tree: proves nothing.",
        0,
        13,
        "proof-malformed",
        oldRoot=sha256(b"").digest(),
    )
    good = [h(p) for p in log.consistency_proof(5, 13)]
    con(
        "consistency-long",
        "One hash too many.",
        5,
        13,
        "proof-malformed",
        proof=[*good, h(bytes(32))],
    )
    con(
        "consistency-wrong-old-root",
        "The old root is another tree's.",
        5,
        13,
        "root-mismatch",
        oldRoot=log.root(6),
    )
    con(
        "consistency-equal-sizes-proof",
        "Equal sizes with a non-empty proof.",
        13,
        13,
        "proof-malformed",
        proof=[good[0]],
    )
    con(
        "consistency-shrinking", "A new size below the old one.", 13, 5, "proof-malformed", proof=[]
    )
    return out


# --- tiles --------------------------------------------------------------------------------------


def _tiled(count: int, signer: LocalSigner = PUBLISHER) -> dict[str, dict[str, str]]:
    """The files of the tiled form of a log of ``count`` entries."""
    import base64
    import tempfile

    from okeios._internal.publish.tiles import publish_tiles

    pub = _publisher(signer)
    for k in range(count):
        pub.create(f'{{"n":{k}}}'.encode(), seed=_seed(f"t{k}"), record_id=_rid(f"t{k}"))
    files: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        publish_tiles(
            tmp,
            signer=signer,
            log_id=pub.log_id,
            events=[e.signed for e in pub.events],
            checkpoint=pub.checkpoint(),
        )
        for path in sorted(Path(tmp).rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(tmp).as_posix()
            data = path.read_bytes()
            text = rel.endswith((".json", "checkpoint")) or rel.startswith("okeios/events/")
            files[rel] = (
                {"text": data.decode("utf-8")}
                if text
                else {"base64": base64.b64encode(data).decode("ascii")}
            )
    return files


def tile_cases() -> list[dict[str, Any]]:
    import base64

    out: list[dict[str, Any]] = []
    now = T0 + 3600

    def case(name: str, desc: str, files: dict[str, Any], intent: Any, **kw: Any) -> None:
        out.append(
            {
                "name": name,
                "description": desc,
                "publisher": kw.pop("publisher", PUBLISHER.address),
                "now": now,
                "files": files,
                "intent": intent,
            }
        )

    no_chain = "no-chain"  # the audit says the anchors were not checked
    big = _tiled(260)
    case(
        "tiles-260",
        "A log of 260 entries: a full level-0 tile, a partial one and a partial "
        "level-1 tile; only the anchors are not checked (no chain).",
        big,
        [no_chain],
    )
    small = _tiled(20)
    case("tiles-20", "A log of 20 entries: partial tiles only.", small, [no_chain])
    tampered = dict(small)
    path = "tile/0/000.p/20"
    raw = bytearray(base64.b64decode(small[path]["base64"]))
    raw[40] ^= 1
    tampered[path] = {"base64": base64.b64encode(bytes(raw)).decode("ascii")}
    case("tiles-tampered", "One bit of a level-0 tile flipped.", tampered, "tile-mismatch")
    missing = {k: v for k, v in small.items() if k != "tile/entries/000.p/20"}
    case(
        "tiles-missing",
        "An entry bundle the checkpoint needs is not there.",
        missing,
        "tile-missing",
    )
    case(
        "tiles-foreign",
        "The log of another publisher than the one expected.",
        small,
        "foreign-log",
        publisher=STRANGER.address,
    )
    header = json.loads(small["okeios/log.json"]["text"])
    forged = json.loads(_tiled(20, STRANGER)["okeios/log.json"]["text"])["noteKey"]
    header["noteKey"] = forged
    case(
        "tiles-bad-note-key",
        "A note-key binding signed by another key.",
        dict(small, **{"okeios/log.json": {"text": json.dumps(header, indent=1) + "\n"}}),
        "bad-note-key",
    )
    note = small["checkpoint"]["text"]
    lines = note.split("\n")
    lines[1] = "19"
    case(
        "tiles-bad-note",
        "The checkpoint note altered after signing.",
        dict(small, checkpoint={"text": "\n".join(lines)}),
        "bad-checkpoint-note",
    )
    return out


# --- running and writing -------------------------------------------------------------------------


def _check_intent(case: dict[str, Any], got: dict[str, Any]) -> None:
    for key, want in case["intent"].items():
        if key == "result":
            ok = got["result"] == want
        elif key == "error":
            ok = got.get("error") == want
        elif key == "keyHistoryError":
            ok = got.get("keyHistoryError") is True
        elif key == "lineage":
            v = got.get("lineage", {})
            ok = (v.get("reason") or v.get("result")) == want
        else:
            v = got.get("verdicts", {}).get(key, {})
            ok = (v.get("reason") or v.get("result")) == want
        if not ok:
            raise SystemExit(f"case {case['name']}: intent {key}={want!r}, verifier gave {got}")
    if "result" not in case["intent"] and not (set(case["intent"]) & {"error", "keyHistoryError"}):
        passing = all(v in ("pass",) for v in case["intent"].values())
        if not passing and got["result"] == "pass":
            raise SystemExit(f"case {case['name']}: a failing intent passed: {got}")


def _finish(cases: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "case names are unique"
    out = []
    for c in cases:
        if kind in ("bundle", "lineage"):
            got = run_case(c)
            _check_intent(c, got)
        elif kind == "share":
            got = run_share(c)
            _check_intent(c, got)
        elif kind == "keyHistory":
            got = run_key_history(c)
            want = c["intent"]
            ok = (
                got["refused"]
                if want == "refused"
                else not got["refused"]
                and (
                    got["checks"] == want
                    if isinstance(want, list)
                    else all(got[k] == v for k, v in want.items())
                )
            )
            if not ok:
                raise SystemExit(f"case {c['name']}: intent {want!r}, verifier gave {got}")
        elif kind == "tiles":
            got = run_tiles(c)
            want = c["intent"]
            ok = (
                got.get("defects") == want
                if isinstance(want, list)
                else want in got.get("defects", [])
            )
            if not ok:
                raise SystemExit(f"case {c['name']}: intent {want!r}, verifier gave {got}")
        else:
            got = run_proof(c)
            if got != c["intent"]:
                raise SystemExit(f"case {c['name']}: intent {c['intent']!r}, verifier gave {got}")
        out.append({k: v for k, v in c.items() if k != "intent"} | {"expect": got})
    return out


def build() -> dict[str, str]:
    """Every vector file, by file name, as the text written."""
    files = {
        "bundles.json": ("bundle", bundle_cases()),
        "lineage.json": ("lineage", lineage_cases()),
        "shares.json": ("share", share_cases()),
        "keyhistories.json": ("keyHistory", key_history_cases()),
        "log.json": ("log", log_cases()),
        "tiles.json": ("tiles", tile_cases()),
    }
    out = {}
    for name, (kind, cases) in files.items():
        doc = {
            "format": FORMAT,
            "formatVersion": FORMAT_VERSION,
            "protocolVersion": 2,
            "kind": kind,
            "description": "okeios protocol version 2 conformance vectors (docs/spec/vectors.md)",
            "cases": _finish(cases, kind),
        }
        out[name] = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in build().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
