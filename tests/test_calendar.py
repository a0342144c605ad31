"""Business calendars and SLA durations: business time across nights, weekends,
holidays, lunch breaks and clock changes, and every policy error they raise.

All times are fixed; Brussels changes clocks on 2026-03-29 (23-hour day) and
2026-10-25 (25-hour day). Belgian public holidays used: 2026-12-25 (Friday),
2027-01-01 (Friday).
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from states.calendar import WEEKDAYS, BusinessCalendar
from states.durations import format_duration, parse_duration
from states.errors import InvalidInput, PolicyError
from tests.counters import MinuteCounter

SOURCE = "policy.toml"
BRUSSELS = ZoneInfo("Europe/Brussels")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
WORKWEEK = ("mon", "tue", "wed", "thu", "fri")
HOUR = timedelta(hours=1)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, zone=BRUSSELS):
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def calendar(name: str = "support_eu", **table) -> BusinessCalendar:
    return BusinessCalendar.from_config(name, table, SOURCE)


OFFICE = calendar(
    timezone="Europe/Brussels", country="BE", hours={day: ["09:00-17:00"] for day in WORKWEEK}
)
SPLIT_SHIFT = calendar(
    timezone="Europe/Brussels", hours={day: ["09:00-12:30", "13:30-17:00"] for day in WORKWEEK}
)
SEVEN_DAY_DESK = calendar(
    timezone="Europe/Brussels", hours={day: ["09:00-17:00"] for day in WEEKDAYS}
)
ALWAYS = calendar("always", always_open=True, timezone="Europe/Brussels")


# -- adding business time -----------------------------------------------------


def test_four_hours_from_friday_afternoon_end_monday_noon():
    due_at = OFFICE.add(at(2026, 3, 6, 16), 4 * HOUR)

    assert due_at == at(2026, 3, 9, 12)
    assert due_at.tzinfo is UTC


def test_public_holiday_is_skipped():
    assert not OFFICE.is_working_day(date(2026, 12, 25))
    assert OFFICE.add(at(2026, 12, 24, 16), 4 * HOUR) == at(2026, 12, 28, 12)


def test_subdivision_holidays_apply():
    hours = {day: ["09:00-17:00"] for day in WORKWEEK}
    california = calendar(
        "us_ca", timezone="America/Los_Angeles", country="US", subdivision="CA", hours=hours
    )
    federal = calendar("us", timezone="America/Los_Angeles", country="US", hours=hours)
    cesar_chavez_day = date(2026, 3, 31)

    assert not california.is_working_day(cesar_chavez_day)
    assert federal.is_working_day(cesar_chavez_day)
    start = at(2026, 3, 30, 16, zone=LOS_ANGELES)
    assert california.add(start, 2 * HOUR) == at(2026, 4, 1, 10, zone=LOS_ANGELES)


def test_extra_closed_day_is_skipped():
    hours = {day: ["09:00-17:00"] for day in WORKWEEK}
    closed = calendar(timezone="Europe/Brussels", hours=hours, extra_closed=["2026-06-12"])
    opened = calendar(timezone="Europe/Brussels", hours=hours)
    start = at(2026, 6, 11, 16)

    assert closed.add(start, 2 * HOUR) == at(2026, 6, 15, 10)
    assert opened.add(start, 2 * HOUR) == at(2026, 6, 12, 10)


def test_lunch_break_is_not_business_time():
    assert SPLIT_SHIFT.add(at(2026, 3, 9, 12), HOUR) == at(2026, 3, 9, 14)
    assert SPLIT_SHIFT.elapsed(at(2026, 3, 9, 12), at(2026, 3, 9, 14)) == HOUR
    assert not SPLIT_SHIFT.is_open(at(2026, 3, 9, 12, 45))
    assert SPLIT_SHIFT.next_open(at(2026, 3, 9, 12, 45)) == at(2026, 3, 9, 13, 30)


def test_deadline_landing_on_a_closing_time_is_that_closing_time():
    assert SPLIT_SHIFT.add(at(2026, 3, 9, 12), timedelta(minutes=30)) == at(2026, 3, 9, 12, 30)
    assert OFFICE.add(at(2026, 3, 6, 9), 8 * HOUR) == at(2026, 3, 6, 17)


def test_start_outside_hours_snaps_to_next_opening():
    saturday, early_monday = at(2026, 3, 7, 10), at(2026, 3, 9, 7)

    assert OFFICE.add(saturday, HOUR) == at(2026, 3, 9, 10)
    assert OFFICE.add(early_monday, HOUR) == at(2026, 3, 9, 10)
    assert OFFICE.next_open(saturday) == at(2026, 3, 9, 9)
    assert OFFICE.add(saturday, timedelta(0)) == OFFICE.next_open(saturday)


def test_open_instant_is_its_own_next_opening_and_hours_are_half_open():
    monday_ten = at(2026, 3, 9, 10)

    assert OFFICE.next_open(monday_ten) == monday_ten
    assert OFFICE.next_open(monday_ten).tzinfo is UTC
    assert OFFICE.is_open(at(2026, 3, 9, 9))
    assert not OFFICE.is_open(at(2026, 3, 9, 17))


def test_elapsed_counts_only_open_hours_across_nights_and_weekends():
    assert OFFICE.elapsed(at(2026, 3, 9, 16), at(2026, 3, 10, 10)) == 2 * HOUR
    assert OFFICE.elapsed(at(2026, 3, 6, 15), at(2026, 3, 10, 10)) == 11 * HOUR
    assert OFFICE.elapsed(at(2026, 3, 7, 0), at(2026, 3, 8, 23)) == timedelta(0)


def test_elapsed_is_zero_when_end_is_not_after_start():
    assert OFFICE.elapsed(at(2026, 3, 10, 10), at(2026, 3, 9, 10)) == timedelta(0)
    assert ALWAYS.elapsed(at(2026, 3, 10, 10), at(2026, 3, 10, 10)) == timedelta(0)


def test_inputs_in_other_time_zones_are_the_same_instants():
    in_los_angeles = at(2026, 3, 6, 16).astimezone(LOS_ANGELES)

    assert OFFICE.add(in_los_angeles, 4 * HOUR) == at(2026, 3, 9, 12)


# -- clock changes -------------------------------------------------------------


@pytest.mark.parametrize("day", [date(2026, 3, 29), date(2026, 10, 25)])
def test_working_hours_last_as_long_on_clock_change_days(day):
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=BRUSSELS)
    next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), BRUSSELS)

    assert SEVEN_DAY_DESK.elapsed(midnight, next_midnight) == 8 * HOUR
    assert SEVEN_DAY_DESK.add(at(day.year, day.month, day.day - 1, 16), 2 * HOUR) == at(
        day.year, day.month, day.day, 10
    )


@pytest.mark.parametrize(("day", "real_hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25)])
def test_always_open_day_is_real_time_on_clock_change_days(day, real_hours):
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=BRUSSELS)
    next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), BRUSSELS)
    round_the_clock = calendar(
        timezone="Europe/Brussels", hours={day: ["00:00-24:00"] for day in WEEKDAYS}
    )

    assert ALWAYS.elapsed(midnight, next_midnight) == real_hours * HOUR
    assert ALWAYS.add(midnight, real_hours * HOUR) == next_midnight
    assert round_the_clock.elapsed(midnight, next_midnight) == real_hours * HOUR


def every_day(timezone: str, *ranges: str) -> BusinessCalendar:
    return calendar(timezone=timezone, hours={day: list(ranges) for day in WEEKDAYS})


def test_hours_starting_in_the_skipped_hour_begin_when_the_clock_jumps():
    """Brussels skips 02:00-03:00 on 29 March: 02:30-10:00 opens at 03:00 CEST (01:00Z)."""
    desk = every_day("Europe/Brussels", "02:30-10:00")
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)  # Sunday 00:00 CET

    assert desk.add(start, timedelta(minutes=60)) == datetime(2026, 3, 29, 2, tzinfo=UTC)
    assert desk.next_open(start) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert desk.elapsed(at(2026, 3, 29), at(2026, 3, 30)) == 7 * HOUR


def test_a_repeated_hour_inside_the_hours_counts_twice():
    """Brussels repeats 02:00-03:00 on 25 October: 00:00-02:30 is three hours that night."""
    desk = every_day("Europe/Brussels", "00:00-02:30")
    start = datetime(2026, 10, 24, 22, tzinfo=UTC)  # Sunday 00:00 CEST

    assert desk.add(start, timedelta(minutes=180)) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert desk.elapsed(at(2026, 10, 25), at(2026, 10, 26)) == 3 * HOUR
    assert not desk.is_open(datetime(2026, 10, 25, 0, 45, tzinfo=UTC))  # 02:45 CEST
    assert desk.is_open(datetime(2026, 10, 25, 1, 15, tzinfo=UTC))  # 02:15 CET, again


def test_the_hour_repeated_before_midnight_counts_twice_on_the_day_it_reads():
    """Santiago falls back from Sunday 00:00 to Saturday 23:00 on 5 April 2026."""
    santiago = ZoneInfo("America/Santiago")
    desk = every_day("America/Santiago", "00:00-23:59")
    start = datetime(2026, 4, 4, 22, tzinfo=santiago)  # Saturday 22:00 -03

    assert desk.add(start, timedelta(minutes=150)) == datetime(2026, 4, 5, 3, 31, tzinfo=UTC)
    saturday = datetime(2026, 4, 4, tzinfo=santiago)
    sunday = datetime(2026, 4, 5, 4, tzinfo=UTC)  # Sunday 00:00 -04
    assert desk.elapsed(saturday, sunday) == timedelta(hours=24, minutes=58)


def test_hours_wholly_inside_the_skipped_hour_never_open():
    night_desk = calendar(
        timezone="Europe/Brussels", hours={"sun": ["02:15-02:45"], "mon": ["09:00-17:00"]}
    )

    assert night_desk.next_open(at(2026, 3, 29)) == at(2026, 3, 30, 9)
    assert night_desk.elapsed(at(2026, 3, 29), at(2026, 3, 30)) == timedelta(0)
    assert night_desk.elapsed(at(2026, 4, 5), at(2026, 4, 6)) == timedelta(minutes=30)


def test_ranges_meeting_in_the_skipped_hour_do_not_overlap():
    night_desk = calendar(timezone="Europe/Brussels", hours={"sun": ["01:00-02:30", "02:30-04:00"]})

    assert night_desk.elapsed(at(2026, 3, 29), at(2026, 3, 30)) == 2 * HOUR
    assert night_desk.add(at(2026, 3, 29), 2 * HOUR) == at(2026, 3, 29, 4)


def test_always_open_add_is_real_elapsed_time_across_spring_forward():
    assert ALWAYS.add(at(2026, 3, 28, 12), timedelta(days=1)) == at(2026, 3, 29, 13)
    assert ALWAYS.is_open(at(2026, 3, 29, 3))


# -- working days --------------------------------------------------------------


def test_add_working_days_skips_weekend_and_holiday_keeping_wall_time():
    christmas_eve = at(2026, 12, 24, 10)

    assert OFFICE.add_working_days(christmas_eve, 2) == at(2026, 12, 29, 10)
    assert OFFICE.add_working_days(at(2026, 12, 31, 10), 1) == at(2027, 1, 4, 10)


@pytest.mark.parametrize(
    ("resolved_at", "due_at"),
    [
        (at(2026, 3, 6, 10), at(2026, 3, 10, 10)),  # inside hours: the same wall time
        (at(2026, 3, 6, 20), at(2026, 3, 10, 17)),  # after closing: from Friday's closing
        (at(2026, 3, 7, 8), at(2026, 3, 10, 17)),  # Saturday: from Friday's closing too
        (at(2026, 3, 7, 11), at(2026, 3, 10, 17)),
        (at(2026, 3, 8, 22), at(2026, 3, 10, 17)),
        (at(2026, 3, 9, 7), at(2026, 3, 10, 17)),  # Monday before opening
        (at(2026, 3, 9, 9), at(2026, 3, 10, 17)),  # Monday at the opening itself
        (at(2026, 3, 6, 7), at(2026, 3, 9, 17)),  # Friday before opening: from Thursday's
    ],
)
def test_add_working_days_counts_a_closed_start_from_the_closing_before(resolved_at, due_at):
    """No business time passes between these starts, so one due time; counted from the
    start's own date, Saturday 11:00 was due Tuesday 11:00, before Friday 20:00's."""
    assert OFFICE.add_working_days(resolved_at, 2) == due_at


def test_add_working_days_in_lunch_break_is_due_when_the_break_starts():
    assert SPLIT_SHIFT.add_working_days(at(2026, 3, 9, 12, 45), 1) == at(2026, 3, 10, 12, 30)


def test_add_working_days_on_always_open_keeps_wall_time_across_clock_change():
    assert ALWAYS.add_working_days(at(2026, 3, 28, 12), 1) == at(2026, 3, 29, 12)


# -- refused inputs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: OFFICE.is_open(datetime(2026, 3, 9, 10)), "at"),
        (lambda: OFFICE.next_open(datetime(2026, 3, 9, 10)), "at"),
        (lambda: OFFICE.add(datetime(2026, 3, 9, 10), HOUR), "start"),
        (lambda: OFFICE.elapsed(at(2026, 3, 9), datetime(2026, 3, 9, 10)), "end"),
        (lambda: OFFICE.add_working_days(datetime(2026, 3, 9, 10), 2), "start"),
        (lambda: OFFICE.add(at(2026, 3, 9), -HOUR), "duration"),
        (lambda: OFFICE.add_working_days(at(2026, 3, 9), 0), "days"),
        (lambda: OFFICE.is_working_day(at(2026, 3, 9)), "day"),
    ],
)
def test_naive_datetimes_and_bad_amounts_are_refused(call, field):
    with pytest.raises(InvalidInput) as refused:
        call()
    assert refused.value.field == field


# -- configuration -------------------------------------------------------------

POLICY_TOML = """
[calendars.support_eu]
timezone = "Europe/Brussels"
country = "BE"
subdivision = ""
extra_closed = ["2026-12-24", 2026-12-31]
hours.mon = ["09:00-17:00"]
hours.tue = ["09:00-12:30", "13:30-17:00"]
hours.fri = ["20:00-24:00"]

[calendars.always]
always_open = true
"""


def test_calendars_are_built_from_policy_toml():
    tables = tomllib.loads(POLICY_TOML)["calendars"]
    support = BusinessCalendar.from_config("support_eu", tables["support_eu"], SOURCE)
    always = BusinessCalendar.from_config("always", tables["always"], SOURCE)

    assert support.extra_closed == {date(2026, 12, 24), date(2026, 12, 31)}
    assert support.subdivision is None
    assert not support.is_working_day(date(2026, 3, 11))  # no hours on Wednesday
    assert support.elapsed(at(2026, 3, 13, 20), at(2026, 3, 14, 1)) == 4 * HOUR
    assert always.always_open
    assert always.timezone == "UTC"


BASE = {"timezone": "Europe/Brussels", "hours": {"mon": ["09:00-17:00"]}}


@pytest.mark.parametrize(
    ("changes", "key", "said"),
    [
        ({"timezone": "Europe/Brusels"}, "timezone", "'Europe/Brusels'; allowed: an IANA"),
        ({"timezone": None}, "timezone", "missing; allowed: an IANA"),
        ({"country": "XX"}, "country", "'XX'; allowed: an ISO 3166 country code"),
        ({"country": "US", "subdivision": "ZZ"}, "subdivision", "allowed: a subdivision of US"),
        ({"subdivision": "CA"}, "subdivision", "without a country; allowed:"),
        ({"hours": {"mon": ["9-17"]}}, "hours.mon", "'9-17' is not a HH:MM-HH:MM range"),
        ({"hours": {"mon": ["17:00-09:00"]}}, "hours.mon", "does not end after it starts"),
        ({"hours": {"mon": ["09:00-00:00"]}}, "hours.mon", "write 24:00"),
        ({"hours": {"mon": ["09:00-24:30"]}}, "hours.mon", "ends after 24:00"),
        ({"hours": {"mon": ["25:00-26:00"]}}, "hours.mon", "not a time of day range"),
        ({"hours": {"mon": "09:00-17:00"}}, "hours.mon", "is not a list; allowed: a list"),
        (
            {"hours": {"mon": ["09:00-12:30", "12:00-17:00"]}},
            "hours.mon",
            "ranges 09:00-12:30 and 12:00-17:00 overlap",
        ),
        ({"hours": {"monday": ["09:00-17:00"]}}, "hours.monday", "allowed: mon, tue, wed"),
        ({"hours": {}}, "hours", "no working hours on any day; allowed:"),
        ({"hours": {"mon": []}}, "hours", "no working hours on any day; allowed:"),
        ({"timzone": "UTC"}, "timzone", "unknown key 'timzone'; allowed: timezone, country"),
        ({"extra_closed": ["2026-13-01"]}, "extra_closed", "'2026-13-01' is not a date"),
        ({"extra_closed": ["24/12/2026"]}, "extra_closed", "allowed: a list of dates"),
        ({"extra_closed": "2026-12-24"}, "extra_closed", "is not a list"),
        ({"always_open": "yes"}, "always_open", "allowed: true or false"),
        ({"always_open": True}, "hours", "cannot be combined with always_open"),
    ],
)
def test_config_errors_name_the_key_and_what_is_allowed(changes, key, said):
    table = {**BASE, **changes}
    table = {name: value for name, value in table.items() if value is not None}

    with pytest.raises(PolicyError) as refused:
        BusinessCalendar.from_config("support_eu", table, SOURCE)

    assert refused.value.key == f"calendars.support_eu.{key}"
    assert said in refused.value.problem
    assert "; allowed: " in refused.value.problem
    assert str(refused.value).startswith(f"{SOURCE}: calendars.support_eu.{key}: ")


def test_calendar_without_hours_is_refused_when_built_directly():
    with pytest.raises(ValueError, match="no working hours on any day"):
        BusinessCalendar("empty", "UTC", ((),) * 7)


# -- durations -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT4H", timedelta(hours=4)),
        ("P2D", timedelta(days=2)),
        ("PT30M", timedelta(minutes=30)),
        ("P30D", timedelta(days=30)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
    ],
)
def test_iso_durations_are_parsed(text, expected):
    assert parse_duration(text, SOURCE, "sla.p1.resolution") == expected


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("P1M", "years or months"),
        ("P1Y", "years or months"),
        ("PT0S", "not longer than zero"),
        ("-P1D", "not longer than zero"),
        ("PT0.5S", "a fraction of a second"),
        ("PT1H0.25S", "a fraction of a second"),
        ("4 hours", "not an ISO 8601 duration"),
        ("pt4h", "not an ISO 8601 duration"),
        ("", "not an ISO 8601 duration"),
        (4, "is not a text"),
        ("P3654D", "is too long"),
        ("P9999999999D", "is too long"),  # more days than a timedelta holds: was a traceback
    ],
)
def test_ambiguous_empty_or_malformed_durations_are_refused(text, said):
    with pytest.raises(PolicyError) as refused:
        parse_duration(text, SOURCE, "sla.p1.resolution")

    assert refused.value.key == "sla.p1.resolution"
    assert said in refused.value.problem
    assert refused.value.problem.endswith(
        "; allowed: an ISO 8601 duration such as PT4H or P2D (days, hours, minutes, seconds), "
        "in whole seconds, at most P3653D (ten years)"
    )


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(days=2, hours=4, minutes=5), "2d 4h 05m"),
        (timedelta(hours=3), "3h 00m"),
        (timedelta(minutes=45, seconds=59), "45m"),
        (timedelta(0), "0m"),
        (timedelta(seconds=-30), "0m"),
        (-timedelta(hours=1, minutes=30), "-1h 30m"),
        (timedelta(days=1), "1d 0h 00m"),
    ],
)
def test_durations_are_formatted_compactly(duration, text):
    assert format_duration(duration) == text


def test_business_durations_are_formatted_in_hours_never_in_days():
    """Three working days are 24 business hours: "1d" would read as one working day."""
    assert format_duration(timedelta(days=2, hours=4, minutes=5), in_hours=True) == "52h 05m"
    assert format_duration(-timedelta(hours=30), in_hours=True) == "-30h 00m"


# -- properties ----------------------------------------------------------------

ZONES = [
    "Europe/Brussels",
    "America/New_York",
    "America/Santiago",  # clocks change at midnight
    "America/Havana",  # 00:00 is skipped in spring
    "Australia/Lord_Howe",  # half-hour DST
    "Asia/Kolkata",
    "UTC",
]


def _ranges(points: list[int]) -> list[str]:
    """Pairs of half-hour grid points as ranges; 00:00-24:00 included."""
    wall = [f"{point // 2:02d}:{point % 2 * 30:02d}" for point in sorted(points)]
    return [f"{start}-{end}" for start, end in zip(wall[::2], wall[1::2], strict=False)]


def _business_calendar(timezone: str, hours: dict, with_holidays: bool) -> BusinessCalendar:
    hours["mon"] = hours["mon"] or ["09:00-17:00"]
    table = {"timezone": timezone, "hours": hours}
    if with_holidays:
        table["country"] = "BE"
    return calendar("drawn", **table)


day_hours = st.lists(st.integers(0, 48), unique=True, max_size=4).map(_ranges)
business_calendars = st.builds(
    _business_calendar,
    st.sampled_from(ZONES),
    st.fixed_dictionaries({day: day_hours for day in WEEKDAYS}),
    st.booleans(),
)
starts = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
).map(lambda instant: instant.replace(second=0, microsecond=0))
durations = st.integers(0, 100 * 60).map(lambda minutes: timedelta(minutes=minutes))
properties = settings(max_examples=60, deadline=None)


@properties
@given(business_calendars, starts, durations)
def test_elapsed_of_add_is_the_duration(business, start, duration):
    assert business.elapsed(start, business.add(start, duration)) == duration


@properties
@given(business_calendars, starts, durations, durations)
def test_add_grows_with_the_duration(business, start, shorter, extra):
    assert business.add(start, shorter) <= business.add(start, shorter + extra)


@properties
@given(business_calendars, starts)
def test_adding_nothing_is_the_next_opening(business, start):
    opening = business.add(start, timedelta(0))

    assert opening == business.next_open(start) >= start
    assert business.is_open(opening)
    assert business.elapsed(start, opening) == timedelta(0)


@properties
@given(business_calendars, starts, durations, durations)
def test_elapsed_adds_up_over_consecutive_spans(business, start, first, second):
    middle = start + first * 3
    end = middle + second * 3

    assert business.elapsed(start, end) == (
        business.elapsed(start, middle) + business.elapsed(middle, end)
    )


@properties
@given(starts, st.integers(0, 48), st.integers(1, 15))
def test_working_days_from_inside_hours_are_whole_days_of_business_time(start, slot, days):
    opening = OFFICE.add(start, timedelta(0))
    inside = OFFICE.add(opening, timedelta(minutes=10 * slot))
    if not OFFICE.is_open(inside):
        inside = opening

    assert OFFICE.elapsed(inside, OFFICE.add_working_days(inside, days)) == days * 8 * HOUR


@properties
@given(business_calendars, starts, durations, st.integers(1, 5))
def test_working_days_never_fall_due_earlier_for_a_later_start(business, start, later, days):
    assert business.add_working_days(start, days) <= business.add_working_days(
        start + later * 3, days
    )


@properties
@given(business_calendars, starts, durations, st.integers(1, 5))
def test_starts_without_business_time_between_them_fall_due_together(business, start, later, days):
    end = start + later * 3
    if business.elapsed(start, end) == timedelta(0):
        assert business.add_working_days(start, days) == business.add_working_days(end, days)
    closed_until = business.next_open(start)  # every instant up to the opening is closed
    assert business.add_working_days(start, days) == business.add_working_days(closed_until, days)


@properties
@given(starts, durations)
def test_always_open_business_time_is_real_time(start, duration):
    assert ALWAYS.add(start, duration) == start + duration
    assert ALWAYS.elapsed(start, start + duration) == duration


# -- against an independent minute-by-minute counter ---------------------------

DST_ZONES = [
    "Europe/Brussels",
    "America/Santiago",  # changes at midnight: the repeated hour is Saturday's
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute change
    "Asia/Kolkata",  # no change, a +05:30 offset
]


@functools.cache
def _clock_change_days(timezone: str) -> tuple[datetime, ...]:
    """UTC midnights of the days (2025-2027) on which `timezone` changes its offset."""
    zone, day, found = ZoneInfo(timezone), datetime(2025, 1, 1, tzinfo=UTC), []
    while day.year < 2028:
        tomorrow = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != tomorrow.astimezone(zone).utcoffset():
            found.append(day)
        day = tomorrow
    return tuple(found) or (datetime(2026, 3, 29, tzinfo=UTC),)


def _quarter_hours(points: list[int]) -> list[str]:
    """Pairs of quarter-hour grid points as ranges (so they start and end inside the hours
    a clock change skips or repeats); 00:00-24:00 included."""
    wall = [f"{point // 4:02d}:{point % 4 * 15:02d}" for point in sorted(points)]
    return [f"{start}-{end}" for start, end in zip(wall[::2], wall[1::2], strict=False)]


@st.composite
def counted_calendars(draw):
    """A calendar, its independent counter, and a start within three days of a clock change."""
    timezone = draw(st.sampled_from(DST_ZONES))
    day_ranges = st.lists(st.integers(0, 96), unique=True, max_size=4).map(_quarter_hours)
    hours = draw(st.fixed_dictionaries({day: day_ranges for day in WEEKDAYS}))
    hours["mon"] = hours["mon"] or ["09:00-17:00"]
    change = draw(st.sampled_from(_clock_change_days(timezone)))
    start = change + timedelta(minutes=draw(st.integers(-3 * 1440, 3 * 1440)))
    country = draw(st.sampled_from([None, "BE"]))
    closed = draw(st.lists(st.sampled_from([(start + timedelta(days=n)).date() for n in range(4)])))
    table = {"timezone": timezone, "hours": hours, "extra_closed": sorted(set(closed))}
    if country:
        table["country"] = country
    counter = MinuteCounter(timezone, hours, country, closed)
    return calendar("drawn", **table), counter, start


@settings(max_examples=150, deadline=None)
@given(counted_calendars(), st.integers(0, 1_500))
def test_add_is_the_first_instant_a_minute_counter_reaches_the_duration(drawn, minutes):
    business, counter, start = drawn

    assert business.add(start, timedelta(minutes=minutes)) == counter.reach(start, minutes)


@settings(max_examples=150, deadline=None)
@given(counted_calendars(), st.integers(0, 4 * 1440))
def test_elapsed_is_what_a_minute_counter_counts(drawn, minutes):
    business, counter, start = drawn
    end = start + timedelta(minutes=minutes)

    assert business.elapsed(start, end) == counter.elapsed(start, end)


@settings(max_examples=150, deadline=None)
@given(counted_calendars(), st.lists(st.integers(0, 1_500), min_size=1, max_size=5))
def test_add_all_is_the_first_instant_a_minute_counter_reaches_each_duration(drawn, minutes):
    business, counter, start = drawn

    assert business.add_all(start, [timedelta(minutes=m) for m in minutes]) == {
        timedelta(minutes=m): counter.reach(start, m) for m in minutes
    }


@settings(max_examples=150, deadline=None)
@given(
    counted_calendars(),
    st.lists(st.integers(0, 600), min_size=1, max_size=6),
    st.integers(0, 1_500),
)
def test_a_calendar_asked_in_turn_counts_as_the_minute_counter(drawn, steps, minutes):
    """What a calendar keeps from one call (the open stretch it found, the sums from an
    instant) gives the next the answers it would work out afresh: a case's commands, some
    minutes apart, each measure the business time since the one before and arm deadlines."""
    business, counter, start = drawn
    for step in steps:
        later = start + timedelta(minutes=step)
        assert business.elapsed(start, later) == counter.elapsed(start, later)
        assert business.add(later, timedelta(minutes=minutes)) == counter.reach(later, minutes)
        assert business.add(later, timedelta(minutes=step)) == counter.reach(later, step)
        start = later


@settings(max_examples=150, deadline=None)
@given(
    counted_calendars(),
    st.lists(st.tuples(st.integers(-2_000, 2_000), st.integers(0, 1_500)), min_size=2, max_size=8),
)
def test_a_calendar_asked_in_any_order_counts_as_the_minute_counter(drawn, asked):
    """What a calendar keeps of the closed span it found (a night: no business time
    passes in it, and sums from it start at the next opening) answers only for instants
    inside that span, whichever instants were asked before, earlier or later."""
    business, counter, start = drawn
    for offset, minutes in asked:
        at = start + timedelta(minutes=offset)
        later = at + timedelta(minutes=minutes)
        assert business.elapsed(at, later) == counter.elapsed(at, later)
        assert business.add(at, timedelta(minutes=minutes)) == counter.reach(at, minutes)


@properties
@given(business_calendars, starts, st.lists(durations, min_size=1, max_size=5))
def test_add_all_is_add_of_each_duration(business, start, wanted):
    fresh = dataclasses.replace(business)  # no sums remembered: one walk for all of them

    assert fresh.add_all(start, wanted) == {
        duration: business.add(start, duration) for duration in wanted
    }
