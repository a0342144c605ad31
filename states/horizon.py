"""How far a policy's targets reach: every deadline falls within ten years of its start.

A target is business time: PT8H in a 09:00-17:00 calendar is one working day, in
a calendar open one minute a week it is 480 weeks. Checked when a policy loads,
for each target and each calendar it may count in, from the calendar's
ordinary week (holidays add a few days a year). A policy that passes can never
make a deadline run past the dates Python represents, nor make arming a timer
walk millions of days (``within = "P999999D"`` or ``working_days = 100000000``
used to pass ``check`` and crash every command).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from states.calendar import BusinessCalendar
from states.calendar_config import MIDNIGHT
from states.durations import MAX_DURATION
from states.errors import PolicyError

if TYPE_CHECKING:
    from states.policy import Policy

MAX_REACH = MAX_DURATION  # ten years of calendar time from a clock's start
_WEEK = timedelta(days=7)
_WEEKS = MAX_REACH / _WEEK

Fail = Callable[[str, str, str], PolicyError]


def open_per_week(calendar: BusinessCalendar) -> timedelta:
    """Business time in an ordinary week (no holiday, no clock change)."""
    if calendar.always_open:
        return _WEEK
    return sum((_length(*hours) for day in calendar.hours for hours in day), timedelta(0))


def check_reach(policy: Policy, fail: Fail) -> None:
    """Raise `fail(key, problem, allowed)` for the first target that reaches too far."""
    for key, duration in policy.targets.items():
        parts = key.split(".")  # targets.CLOCK[.OVERRIDE].KEY
        for name in _calendars(policy, parts[1], parts[-1]):
            per_week = open_per_week(policy.calendars[name])
            weeks = duration.value / per_week
            if weeks > _WEEKS:
                most = int(per_week * _WEEKS // timedelta(hours=1))
                raise fail(
                    key,
                    f"{duration.text!r} would run about {weeks / 52.18:,.0f} years in calendar "
                    f"{name!r} ({per_week / timedelta(hours=1):g} business hours a week)",
                    f"a target that ends within ten years, here at most PT{most}H",
                )
    days = policy.follow_up_days
    for name in _calendars(policy, "follow_up", "") if days is not None else ():
        calendar = policy.calendars[name]
        per_week = 7 if calendar.always_open else sum(1 for day in calendar.hours if day)
        if days / per_week > _WEEKS:
            raise fail(
                "follow_up.working_days",
                f"{days:,} working days would run about {days / per_week / 52.18:,.0f} years in "
                f"calendar {name!r} ({per_week} working days a week)",
                f"a number that ends within ten years, here at most {int(per_week * _WEEKS)}",
            )


def _calendars(policy: Policy, clock: str, key: str) -> set[str]:
    """Every calendar a clock keyed by `key` may count in (see Policy.target)."""
    for candidate in (f"calendar_for.{clock}.{key}", f"calendar_for.{clock}"):
        if candidate in policy.calendar_for:
            return {policy.calendar_for[candidate]}
    return {policy.default_calendar, *policy.team_calendars.values()}


def _length(start: time, end: time) -> timedelta:
    day = date(2000, 1, 3)
    stop = datetime.combine(day + timedelta(days=1), MIDNIGHT) if end == MIDNIGHT else None
    return (stop or datetime.combine(day, end)) - datetime.combine(day, start)
