"""What the Pipeline page shows: where cases sit, how long they have waited, what moved
in a period, what is about to breach. SQL aggregates and bounded reads only: nothing
here loads every case, so the page costs the same at a thousand cases or a million.

Where cases sit is as of `now`; flows (transitions, opened, resolved, escalated,
breaches) are counted over the filter's period. Team and assignee are the case's
as it stands now. Waiting times are business time in the policy's default
calendar (see :func:`waiting_times`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    String,
    case,
    func,
    literal,
    select,
    union_all,
)

from states.clock_sql import business_before
from states.clocks import CLOCKS
from states.policy import Policy
from states.store import CASE, EVENT
from states.tables import Timer
from states.view_filter import ViewFilter

#: Edges of the waiting-time buckets, in business hours (8 business hours = 1 working day).
WAIT_EDGES_H: tuple[int, ...] = (1, 4, 8, 24, 40, 80, 160)
WAIT_LABELS: tuple[str, ...] = (
    "< 1 h",
    "1-4 h",
    "4 h-1 d",
    "1-3 d",
    "3-5 d",
    "5-10 d",
    "10-20 d",
    "> 20 d",
)
ACTIVITY = {"opened": "opened", "resolve": "resolved", "escalate": "escalated"}
DEADLINE_ROWS = 50
DEADLINE_KINDS = ("breach", "due")  # the timers that mark a deadline (not warnings)
TIMER = Timer.__table__


@dataclass(frozen=True, slots=True)
class Position:
    """Cases sitting in one state (and level), and how long the middle one has waited."""

    state: str
    level: str | None
    cases: int
    median_entered_at: datetime
    median_wait: timedelta  # business time


@dataclass(frozen=True, slots=True)
class Flow:
    from_state: str
    from_level: str | None
    to_state: str
    to_level: str | None
    count: int


@dataclass(frozen=True, slots=True)
class Deadline:
    case_id: int
    clock: str
    deadline: datetime
    breached: bool  # the breach fired, or the deadline passed and no sweep fired it yet
    state: str
    level: str | None
    priority: str
    assignee: str | None


def _cases(where: ViewFilter) -> list[Any]:
    return where.case_conditions()


def _open() -> Any:
    return CASE.c.resolved_at.is_(None)


def positions(conn: Connection, where: ViewFilter, policy: Policy, now: datetime) -> list[Position]:
    """Cases per state and level, each with the median time in that state (business time
    in the default calendar; the median is read by the database, one row per group)."""
    counts = conn.execute(
        select(CASE.c.state, CASE.c.level, func.count())
        .where(*_cases(where))
        .group_by(CASE.c.state, CASE.c.level)
    ).all()
    calendar = policy.calendar(policy.default_calendar)
    found = []
    for state, level, count in counts:
        middle = conn.execute(
            select(CASE.c.state_entered_at)
            .where(*_cases(where), CASE.c.state == state, _same(CASE.c.level, level))
            .order_by(CASE.c.state_entered_at)
            .limit(1)
            .offset(count // 2)
        ).scalar_one()
        found.append(Position(state, level, count, middle, calendar.elapsed(middle, now)))
    return found


def _same(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def _events(where: ViewFilter, since: datetime, until: datetime, *columns: Any) -> Select[Any]:
    """`columns` of the events in the period, of cases the filter keeps."""
    query = select(*columns).where(EVENT.c.occurred_at >= since, EVENT.c.occurred_at <= until)
    conditions = _cases(where)
    if conditions:
        query = query.join(CASE, CASE.c.id == EVENT.c.case_id).where(*conditions)
    return query


def flows(conn: Connection, where: ViewFilter, since: datetime, until: datetime) -> list[Flow]:
    """How many times cases moved from one state (or level) to another in the period."""
    keys = (EVENT.c.from_state, EVENT.c.from_level, EVENT.c.to_state, EVENT.c.to_level)
    query = (
        _events(where, since, until, *keys, func.count())
        .where(
            EVENT.c.from_state.is_not(None),
            (EVENT.c.from_state != EVENT.c.to_state)
            | EVENT.c.from_level.is_distinct_from(EVENT.c.to_level),
        )
        .group_by(*keys)
    )
    return [Flow(*row) for row in conn.execute(query)]


def waiting_times(
    conn: Connection, where: ViewFilter, policy: Policy, now: datetime
) -> dict[str, list[int]]:
    """Open cases per state and waiting-time bucket (:data:`WAIT_LABELS`): the business time
    since each case entered its state, in the policy's default calendar. The bucket edges
    are turned into instants once (the instant from which that much business time has
    passed by `now`) and the database counts cases between them: no case is loaded."""
    calendar = policy.calendar(policy.default_calendar)
    edges = [business_before(calendar, now, timedelta(hours=h)) for h in WAIT_EDGES_H]
    bucket = case(
        *((CASE.c.state_entered_at > edge, index) for index, edge in enumerate(edges)),
        else_=len(edges),
    ).label("bucket")
    rows = conn.execute(
        select(CASE.c.state, bucket, func.count())
        .where(*_cases(where), _open())
        .group_by(CASE.c.state, bucket)
    )
    found: dict[str, list[int]] = {}
    for state, index, count in rows:
        found.setdefault(state, [0] * len(WAIT_LABELS))[index] = count
    return found


def deadlines(
    conn: Connection,
    where: ViewFilter,
    now: datetime,
    horizon: timedelta,
    limit: int = DEADLINE_ROWS,
) -> tuple[list[Deadline], dict[str, int]]:
    """Deadlines in force breached or due within `horizon`, most urgent first (the oldest
    deadline first), at most `limit`; and how many there are of each kind.

    Read from the durable timers, not from every case's clocks: a deadline in force has
    a pending breach (or due) timer, found through the index of pending timers; one
    already breached has a fired timer of the round still running (its generation is
    the clock's ``armed_seq``), looked for among the cases still open or not yet
    followed up only (the follow-up clock runs after the resolution)."""
    pending = select(
        TIMER.c.case_id, TIMER.c.clock, TIMER.c.due_at.label("deadline"), TIMER.c.status
    ).where(
        TIMER.c.status == "pending",
        TIMER.c.kind.in_(DEADLINE_KINDS),
        TIMER.c.due_at < now + horizon,
    )
    fired = (
        select(TIMER.c.case_id, TIMER.c.clock, TIMER.c.due_at.label("deadline"), TIMER.c.status)
        .select_from(CASE)
        .join(TIMER, TIMER.c.case_id == CASE.c.id)
        .where(
            CASE.c.resolved_at.is_(None) | CASE.c.followed_up_at.is_(None),
            TIMER.c.status == "fired",
            TIMER.c.kind.in_(DEADLINE_KINDS),
            _clock_of_timer("status") == "running",
            _clock_of_timer("armed_seq", Integer) == TIMER.c.generation,
            *_cases(where),
        )
    )
    conditions = _cases(where)
    if conditions:
        pending = pending.join(CASE, CASE.c.id == TIMER.c.case_id).where(*conditions)
    urgent = union_all(pending, fired).subquery()
    counts = {"breached": 0, "at risk": 0}
    first: list[tuple[int, str, datetime, bool]] = []
    # One pass (the JSON checks run once): count every deadline, keep the most urgent.
    for case_id, clock, deadline, status in conn.execute(
        select(urgent).order_by(urgent.c.deadline, urgent.c.case_id, urgent.c.clock)
    ):
        due = _aware(deadline)
        breached = status == "fired" or due <= now
        counts["breached" if breached else "at risk"] += 1
        if len(first) < limit:
            first.append((case_id, clock, due, breached))
    about = {
        r.id: r
        for r in conn.execute(
            select(CASE.c.id, CASE.c.state, CASE.c.level, CASE.c.priority, CASE.c.assignee).where(
                CASE.c.id.in_({case_id for case_id, *_ in first})
            )
        )
    }
    found = [
        Deadline(case_id, clock, due, breached, *about[case_id][1:])
        for case_id, clock, due, breached in first
    ]
    return found, counts


def _clock_of_timer(name: str, kind: type = String) -> Any:
    """A field of the case's clock the timer belongs to, as text or integer (one JSON
    path per clock: the clock's name is in the timer row)."""
    field = (lambda c: c.as_integer()) if kind is Integer else (lambda c: c.as_string())
    return case(
        *((TIMER.c.clock == clock, field(CASE.c.clocks[(clock, name)])) for clock in CLOCKS),
        else_=literal(None, kind),
    )


def _aware(value: Any) -> datetime:
    """A timestamp read through a UNION (SQLite returns the stored text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def escalations(
    conn: Connection, where: ViewFilter, since: datetime, until: datetime
) -> list[tuple[str, str, int]]:
    """Escalations in the period by escalation point ("by hand" for a person's) and reason,
    most frequent first."""
    point = EVENT.c.payload["point"].as_string()
    reason = EVENT.c.payload["reason"].as_string()
    rows = conn.execute(
        _events(where, since, until, point, reason, func.count().label("n"))
        .where(EVENT.c.type == "escalate")
        .group_by(point, reason)
        .order_by(func.count().desc())
    )
    return [(p or "by hand", r or "-", n) for p, r, n in rows]


def activity(
    conn: Connection, where: ViewFilter, since: datetime, until: datetime
) -> list[tuple[date, str, int]]:
    """Cases opened, resolved and escalated per UTC day of the period."""
    day = _utc_day(conn.dialect.name)
    rows = conn.execute(
        _events(where, since, until, day, EVENT.c.type, func.count())
        .where(EVENT.c.type.in_(tuple(ACTIVITY)))
        .group_by(day, EVENT.c.type)
    )
    return sorted((date.fromisoformat(str(d)[:10]), ACTIVITY[t], n) for d, t, n in rows)


def _utc_day(dialect: str) -> Any:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", EVENT.c.occurred_at), "YYYY-MM-DD")
    return func.substr(EVENT.c.occurred_at, 1, 10)  # stored as UTC ISO 8601 text


def breaches(
    conn: Connection, where: ViewFilter, since: datetime, until: datetime
) -> dict[str, int]:
    """Breaches per clock in the period."""
    clock = EVENT.c.payload["clock"].as_string()
    rows = conn.execute(
        _events(where, since, until, clock, func.count())
        .where(EVENT.c.type == "sla_breached")
        .group_by(clock)
    )
    return {name: count for name, count in rows}


@dataclass(frozen=True, slots=True)
class PipelineFigures:
    """Everything the Pipeline page shows, read in one connection."""

    positions: list[Position]
    flows: list[Flow]
    waiting: dict[str, list[int]]
    deadlines: list[Deadline]
    deadline_counts: dict[str, int]
    escalations: list[tuple[str, str, int]]
    activity: list[tuple[date, str, int]]
    breaches: dict[str, int]


def pipeline(
    conn: Connection, where: ViewFilter, policy: Policy, now: datetime, horizon: timedelta
) -> PipelineFigures:
    """The Pipeline page's figures as of `now` (flows over the filter's period)."""
    since = where.since(now)
    urgent, counts = deadlines(conn, where, now, horizon)
    return PipelineFigures(
        positions=positions(conn, where, policy, now),
        flows=flows(conn, where, since, now),
        waiting=waiting_times(conn, where, policy, now),
        deadlines=urgent,
        deadline_counts=counts,
        escalations=escalations(conn, where, since, now),
        activity=activity(conn, where, since, now),
        breaches=breaches(conn, where, since, now),
    )
