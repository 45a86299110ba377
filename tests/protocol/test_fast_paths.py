"""The fast paths of commitments and event ids give the bytes of the plain definitions.

:func:`okeios._internal.protocol.commitment.commit` walks a record once (path bytes built from their
parent's, HMAC from its keyed inner and outer states, the record's canonical bytes from the
same walk); an event's id is hashed from its own bytes. Each is checked here against the
definition written out plainly (the module docstrings' formulas, the generic EIP-712 encoder),
on real FHIR resources and on records made to reach every branch.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import pytest

from okeios._internal.protocol.canonical import (
    JSONNumber,
    canonicalize,
    iter_typed_leaves,
    parse_json,
)
from okeios._internal.protocol.commitment import (
    DisclosedField,
    _checked_path_bytes,
    commit,
    commit_canonical,
    path_bytes,
)
from okeios._internal.protocol.events import (
    _DOMAIN_SEPARATOR,
    _ENCODER,
    CHECKPOINT_TYPE,
    EVENT_TYPE,
    ZERO_ADDRESS,
    ZERO_HASH,
    Checkpoint,
    Event,
    EventKind,
    key_record_id,
)
from okeios._internal.protocol.fhir import fhir_resources
from okeios.errors import OkeiosError
from tests.conftest import shared_dir

SEED = bytes(range(32))


def _reference(record: Any, seed: bytes) -> tuple[bytes, list[bytes], list[tuple[Any, ...]]]:
    """The commitment as docs/commitments.md defines it, written out plainly."""
    fields = []
    for path, value in iter_typed_leaves(record):
        p = path_bytes(path)
        salt = hmac.new(seed, b"okeios/salt/v2\x00" + p, hashlib.sha256).digest()[:16]
        v = canonicalize(value)
        digest = hashlib.sha256(
            b"okeios/field/v2\x00" + salt + len(p).to_bytes(4, "big") + p
            + len(v).to_bytes(4, "big") + v
        ).digest()  # fmt: skip
        fields.append((path, salt, v, digest))
    digests = sorted(f[3] for f in fields)
    root = hashlib.sha256(
        b"okeios/commitment/v2\x00" + len(digests).to_bytes(4, "big") + b"".join(digests)
    ).digest()
    return root, digests, fields


def _same(record: Any) -> None:
    root, digests, fields = _reference(record, SEED)
    c, seed, canonical = commit_canonical(record, seed=SEED)
    assert seed == SEED
    assert c.root == root
    assert list(c.digests) == digests
    assert canonical == canonicalize(record)
    assert list(c.fields) == [f[0] for f in fields]
    got = [(f.tokens, f.salt, f.value, f.digest) for f in c.fields.values()]
    assert got == fields
    for path, salt, value, _ in fields[:3]:
        assert c.fields[path] == DisclosedField(path, salt, value)
        assert c.fields[path].encoded_path == path_bytes(path)
    assert commit(record, seed=SEED)[0].root == root


ODD: list[Any] = [
    {},
    [],
    "a scalar",
    None,
    {"a": {}, "b": [], "c": [[], {}], "d": None, "e": True, "f": False},
    {"n": [0, -1, 10**14, -(10**14), 10**15, 10**40, -(10**40)]},
    {"x": JSONNumber("1.000"), "y": JSONNumber("-0.5E+3"), "z": 1.5, "w": Decimal("2.50")},
    {"\u00e9t\u00e9": '\u2028caf\u00e9 "q" \\ \x00\x1f', "\U0001f600": ["\U0001f600 x"]},
    {"b": 1, "a": 2, "\u00e9": 3, "z": 4, "\U0001f600": 5, "\uff61": 6},  # UTF-16 order
    {"deep": [[[[[{"k": [1, [2, [3]]]}]]]]]},
    {"many": list(range(1500))},
    {"t": True, "one": 1},  # True == 1 but is written true
]


@pytest.mark.parametrize("record", ODD, ids=range(len(ODD)))
def test_commit_gives_the_plain_definition(record: Any) -> None:
    _same(record)


def test_commit_gives_the_plain_definition_on_the_fhir_examples() -> None:
    seen = 0
    for path in sorted(shared_dir("fhir", "r4-examples").glob("*.json"))[::3]:
        try:
            resources = list(fhir_resources(path.read_bytes()))
        except OkeiosError:
            continue
        for r in resources[:5]:
            _same(parse_json(r) if isinstance(r, bytes) else r)
            seen += 1
    assert seen > 150


BAD: list[Any] = [
    {"a": "\ud800"},  # a lone surrogate in a value
    {"\ud800": 1},  # ... in a member name
    {"a": float("nan")},
    {"a": (1, 2)},
    {1: "x"},
    {"a": {1, 2}},
    {"d": json.loads("[" * 101 + "]" * 101)},
]


@pytest.mark.parametrize("record", BAD, ids=range(len(BAD)))
def test_commit_refuses_what_the_plain_walk_refuses_with_its_error(record: Any) -> None:
    with pytest.raises(OkeiosError) as plain:
        _reference(record, SEED)
    with pytest.raises(OkeiosError) as fast:
        commit(record, seed=SEED)
    assert type(fast.value) is type(plain.value)
    assert str(fast.value) == str(plain.value)


ADDRESS = "0x" + "ab" * 20


def _first_version(kind: EventKind, timestamp: int, **extra: Any) -> Event:
    """An event of a record's first version, at ``timestamp``."""
    return Event(
        kind,
        b"\x01" * 32,
        b"\x02" * 32,
        1,
        ZERO_HASH,
        b"\x03" * 32,
        b"\x04" * 32,
        ADDRESS,
        timestamp,
        **extra,
    )


@pytest.mark.parametrize(
    "event",
    [
        _first_version(EventKind.CREATE, 1_700_000_000),
        _first_version(EventKind.DERIVE, 5, sources=(b"\x05" * 32, b"\x06" * 32)),
        Event(
            EventKind.GRANT,
            b"\x01" * 32,
            b"\x02" * 32,
            7,
            b"\x09" * 32,
            b"\x03" * 32,
            b"\x04" * 32,
            ADDRESS,
            5,
            subject="0x" + "cd" * 20,
            purpose="caf\u00e9 care",
        ),
        Event(
            EventKind.AUTHORISE,
            b"\x01" * 32,
            key_record_id(b"\x01" * 32, "0x" + "cd" * 20),
            1,
            ZERO_HASH,
            ZERO_HASH,
            ZERO_HASH,
            ADDRESS,
            9,
            subject="0x" + "cd" * 20,
            role="lab",
            not_before=3,
            not_after=(1 << 64) - 1,
        ),
    ],
    ids=["create", "derive", "grant", "authorise"],
)
def test_an_event_id_is_the_generic_eip712_digest(event: Event) -> None:
    assert event.id == _ENCODER.digest(_DOMAIN_SEPARATOR, EVENT_TYPE, event.message())
    assert event.subject != ZERO_ADDRESS or event.kind is not EventKind.GRANT


@pytest.mark.parametrize(
    ("size", "root"),
    [(0, bytes(32)), (1, b"\x01" * 32), (1234567, bytes(range(32))), ((1 << 64) - 1, b"\xff" * 32)],
    ids=range(4),
)
def test_a_checkpoint_id_is_the_generic_eip712_digest(size: int, root: bytes) -> None:
    checkpoint = Checkpoint(bytes(range(1, 33)), size, root)
    assert checkpoint.id == _ENCODER.digest(
        _DOMAIN_SEPARATOR, CHECKPOINT_TYPE, checkpoint.message()
    )


class _Kind(enum.IntEnum):
    TWO = 2


@pytest.mark.parametrize(
    "path",
    [(), ("a",), ("a", 0, "b"), ("\u00e9", 1023, 1024, 2**64 - 1), (_Kind.TWO, "x"), ("", "/~")],
    ids=range(6),
)
def test_path_bytes_fast_path_gives_the_checked_encoding(path: tuple[Any, ...]) -> None:
    assert path_bytes(path) == _checked_path_bytes(path)
    assert path_bytes(path) == path_bytes(path)  # once more, from the remembered tokens


@pytest.mark.parametrize(
    "path", [["a"], ("\ud800",), (True,), (-1,), (2**64,), (1.0,), ("a",) * 4097], ids=range(7)
)
def test_path_bytes_refuses_what_the_checked_encoding_refuses(path: Any) -> None:
    with pytest.raises(OkeiosError) as fast:
        path_bytes(path)
    with pytest.raises(OkeiosError) as checked:
        _checked_path_bytes(path)
    assert str(fast.value) == str(checked.value)
