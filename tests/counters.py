"""An independent business-time counter, the slow obvious way, to check the calendar against.

It reads the rule as written and nothing of `states.calendar`: step one UTC
minute at a time and count the minute when its local wall time, in the
calendar's zone, lies inside that weekday's hours on a day that is neither a
public holiday nor a closed day. A repeated hour is then counted twice and a
skipped hour never, without a line saying so. Every zone, clock change and
range the tests draw falls on whole minutes, so a minute is working time or
not as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

MINUTE = timedelta(minutes=1)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minute_of_day(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class MinuteCounter:
    def __init__(
        self,
        timezone: str,
        hours: Mapping[str, Sequence[str]],
        country: str | None = None,
        extra_closed: Iterable[date] = (),
    ) -> None:
        self.zone = ZoneInfo(timezone)
        self.ranges = {
            DAYS.index(day): [
                tuple(_minute_of_day(wall) for wall in text.split("-")) for text in ranges
            ]
            for day, ranges in hours.items()
        }
        self.holidays = holidays.country_holidays(country) if country else {}
        self.closed = frozenset(extra_closed)

    def works(self, minute: datetime) -> bool:
        """Whether the minute that begins at `minute` is working time."""
        local = minute.astimezone(self.zone)
        day = local.date()
        if day in self.closed or day in self.holidays:
            return False
        wall = local.hour * 60 + local.minute
        return any(start <= wall < end for start, end in self.ranges.get(day.weekday(), ()))

    def counts(self, minute: datetime, paused: Sequence[tuple[datetime, datetime]]) -> bool:
        return self.works(minute) and not any(since <= minute < until for since, until in paused)

    def reach(
        self,
        start: datetime,
        minutes: int,
        paused: Sequence[tuple[datetime, datetime]] = (),
    ) -> datetime:
        """The first instant at which `minutes` of working time, outside `paused`, have
        passed since `start` (a zero target: the first working minute's start)."""
        at, counted = start.astimezone(UTC), 0
        while True:
            if self.counts(at, paused):
                if minutes == 0:
                    return at
                counted += 1
                if counted == minutes:
                    return at + MINUTE
            at += MINUTE

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        at, counted = start.astimezone(UTC), 0
        while at < end:
            counted += self.works(at)
            at += MINUTE
        return counted * MINUTE
