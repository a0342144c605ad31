"""Working-day arithmetic of a business calendar: whether a local date is a working day,
and the instant "N working days after" one (a follow-up's due date). A mixin of
:class:`states.calendar.BusinessCalendar`, whose open days, time zone and stretch memo
it reads; counted in days, not in business time like the rest of the calendar."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from states.calendar_config import MIDNIGHT
from states.errors import InvalidInput
from states.instants import as_utc
from states.open_days import MAX_CLOSED_RUN, ONE_DAY, ZERO, OpenDays, inside
from states.wallclock import Interval, offsets_around


class WorkingDays:
    """`is_working_day` and `add_working_days`: a mixin of
    :class:`states.calendar.BusinessCalendar`."""

    _zone: ZoneInfo
    _open: OpenDays
    _due_days: tuple[date, int, timedelta | None, tuple[Interval, ...]]
    # the calendar's own (states.calendar)
    _stretch_of: Callable[[datetime], tuple[date, datetime | None]]
    _stretch: tuple[datetime, datetime, date]
    elapsed: Callable[[datetime, datetime], timedelta]
    always_open: bool
    _closed_span: tuple[datetime, datetime]
    next_open: Callable[[datetime], datetime]

    def is_working_day(self, day: date) -> bool:
        """Whether the team opens at all on the local date `day`."""
        if not isinstance(day, date) or isinstance(day, datetime):
            raise InvalidInput("day", day, "a date")
        return bool(self._open.day(day)[0])

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Due "`days` business days after `start`", e.g. a follow-up after resolution.

        The rule: count from `start`, or, when no business time separates it from the
        last closing before it (the team is closed at `start`, or opens at that very
        instant), from that closing. Take that instant's local date and move to the
        `days`-th working day strictly after it. The deadline is the local wall time of
        that instant on that day, kept inside the day's hours: before the first opening
        it is the first opening, after the last closing it is the last closing, and in
        a break (lunch) it is the closing that began the break. So, for a 09:00-17:00
        desk, Friday 10:00 + 2 is Tuesday 10:00, and Friday 20:00, Saturday 11:00 and
        Monday 07:00 + 2 are all Tuesday 17:00 (counted from Friday's closing), while
        Friday 07:00 + 2 is Monday 17:00 (from Thursday's). Instants with no business
        time between them are due at the same instant, and a later start is never due
        earlier. (Counted from the start's own date, a case resolved on Saturday
        morning was due Tuesday 11:00, earlier than one resolved on Friday night.)
        For an `always_open` calendar every day counts and the wall time is kept.
        """
        instant = as_utc("start", start)
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise InvalidInput("days", days, "a whole number of working days, 1 or more")
        day, until = self._stretch_of(instant)
        if until is not None and instant > self._stretch[0]:  # inside open hours
            shift, intervals = self._working_days_shift(day, days)
            if shift is not None:
                return inside(intervals, instant + shift)
        elif not self.always_open:
            instant = self._counted_from(instant)
        local = instant.astimezone(self._zone)
        day, intervals = self._working_day_after(local.date(), days)
        return inside(intervals, self._open.instant(day, local.time()))

    def _counted_from(self, instant: datetime) -> datetime:
        """`instant`, or the last closing before it when no business time lies between
        them. The closed span found last is kept (from that closing to the next opening):
        a night's or a weekend's resolutions all count from the same closing."""
        closing, opening = self._closed_span
        if closing <= instant <= opening:
            return closing
        closing = self._closing_before(instant)
        if self.elapsed(closing, instant) != ZERO:  # open since (an instant not found open
            return instant  # in `_stretch_of`: where a night's hours overlap the next day)
        object.__setattr__(self, "_closed_span", (closing, self.next_open(instant)))
        return closing

    def _closing_before(self, instant: datetime) -> datetime:
        """The last closing at or before `instant` (`instant` itself if none is found)."""
        day = instant.astimezone(self._zone).date() + ONE_DAY  # a night's hours end a day on
        for _ in range(MAX_CLOSED_RUN + 3):  # back to a working day
            ends = [closes for _, closes in self._open.day(day)[0] if closes <= instant]
            if ends:
                return max(ends)
            day -= ONE_DAY
        return instant

    def _working_day_after(self, day: date, days: int) -> tuple[date, tuple[Interval, ...]]:
        """The `days`-th working day after local date `day`, and its open intervals."""
        working_days = self._open.working_days(day + ONE_DAY)
        for _ in range(days - 1):
            next(working_days)
        found, (intervals, _) = next(working_days)
        return found, intervals

    def _working_days_shift(
        self, day: date, days: int
    ) -> tuple[timedelta | None, tuple[Interval, ...]]:
        """For `add_working_days` from an instant of local date `day`: what moves it to the
        same wall time on the `days`-th working day after (whole days, and the change of
        UTC offset between them), and that day's open intervals. The shift holds when
        neither day is near a clock change (one offset each, see `offsets_around`: a wall
        time there is one instant); None otherwise, when the wall time is mapped anew.

        Kept for the last `(day, days)` asked: a day's resolutions all ask the same, and the
        shift spares the time zone conversions there and back."""
        kept = self._due_days
        if kept[0] == day and kept[1] == days:
            return kept[2], kept[3]
        due_day, intervals = self._working_day_after(day, days)
        start = offsets_around(self._zone, datetime.combine(day, MIDNIGHT, tzinfo=UTC))
        due = offsets_around(self._zone, datetime.combine(due_day, MIDNIGHT, tzinfo=UTC))
        shift = None
        if len(start) == 1 and len(due) == 1:
            shift = (due_day - day) + start[0][2] - due[0][2]
        object.__setattr__(self, "_due_days", (day, days, shift, intervals))
        return shift, intervals
