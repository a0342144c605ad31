"""What the dashboard filters a period's events by: the case's team, priority, channel
and assignee as they stood once each event applied; and what it groups them by.

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

from operator import attrgetter
from typing import Any

from states.case import CaseSnapshot

DIMENSIONS: tuple[str, ...] = ("team", "priority", "channel", "assignee")
#: What the page groups escalations and breaches by, copied out of the payload: reading
#: it there parsed each event's whole JSON (a month of escalations at a million cases,
#: 24,000 payloads of 1.2 KB: 120 of the query's 150 ms).
CAUSES: tuple[str, ...] = ("point", "reason", "clock")
#: The event columns this module keeps: derived from the history, not hashed.
COLUMNS: tuple[str, ...] = DIMENSIONS + CAUSES
_DIMENSIONS_OF = attrgetter(*DIMENSIONS)


def derived(event: Any, snap: CaseSnapshot) -> tuple[Any, ...]:
    """The values of :data:`COLUMNS` for `event`: `snap` is the case once it applied;
    the causes are the payload's own, where they are text."""
    payload = event.payload
    causes = (value if isinstance(value := payload.get(name), str) else None for name in CAUSES)
    return (*_DIMENSIONS_OF(snap), *causes)


def stamp(event: Any, snap: CaseSnapshot) -> None:
    """Give `event` its :data:`COLUMNS` (`snap`: the case once the event applied): the
    values :func:`derived` gives, set by name rather than in a loop over :data:`COLUMNS`
    because every event written passes here (the loop of ``setattr`` cost five times as
    much; the dimensions read one by one, and a cause that is None kept from its
    ``isinstance``, cost a third less again than `attrgetter` and three tests). The audit
    compares each event with :func:`derived`, so a column added there and not here shows
    up as a mismatch in every history."""
    event.team = snap.team
    event.priority = snap.priority
    event.channel = snap.channel
    event.assignee = snap.assignee
    get = event.payload.get
    point, reason, clock = get("point"), get("reason"), get("clock")
    event.point = point if point is None or isinstance(point, str) else None
    event.reason = reason if reason is None or isinstance(reason, str) else None
    event.clock = clock if clock is None or isinstance(clock, str) else None


def mismatches(event: Any, snap: CaseSnapshot) -> list[str]:
    """How `event`'s stored values differ from what its history says (`snap`: the fold
    up to the event)."""
    return [
        f"event #{event.seq} ({event.type}): field {name} is {stored!r}, the history says "
        f"{expected!r}"
        for name, expected in zip(COLUMNS, derived(event, snap), strict=True)
        if (stored := getattr(event, name)) != expected
    ]
