"""SQLite time texts written without isoformat are isoformat's, byte for byte."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from states.time_texts import sqlite_time, utc_iso_text


def _stored(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def test_a_datetime_is_written_as_isoformat_writes_its_utc_value():
    rng = random.Random(8)
    start = datetime(2, 1, 2, tzinfo=UTC)
    for _ in range(20_000):
        value = start + timedelta(microseconds=rng.randrange(315_000_000_000_000_000))
        value = value.astimezone(timezone(timedelta(minutes=rng.randrange(-1439, 1440))))
        if rng.random() < 0.3:
            value = value.replace(microsecond=0)
        assert sqlite_time(value) == _stored(value)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-02T15:24:00+00:00",  # a clock state's form
        "2026-11-02T15:24:00.250000+00:00",
        "2026-11-02T15:24:00+02:00",
        "2026-11-02 15:24:00+00:00",
        "2026-W45-1T15:24:00+00:00",
        "0999-01-01T00:00:00+00:00",
    ],
)
def test_a_clock_state_text_is_written_as_its_datetime_would_be(text):
    assert sqlite_time(text) == _stored(datetime.fromisoformat(text))


@pytest.mark.parametrize("text", ["2026-11-02T15:24:00", "2026-11-02T24:00:00+00:00", "soon"])
def test_a_text_that_is_no_aware_time_is_refused(text):
    with pytest.raises(ValueError):
        sqlite_time(text)


def test_a_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="naive"):
        sqlite_time(datetime(2026, 11, 2, 9))


def test_a_remembered_text_is_the_text_of_the_value_asked_for():
    """sqlite_time keeps the texts it wrote by value: a second conversion (a dict hit)
    gives what the first did, for an equal instant in another zone too, and never the
    text of a datetime for an ISO text or the other way round."""
    at = datetime(2026, 11, 2, 15, 24, tzinfo=UTC)
    text = "2026-11-02T15:24:00+00:00"
    for _ in range(2):
        assert sqlite_time(at) == sqlite_time(text) == "2026-11-02T15:24:00.000000+00:00"
        elsewhere = at.astimezone(timezone(timedelta(hours=-5)))
        assert sqlite_time(elsewhere) == "2026-11-02T15:24:00.000000+00:00"
        assert sqlite_time(at + timedelta(microseconds=1)) == "2026-11-02T15:24:00.000001+00:00"


@pytest.mark.parametrize("value", ["soon", datetime(2026, 11, 2, 9)])
def test_a_refused_value_is_refused_every_time(value):
    for _ in range(2):
        with pytest.raises(ValueError):
            sqlite_time(value)


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
        ),
        min_size=1,
        max_size=4,
    )
)
def test_the_stored_text_of_an_instant_just_written_as_iso_text_is_its_own(values):
    """The stored text of an event's instants is taken from the ISO texts their sealing
    wrote a moment before (utc_iso_text's memo): still isoformat's text of each."""
    for value in values:
        assert utc_iso_text(value) == value.isoformat()
    for value in reversed(values):
        assert sqlite_time(value) == _stored(value)
