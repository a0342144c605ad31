"""A case's history step by step: the case as it stood after each of its events.

The auditors' replay (the dashboard's stepper, the CSV download) folds the
stored events one at a time with the same :func:`states.events.evolve` that
built the projection, so step N shows exactly what the engine had after
event N: state, level, assignee, waiting, flags and every clock with its
deadline then. Nothing is recomputed from the policy: the deadlines are the
ones written in the events.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from states.case import CaseSnapshot
from states.errors import CaseNotFound, IntegrityError
from states.events import Event, evolve, new_snapshot
from states.store import load_events

CSV_COLUMNS = (
    "case_id",
    "seq",
    "activity",
    "timestamp",
    "recorded_at",
    "resource",
    "from_state",
    "to_state",
    "from_level",
    "to_level",
    "state",
    "level",
    "assignee",
    "waiting",
    "flags",
    "clocks",
    "payload",
    "hash",
)


@dataclass(frozen=True, slots=True)
class ClockAt:
    """One SLA clock as it stood after a step."""

    name: str
    status: str
    deadline: datetime | None
    outcome: str | None
    breached: bool


@dataclass(frozen=True, slots=True)
class Step:
    """The case after one event: the event (who, what, when) and what it left."""

    event: Event
    state: str
    level: str | None
    assignee: str | None
    waiting: bool
    acknowledged: bool | None
    flags: tuple[str, ...]
    clocks: tuple[ClockAt, ...]

    @property
    def seq(self) -> int:
        return self.event.seq


def replay_steps(conn: Connection, case_id: int) -> list[Step]:
    """Every step of case `case_id`, first event first (one query, one fold)."""
    events = load_events(conn, case_id)
    if not events:
        raise CaseNotFound(case_id)
    return steps_of(case_id, events)


def steps_of(case_id: int, events: list[Event]) -> list[Step]:
    """The steps of a history already read (the first event must be ``opened``)."""
    if events[0].type != "opened":
        raise IntegrityError(case_id, ["a case history starts with an 'opened' event"])
    snap = new_snapshot(events[0])
    steps = [_step(snap, events[0])]
    for event in events[1:]:
        try:
            evolve(snap, event)
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(
                case_id, [f"event #{event.seq} ({event.type}) cannot be replayed: {exc}"]
            ) from None
        steps.append(_step(snap, event))
    return steps


def _step(snap: CaseSnapshot, event: Event) -> Step:
    return Step(
        event=event,
        state=snap.state,
        level=snap.level,
        assignee=snap.assignee,
        waiting=snap.waiting,
        acknowledged=snap.acknowledged,
        flags=tuple(snap.flags),
        clocks=tuple(_clock(name, state) for name, state in sorted(snap.clocks.items())),
    )


def _clock(name: str, state: dict[str, Any]) -> ClockAt:
    deadline = state.get("deadline")
    return ClockAt(
        name=name,
        status=state.get("status", "?"),
        deadline=datetime.fromisoformat(deadline) if deadline else None,
        outcome=state.get("outcome"),
        breached=bool(state.get("breached")),
    )


def clock_text(clock: ClockAt) -> str:
    """A clock in a few words: ``resolution running, due 2026-11-04T13:00:00+00:00``."""
    text = f"{clock.name} {clock.status}"
    if clock.deadline is not None:
        text += f", due {clock.deadline.isoformat()}"
    if clock.outcome:
        text += f": {clock.outcome}"
    elif clock.breached:
        text += ", breached"
    return text


def steps_csv(case_id: int, steps: list[Step]) -> str:
    """The history as an event-log CSV (case id, activity, timestamp, resource, then the
    transition, the case after the event and the event's own facts and hash)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for step in steps:
        event = step.event
        writer.writerow(
            (
                case_id,
                event.seq,
                event.type,
                event.occurred_at.isoformat(),
                event.recorded_at.isoformat() if event.recorded_at else "",
                event.actor,
                event.from_state or "",
                event.to_state,
                event.from_level or "",
                event.to_level or "",
                step.state,
                step.level or "",
                step.assignee or "",
                "true" if step.waiting else "false",
                ";".join(step.flags),
                "; ".join(clock_text(clock) for clock in step.clocks),
                json.dumps(event.payload, sort_keys=True, default=str),
                event.hash,
            )
        )
    return out.getvalue()


def case_history_csv(conn: Connection, case_id: int) -> str:
    """Case `case_id`'s history as CSV, for auditors to download."""
    return steps_csv(case_id, replay_steps(conn, case_id))
