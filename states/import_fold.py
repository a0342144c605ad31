"""How an ``imported`` event changes a case: the fold of history written elsewhere.

An imported event records what an external system did, whether or not the
process allows it (see :mod:`states.importer` for the payload). Its
``effects`` name the triggers it stands for, in order; this fold applies
what each does to the case's fields exactly as the native events do, but
never refuses one: a second resolution, a follow-up without a resolution,
a de-escalation to a lower rung all replay. ``set`` then carries the plain
fields the event changed (assignee, team, priority). State and level come
from the event itself (:func:`states.events.evolve`), as for every event.
"""

from __future__ import annotations

from typing import Any

from states.case import CaseSnapshot

SETTABLE = ("assignee", "team", "priority")


def fold_imported(snap: CaseSnapshot, event: Any) -> None:
    """Fold one ``imported`` event into `snap` (state and level are already set)."""
    payload = event.payload
    at = event.occurred_at
    for effect in payload.get("effects", ()):
        if effect == "escalate":
            snap.escalation_count += 1
            snap.escalated_at = at
            snap.acknowledged = False
        elif effect == "acknowledge":
            snap.acknowledged = True
        elif effect == "de_escalate":  # to first level, or (off the process) a lower rung
            snap.acknowledged = False if event.to_level else None
            snap.escalated_at = at if event.to_level else None
        elif effect == "resolve":
            snap.resolved_at = at
            snap.resolved_level = payload.get("resolved_level") or "first_level"
            snap.waiting = False
            snap.acknowledged = None
        elif effect == "follow_up":
            snap.followed_up_at = at
        elif effect == "reopen":
            snap.reopen_count += 1
            snap.resolved_at = None
            snap.resolved_level = None
            snap.followed_up_at = None
            snap.acknowledged = None
            snap.escalated_at = None
        elif effect == "wait_on_customer":
            snap.waiting = True
        elif effect == "customer_replied":
            snap.waiting = False
    for name, value in payload.get("set", {}).items():
        if name in SETTABLE:
            setattr(snap, name, value)
