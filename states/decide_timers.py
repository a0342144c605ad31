"""Deciding what a fired timer does: a warning, a breach (and the escalation the policy
may make of it), a follow-up falling due; nothing when its clock has moved on since the
timer was armed. Pure, like :mod:`states.decide`, whose `Decider` this half belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from states.case import CaseSnapshot
from states.clocks import ClockPlanner, is_active
from states.decision import SYSTEM_SLA, Decision, DueTimer, in_place
from states.errors import CommandError
from states.events import evolve
from states.notices import level_recipients, staff_notices
from states.points import PointMatch, breach_match
from states.policy import Policy
from states.process import FIRST_LEVEL, ProcessDefinition


class TimerDecisions:
    """`Decider.timer` and what it needs of its own: a mixin of :class:`states.decide.Decider`,
    whose policy, process, clock planner and escalation steps (`_flag`, `_escalate`) it uses."""

    policy: Policy
    process: ProcessDefinition
    clocks: ClockPlanner

    # the decider's own steps (states.decide): flag a point met, escalate as it says
    _flag: Callable[[Decision, CaseSnapshot, PointMatch, datetime], None]
    _escalate: Callable[..., None]

    def timer(self, case: CaseSnapshot, timer: DueTimer, now: datetime) -> Decision:
        """What a fired timer does; nothing when its clock has moved on since it was armed."""
        state = case.clocks.get(timer.clock)
        decision = Decision()
        # A paused clock keeps its timers armed only when it is spent: its breach is due
        # when its deadline was, the wait notwithstanding.
        if state is None or state.get("armed_seq") != timer.generation or not is_active(state):
            return decision
        snap = case  # read only; an escalation below works on a scratch copy
        once = f"timer:{timer.id}"
        if timer.kind == "warning":
            if state["warned"]:
                return decision
            # A sweep that runs late (the sweeper was down) finds warnings whose deadline
            # has passed too: recorded, so the history is whole, but not sent, since the
            # breach notice says more.
            deadline = datetime.fromisoformat(state["deadline"])
            late = {"late": True} if now >= deadline else {}
            self._sla_event(decision, snap, timer, state, "sla_warning", "warn", now, late)
            if not late:
                decision.notifications += staff_notices(
                    snap,
                    "sla_warning",
                    level_recipients(self.policy, state.get("level") or snap.level, snap),
                    f"SLA warning: case {snap.id} {timer.clock} due {deadline:%Y-%m-%d %H:%M} UTC",
                    once,
                )
            return decision
        if timer.clock == "follow_up":
            if not state.get("due_reached"):
                self._sla_event(decision, snap, timer, state, "follow_up_due", "due", now, {})
                decision.notifications += staff_notices(
                    snap,
                    "follow_up_due",
                    [snap.assignee] if snap.assignee else level_recipients(self.policy, None, snap),
                    f"Follow-up due: case {snap.id} ({snap.subject})",
                    once,
                )
            return decision
        if state["breached"]:
            return decision
        level = state.get("level") if timer.clock == "acknowledge" else snap.level
        plan = self.policy.breach_plan(timer.clock, level=level, process=self.process)
        # The owner when the target was missed hears of it too, even if the case moves on.
        told = list(dict.fromkeys([*plan.recipients, *([snap.assignee] if snap.assignee else [])]))
        self._sla_event(
            decision,
            snap,
            timer,
            state,
            "sla_breached",
            "breach",
            now,
            {
                "action": plan.action,
                "recipients": told if plan.recipients else [],
                "policy_key": plan.source_key,
            },
        )
        match = breach_match(
            self.policy, self.process, case=snap, clock=timer.clock, due_at=timer.due_at
        )
        after = snap
        if plan.action == "escalate" and match is not None:
            after = self._escalate_on_breach(decision, case, match, now)
        if plan.recipients:
            moved = f"; now with {after.level}" if after.level != snap.level else ""
            decision.notifications += staff_notices(
                after,
                "ack_missed" if timer.clock == "acknowledge" else "sla_breach",
                told,
                f"SLA breach: case {snap.id} missed its {timer.clock} target "
                f"({state['target']}) at {level or FIRST_LEVEL}{moved}",
                once,
            )
        return decision

    def _escalate_on_breach(
        self, decision: Decision, case: CaseSnapshot, match: PointMatch, now: datetime
    ) -> CaseSnapshot:
        """Flag the case ``breach`` and move it up, as every escalation point does; the
        case as it then stands. If it cannot move (e.g. it no longer carries a level),
        the breach stays recorded and nothing more is written."""
        after = case.copy()
        for event in decision.events:
            evolve(after, event)
        moved = Decision()
        scratch = after.copy()
        try:
            self._flag(moved, scratch, match, now)
            # The level taking over is among the breach's recipients: no second message.
            self._escalate(moved, scratch, match, now, SYSTEM_SLA, tell_level=False)
        except CommandError:
            return after
        decision.events += moved.events
        decision.notifications += moved.notifications
        return scratch

    def _sla_event(
        self,
        decision: Decision,
        snap: CaseSnapshot,
        timer: DueTimer,
        state: dict[str, Any],
        kind: str,
        op: str,
        now: datetime,
        extra: dict[str, Any],
    ) -> None:
        payload = {
            "clock": timer.clock,
            "timer_id": timer.id,
            "timer": timer.kind,
            "due_at": timer.due_at.isoformat(timespec="seconds"),
            "deadline": state.get("deadline"),
            "target": state["target"],
            "source": state["source"],
            "calendar": state["calendar"],
            "level": state.get("level"),
            **extra,
        }
        event = in_place(kind, snap, now, SYSTEM_SLA, payload)
        event.payload["clocks"] = [self.clocks.mark(timer.clock, state, op, now)]
        decision.events.append(event)
