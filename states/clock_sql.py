"""SLA clocks seen from SQL, and business time measured for the few rows a page shows.

A case's clocks live in its ``clocks`` JSON column (see :mod:`states.clocks`); each
clock's deadline, while the clock runs, is also a column of the case row
(``deadline_<clock>``, :data:`states.case.DEADLINE_COLUMNS`) with an index of its own
(``ix_case_deadline_<clock>``), so that urgency is sorted and counted by the
database, not by loading cases. Deadlines are stored as fixed-width ISO 8601 UTC
text, so they compare as text against :func:`states.clocks.iso`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func

from states.calendar import BusinessCalendar
from states.clocks import CLOCKS
from states.store import CASE

NO_DEADLINE = "9999-12-31T00:00:00+00:00"  # sorts after every real deadline


def running_deadline(clock: str) -> ColumnElement[Any]:
    """The clock's deadline while it runs, else NULL."""
    return CASE.c[f"deadline_{clock}"]


def is_running(clock: str) -> ColumnElement[bool]:
    """The clock runs: the condition of its deadline index (``ix_case_deadline_<clock>``)."""
    return running_deadline(clock).is_not(None)


def next_deadline(dialect: str) -> ColumnElement[Any]:
    """The soonest deadline of any running clock (:data:`NO_DEADLINE` when none runs)."""
    each = [func.coalesce(running_deadline(clock), NO_DEADLINE) for clock in CLOCKS]
    return (func.least if dialect == "postgresql" else func.min)(*each)


def signed_business(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """Business time from `start` to `end`, negative when `end` comes first."""
    if end >= start:
        return calendar.elapsed(start, end)
    return -calendar.elapsed(end, start)


def business_before(calendar: BusinessCalendar, end: datetime, duration: timedelta) -> datetime:
    """The latest instant from which `duration` of business time has elapsed by `end`
    (to the second): turns a business-time bucket edge into an instant SQL can compare."""
    if duration <= timedelta(0):
        return end
    high = end - duration  # business time never runs faster than the wall clock
    step = duration
    low = high - step
    while calendar.elapsed(low, end) < duration:
        step *= 2
        low = high - step
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if calendar.elapsed(middle, end) >= duration:
            low = middle
        else:
            high = middle
    return low
