"""Typed ids and the one parser of what a user types to name a record (issue 21): an id has one
spelling, text is read once, and a mistyped id says what was expected."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.ids import (
    ID_SIZE,
    EventId,
    EventOrRecordId,
    LogId,
    RecordId,
    ResourceKey,
    as_ref,
    parse_ref,
)
from okeios.errors import InputError, TileError

ids = st.binary(min_size=ID_SIZE, max_size=ID_SIZE)
ID_TYPES = (RecordId, EventId, LogId, EventOrRecordId)


@given(raw=ids)
def test_an_id_round_trips_through_its_one_text(raw: bytes) -> None:
    for cls in ID_TYPES:
        value = cls(raw)
        assert str(value) == value.hex == to_hex(raw)
        assert cls.parse(str(value)) == value
        assert bytes(value) == value.raw == raw
    typed = parse_ref(to_hex(raw))
    assert typed == EventOrRecordId(raw)
    assert str(typed) == to_hex(raw)


@given(raw=ids)
def test_ids_of_different_kinds_are_never_equal(raw: bytes) -> None:
    assert len({cls(raw) for cls in ID_TYPES}) == len(ID_TYPES)
    assert RecordId(raw) != EventId(raw)
    assert RecordId(raw) != raw  # not bytes either: say what it is


@given(raw=ids.filter(lambda b: any(c in "abcdef" for c in b.hex())))
def test_an_upper_case_id_is_refused_with_its_canonical_spelling(raw: bytes) -> None:
    upper = "0x" + raw.hex().upper()  # the refused spelling
    for cls in ID_TYPES:
        with pytest.raises(InputError, match="lower-case"):
            cls.parse(upper)
    with pytest.raises(InputError, match="lower case: " + to_hex(raw)) as refused:
        parse_ref(upper)
    assert "64 lower-case hex digits" in str(refused.value)  # says what was expected
    with pytest.raises(InputError, match="lower case"):
        parse_ref("0X" + raw.hex())


@given(raw=ids)
def test_an_id_without_0x_is_refused_with_a_suggestion(raw: bytes) -> None:
    with pytest.raises(InputError, match="0x-prefixed"):
        RecordId.parse(raw.hex())
    with pytest.raises(InputError, match=f"did you mean {to_hex(raw)}"):
        parse_ref(raw.hex())


@given(size=st.integers(min_value=0, max_value=80).filter(lambda n: n != ID_SIZE), data=st.data())
def test_a_short_or_long_id_is_refused_naming_its_size(size: int, data: st.DataObject) -> None:
    text = to_hex(data.draw(st.binary(min_size=size, max_size=size)))
    for cls in ID_TYPES:
        with pytest.raises(InputError, match=f"must be {ID_SIZE} bytes"):
            cls.parse(text)
    with pytest.raises(InputError, match=f"{size} bytes?, not {ID_SIZE}"):
        parse_ref(text)
    with pytest.raises(InputError, match=f"is {ID_SIZE} bytes"):
        RecordId(bytes(size))


@given(text=st.text(min_size=1, max_size=80).filter(lambda t: "/" not in t))
def test_text_that_is_neither_an_id_nor_a_key_is_refused(text: str) -> None:
    if len(text) == 2 + 2 * ID_SIZE and text.startswith("0x"):
        try:
            bytes.fromhex(text[2:])  # the test's own oracle
        except ValueError:
            pass
        else:
            if text == text.lower():
                assert parse_ref(text) == EventOrRecordId.parse(text)
                return
    with pytest.raises(InputError, match="Type/id"):
        parse_ref(text)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("0x" + "zz" * 32, "not hex byte pairs"),
        ("0x" + "a" * 63, "not hex byte pairs"),
        ("0x" + "ab", "1 byte, not 32"),
        ("0x", "0 bytes, not 32"),
        (" 0x" + "ab" * 32, ""),
        ("Observation", ""),
        ("", ""),
    ],
)
def test_a_mistyped_id_says_what_was_expected(text: str, detail: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_ref(text)
    message = str(refused.value)
    assert message.startswith("the record is named by its id or one of its event ids (0x and 64")
    assert detail in message


def test_a_non_string_is_refused_by_type() -> None:
    with pytest.raises(InputError, match="got bytes"):
        parse_ref(b"\x01" * 32)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="got bytearray"):
        RecordId(bytearray(32))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="got int"):
        as_ref(7)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["Observation/hba1c-77", "Patient/p.1", "invoice/2024/7"])
def test_a_key_with_a_slash_is_a_resource_key(text: str) -> None:
    """A FHIR ``Type/id``, or a caller's key with a ``/`` (``okeios add --key``): the rule the
    store has always used to tell a key from an id."""
    ref = parse_ref(text)
    assert ref == ResourceKey(text)
    assert str(ref) == text
    with pytest.raises(InputError):
        ResourceKey("no-slash")
    with pytest.raises(InputError):
        ResourceKey("0x12/34")


def test_a_typed_value_passes_as_it_is_and_stays_immutable() -> None:
    raw = b"\x07" * 32
    event = EventId(raw)
    assert as_ref(event) is event
    assert as_ref("Patient/p1") == ResourceKey("Patient/p1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.raw = b"\x00" * 32  # type: ignore[misc]
    assert repr(event) == f"EventId({to_hex(raw)})"


def test_the_caller_chooses_the_typed_error() -> None:
    """A log id read from a mirror's file fails as that file's error (``TileError`` becomes
    ``non-canonical-id`` in the tiles audit), never as a bare ``ValueError``."""
    with pytest.raises(TileError, match="a cached log id"):
        LogId.parse("0x" + "AB" * 32, "a cached log id", error=TileError)
