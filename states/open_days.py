"""A calendar's open days: each local date's open intervals in UTC, computed once.

A business calendar (:mod:`states.calendar`) answers its questions by walking
working days: how much open time a day holds, where in it a remaining duration
runs out. Those days are what this module holds: a week of local wall-time
hours, minus public holidays and extra closed days, turned into UTC intervals
through the zone's clock changes (:mod:`states.wallclock`), and kept per date,
because every deadline a policy arms walks the same few weeks again.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from states.calendar_config import MIDNIGHT
from states.wallclock import Interval, offsets_around, wall_intervals

Day = tuple[tuple[Interval, ...], timedelta]
"""One local day's open intervals in UTC, in order, and their total length."""

ONE_DAY = timedelta(days=1)
ZERO = timedelta(0)
_CLOSED_DAY: Day = ((), ZERO)
_DAY_CACHE_LIMIT = 20_000
MAX_CLOSED_RUN = 3_660


@functools.lru_cache(maxsize=1024)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


class OpenDays:
    """The open intervals of each local date of one calendar (`name`, for its errors).

    `week` holds each weekday's hours (Monday first) as offsets from local midnight,
    and `week_open` their totals; `always_open` makes every day open from midnight to
    midnight, whatever the hours, holidays and closed days.
    """

    __slots__ = (
        "always_open",
        "country",
        "extra_closed",
        "known",
        "name",
        "subdivision",
        "week",
        "week_open",
        "zone",
    )

    def __init__(
        self,
        name: str,
        zone: ZoneInfo,
        week: tuple[tuple[tuple[timedelta, timedelta], ...], ...],
        *,
        always_open: bool,
        country: str | None,
        subdivision: str | None,
        extra_closed: frozenset[date],
    ) -> None:
        self.name, self.zone, self.week = name, zone, week
        self.week_open = tuple(length_of(ranges) for ranges in week)
        self.always_open, self.extra_closed = always_open, extra_closed
        self.country, self.subdivision = country, subdivision
        self.known: dict[date, Day] = {}

    def day(self, day: date) -> Day:
        """Local date `day`'s open intervals in UTC and their total (none when closed)."""
        schedule = self.known.get(day)
        if schedule is None:
            if len(self.known) >= _DAY_CACHE_LIMIT:
                self.known.clear()
            schedule = self.known[day] = self._compute(day)
        return schedule

    def working_days(
        self, first: date, after: datetime | None = None
    ) -> Iterator[tuple[date, Day]]:
        """Working days from `first` on, each with its open intervals and their length;
        endless. With `after`, only the open time after that instant, days without any
        skipped. One generator for both: `add` and `elapsed` walk each day of a target
        through here, and a second generator layer on top was a third of the walk."""
        day, closed_run, known = first, 0, self.known
        while True:
            schedule = known.get(day) or self.day(day)
            intervals = schedule[0]
            if not intervals:
                closed_run += 1
                if closed_run > MAX_CLOSED_RUN:
                    raise ValueError(f"calendar {self.name} is closed for ten years after {day}")
            elif after is None or intervals[0][0] >= after:
                closed_run = 0
                yield day, schedule
            elif intervals[-1][1] <= after:
                closed_run = 0  # all of it before `after` (the day before the first)
            else:
                closed_run = 0
                cut = tuple(
                    (max(opens, after), closes) for opens, closes in intervals if closes > after
                )
                if cut:
                    yield day, (cut, length_of(cut))
            day += ONE_DAY

    def instant(self, day: date, wall: time) -> datetime:
        """The UTC instant of wall time `wall` on local date `day`."""
        return datetime.combine(day, wall, tzinfo=self.zone).astimezone(UTC)

    def _compute(self, day: date) -> Day:
        if self.always_open:
            midnight, next_midnight = (
                self.instant(day, MIDNIGHT),
                self.instant(day + ONE_DAY, MIDNIGHT),
            )
            return ((midnight, next_midnight),), next_midnight - midnight
        weekday = day.weekday()
        ranges = self.week[weekday]
        if not ranges or day in self.extra_closed or self._is_holiday(day):
            return _CLOSED_DAY
        wall_midnight = datetime.combine(day, MIDNIGHT, tzinfo=UTC)  # the wall time, read as UTC
        offsets = offsets_around(self.zone, wall_midnight)
        if len(offsets) == 1:
            # No clock change near today: wall-clock offsets are real durations.
            utc_midnight = wall_midnight - offsets[0][2]
            intervals = tuple((utc_midnight + start, utc_midnight + end) for start, end in ranges)
            return intervals, self.week_open[weekday]
        intervals = wall_intervals(wall_midnight, ranges, offsets)
        return intervals, length_of(intervals)

    def _is_holiday(self, day: date) -> bool:
        return self.country is not None and day in _holiday_dates(
            self.country, self.subdivision, day.year
        )


def within(intervals: tuple[Interval, ...], remaining: timedelta) -> datetime:
    """Where `remaining` business time runs out in a day's `intervals` (their total is at
    least `remaining`): a deadline on a closing time is that closing time."""
    for opens_at, closes_at in intervals:
        if remaining <= closes_at - opens_at:
            return opens_at + remaining
        remaining -= closes_at - opens_at
    raise AssertionError("unreachable: the day's open time holds the remaining time")


def inside(intervals: tuple[Interval, ...], due_at: datetime) -> datetime:
    """`due_at` kept inside a day's open `intervals` (see `add_working_days`): the first
    opening before them, the closing that began a break or ended the day after one."""
    if due_at <= intervals[0][0]:
        return intervals[0][0]
    return max(min(closes_at, due_at) for opens_at, closes_at in intervals if opens_at <= due_at)


def length_of(intervals: Sequence[tuple[Any, Any]]) -> timedelta:
    return sum((closes_at - opens_at for opens_at, closes_at in intervals), ZERO)
