"""What deciding produces: a `Decision` (events and the notices to send with them), and
the claimed timers (`DueTimer`) the sweeper hands the engine to decide on.

Shared by the two halves of the decider: :mod:`states.decide` (commands) and
:mod:`states.decide_timers` (fired timers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from states.case import CaseSnapshot
from states.events import Event
from states.outbox import NewNotification

#: The actors of what the policy does by itself: escalation points, and SLA timers.
SYSTEM_POINTS = "system:points"
SYSTEM_SLA = "system:sla"


@dataclass(slots=True)
class Decision:
    events: list[Event] = field(default_factory=list)
    notifications: list[NewNotification] = field(default_factory=list)
    #: Decider.open's: the new case as its ``opened`` event leaves it (clocks started), not
    #: yet numbered or stored; the engine stores it and folds the rest of the events into it
    opened: CaseSnapshot | None = None


@dataclass(frozen=True, slots=True)
class DueTimer:
    """A claimed timer, as the sweeper hands it to the engine."""

    id: int
    case_id: int
    clock: str
    kind: str  # warning | breach | due
    generation: int
    due_at: datetime


def in_place(
    kind: str, snap: CaseSnapshot, now: datetime, actor: str, payload: dict[str, Any]
) -> Event:
    """An event that leaves state and level where they are (the next one on the chain)."""
    return Event(
        kind,
        now,
        actor,
        snap.state,
        snap.state,
        snap.level,
        snap.level,
        payload,
        seq=snap.last_seq + 1,
    )


def attach(event: Event, changes: list[dict[str, Any]]) -> None:
    """Clock changes travel in the event's payload (only when there are some)."""
    if changes:
        event.payload["clocks"] = changes
