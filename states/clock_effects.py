"""What a clock's change means beyond the clock's own state: the words a round of the
clock ended with (what the ledger and reports show), and the timers a change cancels
and arms (what :mod:`states.timers` writes). Split out of :mod:`states.clocks`, which
plans the changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from states.events import Event


def outcome(name: str, old: dict[str, Any], consumed_s: int, event: Event) -> str:
    """How a clock's round ended (`old`: its state before `event`; `consumed_s`: the
    business seconds it used in all), in the words the ledger shows:

    * ``met`` or ``late`` against its target; late is at or after the deadline:
      breached, the whole target used, or stopped at or after a deadline reached (on a
      closing time, or before a wait). The deadline is the first instant the target is
      reached, and the clock's breach is due then: a stop in that very second is late
      whether or not a sweep fired the breach first, as the ledger reads it overdue;
    * ``met by resolution``: a first response or an acknowledgement nobody gave
      because the case was resolved in time (first contact, a level resolving
      without acknowledging first);
    * ``done`` or ``done late`` for a follow-up carried out by or after its due date (a
      task falling due, not a target missed: carried out at its due instant, it is done);
    * ``cancelled`` when the target stopped applying: a reopen before the follow-up,
      a level escalated past before it acknowledged, a first response no person gave
      because an escalation point took the case at intake.

    Outcomes are stored in the events, so older histories keep the words they had."""
    deadline = old.get("deadline")
    # Clocks count whole seconds (an imported history's times may hold fractions).
    at = event.occurred_at.replace(microsecond=0)
    due = None if deadline is None else datetime.fromisoformat(deadline)
    if name == "follow_up":
        if event.type != "follow_up":
            return "cancelled"
        return "done late" if due is not None and at > due else "done"
    late = (
        old["breached"]
        or (old.get("target_s") is not None and consumed_s >= old["target_s"])
        or (due is not None and at >= due)
    )
    if late:
        return "late"
    if name == "acknowledge" and event.type == "escalate":
        return "cancelled"
    if name == "first_response" and event.actor.startswith("system:"):
        return "cancelled"
    if name in ("first_response", "acknowledge") and event.type == "resolve":
        return "met by resolution"
    return "met"


def replaces_timers(change: dict[str, Any]) -> bool:
    """Whether `change` cancels the clock's pending timers (and arms its new ones): a
    start or a stop, and a pause or resume that moves the deadline; not the pause or
    resume of a spent clock, whose breach stays due when its deadline was."""
    op = change["op"]
    if op in ("pause", "resume"):
        return "armed_seq" in change["state"]
    return op in ("start", "stop")


def timers_for(change: dict[str, Any], state: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, due_at) of the timers a change arms, given the clock's state after it;
    a timer firing (warn, breach, due) arms nothing new, nor does a spent clock."""
    if not replaces_timers(change) or state["status"] != "running":
        return []
    out = []
    if state.get("warn_at"):
        out.append(("warning", state["warn_at"]))
    if state.get("deadline") and not state["breached"]:
        out.append(("due" if change["clock"] == "follow_up" else "breach", state["deadline"]))
    return out
