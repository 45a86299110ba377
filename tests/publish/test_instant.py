"""FHIR instants (meta.lastUpdated), parsed strictly and exactly: the order of versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okeios._internal.publish.identity import fhir_instant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", Decimal(0)),
        ("1970-01-01T00:00:00.000000001Z", Decimal("1E-9")),
        ("1970-01-01T01:00:00+01:00", Decimal(0)),
        ("1969-12-31T23:59:59-00:00", Decimal(-1)),
        ("2016-12-31T23:59:60Z", Decimal(1483228800)),  # a leap second: the next minute
        ("2024-03-01T10:00:00+14:00", Decimal(1709236800)),
        ("9999-12-31T23:59:59Z", Decimal(253402300799)),
        ("0001-01-01T00:00:00Z", Decimal(-62135596800)),
    ],
)
def test_fhir_instant_values(text: str, expected: Decimal) -> None:
    assert fhir_instant(text) == expected


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.builds(
            timezone, st.integers(-13 * 60, 14 * 60).map(lambda m: timedelta(minutes=m))
        ),
    )
)
def test_fhir_instant_agrees_with_the_calendar(when: datetime) -> None:
    text = when.isoformat(timespec="microseconds")
    text = text.replace("+00:00", "Z") if when.utcoffset() == timedelta(0) else text
    exact = (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert fhir_instant(text) == Decimal(exact) / 1_000_000
