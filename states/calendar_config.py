"""A business calendar's settings: the weekly hours' ranges, and the reading of a policy
file's ``[calendars.<name>]`` table into them, each problem named by its key (see
:class:`states.calendar.BusinessCalendar`, which does the arithmetic)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from states.errors import PolicyError, shown
from states.tomlsource import toml_type

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIDNIGHT = time(0, 0)
"""As the end of a range, ``time(0, 0)`` means midnight at the end of the day ("24:00")."""

Range = tuple[time, time]
_ONE_DAY = timedelta(days=1)
_KEYS = ("timezone", "country", "subdivision", "extra_closed", "hours", "always_open")
_RANGE_TEXT = re.compile(r"^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ALLOWED_RANGES = (
    'a list of "HH:MM-HH:MM" ranges within one day, each ending after it starts and not '
    'overlapping the others, such as ["09:00-12:30", "13:30-17:00"]; "24:00" ends at midnight'
)
_ALLOWED_ZONE = "an IANA time zone name such as Europe/Brussels or UTC"


def calendar_arguments(name: str, table: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The arguments of the calendar ``[calendars.<name>]`` of a policy file.

    Every problem raises `PolicyError(source, "calendars.<name>.<key>", ...)`
    saying what is wrong and what is allowed.
    """
    reader = _ConfigReader(name, source)
    if not isinstance(table, Mapping):
        raise reader.error("", "is not a table", "a table with keys " + ", ".join(_KEYS))
    for key in table:
        if key not in _KEYS:
            raise reader.error(key, f"unknown key {shown(key)}", ", ".join(_KEYS))
    always_open = table.get("always_open", False)
    if not isinstance(always_open, bool):
        raise reader.error("always_open", f"{shown(always_open)} is not a boolean", "true or false")
    if always_open:
        for key in ("hours", "country", "subdivision", "extra_closed"):
            if key in table:
                raise reader.error(
                    key,
                    "cannot be combined with always_open = true (a 24/7 calendar has no "
                    "hours, holidays or closed days)",
                    "either always_open = true, or hours with optional holidays and closed days",
                )
        timezone = reader.timezone(table.get("timezone", "UTC"))
        return {
            "name": name,
            "timezone": timezone,
            "hours": ((),) * len(WEEKDAYS),
            "always_open": True,
        }
    if "timezone" not in table:
        raise reader.error("timezone", "missing", _ALLOWED_ZONE)
    country, subdivision = reader.holiday_region(table.get("country"), table.get("subdivision"))
    return {
        "name": name,
        "timezone": reader.timezone(table["timezone"]),
        "hours": reader.hours(table.get("hours", {})),
        "country": country,
        "subdivision": subdivision,
        "extra_closed": reader.closed_days(table.get("extra_closed", [])),
    }


def offset(wall: time, is_end: bool = False) -> timedelta:
    """`wall` as time since the day's midnight; as an end, 00:00 is the next midnight."""
    if is_end and wall == MIDNIGHT:
        return _ONE_DAY
    return timedelta(
        hours=wall.hour, minutes=wall.minute, seconds=wall.second, microseconds=wall.microsecond
    )


def _range_text(wall_range: Range) -> str:
    start, end = wall_range
    return f"{start:%H:%M}-{'24:00' if end == MIDNIGHT else f'{end:%H:%M}'}"


def ranges_problem(ranges: Sequence[Range]) -> str | None:
    """What is wrong with one day's ranges (in order), or None."""
    previous: Range | None = None
    for wall_range in ranges:
        start, end = wall_range
        if offset(end, is_end=True) <= offset(start):
            return f"range {_range_text(wall_range)} does not end after it starts"
        if previous is not None and offset(start) < offset(previous[1], is_end=True):
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
            raise self.error("timezone", f"{shown(value)} is not a time zone name", _ALLOWED_ZONE)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise self.error(
                "timezone", f"unknown time zone {shown(value)}", _ALLOWED_ZONE
            ) from exc
        return value

    def holiday_region(self, country: Any, subdivision: Any) -> tuple[str | None, str | None]:
        allowed_country = "an ISO 3166 country code the holidays package knows, such as BE or US"
        for key, value, allowed in (
            ("country", country, allowed_country),
            ("subdivision", subdivision, "a subdivision code such as CA"),
        ):
            if value is not None and not isinstance(value, str):  # false or 0 is not "none"
                raise self.error(
                    key, f"{shown(value)} is {toml_type(value)}, not a string", allowed
                )
        country = country or None
        subdivision = subdivision or None
        if country is None:
            if subdivision is not None:
                raise self.error(
                    "subdivision", "given without a country", "a subdivision of the country set"
                )
            return None, None
        try:
            known = holidays.country_holidays(country).subdivisions
        except NotImplementedError as exc:
            raise self.error(
                "country", f"unknown country {shown(country)}", allowed_country
            ) from exc
        try:
            holidays.country_holidays(country, subdiv=subdivision)
        except NotImplementedError as exc:
            allowed = (
                f"a subdivision of {country} the holidays package knows: " + ", ".join(known)
                if known
                else f"none, the holidays package has no subdivisions for {country}"
            )
            raise self.error(
                "subdivision", f"unknown subdivision {shown(subdivision)}", allowed
            ) from exc
        return country, subdivision

    def closed_days(self, values: Any) -> frozenset[date]:
        allowed = 'a list of dates such as ["2026-12-24", "2026-12-31"]'
        if not isinstance(values, list):
            raise self.error("extra_closed", f"{shown(values)} is not a list", allowed)
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
                raise self.error("extra_closed", f"{shown(value)} is not a date", allowed) from exc
        return frozenset(days)

    def hours(self, table: Any) -> tuple[tuple[Range, ...], ...]:
        if not isinstance(table, Mapping):
            raise self.error(
                "hours", f"{shown(table)} is not a table", 'hours.mon = ["09:00-17:00"]'
            )
        for key in table:
            if key not in WEEKDAYS:
                raise self.error(
                    f"hours.{key}", f"unknown weekday {shown(key)}", ", ".join(WEEKDAYS)
                )
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
            raise self.error(key, f"{shown(values)} is not a list", _ALLOWED_RANGES)
        ranges = sorted(self._range(key, value) for value in values)
        problem = ranges_problem(ranges)
        if problem:
            raise self.error(key, problem, _ALLOWED_RANGES)
        return tuple(ranges)

    def _range(self, key: str, text: Any) -> Range:
        match = _RANGE_TEXT.match(text) if isinstance(text, str) else None
        if match is None:
            raise self.error(key, f"{shown(text)} is not a HH:MM-HH:MM range", _ALLOWED_RANGES)
        start_hour, start_minute, end_hour, end_minute = map(int, match.groups())
        end_is_midnight = (end_hour, end_minute) == (24, 0)
        if start_hour > 23 or start_minute > 59 or end_minute > 59 or end_hour > 24:
            raise self.error(key, f"{shown(text)} is not a time of day range", _ALLOWED_RANGES)
        if end_hour == 24 and not end_is_midnight:
            raise self.error(key, f"{shown(text)} ends after 24:00", _ALLOWED_RANGES)
        if (end_hour, end_minute) == (0, 0):
            raise self.error(key, f"{shown(text)} ends at 00:00, write 24:00", _ALLOWED_RANGES)
        end = MIDNIGHT if end_is_midnight else time(end_hour, end_minute)
        return time(start_hour, start_minute), end
