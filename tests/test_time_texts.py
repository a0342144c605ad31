"""SQLite time texts written without isoformat are isoformat's, byte for byte."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from states.time_texts import sqlite_time


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
