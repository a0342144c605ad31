"""How each kind of event changes a case: the rules :func:`states.events.evolve` folds
a history with (the engine's projection and the audit's replay both), and how a clock's
state follows from its changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from states.case import CaseSnapshot
from states.import_fold import IMPORTED, fold_imported

if TYPE_CHECKING:
    from states.events import Event


def apply_change(clocks: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """A clock's whole state after `change` (`clocks`: the states before it).

    A ``start`` change carries the whole state; any other only the fields
    that moved (see :mod:`states.clocks`).
    """
    if change["op"] == "start":
        return change["state"]
    return {**clocks.get(change["clock"], {}), **change["state"]}


def clocks_after(clocks: dict[str, Any], event: Event) -> dict[str, Any]:
    """Clock states after `event`: each change carries the clock's whole new state."""
    changes = event.payload.get("clocks") or ()
    if not changes:
        return clocks
    updated = dict(clocks)
    for change in changes:
        updated[change["clock"]] = apply_change(updated, change)
    return updated


def _assign(snap: CaseSnapshot, event: Event) -> None:
    snap.assignee = event.payload["assignee"]
    if event.payload.get("team"):
        snap.team = event.payload["team"]


def _hand_over(snap: CaseSnapshot, event: Event) -> None:
    """Escalations, hand-backs and reopens record who owns the case afterwards (None: the
    new tier's queue); histories written before they did leave the assignee as it was."""
    if "assignee" in event.payload:
        snap.assignee = event.payload["assignee"]


def _escalate(snap: CaseSnapshot, event: Event) -> None:
    snap.escalation_count += 1
    snap.escalated_at = event.occurred_at
    snap.acknowledged = False
    _hand_over(snap, event)


def _acknowledge(snap: CaseSnapshot, event: Event) -> None:
    snap.acknowledged = True
    if event.payload.get("assignee"):
        snap.assignee = event.payload["assignee"]


def _de_escalate(snap: CaseSnapshot, event: Event) -> None:
    snap.acknowledged = None
    snap.escalated_at = None
    _hand_over(snap, event)


def _resolve(snap: CaseSnapshot, event: Event) -> None:
    if "assignee" in event.payload:  # first-contact resolution: the resolver owns the case
        snap.assignee = event.payload["assignee"]
    snap.resolved_at = event.occurred_at
    snap.resolved_level = event.from_level or "first_level"
    snap.waiting = False
    snap.acknowledged = None


def _follow_up(snap: CaseSnapshot, event: Event) -> None:
    snap.followed_up_at = event.occurred_at
    snap.satisfaction = event.payload.get("satisfaction")


def _reopen(snap: CaseSnapshot, event: Event) -> None:
    snap.reopen_count += 1
    snap.resolved_at = None
    snap.resolved_level = None
    snap.followed_up_at = None
    snap.acknowledged = None
    snap.escalated_at = None
    _hand_over(snap, event)


def _wait(snap: CaseSnapshot, event: Event) -> None:
    snap.waiting = True


def _replied(snap: CaseSnapshot, event: Event) -> None:
    snap.waiting = False


def _flagged(snap: CaseSnapshot, event: Event) -> None:
    flag = event.payload["flag"]
    if flag not in snap.flags:
        snap.flags = [*snap.flags, flag]
    if event.payload.get("team"):
        snap.team = event.payload["team"]


def _updated(snap: CaseSnapshot, event: Event) -> None:
    changes = event.payload.get("changes", {})
    for name in ("amount_claimed_minor", "priority", "customer_tier", "team"):
        if name in changes:
            setattr(snap, name, changes[name])


#: The fold of each event type that changes more than state, level and clocks.
HANDLERS: dict[str, Any] = {
    "assign": _assign,
    "escalate": _escalate,
    "acknowledge": _acknowledge,
    "de_escalate": _de_escalate,
    "resolve": _resolve,
    "follow_up": _follow_up,
    "reopen": _reopen,
    "wait_on_customer": _wait,
    "customer_replied": _replied,
    "flagged": _flagged,
    "updated": _updated,
}


def _imported(snap: CaseSnapshot, event: Event) -> None:
    """History written by another system (tierflow audit import): see states.import_fold."""
    fold_imported(snap, event, HANDLERS)


HANDLERS[IMPORTED] = _imported
