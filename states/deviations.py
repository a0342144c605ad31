"""Deviations from the process definition: the checks import marks and conformance reports.

One step of a history is a trigger fired in a state at a level; it deviates
when the process has no transition of that trigger from that state
(``disallowed_transition``), when an escalation passes over rungs of the
ladder the case never reached without an escalation point that held to justify
it (``skipped_level``; the caller says whether the cited point held, and how
high the case had been, :func:`reached_after`: the history shows both), or when
a level resolves a case it never took in hand (``resolved_unacknowledged``).
Missed SLA targets are a fourth kind (``breach``), found by the clocks, not
here. Pure: the import marks deviations with these while it writes, and
:mod:`states.conformance` runs the same checks over stored histories, so both
say the same thing about the same step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from states.process import FIRST_LEVEL, TRIGGERS, ProcessDefinition

if TYPE_CHECKING:
    from states.events import Event

DISALLOWED = "disallowed_transition"
SKIPPED = "skipped_level"
UNACKNOWLEDGED = "resolved_unacknowledged"
BREACH = "breach"
KINDS: tuple[str, ...] = (DISALLOWED, SKIPPED, UNACKNOWLEDGED, BREACH)


def rank(process: ProcessDefinition, level: str | None) -> int:
    """-1 for first level, else the rung's rank (0 is the bottom of the ladder)."""
    return -1 if level in (None, FIRST_LEVEL) else process.level(level).rank


def reached_after(process: ProcessDefinition, reached: int, event: Event) -> int:
    """The highest rank a case has reached once `event` applied, `reached` before it (-1:
    never escalated). A case reopened after the manager resolved it has been through L2
    and the manager: sent to the board, it passes over no rung that never had it. The
    level it left, the level it went to and the level that resolved it (an imported
    event may escalate and resolve at once) count; names not on the ladder do not."""
    payload = event.payload
    for name in (event.from_level, event.to_level, payload.get("resolved_level")):
        if name in process.level_names:
            reached = max(reached, process.level(name).rank)
    return reached


def deviation(kind: str, trigger: str | None, state: str, level: str | None, detail: str) -> dict:
    """A deviation as events carry it (JSON: every value a text or None)."""
    return {
        "kind": kind,
        "trigger": trigger,
        "from_state": state,
        "from_level": level,
        "detail": detail,
    }


def step_deviations(
    process: ProcessDefinition,
    state: str,
    level: str | None,
    acknowledged: bool | None,
    trigger: str,
    to_level: str | None = None,
    cited_point: bool = False,
    reached: int = -1,
) -> list[dict[str, Any]]:
    """What is wrong with firing `trigger` on a case in `state` at `level`, having been as
    high as rank `reached` before (:func:`reached_after`): an escalation passes over only
    the rungs above both."""
    found: list[dict[str, Any]] = []
    if trigger in TRIGGERS and not process.allows(trigger, state):
        found.append(
            deviation(
                DISALLOWED, trigger, state, level, f"the process has no {trigger} from {state}"
            )
        )
    if trigger == "escalate" and to_level in process.level_names and not cited_point:
        above = max(rank(process, level), reached)
        skipped = [
            rung.name for rung in process.ladder if above < rung.rank < rank(process, to_level)
        ]
        if skipped:
            found.append(
                deviation(
                    SKIPPED,
                    trigger,
                    state,
                    level,
                    f"{level or FIRST_LEVEL} to {to_level} passes over {', '.join(skipped)}",
                )
            )
    if trigger == "resolve" and acknowledged is False and process.state(state).carries_level:
        found.append(
            deviation(
                UNACKNOWLEDGED, trigger, state, level, f"{level} resolved without acknowledging"
            )
        )
    return found
