"""Ordering versions by meta.lastUpdated: FHIR versionIds are opaque, lastUpdated (an instant)
is the order a FHIR server gives. An older version never overwrites a newer one, whatever its
versionId claims; a tie nothing orders is refused, not decided by reading order; an invalid
instant is refused, naming the resource; and nothing about it is kept in clear."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.publish.store import Store
from okeios.errors import InputError
from tests.helpers import CountingRng

BASE: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "lab-1",
    "status": "final",
    "code": {"text": "potassium"},
}


@pytest.fixture
def store(tmp_path: Path, store_backend: str) -> Iterator[Store]:  # the backend first
    with Store.init(tmp_path / "home", key=CountingRng(b"publisher")(32)) as s:
        yield s


def _v(updated: str | None, version_id: str | None = None, **fields: Any) -> dict[str, Any]:
    value = copy.deepcopy(BASE)
    meta: dict[str, str] = {}
    if updated is not None:
        meta["lastUpdated"] = updated
    if version_id is not None:
        meta["versionId"] = version_id
    if meta:
        value["meta"] = meta
    value.update(fields)
    return value


def _status(store: Store, value: dict[str, Any]) -> str:
    (result,) = store.put([value])
    return result.status


def test_an_older_last_updated_is_stale_whatever_its_version_id(store: Store) -> None:
    assert _status(store, _v("2024-03-01T10:00:00Z", "b7f3", valueString="4.9")) == "created"
    size = store.size
    # The attack: an older copy that claims a larger (numeric) versionId than... anything.
    for older in (
        _v("2024-03-01T09:59:59.999Z", "zz-9", valueString="3.1"),
        _v("2024-03-01T09:00:00Z", "99999", valueString="3.1"),
        _v("2024-03-01T10:59:59+01:00", "100000", valueString="3.1"),
    ):
        assert _status(store, older) == "stale"
    assert store.size == size  # nothing logged
    content, info = store.show("Observation/lab-1")
    assert content["valueString"] == "4.9"
    assert info["versions"] == 1


def test_a_newer_last_updated_amends_whatever_its_version_id(store: Store) -> None:
    store.put([_v("2024-03-01T10:00:00Z", "7", valueString="4.9")])
    # A newer instant with a smaller numeric versionId (a server that renumbered): lastUpdated
    # is the order, so it is a new version.
    assert _status(store, _v("2024-03-01T10:00:00.001Z", "2", valueString="5.0")) == "amended"
    # Time zones are instants, not text: 12:00+02:00 is 10:00Z, before 10:00:00.001Z.
    assert _status(store, _v("2024-03-01T12:00:00+02:00", "8", valueString="4.0")) == "stale"
    assert _status(store, _v("2024-03-01T08:00:01-02:00", "x", valueString="5.1")) == "amended"
    content, info = store.show("Observation/lab-1")
    assert content["valueString"] == "5.1"
    assert info["versions"] == 3


def test_fractions_compare_as_numbers_not_text(store: Store) -> None:
    store.put([_v("2024-03-01T10:00:00.5Z", valueString="a")])
    # ".10001" is before ".5" (text order would say otherwise only for ".6" vs ".10001").
    assert _status(store, _v("2024-03-01T10:00:00.10001Z", valueString="b")) == "stale"
    assert _status(store, _v("2024-03-01T10:00:00.5000001Z", valueString="c")) == "amended"


def test_a_tie_is_ordered_by_numeric_version_ids_or_refused(store: Store) -> None:
    store.put([_v("2024-03-01T10:00:00Z", "2", valueString="a")])
    size = store.size
    # The same instant written another way, different content.
    same = "2024-03-01T11:00:00.000+01:00"
    assert _status(store, _v(same, "1", valueString="b")) == "stale"
    with pytest.raises(InputError, match="same versionId"):
        store.put([_v(same, "2", valueString="b")])
    # Opaque versionIds (or none): nothing orders the two; refusing names the resource.
    for version_id in ("abc", None):
        with pytest.raises(InputError, match=r"Observation/lab-1: .*same meta.lastUpdated"):
            store.put([_v(same, version_id, valueString="b")])
    assert store.size == size
    assert _status(store, _v(same, "3", valueString="b")) == "amended"


def test_without_last_updated_on_both_sides_version_ids_still_decide(store: Store) -> None:
    store.put([_v("2024-03-01T10:00:00Z", "5", valueString="a")])
    assert _status(store, _v(None, "4", valueString="b")) == "stale"
    assert _status(store, _v(None, "6", valueString="c")) == "amended"
    # The stored version has none now: the incoming lastUpdated orders nothing.
    assert _status(store, _v("2020-01-01T00:00:00Z", "5", valueString="d")) == "stale"
    assert _status(store, _v("2020-01-01T00:00:00Z", "opaque", valueString="e")) == "amended"


INVALID = [
    "2024-03-01T10:00:00",  # no time zone
    "2024-03-01",  # a date, not an instant
    "2024-03-01T10:00Z",  # no seconds
    "2024-02-30T10:00:00Z",  # no such day
    "2023-02-29T10:00:00Z",  # not a leap year
    "2024-03-01T24:00:00Z",
    "2024-03-01T10:60:00Z",
    "2024-03-01T10:00:61Z",
    "2024-03-01T10:00:00+15:00",
    "2024-03-01T10:00:00+14:30",
    "0000-03-01T10:00:00Z",
    "2024-03-01t10:00:00z",
    " 2024-03-01T10:00:00Z",
    "2024-03-01T10:00:00.Z",
    "2024-03-01T10:00:00Z\n",
    "２０２４-03-01T10:00:00Z",  # fullwidth digits are not [0-9]
]


@pytest.mark.parametrize("text", INVALID)
def test_an_invalid_instant_is_refused_naming_the_resource(store: Store, text: str) -> None:
    with pytest.raises(InputError, match=r"Observation/lab-1: meta.lastUpdated"):
        store.put([_v(text)])
    assert store.size == 0


def test_a_last_updated_that_is_not_a_string_is_refused(store: Store) -> None:
    value = _v(None)
    value["meta"] = {"lastUpdated": 1709287200}
    with pytest.raises(InputError, match=r"Observation/lab-1: meta\.lastUpdated must be"):
        store.put([value])


def test_a_stored_invalid_instant_orders_nothing(store: Store) -> None:
    # A version logged before instants were checked (explicit amend checks no order).
    store.put([_v(None, valueString="a")])
    store.amend("Observation/lab-1", _v("yesterday", valueString="b"))
    assert _status(store, _v("2020-01-01T00:00:00Z", valueString="c")) == "amended"


def test_nothing_of_last_updated_is_kept_in_clear(store: Store) -> None:
    marker = "2031-07-04T01:02:03.456789+05:30"
    store.put([_v(marker, valueString="a")])
    store.put([_v("2031-07-04T01:02:03.4567891+05:30", valueString="b")])
    store.close()
    for path in store.home.rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path
            assert b"2031-07-04" not in path.read_bytes(), path
