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
:mod:`states.wallclock` maps the hours through the clock changes, and
:mod:`states.open_days` keeps each date's open intervals.
Ranges are half-open: a desk open 09:00-17:00 is open at 09:00 and closed at
17:00. `add` and `elapsed` read the same intervals, so a deadline and the
business time measured up to it always agree.

Everything here is pure: the clock is always a parameter, datetime inputs must
be timezone-aware, and datetime outputs are in UTC.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from states.calendar_config import (
    WEEKDAYS,
    Range,
    calendar_arguments,
    offset,
    ranges_problem,
)
from states.errors import InvalidInput
from states.instants import as_utc
from states.open_days import ONE_DAY, ZERO, Day, OpenDays, length_of, within
from states.wallclock import Interval
from states.working_days import WorkingDays

_Ahead = tuple[
    datetime, date, tuple[timedelta, ...], tuple[tuple[tuple[Interval, ...], timedelta], ...], date
]
"""`BusinessCalendar._ahead_of`: the end of an open stretch and its local date; the open
time from it to the end of each open day after it, ascending; each such day's intervals
with the open time before them; and the first local date not in the table yet."""

_SUMS_KEPT = 20_000  # sums from one instant (see `_sums_from`)
_AHEAD_LIMIT = 3_000  # working days: more than ten years of a five-day week (MAX_DURATION)
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class BusinessCalendar(WorkingDays):
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
    _open: OpenDays = field(init=False, repr=False, compare=False)
    # memos, not part of the value (see `_sums_from`, `_stretch_of` and `_resumes`)
    _sums: tuple[datetime, dict[timedelta, datetime]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _stretch: tuple[datetime, datetime, date] = field(
        default=(_END_OF_TIME, _END_OF_TIME, date.max), init=False, repr=False, compare=False
    )
    _gap: tuple[datetime, datetime] = field(
        default=(_END_OF_TIME, _END_OF_TIME), init=False, repr=False, compare=False
    )
    _ahead: _Ahead = field(
        default=(_END_OF_TIME, date.max, (), (), date.max), init=False, repr=False, compare=False
    )
    _due_days: tuple[date, int, timedelta | None, tuple[Interval, ...]] = field(
        default=(date.max, 0, None, ()), init=False, repr=False, compare=False
    )
    _closed_span: tuple[datetime, datetime] = field(
        default=(_END_OF_TIME, _END_OF_TIME), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", ZoneInfo(self.timezone))
        hours = tuple(tuple((start, end) for start, end in ranges) for ranges in self.hours)
        object.__setattr__(self, "hours", hours)
        object.__setattr__(self, "extra_closed", frozenset(self.extra_closed))
        if len(hours) != len(WEEKDAYS):
            raise ValueError(f"calendar {self.name}: hours needs 7 entries, Monday first")
        for weekday, ranges in zip(WEEKDAYS, hours, strict=True):
            problem = ranges_problem(ranges)
            if problem:
                raise ValueError(f"calendar {self.name}: {weekday}: {problem}")
        if not self.always_open and not any(hours):
            raise ValueError(f"calendar {self.name}: no working hours on any day")
        week = tuple(
            tuple((offset(start), offset(end, is_end=True)) for start, end in ranges)
            for ranges in hours
        )
        open_days = OpenDays(
            self.name,
            self._zone,
            week,
            always_open=self.always_open,
            country=self.country,
            subdivision=self.subdivision,
            extra_closed=self.extra_closed,
        )
        object.__setattr__(self, "_open", open_days)

    # -- questions the timers ask -------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """Whether the team is working at the instant `at`."""
        instant = as_utc("at", at)
        return self.always_open or self._next_open(instant) == instant

    def next_open(self, at: datetime) -> datetime:
        """`at` itself (in UTC) if open, else the next instant the team opens."""
        instant = as_utc("at", at)
        return instant if self.always_open else self._next_open(instant)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when `duration` of business time has elapsed after `start`.

        A zero duration gives ``next_open(start)``. A deadline that lands exactly
        on a closing time is that closing time, not the next opening; so
        ``elapsed(start, add(start, d)) == d`` and `add` grows with `duration`.
        """
        return self.add_all(start, (duration,))[duration]

    def add_all(self, start: datetime, durations: Iterable[timedelta]) -> dict[timedelta, datetime]:
        """`add(start, duration)` for each of `durations`, keyed by duration.

        One walk over the days serves them all: the clocks an event arms start
        at its instant, and a clock's warning and deadline are two sums from
        the same start, so arming them one `add` at a time walked the same
        days two to four times.
        """
        instant = as_utc("start", start)
        durations = tuple(durations)
        for duration in durations:  # before hashing them: a bad one is named, not a TypeError
            _check_duration(duration)
        if self.always_open:
            return {duration: instant + duration for duration in durations}
        instant, day, until = self._resumes(instant)
        if until is not None:
            dues = self._add_in_stretch(instant, day, until, durations)
            if dues is not None:
                return dues
        known = self._sums_from(instant)
        missing = sorted(set(durations).difference(known))
        if missing:
            if len(known) + len(missing) > _SUMS_KEPT:
                known.clear()
            known.update(zip(missing, self._add_all(instant, missing), strict=True))
        return {duration: known[duration] for duration in durations}

    def _add_all(self, instant: datetime, durations: list[timedelta]) -> list[datetime]:
        """`add` of each of `durations` (ascending) from `instant`, in one walk. Each
        ends on the day its remaining time fits in, exactly as a walk of its own would:
        the remaining time on a day is the duration less the open time of the days
        before (`walked`), and timedelta sums are exact."""
        dues: list[datetime] = []
        day, until = self._stretch_of(instant)
        if until is not None:
            for duration in durations:
                if instant + duration > until:
                    break
                dues.append(instant + duration)  # due before the current opening closes
        wanted, walked = len(durations), ZERO
        if len(dues) == wanted:
            return dues
        for _, (intervals, open_time) in self._open_days_from(instant, day):
            while (remaining := durations[len(dues)] - walked) <= open_time:
                dues.append(within(intervals, remaining))
                if len(dues) == wanted:
                    return dues
            walked += open_time
        raise AssertionError("unreachable: open days never run out")

    def _add_in_stretch(
        self, instant: datetime, day: date, until: datetime, durations: tuple[timedelta, ...]
    ) -> dict[timedelta, datetime] | None:
        """`add_all` from an `instant` inside an open stretch (of local date `day`, ending at
        `until`, see `_stretch_of`): a sum due before `until` is real time, and one beyond
        is read from the open time after `until` (`_ahead_of`), which is the same for every
        instant of the stretch; so a day's commands, which arm their deadlines from their
        own instants, walk the days ahead once between them, not once each. None when a
        sum lies beyond what `_ahead_of` keeps: the walk answers it."""
        dues: dict[timedelta, datetime] = {}
        left = until - instant  # of the stretch: all of it business time
        ahead = None
        for duration in durations:
            if duration <= left:
                dues[duration] = instant + duration
                continue
            if ahead is None:
                ahead = self._ahead_of(day, until, max(durations) - left)
                if ahead is None:
                    return None
            needed = duration - left  # business time after `until`
            intervals, before = ahead[3][bisect_left(ahead[2], needed)]  # where the walk stops
            dues[duration] = within(intervals, needed - before)
        return dues

    def _ahead_of(self, day: date, until: datetime, needed: timedelta) -> _Ahead | None:
        """The open time after `until`, the end of an open stretch of local date `day`, as
        far as `needed` business time: the rest of that day's intervals, then each working
        day after it, each with the open time before it; and, ascending, the open time up
        to the end of each (`bisect` finds the day a sum ends on, where the walk over the
        days would stop). The table found last is kept, and grown as far as asked; it is
        swapped whole, so a thread reading it never sees one half-grown.

        None when the days ahead are not plain (a day opening before `until`, which the
        clock changes of any real zone never make, see :mod:`states.wallclock`: the walk
        cuts such a day at the instant), or when `needed` lies more than `_AHEAD_LIMIT`
        working days ahead."""
        ahead = self._ahead
        if ahead[0] != until or ahead[1] != day:
            later = tuple(interval for interval in self._open.day(day)[0] if interval[0] >= until)
            ahead = (until, day, (), (), day + ONE_DAY)
            if later:
                ahead = (until, day, (length_of(later),), ((later, ZERO),), day + ONE_DAY)
            object.__setattr__(self, "_ahead", ahead)
        reached = ahead[2]
        if reached and reached[-1] >= needed:
            return ahead
        total = reached[-1] if reached else ZERO
        grown, days, unread = list(reached), list(ahead[3]), ahead[4]
        for working_day, (intervals, open_time) in self._open.working_days(unread):
            if intervals[0][0] < until:
                return None
            days.append((intervals, total))
            total += open_time
            grown.append(total)
            unread = working_day + ONE_DAY
            if total >= needed or len(days) >= _AHEAD_LIMIT:
                break
        ahead = (until, day, tuple(grown), tuple(days), unread)
        object.__setattr__(self, "_ahead", ahead)
        return ahead if total >= needed else None

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants; zero if `end` is not after `start`."""
        start_at, end_at = as_utc("start", start), as_utc("end", end)
        if end_at <= start_at:
            return ZERO
        if self.always_open:
            return end_at - start_at
        start_at, day, until = self._resumes(start_at)
        if end_at <= start_at:
            return ZERO  # both while closed (a command at night, seconds after another)
        if until is not None and end_at <= until:
            return end_at - start_at  # both inside one opening (a command seconds later)
        total = ZERO
        for _, (intervals, open_time) in self._open_days_from(start_at, day):
            if intervals[-1][1] <= end_at:
                total += open_time
                continue
            for opens_at, closes_at in intervals:
                if opens_at < end_at:
                    total += min(closes_at, end_at) - opens_at
            return total
        raise AssertionError("unreachable: open days never run out")

    # -- configuration -------------------------------------------------------

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], source: str) -> BusinessCalendar:
        """The calendar ``[calendars.<name>]`` of a policy file (its checks and errors:
        :func:`states.calendar_config.calendar_arguments`)."""
        return cls(**calendar_arguments(name, table, source))

    # -- internals -----------------------------------------------------------

    def _sums_from(self, instant: datetime) -> dict[timedelta, datetime]:
        """The sums from `instant` worked out already: those of the latest instant asked
        about are kept (the calendar never changes). Deadlines are armed in batches at one
        instant (a sweep's breaches, a batch of commands) from a few targets, so the same
        sums recur there; an engine's next command starts from a new instant, and a memo
        of every instant's sums only hashed its keys to find nothing."""
        kept = self._sums
        if kept is not None and kept[0] == instant:
            return kept[1]
        known: dict[timedelta, datetime] = {}
        object.__setattr__(self, "_sums", (instant, known))
        return known

    def _stretch_of(self, instant: datetime) -> tuple[date, datetime | None]:
        """`instant`'s local date, and the end of the open stretch holding it in which
        business time is real time (None: there is none, see `_open_span`).

        The stretch found last is kept, with its date: a day's commands fall in the
        same opening, and an instant inside that stretch has that date and that answer
        (a day's open intervals do not overlap, and each holds only that day's wall
        times), so most calls need neither the time zone nor the day's intervals."""
        opens_at, closes_at, day = self._stretch
        if opens_at <= instant < closes_at:
            return day, closes_at
        day = instant.astimezone(self._zone).date()
        span = self._open_span(instant, day)
        if span is None:
            return day, None
        object.__setattr__(self, "_stretch", (*span, day))
        return day, span[1]

    def _resumes(self, instant: datetime) -> tuple[datetime, date, datetime | None]:
        """Where business time from `instant` starts: `instant` itself when the team is
        open, else its next opening (no business time passes before it, so a sum or a
        measure from a closed instant is the same from that opening); with the local date
        and the end of the open stretch there (`_stretch_of`).

        The closed span found last is kept (from the first instant seen in it to the
        opening): commands at night fall in the same one, and need no walk to find
        that the time between them is none, or where their deadlines start from."""
        since, opens = self._gap
        if since <= instant < opens:
            instant = opens
        day, until = self._stretch_of(instant)
        if until is None:
            opens = self._next_open(instant)
            if opens != instant:  # closed (else open where the day before overlaps)
                object.__setattr__(self, "_gap", (instant, opens))
                instant = opens
                day, until = self._stretch_of(instant)
        return instant, day, until

    def _open_span(self, instant: datetime, day: date) -> tuple[datetime, datetime] | None:
        """The part of the open interval of `instant`'s local day (`day`) holding it that no
        open time of the day before overlaps, when `instant` lies in that part; else None.
        Within it, business time is real time: the shortcut `add` and `elapsed` take for
        the short spans most calls measure, with the results the walk over the days
        (`_open_days_from`) gives."""
        for opens_at, closes_at in self._open.day(day)[0]:
            if opens_at <= instant < closes_at:
                before = self._open.day(day - ONE_DAY)[0]
                since = max(opens_at, before[-1][1]) if before else opens_at
                return (since, closes_at) if since <= instant else None
        return None

    def _next_open(self, instant: datetime) -> datetime:
        day = instant.astimezone(self._zone).date()
        _, (intervals, _) = next(self._open_days_from(instant, day))
        return intervals[0][0]

    def _open_days_from(self, instant: datetime, day: date) -> Iterator[tuple[date, Day]]:
        """Each working day's open intervals after `instant` (on local date `day`), cut to
        start at it; endless."""
        return self._open.working_days(day - ONE_DAY, instant)


def _check_duration(duration: Any) -> None:
    if not isinstance(duration, timedelta) or duration < ZERO:
        raise InvalidInput("duration", duration, "a timedelta of zero or more")
