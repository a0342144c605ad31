"""The aging table of open cases: one page of rows, sorted and counted by the database,
with business-time ages and time left computed for that page only.

A row's SLA status reads its clocks at `now`: ``breached`` when a running clock
breached or is past its deadline, ``warning`` when one passed its warning
point, ``paused`` when the case waits on its customer (its pausable clocks
stand still) or only paused clocks are left, ``ok`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select

from states import fields as check
from states.case import DEADLINE_CLOCKS, PRIORITIES, running_deadlines
from states.clock_sql import NO_DEADLINE, next_deadline, running_deadline, signed_business
from states.clocks import CLOCKS, iso
from states.errors import InvalidInput
from states.instants import in_range
from states.policy import Policy
from states.store import CASE
from states.view_filter import ViewFilter

#: How the table may be sorted. Age and time in state read an index; the next deadline
#: is the soonest of the clocks in each open case's JSON, whose first page is drawn from
#: each clock's deadline index (see `_soonest_candidates`).
SORTS: dict[str, str] = {
    "age": "age",
    "next_deadline": "next deadline",
    "in_state": "time in state",
    "priority": "priority",
    "id": "case number",
}
STATUSES: tuple[str, ...] = ("breached", "warning", "paused", "ok")
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class AgingRow:
    case_id: int
    subject: str
    state: str
    level: str | None
    priority: str
    channel: str
    team: str | None
    assignee: str | None
    opened_at: datetime
    age: timedelta  # business time since opening (default calendar)
    in_state: timedelta  # business time since entering the state (default calendar)
    next_clock: str | None
    next_deadline: datetime | None
    left: timedelta | None  # business time to the deadline, in that clock's calendar
    status: str


@dataclass(frozen=True, slots=True)
class AgingQuery:
    """Which open cases, in what order, which page."""

    state: str | None = None
    level: str | None = None
    sort: str = "age"
    descending: bool = False
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        check.name("state", self.state)
        check.name("level", self.level)
        if self.sort not in SORTS:
            raise InvalidInput("sort", self.sort, "one of " + ", ".join(SORTS))
        check.whole_number("limit", self.limit, 1, MAX_PAGE)
        check.whole_number("offset", self.offset, 0)


def aging(
    conn: Connection, where: ViewFilter, query: AgingQuery, policy: Policy, now: datetime
) -> tuple[list[AgingRow], int]:
    """One page of open cases and how many open cases the filters keep."""
    now = in_range("now", now)
    conditions = [CASE.c.resolved_at.is_(None), *where.case_conditions()]
    if query.state is not None:
        conditions.append(CASE.c.state == query.state)
    if query.level is not None:
        conditions.append(CASE.c.level == query.level)
    total = conn.execute(select(func.count()).select_from(CASE).where(*conditions)).scalar_one()
    soonest = next_deadline(conn.dialect.name).label("soonest")
    order = _order(query.sort, soonest)
    page = list(conditions)
    if query.sort == "next_deadline" and not query.descending:
        candidates = _soonest_candidates(conn, conditions, query.offset + query.limit)
        if candidates is not None:
            page.append(CASE.c.id.in_(candidates))
    rows = conn.execute(
        select(
            CASE.c.id,
            CASE.c.subject,
            CASE.c.state,
            CASE.c.level,
            CASE.c.priority,
            CASE.c.channel,
            CASE.c.team,
            CASE.c.assignee,
            CASE.c.opened_at,
            CASE.c.state_entered_at,
            CASE.c.waiting,
            CASE.c.clocks,
            soonest,
        )
        .where(*page)
        .order_by(order.desc() if query.descending else order, CASE.c.id)
        .limit(query.limit)
        .offset(query.offset)
    ).all()
    return [_row(r, policy, now) for r in rows], total


def _soonest_candidates(conn: Connection, conditions: list[Any], wanted: int) -> set[int] | None:
    """The cases that can be among the `wanted` soonest next deadlines: each clock's
    `wanted` soonest running deadlines, read from its index (``ix_case_deadline_<clock>``)
    instead of every open case's JSON. A case among the `wanted` first has its soonest
    deadline on some clock, and every case before it on that clock's index is before it
    in the page too, so it is among that clock's `wanted` first. None when fewer cases
    than that have a deadline at all: the page then reaches cases without one."""
    found: set[int] = set()
    for clock in CLOCKS:
        deadline = running_deadline(clock)
        found.update(
            conn.execute(
                select(CASE.c.id)
                .where(*conditions, deadline.is_not(None))
                .order_by(deadline, CASE.c.id)
                .limit(wanted)
            ).scalars()
        )
    return found if len(found) >= wanted else None


def _order(sort: str, soonest: Any) -> Any:
    if sort == "next_deadline":
        return soonest
    if sort == "priority":  # most urgent first
        return case(
            *((CASE.c.priority == p, rank) for rank, p in enumerate(reversed(PRIORITIES))),
            else_=len(PRIORITIES),
        )
    if sort == "id":
        return CASE.c.id
    return {"age": CASE.c.opened_at, "in_state": CASE.c.state_entered_at}[sort]  # oldest first


def _row(r: Any, policy: Policy, now: datetime) -> AgingRow:
    default = policy.calendar(policy.default_calendar)
    clock, deadline, left = None, None, None
    if r.soonest and r.soonest != NO_DEADLINE:
        deadline = datetime.fromisoformat(r.soonest)
        # the clock whose deadline in force (its column, states.case) is the soonest; none
        # when the row's columns disagree with its clocks (edited: `audit verify` says so)
        in_force = running_deadlines(r.clocks)
        if r.soonest in in_force:
            clock = DEADLINE_CLOCKS[in_force.index(r.soonest)]
            left = signed_business(_calendar(policy, r.clocks[clock]), now, deadline)
    return AgingRow(
        case_id=r.id,
        subject=r.subject,
        state=r.state,
        level=r.level,
        priority=r.priority,
        channel=r.channel,
        team=r.team,
        assignee=r.assignee,
        opened_at=r.opened_at,
        age=default.elapsed(r.opened_at, now),
        in_state=default.elapsed(r.state_entered_at, now),
        next_clock=clock,
        next_deadline=deadline,
        left=left,
        status=sla_status(r.clocks, r.waiting, now),
    )


def _calendar(policy: Policy, state: dict[str, Any]) -> Any:
    name = state.get("calendar", policy.default_calendar)
    return policy.calendars.get(name) or policy.calendar(policy.default_calendar)


def sla_status(clocks: dict[str, Any], waiting: bool, now: datetime) -> str:
    """breached, warning, paused or ok: how the case's clocks stand at `now`."""
    at = iso(now)
    running = [s for s in clocks.values() if s.get("status") == "running"]
    # a clock paused after it reached its deadline keeps it: breached through the wait
    spent = [s for s in clocks.values() if s.get("status") == "paused" and s.get("deadline")]
    if any(
        s.get("breached") or (s.get("deadline") and s["deadline"] <= at) for s in running + spent
    ):
        return "breached"
    if any(s.get("warned") or (s.get("warn_at") and s["warn_at"] <= at) for s in running):
        return "warning"
    if waiting or (not running and any(s.get("status") == "paused" for s in clocks.values())):
        return "paused"
    return "ok"
