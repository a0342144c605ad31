"""What the Pipeline page shows: where cases sit, how long they have waited, what moved
in a period, what is about to breach. SQL aggregates and bounded reads only: nothing
here loads every case, so the page costs the same at a thousand cases or a million.

Where cases sit is as of `now`, filtered by each case's team, priority, channel and
assignee as it stands now; flows (transitions, opened, resolved, escalated, breaches)
are counted over the filter's period, filtered by the case's as they stood once each
event applied (:mod:`states.dimensions`: a case billing escalated and the senior team
resolved is billing's escalation and the senior team's resolution). Waiting times are
business time in the policy's default calendar (see :func:`waiting_times`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import permutations
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    String,
    case,
    column,
    func,
    literal,
    select,
    union_all,
    values,
)

from states.clock_sql import business_before, is_running, running_deadline
from states.clocks import TARGET_CLOCKS, iso
from states.json_sql import moved
from states.policy import Policy
from states.process import ProcessDefinition
from states.store import CASE, EVENT
from states.stored_types import UTCDateTime
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


@dataclass(frozen=True, slots=True)
class Position:
    """Cases sitting in one state (and level), and how long the middle one has waited
    (None for a state only a reopen leaves: its cases are closed, not waiting)."""

    state: str
    level: str | None
    cases: int
    median_entered_at: datetime | None
    median_wait: timedelta | None  # business time


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


def _open() -> Any:
    return CASE.c.resolved_at.is_(None)


def positions(
    conn: Connection,
    where: ViewFilter,
    policy: Policy,
    now: datetime,
    process: ProcessDefinition | None = None,
) -> list[Position]:
    """Cases per state and level, each with the median time in that state (business time
    in the default calendar; the median is read by the database, one row per group).

    With `process`, the states only a reopen leaves (closed: followed up, most of a
    desk's cases) have no median wait. The other states are counted as ranges of
    ``ix_case_state_level_entered``, a filter compared in the index (its last columns);
    the closed cases as every case the filter keeps less the others: without a filter
    the table's count (its pages' counts, not an entry per case), with one a count of
    ``ix_case_assignee``'s narrow entries (a range of it for an assignee)."""
    closed = _final_states(process) if process is not None else set()
    others = [state.name for state in process.states] if process is not None else []
    conditions = where.case_conditions()
    grouped = select(CASE.c.state, CASE.c.level, func.count()).group_by(CASE.c.state, CASE.c.level)
    if len(closed) == 1:
        (final,) = closed
        kept = [name for name in others if name != final]
        counts = conn.execute(grouped.where(CASE.c.state.in_(kept), *conditions)).all()
        total = conn.execute(select(func.count()).select_from(CASE).where(*conditions))
        rest = total.scalar_one() - sum(n for _, _, n in counts)
        counts += [(final, None, rest)] if rest else []
    else:
        counts = conn.execute(grouped.where(*conditions)).all()
    calendar = policy.calendar(policy.default_calendar)
    found = []
    for state, level, count in counts:
        if state in closed:
            found.append(Position(state, level, count, None, None))
            continue
        middle = conn.execute(
            select(CASE.c.state_entered_at)
            .where(*conditions, CASE.c.state == state, _same(CASE.c.level, level))
            .order_by(CASE.c.state_entered_at)
            .limit(1)
            .offset(count // 2)
        ).scalar_one()
        found.append(Position(state, level, count, middle, calendar.elapsed(middle, now)))
    return found


def _final_states(process: ProcessDefinition) -> set[str]:
    """States no transition leaves but a reopen: closed cases (followed up)."""
    left = {s for spec in process.transitions if spec.trigger != "reopen" for s in spec.sources}
    return {state.name for state in process.states if state.name not in left}


def _same(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def _events(
    where: ViewFilter,
    since: datetime,
    until: datetime,
    *columns: Any,
    until_included: bool = True,
) -> Select[Any]:
    """`columns` of the events in the period that the filter keeps (by the team, priority,
    channel and assignee each event carries: the case's once it applied)."""
    end = EVENT.c.occurred_at <= until if until_included else EVENT.c.occurred_at < until
    return select(*columns).where(EVENT.c.occurred_at >= since, end, *where.conditions(EVENT))


def flows(
    conn: Connection,
    where: ViewFilter,
    since: datetime,
    until: datetime,
    process: ProcessDefinition,
) -> list[Flow]:
    """How many times cases moved from one place (state, and level where the state has
    one) of `process` to another in the period.

    Each pair of places is counted as a range of the partial index of moves
    (``ix_case_event_moves``: moves only, by from, to and time), all in one statement:
    the database reads the moves of the period once and sorts nothing. A filter is
    compared in the index too (its last columns are the event's filters)."""
    dialect = conn.dialect.name
    counted = []
    for origin, target in permutations(_places(process), 2):
        query = _events(where, since, until, func.count().label("n")).where(
            EVENT.c.from_state == origin[0],
            _same(EVENT.c.from_level, origin[1]),
            EVENT.c.to_state == target[0],
            _same(EVENT.c.to_level, target[1]),
            moved(dialect),
        )
        counted.append(
            select(*(literal(v, String) for v in (*origin, *target)), query.scalar_subquery())
        )
    found = []
    for part in range(0, len(counted), _COMPOUND):  # SQLite: 500 selects in a compound
        rows = conn.execute(union_all(*counted[part : part + _COMPOUND])).all()
        found += [Flow(*row) for row in rows if row[4]]
    return found


_COMPOUND = 400


def _places(process: ProcessDefinition) -> list[tuple[str, str | None]]:
    """Where a case can be: each state, with each level of the ladder where it has one."""
    return [
        (state.name, level)
        for state in process.states
        for level in (process.level_names if state.carries_level else (None,))
    ]


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
        .where(*where.case_conditions(), _open())
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
    """Clocks whose deadline is in force (running, or paused after they reached it: spent,
    breached through the wait) already breached or due within `horizon` (at most
    `horizon` after `now`), most urgent first (the oldest deadline first), at most
    `limit`; and how many there are of each kind. The follow-up is a task falling due,
    not a target: it is never breached nor at risk (as in :func:`states.asof.pipeline_at`).

    Each clock's running deadlines are read from its partial index
    (``ix_case_deadline_<clock>``: running clocks only, by deadline), so the cost follows
    the deadlines shown and counted, not the cases stored. A breached clock is one whose
    deadline has passed: its breach fires at the deadline and a clock keeps a passed
    deadline through a wait (see states.clocks), so the count needs no JSON flag."""
    until, at = iso(now + horizon), iso(now)
    kinds = []
    rows = []
    for clock in TARGET_CLOCKS:
        deadline = running_deadline(clock)
        # Through the clock's index of running deadlines, which ends with the filters.
        due = (*where.conditions(CASE, indexed=False), is_running(clock), deadline <= until)
        for kind, bound in (("breached", deadline <= at), ("at risk", deadline > at)):
            kinds.append(  # ranges of the index: counted without reading a case's JSON
                select(literal(kind, String).label("kind"), func.count().label("n")).where(
                    *due, bound
                )
            )
        rows.append(
            select(
                CASE.c.id.label("case_id"),
                literal(clock, String).label("clock"),
                deadline.label("deadline"),
                CASE.c.clocks[clock]["breached"].as_boolean().label("breached"),
                CASE.c.state,
                CASE.c.level,
                CASE.c.priority,
                CASE.c.assignee,
            )
            .where(*due)
            .order_by(deadline, CASE.c.id)
            .limit(limit)
            .subquery()
        )
    every = union_all(*kinds).subquery()
    counts = dict(
        conn.execute(select(every.c.kind, func.sum(every.c.n)).group_by(every.c.kind)).all()
    )
    urgent = union_all(*(select(part) for part in rows)).subquery()
    found = [
        Deadline(
            r.case_id,
            r.clock,
            datetime.fromisoformat(r.deadline),
            bool(r.breached) or r.deadline <= at,
            r.state,
            r.level,
            r.priority,
            r.assignee,
        )
        for r in conn.execute(
            select(urgent).order_by(urgent.c.deadline, urgent.c.case_id).limit(limit)
        )
    ]
    return found, {"breached": counts.get("breached", 0), "at risk": counts.get("at risk", 0)}


def escalations(
    conn: Connection, where: ViewFilter, since: datetime, until: datetime
) -> list[tuple[str, str, int]]:
    """Escalations in the period by escalation point ("by hand" for a person's) and reason,
    most frequent first."""
    point, reason = EVENT.c.point, EVENT.c.reason  # the payload's (states.dimensions)
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
    """Cases opened, resolved and escalated per UTC day of the period.

    Each day and kind is counted as a range of ``ix_case_event_type_occurred``: a list
    of the period's days (``VALUES``) with one correlated count per kind, so the database
    counts index entries and neither computes a day for each event nor sorts them."""
    bounds = []
    day = datetime.combine(since.astimezone(UTC).date(), time(), UTC)
    while day <= until:
        bounds.append((day.date().isoformat(), max(day, since), day + timedelta(days=1)))
        day += timedelta(days=1)
    days = (
        values(
            column("day", String), column("lo", UTCDateTime), column("hi", UTCDateTime), name="days"
        )
        .data(bounds)
        .cte("days")
    )
    counts = [
        _events(where, days.c.lo, days.c.hi, func.count(), until_included=False)
        .where(EVENT.c.type == kind, EVENT.c.occurred_at <= until)
        .scalar_subquery()
        for kind in ACTIVITY
    ]
    found = [
        (date.fromisoformat(label), name, n)
        for label, *numbers in conn.execute(select(days.c.day, *counts))
        for name, n in zip(ACTIVITY.values(), numbers, strict=True)
        if n
    ]
    return sorted(found)


def breaches(
    conn: Connection, where: ViewFilter, since: datetime, until: datetime
) -> dict[str, int]:
    """Breaches per clock in the period."""
    clock = EVENT.c.clock  # the payload's (states.dimensions)
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
    conn: Connection,
    where: ViewFilter,
    policy: Policy,
    now: datetime,
    horizon: timedelta,
    process: ProcessDefinition,
) -> PipelineFigures:
    """The Pipeline page's figures as of `now` (flows over the filter's period, between
    the places of `process`)."""
    since = where.since(now)
    urgent, counts = deadlines(conn, where, now, horizon)
    return PipelineFigures(
        positions=positions(conn, where, policy, now, process),
        flows=flows(conn, where, since, now, process),
        waiting=waiting_times(conn, where, policy, now),
        deadlines=urgent,
        deadline_counts=counts,
        escalations=escalations(conn, where, since, now),
        activity=activity(conn, where, since, now),
        breaches=breaches(conn, where, since, now),
    )
