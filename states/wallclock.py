"""Local wall-time ranges as UTC intervals, across a time zone's clock changes.

The rule a business calendar keeps: an instant belongs to a wall-time range of
a local day when its local wall time, on that day, lies inside the range. Under
each UTC offset a zone has in force, a range's wall times are one span of
instants, so a day's ranges become intervals by mapping them through every
offset in force near the day and keeping what falls where that offset holds.
A repeated hour is thereby counted twice, a skipped hour never, and a range
starting in a skipped hour opens at the first local time after it.

Assumed of the time zone data (true of every IANA zone since 2011): a zone
changes its clocks at most once in three days, and never back across midnight
(Newfoundland's 00:01 -> 23:01 until 2010 did).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]
Offsets = list[tuple[datetime, datetime, timedelta]]
"""A zone's UTC offsets over a span: ``(from, until, offset)`` in order, in UTC."""

_ONE_DAY = timedelta(days=1)


def offsets_around(zone: ZoneInfo, wall_midnight: datetime) -> Offsets:
    """`zone`'s UTC offsets over every instant whose wall time can fall on the day that
    starts at `wall_midnight` (the local midnight's wall time, written as a UTC datetime):
    one entry when no clock change is near."""
    first, last = wall_midnight - _ONE_DAY, wall_midnight + 2 * _ONE_DAY
    first_offset, last_offset = utc_offset(zone, first), utc_offset(zone, last)
    changes = _changes(zone, first, last, first_offset, last_offset)
    bounds = [first, *(at for at, _ in changes), last]
    offsets = [first_offset, *(offset for _, offset in changes)]
    return list(zip(bounds, bounds[1:], offsets, strict=False))


def wall_intervals(
    wall_midnight: datetime,
    ranges: Sequence[tuple[timedelta, timedelta]],
    offsets: Offsets,
) -> tuple[Interval, ...]:
    """The instants whose wall time lies in one of a day's `ranges` (offsets from
    `wall_midnight`, as `offsets_around` takes it), as UTC intervals in order."""
    spans = sorted(
        (max(since, wall_midnight + start - offset), min(until, wall_midnight + end - offset))
        for start, end in ranges
        for since, until, offset in offsets
    )
    intervals: list[Interval] = []
    for opens_at, closes_at in spans:
        if opens_at >= closes_at:
            continue
        if intervals and opens_at <= intervals[-1][1]:  # a range goes on across the change
            intervals[-1] = (intervals[-1][0], max(closes_at, intervals[-1][1]))
        else:
            intervals.append((opens_at, closes_at))
    return tuple(intervals)


def utc_offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset()  # type: ignore[return-value]


def _changes(
    zone: ZoneInfo, lo: datetime, hi: datetime, lo_offset: timedelta, hi_offset: timedelta
) -> list[tuple[datetime, timedelta]]:
    """The clock changes in ``(lo, hi]`` as (instant, offset from then on), found by
    bisection to the second (zoneinfo keeps its transitions private)."""
    if lo_offset == hi_offset:
        return []
    seconds = int((hi - lo).total_seconds())
    if seconds <= 1:
        return [(hi, hi_offset)]
    middle = lo + timedelta(seconds=seconds // 2)
    middle_offset = utc_offset(zone, middle)
    return _changes(zone, lo, middle, lo_offset, middle_offset) + _changes(
        zone, middle, hi, middle_offset, hi_offset
    )
