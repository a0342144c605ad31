"""Instants a person types: when something happened, or the time a sweep or a ledger
reads as "now".

An edge (the CLI, later the HTTP API) reads them with :func:`read_instant`, which
refuses text that is not an ISO 8601 time with a UTC offset, and times outside
what the command allows: when something happened, or a sweep's instant, is never
in the future (:data:`MAX_SKEW` forgives a clock a little ahead of the server's);
nothing is before :data:`EARLIEST`; a ledger may look ahead, up to :data:`LATEST`.
Simulations of the future use the Python API, which takes any instant: the engine
itself only refuses a command dated before its case's last event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from states.errors import InvalidInput

MAX_SKEW = timedelta(minutes=2)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)  # date arithmetic past ~9999 overflows
FORM = "an ISO 8601 time with a UTC offset, e.g. 2026-11-23T09:00:00+00:00"


def as_utc(name: str, value: Any) -> datetime:
    """An instant a caller of the Python API hands over, in UTC; refused, naming `name`,
    unless it is a timezone-aware datetime."""
    if value.__class__ is datetime and value.tzinfo is UTC:
        return value  # what the engine and the calendars pass: as the conversion would give
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(name, value, "a timezone-aware datetime")
    return value.astimezone(UTC)


def in_range(name: str, value: Any) -> datetime:
    """`as_utc`, and from :data:`EARLIEST` to before :data:`LATEST`: the "now" a reading
    (a ledger, the aging table) or an intake is asked at, past or future, within the
    years the calendars' arithmetic can reach (9999-12-31 overflowed in it)."""
    value = as_utc(name, value)
    if not EARLIEST <= value < LATEST:
        raise InvalidInput(name, value, _range(value, future=True))
    return value


def read_instant(name: str, text: str, now: datetime, *, future: bool = False) -> datetime:
    """`text` as an aware UTC instant; refused naming `name`, the value and what is allowed.

    Without `future`, the instant may be at most :data:`MAX_SKEW` after `now`.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(name, text, FORM) from None
    if value.tzinfo is None:
        raise InvalidInput(name, text, f"{FORM} (this one has no UTC offset)")
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC instant
        raise InvalidInput(name, text, _range(now, future)) from None
    if value < EARLIEST or value >= LATEST or (not future and value > now + MAX_SKEW):
        raise InvalidInput(name, text, _range(now, future))
    return value


def _range(now: datetime, future: bool) -> str:
    if future:
        return f"a time from {EARLIEST.isoformat()} to before {LATEST.isoformat()}"
    return (
        f"a time from {EARLIEST.isoformat()} to now ({now.isoformat(timespec='seconds')}) "
        f"plus {int(MAX_SKEW.total_seconds() // 60)} minutes of clock skew; not in the future"
    )
