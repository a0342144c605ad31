"""Policy backtest, one case: its stored history replayed under an SLA policy.

What ops want to know before a policy goes live is what it would have done to
the cases they already had. The history is what people (and imports) did:
who was assigned, escalated, acknowledged, resolved, and when. The clocks are
what a policy makes of it. So a replay keeps every event of the history and
recomputes the clocks with the engine's own rules, nothing of its own:

* each history event gets the clock changes :class:`~states.clocks.ClockPlanner`
  gives it under the policy (the changes the stored event carries, computed
  under the policy of its day, are dropped);
* the timers those changes arm are the ones the engine would arm
  (:class:`~states.timers.TimerWrites`), and they fire through
  :meth:`Decider.timer <states.decide_timers.TimerDecisions.timer>` at their due instant, as
  a sweeper that never runs late would fire them: a timer due before an event
  fires before it; one due at the very instant of a person's event fires after
  it (a target met at its deadline is met), before an event the sweeper itself
  wrote at that instant;
* the events the old policy's timers wrote (``sla_warning``, ``sla_breached``,
  ``follow_up_due``) are left out: this policy fires its own.

The history is fixed, so an escalation a breach would have caused is reported
(:class:`Escalation`: when, from which level to which), not applied: the
case's later events are what happened. Escalations the old policy's breaches
caused *did* happen (``escalate`` events by ``system:sla``); they stay in the
history like any other event and stop and start clocks as they did.

Under the policy a native history was written with, a replay reproduces the
clock states, ledger segments and breach escalations the engine recorded
(the property tested in ``tests/test_backtest.py``), so the difference
between two replays is the difference between two policies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import count
from typing import Any

from states.case import CaseSnapshot
from states.decide import Decider
from states.decision import SYSTEM_SLA, DueTimer
from states.errors import IntegrityError
from states.events import Event, apply_change, evolve, new_snapshot
from states.import_fold import IMPORTED
from states.machine import machine_for
from states.policy import Policy
from states.process import FIRST_LEVEL, ProcessDefinition
from states.timers import TimerWrites

#: Events a policy's timers write: a replay leaves them out and fires its own.
TIMER_EVENTS = frozenset({"sla_warning", "sla_breached", "follow_up_due"})
#: History written by another system (``tierflow audit import``): see states.importer.
#: How an imported effect leaves the case's waiting on its customer.
_WAITING = {"wait_on_customer": True, "customer_replied": False, "resolve": False}
#: A clock round: the clock and the sequence number of the event that started it. Two
#: replays of one history under different policies name the same round alike.
RoundKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Mark:
    """A warning or breach a policy's timer fired (follow-ups falling due are no miss)."""

    clock: str
    kind: str  # warning | breach
    at: datetime
    round: RoundKey
    priority: str  # the case's, when it fired
    level: str  # where the miss counts: the acknowledging level, else the case's level


@dataclass(frozen=True, slots=True)
class Escalation:
    """An escalation a breach would have fired (``on_breach.CLOCK = "escalate"``)."""

    clock: str
    round: RoundKey
    at: datetime
    from_level: str
    to_level: str


@dataclass(slots=True)
class CaseRun:
    """One case's history replayed under one policy."""

    case_id: int
    priority: str  # when opened
    events: list[Event] = field(default_factory=list)  # history + this policy's clocks
    rounds: dict[RoundKey, dict[str, Any]] = field(default_factory=dict)  # final states
    marks: list[Mark] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    #: the breach escalations the history holds (the live system's): when, by round
    recorded_escalations: dict[RoundKey, datetime] = field(default_factory=dict)


@dataclass(order=True, slots=True)
class _Pending:
    due_at: datetime
    order: int
    clock: str = field(compare=False)
    kind: str = field(compare=False)
    generation: int = field(compare=False)


class Replayer:
    """Replays histories under one policy: the engine's decider, without a database."""

    def __init__(self, process: ProcessDefinition, policy: Policy) -> None:
        self.policy = policy
        self.decider = Decider(machine_for(process), policy)
        self._ids = count(1)

    def run(self, history: Sequence[Event], until: datetime) -> CaseRun:
        """`history` (one case's events in order) replayed, timers fired up to `until`."""
        if not history or history[0].type != "opened":
            case = history[0].case_id if history else None
            raise IntegrityError(case, ["a history starts with an 'opened' event"])
        first = history[0]
        run = CaseRun(first.case_id or 0, first.payload.get("priority", "normal"))
        pending: dict[str, list[_Pending]] = {}
        rounds: dict[str, RoundKey] = {}
        snap: CaseSnapshot | None = None
        breached = ""  # the clock of the history's last recorded breach
        for stored in history:
            if stored.type in TIMER_EVENTS:
                breached = stored.payload.get("clock", "") if stored.type == "sla_breached" else ""
                continue
            if snap is not None:
                self._fire_due(run, snap, pending, rounds, stored.occurred_at, stored)
            if stored.type == "escalate" and stored.actor == SYSTEM_SLA and breached in rounds:
                run.recorded_escalations[rounds[breached]] = stored.occurred_at
            event = replace(stored, payload=_without_clocks(stored.payload))
            try:
                snap = self._apply(run, snap, event, pending, rounds)
            except (KeyError, TypeError, ValueError) as exc:
                raise IntegrityError(
                    run.case_id,
                    [
                        f"event #{stored.seq} ({stored.type}) cannot be replayed: "
                        f"{type(exc).__name__} {exc}"
                    ],
                ) from None
        if snap is not None:
            self._fire_due(run, snap, pending, rounds, until, None)
        return run

    def _apply(
        self,
        run: CaseRun,
        snap: CaseSnapshot | None,
        event: Event,
        pending: dict[str, list[_Pending]],
        rounds: dict[str, RoundKey],
    ) -> CaseSnapshot:
        """Give `event` this policy's clock changes, arm their timers, fold it in."""
        at = event.occurred_at
        planner = self.decider.clocks
        if snap is None or event.type == "opened":
            changes = planner.changes(new_snapshot(event), event, event.seq, at)
        elif event.type == IMPORTED:
            changes = self._imported_changes(snap, event)
        else:
            changes = planner.changes(snap, event, event.seq, at)
        before = {} if snap is None or event.type == "opened" else snap.clocks
        if changes:
            event.payload["clocks"] = changes
            writes = TimerWrites()
            writes.record(event, before, at)
            for _, clock in writes.cancel:
                pending[clock] = [
                    _Pending(
                        datetime.fromisoformat(row["due_at"]),
                        next(self._ids),
                        clock,
                        row["kind"],
                        row["generation"],
                    )
                    for row in writes.arm.get((event.case_id, clock), ())  # type: ignore[call-overload]
                ]
        current = before
        for change in changes:  # one event may end a round and start the next (escalate)
            name = change["clock"]
            current = {**current, name: apply_change(current, change)}
            if change["op"] == "start":
                rounds[name] = (name, event.seq)
            run.rounds[rounds[name]] = current[name]
        if snap is None or event.type == "opened":
            snap = new_snapshot(event)
        else:
            evolve(snap, event)
        run.events.append(event)
        return snap

    def _imported_changes(self, snap: CaseSnapshot, event: Event) -> list[dict[str, Any]]:
        """An imported event stands for the triggers its ``effects`` list, in order (see
        :mod:`states.importer`): each gets the clock changes a native event of that
        trigger gets, on the clocks as the effects before it left them."""
        effects = event.payload.get("effects") or ()
        if not effects:  # an annotation: no trigger, no clock moves
            return []
        scratch = snap.copy()
        out: list[dict[str, Any]] = []
        for effect in effects:
            step = Event(
                effect, event.occurred_at, event.actor, event.from_state, event.to_state,
                event.from_level, event.to_level, {}, case_id=event.case_id, seq=event.seq,
            )  # fmt: skip
            changes = self.decider.clocks.changes(scratch, step, event.seq, event.occurred_at)
            for change in changes:
                scratch.clocks = {
                    **scratch.clocks,
                    change["clock"]: apply_change(scratch.clocks, change),
                }
            scratch.waiting = _WAITING.get(effect, scratch.waiting)
            out += changes
        return out

    def _fire_due(
        self,
        run: CaseRun,
        snap: CaseSnapshot,
        pending: dict[str, list[_Pending]],
        rounds: dict[str, RoundKey],
        limit: datetime,
        before: Event | None,
    ) -> None:
        """Fire, in due order, the timers due before `limit`, and those due at it when
        nothing follows (the end) or what follows is the sweeper's own event."""
        inclusive = before is None or before.actor == SYSTEM_SLA
        while True:
            timer = min((t for timers in pending.values() for t in timers), default=None)
            if timer is None or timer.due_at > limit or (timer.due_at == limit and not inclusive):
                return
            pending[timer.clock].remove(timer)
            at = max(timer.due_at, snap.updated_at)
            due_timer = DueTimer(
                timer.order, run.case_id, timer.clock, timer.kind, timer.generation, timer.due_at
            )
            state = snap.clocks.get(timer.clock)
            decision = self.decider.timer(snap, due_timer, at)
            if not decision.events or state is None:
                continue
            fired = decision.events[0]
            key = rounds[timer.clock]
            level = (state.get("level") if timer.clock == "acknowledge" else None) or snap.level
            if timer.kind in ("warning", "breach"):
                run.marks.append(
                    Mark(timer.clock, timer.kind, at, key, snap.priority, level or FIRST_LEVEL)
                )
            for event in decision.events[1:]:
                if event.type == "escalate" and event.to_level:
                    run.escalations.append(
                        Escalation(
                            timer.clock, key, at, event.from_level or FIRST_LEVEL, event.to_level
                        )
                    )
            evolve(snap, fired)
            run.rounds[key] = snap.clocks[timer.clock]
            run.events.append(fired)


def _without_clocks(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key != "clocks"}


def verdict(state: dict[str, Any] | None) -> str:
    """How a round ended, in the ledger's words (met, late, met by resolution, done, done
    late, cancelled); ``breached``, ``running`` or ``paused`` if it had not ended;
    ``no target`` when the policy set none."""
    if state is None:
        return "no target"
    if state.get("outcome"):
        return state["outcome"]
    if state.get("breached"):
        return "breached"
    return state["status"]
