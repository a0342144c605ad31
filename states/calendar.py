"""Business calendars: when a team is open, and how much business time passes.

SLA clocks run in business time: the hours a team works in its own time zone,
minus public holidays and extra closed days. A calendar answers what the
timers ask: is the team open at an instant (`is_open`), when does it next open
(`next_open`), when does a business duration that starts at an instant run out
(`add`), and how much business time lies between two instants (`elapsed`).

Open hours are local wall time per weekday, and the rule is: an instant is
working time when its local wall time lies inside the day's hours on a working
day. So a 09:00-17:00 day is 8 hours on DST days too, while a 24/7 calendar
(`always_open`) measures real elapsed time: the day the clocks change lasts 23
or 25 hours. On a clock change inside the hours, a repeated hour counts twice
and a skipped hour never; hours that start inside a skipped hour begin at the
first local time that exists after it (02:30-10:00 on the night Brussels skips
02:00-03:00 opens at 03:00). A repeated hour belongs to the local date it reads
(Santiago's 23:00-24:00 repeated on a Saturday night is Saturday's, twice);
:mod:`states.wallclock` maps the hours through the clock changes.
Ranges are half-open: a desk open 09:00-17:00 is open at 09:00 and closed at
17:00. `add` and `elapsed` read the same intervals, so a deadline and the
business time measured up to it always agree.

Everything here is pure: the clock is always a parameter, datetime inputs must
be timezone-aware, and datetime outputs are in UTC.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from states.errors import InvalidInput, PolicyError
from states.wallclock import Interval, offsets_around, wall_intervals

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIDNIGHT = time(0, 0)
"""As the end of a range, ``time(0, 0)`` means midnight at the end of the day ("24:00")."""

Range = tuple[time, time]
_Day = tuple[tuple[Interval, ...], timedelta]
"""One local day's open intervals in UTC, in order, and their total length."""

_ONE_DAY = timedelta(days=1)
_CLOSED_DAY: _Day = ((), timedelta(0))
_DAY_CACHE_LIMIT = 20_000
_MAX_CLOSED_RUN = 3_660
_KEYS = ("timezone", "country", "subdivision", "extra_closed", "hours", "always_open")
_RANGE_TEXT = re.compile(r"^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ALLOWED_RANGES = (
    'a list of "HH:MM-HH:MM" ranges within one day, each ending after it starts and not '
    'overlapping the others, such as ["09:00-12:30", "13:30-17:00"]; "24:00" ends at midnight'
)
_ALLOWED_ZONE = "an IANA time zone name such as Europe/Brussels or UTC"


@functools.lru_cache(maxsize=1024)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


@dataclass(frozen=True)
class BusinessCalendar:
    """A team's working time: weekly hours in a time zone, holidays, closed days.

    `hours` has 7 entries, Monday first; each is a tuple of ``(start, end)``
    local wall times, sorted and not overlapping, where an end of
    ``time(0, 0)`` means midnight at the end of the day. An empty entry is a
    closed day. `always_open` makes business time equal real elapsed time and
    ignores hours, holidays and closed days.
    """

    name: str
    timezone: str
    hours: tuple[tuple[Range, ...], ...]
    country: str | None = None
    subdivision: str | None = None
    extra_closed: frozenset[date] = frozenset()
    always_open: bool = False
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _week: tuple[tuple[tuple[timedelta, timedelta], ...], ...] = field(
        init=False, repr=False, compare=False
    )
    _week_open: tuple[timedelta, ...] = field(init=False, repr=False, compare=False)
    _days: dict[date, _Day] = field(default_factory=dict, init=False, repr=False, compare=False)
    _sums: dict[tuple[datetime, timedelta], datetime] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", ZoneInfo(self.timezone))
        hours = tuple(tuple((start, end) for start, end in ranges) for ranges in self.hours)
        object.__setattr__(self, "hours", hours)
        object.__setattr__(self, "extra_closed", frozenset(self.extra_closed))
        if len(hours) != len(WEEKDAYS):
            raise ValueError(f"calendar {self.name}: hours needs 7 entries, Monday first")
        for weekday, ranges in zip(WEEKDAYS, hours, strict=True):
            problem = _ranges_problem(ranges)
            if problem:
                raise ValueError(f"calendar {self.name}: {weekday}: {problem}")
        if not self.always_open and not any(hours):
            raise ValueError(f"calendar {self.name}: no working hours on any day")
        week = tuple(
            tuple((_offset(start), _offset(end, is_end=True)) for start, end in ranges)
            for ranges in hours
        )
        object.__setattr__(self, "_week", week)
        object.__setattr__(self, "_week_open", tuple(_total(ranges) for ranges in week))

    # -- questions the timers ask -------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """Whether the team is working at the instant `at`."""
        instant = _utc("at", at)
        return self.always_open or self._next_open(instant) == instant

    def next_open(self, at: datetime) -> datetime:
        """`at` itself (in UTC) if open, else the next instant the team opens."""
        instant = _utc("at", at)
        return instant if self.always_open else self._next_open(instant)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when `duration` of business time has elapsed after `start`.

        A zero duration gives ``next_open(start)``. A deadline that lands exactly
        on a closing time is that closing time, not the next opening; so
        ``elapsed(start, add(start, d)) == d`` and `add` grows with `duration`.
        """
        instant = _utc("start", start)
        if not isinstance(duration, timedelta) or duration < timedelta(0):
            raise InvalidInput("duration", duration, "a timedelta of zero or more")
        if self.always_open:
            return instant + duration
        # Deadlines are armed in batches at one instant (a sweep, an import) from a few
        # targets, so the same sums recur: remember them (the calendar never changes).
        key = (instant, duration)
        due = self._sums.get(key)
        if due is None:
            if len(self._sums) >= _DAY_CACHE_LIMIT:
                self._sums.clear()
            due = self._sums[key] = self._add(instant, duration)
        return due

    def _add(self, instant: datetime, duration: timedelta) -> datetime:
        span = self._open_span(instant)
        if span is not None and instant + duration <= span[1]:
            return instant + duration  # due before the current opening closes
        remaining = duration
        for _, (intervals, open_time) in self._open_days_from(instant):
            if remaining > open_time:
                remaining -= open_time
                continue
            for opens_at, closes_at in intervals:
                if remaining <= closes_at - opens_at:
                    return opens_at + remaining
                remaining -= closes_at - opens_at
        raise AssertionError("unreachable: open days never run out")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants; zero if `end` is not after `start`."""
        start_at, end_at = _utc("start", start), _utc("end", end)
        if end_at <= start_at:
            return timedelta(0)
        if self.always_open:
            return end_at - start_at
        span = self._open_span(start_at)
        if span is not None and end_at <= span[1]:
            return end_at - start_at  # both inside one opening (a command seconds later)
        total = timedelta(0)
        for _, (intervals, open_time) in self._open_days_from(start_at):
            if intervals[-1][1] <= end_at:
                total += open_time
                continue
            for opens_at, closes_at in intervals:
                if opens_at < end_at:
                    total += min(closes_at, end_at) - opens_at
            return total
        raise AssertionError("unreachable: open days never run out")

    def is_working_day(self, day: date) -> bool:
        """Whether the team opens at all on the local date `day`."""
        if not isinstance(day, date) or isinstance(day, datetime):
            raise InvalidInput("day", day, "a date")
        return bool(self._day(day)[0])

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Due "`days` business days after `start`", e.g. a follow-up after resolution.

        The rule: take the local date of `start` and move to the `days`-th
        working day strictly after it (the start day itself need not be a
        working day). The deadline is the local wall time of `start` on that
        day, kept inside the day's hours: before the first opening it is the
        first opening, after the last closing it is the last closing, and in a
        break (lunch) it is the closing that began the break. So Friday 10:00
        + 2 is Tuesday 10:00, Friday 20:00 + 2 is Tuesday 17:00 and Friday
        07:00 + 2 is Tuesday 09:00 for a 09:00-17:00 desk. For an
        `always_open` calendar every day counts and the wall time is kept.
        """
        instant = _utc("start", start)
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise InvalidInput("days", days, "a whole number of working days, 1 or more")
        local = instant.astimezone(self._zone)
        working_days = self._working_days(local.date() + _ONE_DAY)
        for _ in range(days - 1):
            next(working_days)
        day, (intervals, _) = next(working_days)
        due_at = self._instant(day, local.time())
        if due_at <= intervals[0][0]:
            return intervals[0][0]
        return max(
            min(closes_at, due_at) for opens_at, closes_at in intervals if opens_at <= due_at
        )

    # -- configuration -------------------------------------------------------

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], source: str) -> BusinessCalendar:
        """Build the calendar ``[calendars.<name>]`` of a policy file.

        Every problem raises `PolicyError(source, "calendars.<name>.<key>", ...)`
        saying what is wrong and what is allowed.
        """
        reader = _ConfigReader(name, source)
        if not isinstance(table, Mapping):
            raise reader.error("", "is not a table", "a table with keys " + ", ".join(_KEYS))
        for key in table:
            if key not in _KEYS:
                raise reader.error(key, f"unknown key {key!r}", ", ".join(_KEYS))
        always_open = table.get("always_open", False)
        if not isinstance(always_open, bool):
            raise reader.error("always_open", f"{always_open!r} is not a boolean", "true or false")
        if always_open:
            for key in ("hours", "country", "subdivision", "extra_closed"):
                if key in table:
                    raise reader.error(
                        key,
                        "cannot be combined with always_open = true (a 24/7 calendar has no "
                        "hours, holidays or closed days)",
                        "either always_open = true, or hours with optional holidays and "
                        "closed days",
                    )
            timezone = reader.timezone(table.get("timezone", "UTC"))
            return cls(name, timezone, ((),) * len(WEEKDAYS), always_open=True)
        if "timezone" not in table:
            raise reader.error("timezone", "missing", _ALLOWED_ZONE)
        country, subdivision = reader.holiday_region(table.get("country"), table.get("subdivision"))
        return cls(
            name,
            reader.timezone(table["timezone"]),
            reader.hours(table.get("hours", {})),
            country=country,
            subdivision=subdivision,
            extra_closed=reader.closed_days(table.get("extra_closed", [])),
        )

    # -- internals -----------------------------------------------------------

    def _open_span(self, instant: datetime) -> tuple[datetime, datetime] | None:
        """The open interval of `instant`'s local day that holds it, when nothing of the
        day before is open after it; else None. Within it, business time is real time:
        the shortcut `add` and `elapsed` take for the short spans most calls measure,
        with the results the walk over the days (`_open_days_from`) gives."""
        day = instant.astimezone(self._zone).date()
        for opens_at, closes_at in self._day(day)[0]:
            if opens_at <= instant < closes_at:
                before = self._day(day - _ONE_DAY)[0]
                return (opens_at, closes_at) if not before or before[-1][1] <= instant else None
        return None

    def _next_open(self, instant: datetime) -> datetime:
        _, (intervals, _) = next(self._open_days_from(instant))
        return intervals[0][0]

    def _open_days_from(self, instant: datetime) -> Iterator[tuple[date, _Day]]:
        """Each working day's open intervals after `instant`, cut to start at it; endless."""
        return self._working_days(instant.astimezone(self._zone).date() - _ONE_DAY, instant)

    def _working_days(
        self, first: date, after: datetime | None = None
    ) -> Iterator[tuple[date, _Day]]:
        """Working days from `first` on, each with its open intervals and their length;
        endless. With `after`, only the open time after that instant, days without any
        skipped. One generator for both: `add` and `elapsed` walk each day of a target
        through here, and a second generator layer on top was a third of the walk."""
        day, closed_run, known = first, 0, self._days
        while True:
            schedule = known.get(day) or self._day(day)
            intervals = schedule[0]
            if not intervals:
                closed_run += 1
                if closed_run > _MAX_CLOSED_RUN:
                    raise ValueError(f"calendar {self.name} is closed for ten years after {day}")
            elif after is None or intervals[0][0] >= after:
                closed_run = 0
                yield day, schedule
            else:
                closed_run = 0
                cut = tuple(
                    (max(opens, after), closes) for opens, closes in intervals if closes > after
                )
                if cut:
                    yield day, (cut, _total(cut))
            day += _ONE_DAY

    def _day(self, day: date) -> _Day:
        schedule = self._days.get(day)
        if schedule is None:
            if len(self._days) >= _DAY_CACHE_LIMIT:
                self._days.clear()
            schedule = self._days[day] = self._compute_day(day)
        return schedule

    def _compute_day(self, day: date) -> _Day:
        """The open intervals of local date `day` in UTC, and their total length."""
        if self.always_open:
            midnight, next_midnight = self._instant(day, MIDNIGHT), self._next_midnight(day)
            return ((midnight, next_midnight),), next_midnight - midnight
        weekday = day.weekday()
        ranges = self._week[weekday]
        if not ranges or day in self.extra_closed or self._is_holiday(day):
            return _CLOSED_DAY
        wall_midnight = datetime.combine(day, MIDNIGHT, tzinfo=UTC)  # the wall time, read as UTC
        offsets = offsets_around(self._zone, wall_midnight)
        if len(offsets) == 1:
            # No clock change near today: wall-clock offsets are real durations.
            utc_midnight = wall_midnight - offsets[0][2]
            intervals = tuple((utc_midnight + start, utc_midnight + end) for start, end in ranges)
            return intervals, self._week_open[weekday]
        intervals = wall_intervals(wall_midnight, ranges, offsets)
        return intervals, _total(intervals)

    def _is_holiday(self, day: date) -> bool:
        return self.country is not None and day in _holiday_dates(
            self.country, self.subdivision, day.year
        )

    def _next_midnight(self, day: date) -> datetime:
        return self._instant(day + _ONE_DAY, MIDNIGHT)

    def _instant(self, day: date, wall: time) -> datetime:
        return datetime.combine(day, wall, tzinfo=self._zone).astimezone(UTC)


def _total(intervals: Sequence[tuple[Any, Any]]) -> timedelta:
    return sum((closes_at - opens_at for opens_at, closes_at in intervals), timedelta(0))


def _utc(field_name: str, value: Any) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(field_name, value, "a timezone-aware datetime")
    return value.astimezone(UTC)


def _offset(wall: time, is_end: bool = False) -> timedelta:
    if is_end and wall == MIDNIGHT:
        return _ONE_DAY
    return timedelta(
        hours=wall.hour, minutes=wall.minute, seconds=wall.second, microseconds=wall.microsecond
    )


def _range_text(wall_range: Range) -> str:
    start, end = wall_range
    return f"{start:%H:%M}-{'24:00' if end == MIDNIGHT else f'{end:%H:%M}'}"


def _ranges_problem(ranges: Sequence[Range]) -> str | None:
    """What is wrong with one day's ranges (in order), or None."""
    previous: Range | None = None
    for wall_range in ranges:
        start, end = wall_range
        if _offset(end, is_end=True) <= _offset(start):
            return f"range {_range_text(wall_range)} does not end after it starts"
        if previous is not None and _offset(start) < _offset(previous[1], is_end=True):
            return f"ranges {_range_text(previous)} and {_range_text(wall_range)} overlap"
        previous = wall_range
    return None


@dataclass(frozen=True)
class _ConfigReader:
    """Reads the values of one ``[calendars.<name>]`` table, naming the key on error."""

    name: str
    source: str

    def error(self, key: str, problem: str, allowed: str) -> PolicyError:
        dotted = f"calendars.{self.name}.{key}" if key else f"calendars.{self.name}"
        return PolicyError(self.source, dotted, f"{problem}; allowed: {allowed}")

    def timezone(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.error("timezone", f"{value!r} is not a time zone name", _ALLOWED_ZONE)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise self.error("timezone", f"unknown time zone {value!r}", _ALLOWED_ZONE) from exc
        return value

    def holiday_region(self, country: Any, subdivision: Any) -> tuple[str | None, str | None]:
        country = country or None
        subdivision = subdivision or None
        allowed_country = "an ISO 3166 country code the holidays package knows, such as BE or US"
        if country is not None and not isinstance(country, str):
            raise self.error("country", f"{country!r} is not a country code", allowed_country)
        if subdivision is not None and not isinstance(subdivision, str):
            raise self.error(
                "subdivision", f"{subdivision!r} is not a code", "a subdivision code such as CA"
            )
        if country is None:
            if subdivision is not None:
                raise self.error(
                    "subdivision", "given without a country", "a subdivision of the country set"
                )
            return None, None
        try:
            known = holidays.country_holidays(country).subdivisions
        except NotImplementedError as exc:
            raise self.error("country", f"unknown country {country!r}", allowed_country) from exc
        try:
            holidays.country_holidays(country, subdiv=subdivision)
        except NotImplementedError as exc:
            allowed = (
                f"a subdivision of {country} the holidays package knows: " + ", ".join(known)
                if known
                else f"none, the holidays package has no subdivisions for {country}"
            )
            raise self.error(
                "subdivision", f"unknown subdivision {subdivision!r}", allowed
            ) from exc
        return country, subdivision

    def closed_days(self, values: Any) -> frozenset[date]:
        allowed = 'a list of dates such as ["2026-12-24", "2026-12-31"]'
        if not isinstance(values, list):
            raise self.error("extra_closed", f"{values!r} is not a list", allowed)
        days = set()
        for value in values:
            if isinstance(value, date) and not isinstance(value, datetime):
                days.add(value)
                continue
            try:
                if not (isinstance(value, str) and _DATE_TEXT.match(value)):
                    raise ValueError(value)
                days.add(date.fromisoformat(value))
            except ValueError as exc:
                raise self.error("extra_closed", f"{value!r} is not a date", allowed) from exc
        return frozenset(days)

    def hours(self, table: Any) -> tuple[tuple[Range, ...], ...]:
        if not isinstance(table, Mapping):
            raise self.error("hours", f"{table!r} is not a table", 'hours.mon = ["09:00-17:00"]')
        for key in table:
            if key not in WEEKDAYS:
                raise self.error(f"hours.{key}", f"unknown weekday {key!r}", ", ".join(WEEKDAYS))
        week = tuple(self._day_ranges(day, table.get(day, [])) for day in WEEKDAYS)
        if not any(week):
            raise self.error(
                "hours",
                "no working hours on any day",
                'at least one day with hours, such as hours.mon = ["09:00-17:00"], '
                "or always_open = true",
            )
        return week

    def _day_ranges(self, day: str, values: Any) -> tuple[Range, ...]:
        key = f"hours.{day}"
        if not isinstance(values, list):
            raise self.error(key, f"{values!r} is not a list", _ALLOWED_RANGES)
        ranges = sorted(self._range(key, value) for value in values)
        problem = _ranges_problem(ranges)
        if problem:
            raise self.error(key, problem, _ALLOWED_RANGES)
        return tuple(ranges)

    def _range(self, key: str, text: Any) -> Range:
        match = _RANGE_TEXT.match(text) if isinstance(text, str) else None
        if match is None:
            raise self.error(key, f"{text!r} is not a HH:MM-HH:MM range", _ALLOWED_RANGES)
        start_hour, start_minute, end_hour, end_minute = map(int, match.groups())
        end_is_midnight = (end_hour, end_minute) == (24, 0)
        if start_hour > 23 or start_minute > 59 or end_minute > 59 or end_hour > 24:
            raise self.error(key, f"{text!r} is not a time of day range", _ALLOWED_RANGES)
        if end_hour == 24 and not end_is_midnight:
            raise self.error(key, f"{text!r} ends after 24:00", _ALLOWED_RANGES)
        if (end_hour, end_minute) == (0, 0):
            raise self.error(key, f"{text!r} ends at 00:00, write 24:00", _ALLOWED_RANGES)
        end = MIDNIGHT if end_is_midnight else time(end_hour, end_minute)
        return time(start_hour, start_minute), end
