"""A clock's state, the JSON a case holds per clock (see :mod:`states.clocks`): what a
start says of its target, what is left of the target to arm, when a clock is spent, and
how a change records only the fields that moved. Functions of the state alone, no policy."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from states.policy import Target


def describe(target: Target, level: str | None) -> dict[str, Any]:
    """What a starting clock's state says of its target and level, set fields only, in the
    order they are stored. The same for every start of that target (a policy is frozen):
    `ClockPlanner` keeps it with the target, and copies it into each state it starts."""
    described = {
        "level": level,
        "calendar": target.calendar.name,
        "target": target.text or f"{target.working_days} working days",
        "target_s": int(target.duration.total_seconds()) if target.duration else None,
        "working_days": target.working_days,
        "warning_at": target.warning_at,
        "source": target.source_key,
        "calendar_key": target.calendar_key,
    }
    return {key: value for key, value in described.items() if value is not None}


MISSING = object()
ARMING = ("deadline", "warn_at", "armed_seq")
"""The fields that arm a running clock's timers."""

Arming = tuple[timedelta, ...]
"""Business time from now to a running clock's deadline, then to its warning if it has
one to give."""


def left_to_arm(state: Mapping[str, Any]) -> Arming:
    """What is left of the target and of its warning fraction, given the business time
    the clock has consumed (none in a starting clock's description) and whether it has
    warned already; a warning at 0 arms nothing.

    A warning whose point the clock passed without it being sent (a wait began after
    80 % and before a sweep fired it; the wait cancelled it) is due at once when the
    clock runs again: before, it was never armed again and never sent."""
    target = timedelta(seconds=state["target_s"])
    consumed = timedelta(seconds=state.get("consumed_s", 0))
    warn_after = target * state["warning_at"] if state.get("warning_at") else None
    warns = warn_after is not None and not state.get("warned")
    until_deadline = max(target - consumed, timedelta(0))
    if not warns:
        return (until_deadline,)
    return until_deadline, max(warn_after - consumed, timedelta(0))  # type: ignore[operator]


def is_spent(state: dict[str, Any]) -> bool:
    """Whether the clock has used up its target: its deadline is reached for good."""
    target = state.get("target_s")
    return target is not None and state["consumed_s"] >= target


def keep_deadline(new: dict[str, Any], old: dict[str, Any]) -> None:
    """A spent clock keeps the deadline it reached and the timers armed for it."""
    new.update({key: old.get(key) for key in ARMING})


def recorded_change(
    name: str,
    op: str,
    old: dict[str, Any],
    written: dict[str, Any],
    segment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A change records only the fields that moved (a ``start`` records them all): those
    of `written` (the new state, or the fields an operation wrote; it becomes the change's
    state) that differ in `old`. A field new to the state lands after the old ones, in
    `written`'s order.

    The fields that did not move are the items the two dicts share, found by one set
    operation in C (a state's values are JSON scalars, hashable); asking `old` for each
    field in a comprehension took ~13,000 instructions for a stop's nine, this ~5,000."""
    try:
        unmoved = written.items() & old.items()
    except TypeError:  # an unhashable value (none a planner writes): compare field by field
        unmoved = [(key, value) for key, value in written.items() if old.get(key, MISSING) == value]
    for key, _ in unmoved:
        del written[key]
    change: dict[str, Any] = {"clock": name, "op": op, "state": written}
    if segment is not None:
        change["segment"] = segment
    return change
