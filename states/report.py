"""The monthly and quarterly review: what happened at each level and team in a period.

`review` reads the history (``case_event``) once, in one read transaction and
one streamed query, and folds it case by case into :class:`ReviewReport`:
per level of the ladder (``first_level`` first), per team and for the whole
desk, the cases opened and resolved, escalations and why, time in each
state in business time, SLA breaches and near-misses, reopens, satisfaction
and repeat customers. Every figure comes from events, never from the mutable
case row, so the report of a past period does not change when its cases move
on. The metric definitions are in :mod:`states.report_fold` and the README.

`month_period` and `quarter_period` give the previous full month or quarter
of a run date, in the desk's time zone (`desk_timezone`). The clock is a
parameter: nothing here reads the time of day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Text, and_, or_, select, type_coerce

from states.errors import InvalidInput
from states.instants import as_utc
from states.policy import Policy
from states.process import FIRST_LEVEL, ProcessDefinition
from states.report_fold import Figures, ReviewFold, closed_states
from states.store import CASE, EVENT, read_connection
from states.stored_types import stored_json

DESK = "desk"
NO_TEAM = "(no team)"
HISTORY_COLUMNS = (
    EVENT.c.case_id,
    EVENT.c.type,
    EVENT.c.occurred_at,
    EVENT.c.from_state,
    EVENT.c.to_state,
    EVENT.c.from_level,
    EVENT.c.to_level,
    type_coerce(EVENT.c.payload, Text),  # decoded by orjson: the bulk of reading the history
)


@dataclass(frozen=True, slots=True)
class Period:
    """The half-open interval [start, end) a report covers, with a label for people."""

    start: datetime
    end: datetime
    label: str

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise InvalidInput(name, value, "a timezone-aware datetime")
        if self.end <= self.start:
            raise InvalidInput("end", self.end, f"an instant after start ({self.start})")


@dataclass(slots=True)
class ReviewReport:
    """The review of one period: the desk as a whole, each level, each team.

    `levels` lists ``first_level`` then the ladder bottom first, every level
    even when nothing happened there; `teams` lists the teams that held a
    case in the period, by name, :data:`NO_TEAM` for cases without one.
    `calendars` names the business calendar each team's times were counted in.
    """

    period: Period
    desk: Figures
    levels: list[Figures]
    teams: list[Figures]
    calendars: dict[str, str]
    events_read: int
    generated_at: datetime | None = None
    process_version: str = ""
    policy_version: str = ""

    def groups(self) -> list[Figures]:
        """Desk, then levels, then teams: the order every table uses."""
        return [self.desk, *self.levels, *self.teams]


def decode_json(value: str | dict | None) -> dict | None:
    """A JSON column read as text (SQLite); PostgreSQL's driver has decoded it already."""
    return stored_json(value) if isinstance(value, str | bytes) else value


def desk_timezone(policy: Policy) -> str:
    """The time zone of the policy's default calendar: where a desk's month begins."""
    return policy.calendar(policy.default_calendar).timezone


def month_period(day: date, timezone: str = "UTC") -> Period:
    """The full calendar month before the one `day` falls in, midnight to midnight in
    `timezone` (run on 2026-12-01: November 2026)."""
    _check_day(day)
    first = date(day.year, day.month, 1)
    previous = (
        date(first.year - 1, 12, 1) if first.month == 1 else date(first.year, first.month - 1, 1)
    )
    return Period(_midnight(previous, timezone), _midnight(first, timezone), f"{previous:%Y-%m}")


def quarter_period(day: date, timezone: str = "UTC") -> Period:
    """The full calendar quarter before the one `day` falls in (run on 2027-01-04:
    2026-Q4, October to December)."""
    _check_day(day)
    quarter = (day.month - 1) // 3
    first = date(day.year, quarter * 3 + 1, 1)
    if quarter == 0:
        previous, number = date(day.year - 1, 10, 1), 4
    else:
        previous, number = date(day.year, (quarter - 1) * 3 + 1, 1), quarter
    return Period(
        _midnight(previous, timezone), _midnight(first, timezone), f"{previous.year}-Q{number}"
    )


def _check_day(day: date) -> None:
    """A date whose period before it has a year Python can hold (a day in year 1 had
    none: a ValueError), in the years an event may carry."""
    if not isinstance(day, date) or not 1970 <= day.year <= 9999:
        raise InvalidInput("day", day, "a date from 1970-01-01 to 9999-12-31")


def _midnight(day: date, timezone: str) -> datetime:
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError, TypeError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise InvalidInput(
            "timezone", timezone, "an IANA time zone such as Europe/Brussels"
        ) from exc
    return datetime.combine(day, time(0), zone)


def review(
    db: Engine,
    policy: Policy,
    definition: ProcessDefinition,
    start: datetime,
    end: datetime,
    *,
    label: str | None = None,
    generated_at: datetime | None = None,
) -> ReviewReport:
    """The review of [start, end), from the events (see :mod:`states.report_fold`).

    Reads the history of every case that could have been held in the period
    (one query, streamed, ordered by case): cases whose last event is at or
    after `start`, and cases still open whose last event came before it (they
    sat at a level through the period). Only events before `end` are read, so
    what happened later cannot change the figures.
    """
    start, end = as_utc("start", start), as_utc("end", end)
    period = Period(start, end, label or f"{start:%Y-%m-%d} to {end:%Y-%m-%d}")
    closed = closed_states(definition)
    fold = ReviewFold(policy, definition, period.start, period.end, team_label=NO_TEAM)
    candidates = select(CASE.c.id).where(
        and_(
            CASE.c.opened_at < period.end,
            or_(CASE.c.updated_at >= period.start, CASE.c.state.not_in(closed)),
        )
    )
    query = (
        select(*HISTORY_COLUMNS)
        .where(EVENT.c.occurred_at < period.end, EVENT.c.case_id.in_(candidates))
        .order_by(EVENT.c.case_id, EVENT.c.seq)
    )
    with read_connection(db) as conn, conn.begin():
        rows = conn.execution_options(yield_per=5000).execute(query)
        for *row, payload in rows:
            fold.event(*row, decode_json(payload))
        fold.finish()
    levels = [fold.group("level", name) for name in (FIRST_LEVEL, *definition.level_names)]
    teams = [fold.group("team", name) for name in fold.team_names()]
    return ReviewReport(
        period=period,
        desk=fold.group(DESK, DESK),
        levels=levels,
        teams=teams,
        calendars={name: fold.calendar_of(name) for name in fold.team_names()},
        events_read=fold.events_read,
        generated_at=generated_at,
        process_version=definition.version_id,
        policy_version=policy.version_id,
    )


__all__ = [
    "DESK",
    "NO_TEAM",
    "Figures",
    "Period",
    "ReviewReport",
    "desk_timezone",
    "month_period",
    "quarter_period",
    "review",
]
