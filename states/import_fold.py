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

from collections.abc import Callable, Mapping
from typing import Any

from states.case import CaseSnapshot

IMPORTED = "imported"
"""The type of an event an import wrote: one source event, its effects in its payload."""

SETTABLE = ("assignee", "team", "priority")
#: Effects whose native fold is the imported one too (an imported payload has none of the
#: keys those read, such as ``assignee``: owners come in ``set``).
NATIVE = ("escalate", "acknowledge", "reopen", "wait_on_customer", "customer_replied")

Handler = Callable[[CaseSnapshot, Any], None]


def fold_imported(snap: CaseSnapshot, event: Any, native: Mapping[str, Handler]) -> None:
    """Fold one ``imported`` event into `snap` (state and level are already set);
    `native` holds the native events' folds."""
    payload = event.payload
    at = event.occurred_at
    for effect in payload.get("effects", ()):
        if effect in NATIVE:
            native[effect](snap, event)
        elif effect == "de_escalate":  # to first level, or (off the process) a lower rung
            snap.acknowledged = False if event.to_level else None
            snap.escalated_at = at if event.to_level else None
        elif effect == "resolve":  # at the level the payload names, not the event's from_level
            snap.resolved_at = at
            snap.resolved_level = payload.get("resolved_level") or "first_level"
            snap.waiting = False
            snap.acknowledged = None
        elif effect == "follow_up":  # no satisfaction survey in an imported history
            snap.followed_up_at = at
    for name, value in payload.get("set", {}).items():
        if name in SETTABLE:
            setattr(snap, name, value)
