"""The per-case clock ledger: every interval each clock ran or was paused, and why
each deadline is where it is.

Closed intervals come from ``clock_segment``; the interval still open and the
deadline come from the case's clock state. Nothing here is stored twice, so
the ledger is the history the engine wrote, read back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from states.case import CaseSnapshot
from states.durations import format_duration
from states.errors import InvalidInput
from states.policy import Policy
from states.tables import ClockSegment

SEGMENT = ClockSegment.__table__


@dataclass(frozen=True, slots=True)
class Interval:
    status: str  # running | paused
    started_at: datetime
    ended_at: datetime | None  # None: still open
    business: timedelta
    began_because: str
    ended_because: str | None


@dataclass(slots=True)
class ClockView:
    clock: str
    generation: int
    status: str  # running | paused | stopped
    level: str | None
    target: str
    source: str
    calendar: str
    calendar_key: str
    consumed: timedelta
    deadline: datetime | None
    warn_at: datetime | None
    warned: bool
    breached: bool
    outcome: str | None
    intervals: list[Interval] = field(default_factory=list)

    @property
    def paused_for(self) -> timedelta:
        return sum((i.business for i in self.intervals if i.status == "paused"), timedelta())

    def explain(self, now: datetime) -> str:
        """How the deadline was computed, in one sentence an auditor can check."""
        kind = "calendar" if self.calendar == "always" else "business"
        base = (
            f"target {self.target} ({self.source}) counted in {kind} time of calendar "
            f"{self.calendar!r} ({self.calendar_key})"
        )
        if self.status == "stopped":
            return f"{base}; stopped, {self.outcome}, after {format_duration(self.consumed)}"
        if self.status == "paused":
            return (
                f"{base}; paused: {format_duration(self.consumed)} used, the deadline is "
                "set again when the clock resumes"
            )
        if self.deadline is None:
            return base
        paused = self.paused_for
        moved = f", moved by {format_duration(paused)} paused" if paused else ""
        left = self.deadline - now
        due = (
            "overdue by " + format_duration(-left)
            if left < timedelta(0)
            else (format_duration(left) + " left in calendar time")
        )
        return (
            f"{base}; {format_duration(self.consumed)} used before the current interval; "
            f"deadline {self.deadline:%Y-%m-%d %H:%M} UTC{moved} ({due})"
        )


def clock_views(
    conn: Connection, case: CaseSnapshot, policy: Policy, now: datetime
) -> list[ClockView]:
    """Each clock of `case` (latest generation), with its intervals up to `now`."""
    rows = conn.execute(
        select(SEGMENT).where(SEGMENT.c.case_id == case.id).order_by(SEGMENT.c.seq, SEGMENT.c.id)
    ).all()
    views = []
    for name, state in case.clocks.items():
        intervals = [
            Interval(
                r.status,
                r.started_at,
                r.ended_at,
                timedelta(seconds=r.business_seconds),
                r.began_because,
                r.ended_because,
            )
            for r in rows
            if r.clock == name and r.generation == state["gen"]
        ]
        consumed = timedelta(seconds=state["consumed_s"])
        if state["status"] in ("running", "paused"):
            since = datetime.fromisoformat(state["since"])
            business = _business(policy, state["calendar"], since, now)
            intervals.append(
                Interval(state["status"], since, None, business, state["since_reason"], None)
            )
        views.append(
            ClockView(
                clock=name,
                generation=state["gen"],
                status=state["status"],
                level=state.get("level"),
                target=state["target"],
                source=state["source"],
                calendar=state["calendar"],
                calendar_key=state.get("calendar_key", ""),
                consumed=consumed,
                deadline=_at(state.get("deadline")),
                warn_at=_at(state.get("warn_at")),
                warned=state["warned"],
                breached=state["breached"],
                outcome=state.get("outcome"),
                intervals=intervals,
            )
        )
    return views


def _business(policy: Policy, calendar: str, since: datetime, now: datetime) -> timedelta:
    try:
        return policy.calendar(calendar).elapsed(since, now) if now > since else timedelta()
    except InvalidInput:  # a calendar the current policy no longer has
        return now - since


def _at(text: Any) -> datetime | None:
    return None if not text else datetime.fromisoformat(text)
