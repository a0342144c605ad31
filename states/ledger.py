"""The per-case clock ledger: every interval each clock ran or was paused, and why
each deadline is where it is.

Every round of every clock is shown, not only the latest: a reopened case or
one that climbed the ladder had earlier deadlines, and an auditor asks
whether each of them was met. The rounds and their deadlines are folded from
the clock changes the events carry; closed intervals come from
``clock_segment``; the interval still open from the case. Nothing here is
stored twice, so the ledger is the history the engine wrote, read back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from states.case import CaseSnapshot
from states.durations import format_duration
from states.errors import InvalidInput
from states.events import Event, apply_change
from states.instants import in_range
from states.policy import Policy
from states.store import load_events
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
    """One round of one clock (a clock restarted by a reopen or a new escalation level
    starts a new round, its `generation`), with every interval it ran or was paused."""

    clock: str
    generation: int
    status: str  # running | paused | stopped
    level: str | None
    target: str
    source: str
    calendar: str
    calendar_key: str
    consumed: timedelta
    deadline: datetime | None  # while it runs
    last_deadline: datetime | None  # the deadline in force when it last ran
    warn_at: datetime | None
    warned: bool
    breached: bool
    outcome: str | None  # met | met by resolution | late | done | done late | cancelled
    intervals: list[Interval] = field(default_factory=list)

    @property
    def paused_for(self) -> timedelta:
        return sum((i.business for i in self.intervals if i.status == "paused"), timedelta())

    def verdict(self, now: datetime) -> str:
        """How this round stands against its target at `now`: its outcome once stopped
        (met, met by resolution, late, done, done late, cancelled); breached, overdue
        (past the deadline, not yet swept), running or paused while it runs.

        A target is missed from its deadline's instant on (a stop then is late); a
        follow-up only after its due instant (carried out then, it is done)."""
        if self.outcome:
            return self.outcome
        if self.breached:
            return "breached"
        if self.deadline is not None and (
            now > self.deadline or (now == self.deadline and self.clock != "follow_up")
        ):
            return "overdue"
        return self.status

    @property
    def in_business_hours(self) -> bool:
        """Whether its durations count office hours (shown in hours, not days)."""
        return self.calendar != "always"

    def business(self, td: timedelta) -> str:
        return format_duration(td, in_hours=self.in_business_hours)

    def explain(self, now: datetime) -> str:
        """How the deadline was computed, in one sentence an auditor can check."""
        kind = "business" if self.in_business_hours else "calendar"
        base = (
            f"target {self.target} ({self.source}) counted in {kind} time of calendar "
            f"{self.calendar!r} ({self.calendar_key})"
        )
        if self.status == "stopped":
            was = (
                f"; deadline was {self.last_deadline:%Y-%m-%d %H:%M} UTC"
                if self.last_deadline
                else ""
            )
            return f"{base}; stopped, {self.outcome}, after {self.business(self.consumed)}{was}"
        if self.status == "paused" and self.deadline is not None:
            return (
                f"{base}; paused after its deadline {self.deadline:%Y-%m-%d %H:%M} UTC was "
                "reached: a wait does not move a deadline already reached"
            )
        if self.status == "paused":
            return (
                f"{base}; paused: {self.business(self.consumed)} used, the deadline is "
                "set again when the clock resumes"
            )
        if self.deadline is None:
            return base
        paused = self.paused_for
        moved = f", moved by {self.business(paused)} paused" if paused else ""
        left = self.deadline - now
        due = (
            "overdue by " + format_duration(-left)
            if left < timedelta(0)
            else (format_duration(left) + " left in calendar time")
        )
        return (
            f"{base}; {self.business(self.consumed)} used before the current interval; "
            f"deadline {self.deadline:%Y-%m-%d %H:%M} UTC{moved} ({due})"
        )


def clock_rounds(events: Sequence[Event]) -> list[tuple[dict[str, Any], str | None]]:
    """Every round of every clock in the order they started: its last state and the last
    deadline it had, folded from the clock changes the events carry (the history itself)."""
    current: dict[str, dict[str, Any]] = {}
    rounds: dict[tuple[str, int], dict[str, Any]] = {}
    deadlines: dict[tuple[str, int], str] = {}
    for event in events:
        for change in event.payload.get("clocks") or ():
            state = current[change["clock"]] = apply_change(current, change)
            key = (change["clock"], state["gen"])
            rounds[key] = {**state, "clock": change["clock"]}
            if state.get("deadline"):
                deadlines[key] = state["deadline"]
    return [(state, deadlines.get(key)) for key, state in rounds.items()]


def clock_views(
    conn: Connection,
    case: CaseSnapshot,
    policy: Policy,
    now: datetime,
    events: Sequence[Event] | None = None,
) -> list[ClockView]:
    """Every round of every clock of `case`, in the order they started, each with its
    intervals up to `now` (the ledger rows, and the interval still open on the case).
    `events` is the case's history when the caller has read it already."""
    now = in_range("now", now)
    rows = conn.execute(
        select(SEGMENT).where(SEGMENT.c.case_id == case.id).order_by(SEGMENT.c.seq, SEGMENT.c.id)
    ).all()
    closed: dict[tuple[str, int], list[Interval]] = {}
    for r in rows:
        closed.setdefault((r.clock, r.generation), []).append(
            Interval(
                r.status,
                r.started_at,
                r.ended_at,
                timedelta(seconds=r.business_seconds),
                r.began_because,
                r.ended_because,
            )
        )
    history = load_events(conn, case.id) if events is None else events  # type: ignore[arg-type]
    return build_views(history, closed, policy, now)


def build_views(
    history: Sequence[Event],
    closed: dict[tuple[str, int], list[Interval]],
    policy: Policy | None,
    now: datetime,
) -> list[ClockView]:
    """The rounds folded from `history`, each with its closed intervals (`closed`, by
    clock and round) and the interval still open at `now`, counted in the calendar of
    `policy` (None: in calendar time, for a reader without the policy)."""
    views = []
    for state, last_deadline in clock_rounds(history):
        name = state["clock"]
        intervals = list(closed.get((name, state["gen"]), ()))
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
                consumed=timedelta(seconds=state["consumed_s"]),
                deadline=_at(state.get("deadline")),
                last_deadline=_at(last_deadline),
                warn_at=_at(state.get("warn_at")),
                warned=state["warned"],
                breached=state["breached"],
                outcome=state.get("outcome"),
                intervals=intervals,
            )
        )
    return views


MISSED = ("late", "done late", "breached", "overdue")


def deadline_summary(views: Sequence[ClockView], now: datetime) -> dict[str, int]:
    """How many rounds stand at each verdict at `now` (met, late, overdue, running, …)."""
    summary: dict[str, int] = {}
    for view in views:
        verdict = view.verdict(now)
        summary[verdict] = summary.get(verdict, 0) + 1
    return summary


def _business(policy: Policy | None, calendar: str, since: datetime, now: datetime) -> timedelta:
    if policy is None or now <= since:
        return max(now - since, timedelta())
    try:
        return policy.calendar(calendar).elapsed(since, now)
    except InvalidInput:  # a calendar the current policy no longer has
        return now - since


def _at(text: Any) -> datetime | None:
    return None if not text else datetime.fromisoformat(text)
