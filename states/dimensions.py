"""What the dashboard filters a period's events by: the case's team, priority, channel
and assignee as they stood once each event applied.

Counts over a period (moves between states, cases opened, resolved and escalated,
escalation reasons, breaches) are filtered by who and what a case was when the event
happened, not by what it is now: a case that billing escalated and the senior team then
took over counts as billing's escalation and the senior team's resolution. The values
are stored on each event row so that those counts read only the index of the events in
the period: joining each event to its case cost a lookup per event (a month of a desk
with a million cases: 2.7 s of 3 s for the Pipeline page with a team filter).

They are derived data, not facts: not sealed into the event's hash, written by whoever
writes the event (the engine, the importer) from the fold of the case, and checked by
the audit against the same fold (:func:`mismatches`), so an edit of one is reported.
"""

from __future__ import annotations

from typing import Any

from states.case import CaseSnapshot

DIMENSIONS: tuple[str, ...] = ("team", "priority", "channel", "assignee")


def stamp(event: Any, snap: CaseSnapshot) -> None:
    """Give `event` the dimensions of `snap`, the case once the event applied."""
    event.team, event.priority, event.channel, event.assignee = (
        snap.team,
        snap.priority,
        snap.channel,
        snap.assignee,
    )


def of(snap: CaseSnapshot) -> tuple[Any, ...]:
    return snap.team, snap.priority, snap.channel, snap.assignee


def mismatches(event: Any, snap: CaseSnapshot) -> list[str]:
    """How `event`'s stored dimensions differ from `snap`'s (the fold up to the event)."""
    return [
        f"event #{event.seq} ({event.type}): field {name} is {stored!r}, the history says "
        f"{folded!r}"
        for name, stored, folded in zip(
            DIMENSIONS, (getattr(event, name) for name in DIMENSIONS), of(snap), strict=True
        )
        if stored != folded
    ]
