"""A case and the whole pipeline as they stood at a past instant, from the events alone.

An auditor asks "where was case 42 on 3 March at noon, who had it, which
deadlines ran and which were already missed?" and "how many cases sat at
each level then, and which were about to breach?". Both answers are folds of
the history up to that instant (every event whose ``occurred_at`` is at or
before it, the same fold the engine stores: :func:`states.events.fold`), never
the mutable ``case`` row, so a projection written behind the engine's back
cannot change them, and the answer for a past instant does not move when the
case does. An event recorded later than it happened counts from when it
happened. At the current instant both agree with the live projection
(:func:`pipeline_live` computes the same figures from the ``case`` rows).

Deadline standing at an instant (:func:`standing`), per SLA clock of a case
still running or paused then (the follow-up is a task falling due, not a
target that can be missed, and is left out):

* **breached**: the breach had fired, or the deadline had passed (a sweep
  runs every few minutes: a deadline passed but not yet swept is breached);
* **at risk**: not breached, running, and its deadline falls within the
  horizon after the instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Text, select, type_coerce

from states.case import CaseSnapshot
from states.clocks import TARGET_CLOCKS
from states.errors import CaseNotFound, IntegrityError, InvalidInput
from states.events import Event, fold
from states.instants import as_utc
from states.ledger import ClockView, Interval, build_views
from states.policy import Policy
from states.report import decode_json
from states.store import CASE, EVENT, load_events, row_to_event, row_to_snapshot

DEFAULT_HORIZON = timedelta(hours=4)
_ACTIVE = ("running", "paused")
_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Deadline:
    """One SLA clock of one case against its deadline at an instant."""

    case_id: int
    state: str
    level: str | None
    clock: str
    generation: int
    deadline: datetime | None
    breached: bool  # False: at risk

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "state": self.state,
            "level": self.level,
            "clock": self.clock,
            "generation": self.generation,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "standing": "breached" if self.breached else "at risk",
        }


@dataclass(slots=True)
class CaseAsOf:
    """Case `case.id` as it stood at `at`: the fold of its first `events` events (of
    `total`), every round of every clock with its intervals up to `at`, and its SLA
    clocks breached or at risk then (`deadlines`, within :data:`DEFAULT_HORIZON`)."""

    at: datetime
    case: CaseSnapshot
    clocks: list[ClockView]
    events: int
    total: int
    deadlines: list[Deadline] = field(default_factory=list)

    @property
    def state(self) -> str:
        return self.case.state

    @property
    def level(self) -> str | None:
        return self.case.level

    @property
    def assignee(self) -> str | None:
        return self.case.assignee

    @property
    def waiting(self) -> bool:
        return self.case.waiting

    @property
    def flags(self) -> list[str]:
        return list(self.case.flags)

    def as_dict(self) -> dict[str, Any]:
        c = self.case
        return {
            "case_id": c.id,
            "at": self.at.isoformat(),
            "events": self.events,
            "events_after": self.total - self.events,
            "state": c.state,
            "level": c.level,
            "assignee": c.assignee,
            "team": c.team,
            "priority": c.priority,
            "waiting": c.waiting,
            "flags": list(c.flags),
            "acknowledged": c.acknowledged,
            "version": c.version,
            "last_seq": c.last_seq,
            "last_hash": c.last_hash,
            "updated_at": c.updated_at.isoformat(),
            "clocks": [
                {
                    "clock": v.clock,
                    "generation": v.generation,
                    "level": v.level,
                    "status": v.status,
                    "verdict": v.verdict(self.at),
                    "target": v.target,
                    "deadline": _iso(v.deadline),
                    "last_deadline": _iso(v.last_deadline),
                    "warned": v.warned,
                    "breached": v.breached,
                    "outcome": v.outcome,
                    "explanation": v.explain(self.at),
                }
                for v in self.clocks
            ],
            "deadlines": [d.as_dict() for d in self.deadlines],
        }


@dataclass(slots=True)
class PipelineAsOf:
    """The pipeline at `at`: cases per (state, level), how many waited on their customer,
    and the deadlines breached or at risk then."""

    at: datetime
    horizon: timedelta
    team: str | None
    counts: dict[tuple[str, str | None], int] = field(default_factory=dict)
    waiting: int = 0
    breached: list[Deadline] = field(default_factory=list)
    at_risk: list[Deadline] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(self.counts.values())

    @property
    def by_state(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (state, _level), count in self.counts.items():
            out[state] = out.get(state, 0) + count
        return out

    def add(self, case: CaseSnapshot) -> None:
        key = (case.state, case.level)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.waiting += case.waiting
        for deadline in standing(case, self.at, self.horizon):
            (self.breached if deadline.breached else self.at_risk).append(deadline)

    def finish(self) -> PipelineAsOf:
        """Sorted as a reader scans them: counts by state then level, deadlines soonest first."""
        self.counts = dict(sorted(self.counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")))
        for deadlines in (self.breached, self.at_risk):
            deadlines.sort(key=_soonest)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "horizon_s": int(self.horizon.total_seconds()),
            "team": self.team,
            "cases": self.cases,
            "by_state": self.by_state,
            "counts": [
                {"state": state, "level": level, "cases": count}
                for (state, level), count in self.counts.items()
            ],
            "waiting": self.waiting,
            "breached": [d.as_dict() for d in self.breached],
            "at_risk": [d.as_dict() for d in self.at_risk],
        }


def standing(case: CaseSnapshot, at: datetime, horizon: timedelta) -> list[Deadline]:
    """The SLA clocks of `case` breached or at risk at `at` (see the module docstring)."""
    found = []
    until = at + horizon
    for name, clock in case.clocks.items():
        if name not in TARGET_CLOCKS or clock.get("status") not in _ACTIVE:
            continue
        deadline = _when(clock.get("deadline"))
        breached = bool(clock.get("breached")) or (deadline is not None and at >= deadline)
        if breached or (
            clock["status"] == "running" and deadline is not None and deadline <= until
        ):
            found.append(
                Deadline(
                    case.id or 0, case.state, case.level, name, clock["gen"], deadline, breached
                )
            )
    return found


def case_at(
    conn: Connection, case_id: int, at: datetime, *, policy: Policy | None = None
) -> CaseAsOf:
    """Case `case_id` as it stood at `at`, folded from the events that happened by then.

    `policy` counts the interval still open at `at` in business time (without it, in
    calendar time). Raises CaseNotFound for a case with no history and InvalidInput
    for an instant before the case was opened."""
    at = as_utc("at", at)
    history = load_events(conn, case_id)
    if not history:
        raise CaseNotFound(case_id)
    events = [event for event in history if event.occurred_at <= at]
    if not events:
        raise InvalidInput(
            "at",
            at.isoformat(),
            f"case {case_id} was opened at {history[0].occurred_at.isoformat()}; "
            "give an instant at or after it",
        )
    snap = _fold(case_id, events)
    closed = _segments(events)
    return CaseAsOf(
        at=at,
        case=snap,
        clocks=build_views(events, closed, policy, at),
        events=len(events),
        total=len(history),
        deadlines=standing(snap, at, DEFAULT_HORIZON),
    )


def pipeline_at(
    conn: Connection,
    at: datetime,
    *,
    team: str | None = None,
    horizon: timedelta = DEFAULT_HORIZON,
) -> PipelineAsOf:
    """The pipeline as it stood at `at` (of one `team` if given), from the events alone.

    One streamed query reads the events that happened by `at`, ordered by case, and
    folds each case in turn: memory holds one case's history at a time."""
    at = _checked("at", at, horizon)
    result = PipelineAsOf(at=at, horizon=horizon, team=team)
    columns = [c for c in EVENT.columns if c.name != "payload"]
    query = (
        select(*columns, type_coerce(EVENT.c.payload, Text).label("payload_json"))
        .where(EVENT.c.occurred_at <= at)
        .order_by(EVENT.c.case_id, EVENT.c.seq)
        .execution_options(yield_per=5000)
    )
    rows = conn.execute(query)
    stream = (row_to_event(row, decode_json(row.payload_json) or {}) for row in rows)
    for case_id, events in _by_case(stream):
        snap = _fold(case_id, events)
        if team is None or snap.team == team:
            result.add(snap)
    return result.finish()


def pipeline_live(
    conn: Connection,
    now: datetime,
    *,
    team: str | None = None,
    horizon: timedelta = DEFAULT_HORIZON,
) -> PipelineAsOf:
    """The same figures from the ``case`` rows (the live projection), at `now`; equal to
    :func:`pipeline_at` at the current instant when the projection matches its history."""
    now = _checked("now", now, horizon)
    result = PipelineAsOf(at=now, horizon=horizon, team=team)
    query = select(CASE) if team is None else select(CASE).where(CASE.c.team == team)
    for row in conn.execute(query.order_by(CASE.c.id).execution_options(yield_per=5000)):
        result.add(row_to_snapshot(row))
    return result.finish()


def _checked(name: str, at: Any, horizon: Any) -> datetime:
    """`at` in UTC, with `horizon` (how far ahead a deadline counts as at risk) checked."""
    if not isinstance(horizon, timedelta) or horizon < timedelta(0):
        raise InvalidInput("horizon", str(horizon), "a duration of zero or more")
    return as_utc(name, at)


def _by_case(events: Iterable[Event]) -> Iterator[tuple[int, list[Event]]]:
    current: list[Event] = []
    for event in events:
        if current and event.case_id != current[0].case_id:
            yield current[0].case_id, current  # type: ignore[misc]
            current = []
        current.append(event)
    if current:
        yield current[0].case_id, current  # type: ignore[misc]


def _fold(case_id: int, events: list[Event]) -> CaseSnapshot:
    try:
        return fold(events)
    except ValueError as exc:
        raise IntegrityError(case_id, [str(exc)]) from None


def _segments(events: list[Event]) -> dict[tuple[str, int], list[Interval]]:
    """The closed intervals each clock change carries in its event (the same values the
    engine writes to ``clock_segment``), by clock and round."""
    closed: dict[tuple[str, int], list[Interval]] = {}
    for event in events:
        for change in event.payload.get("clocks") or ():
            segment = change.get("segment")
            if not segment:
                continue
            closed.setdefault((segment["clock"], segment["generation"]), []).append(
                Interval(
                    segment["status"],
                    datetime.fromisoformat(segment["started_at"]),
                    datetime.fromisoformat(segment["ended_at"]),
                    timedelta(seconds=segment["business_seconds"]),
                    segment["began_because"],
                    segment["ended_because"],
                )
            )
    return closed


def _soonest(deadline: Deadline) -> tuple[datetime, int, str]:
    return (deadline.deadline or _NEVER, deadline.case_id, deadline.clock)


def _when(text: Any) -> datetime | None:
    return None if not text else datetime.fromisoformat(text)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
