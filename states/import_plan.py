"""Planning one imported case: source events in, tierflow events out, purely.

The mapping says where each source event leaves the case (state, level,
waiting...); this module decides which triggers that stands for, in the
order the process would fire them (reopen, a move up or down the ladder,
assign, acknowledge, waiting, then resolve or follow up), marks every step
the process would not have allowed (:mod:`states.deviations`), and builds
the events, unsealed: the importer numbers, chains and writes them. A scratch
copy of the case is folded along, with the same fold a replay uses, so each
event is decided on the case exactly as the replay will see it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from states.case import CaseSnapshot
from states.deviations import DISALLOWED, deviation, rank, reached_after, step_deviations
from states.dimensions import stamp
from states.events import Event, evolve, new_snapshot
from states.import_fold import IMPORTED
from states.import_read import SourceCase
from states.import_values import timed_events
from states.mapping import Mapping, Outcome
from states.outbox import NewNotification
from states.policy import Policy
from states.process import FIRST_LEVEL, ProcessDefinition

IMPORT_ACTOR = "import"


@dataclass(slots=True)
class CasePlan:
    """One case's events (opened first), when each happened as ISO text (UTC, as the hash
    chain writes times), and the notices they would have sent."""

    ref: str
    events: list[Event]
    times: list[str]
    snapshot: CaseSnapshot  # the fold of `events` (id and hashes set at sealing)
    notices: list[NewNotification]
    reached: int = -1  # the highest rank of the ladder `events` took the case to


@dataclass(slots=True)
class Tally:
    """What planning found, counted over the cases planned with it."""

    events: int = 0  # imported events planned (opened events not counted)
    annotations: int = 0
    deviations: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)  # source events left out, by reason
    unmapped: Counter[str] = field(default_factory=Counter)  # activity values no rule matched
    unmapped_values: Counter[str] = field(default_factory=Counter)  # e.g. impact=UNKNOWN


@dataclass(frozen=True, slots=True)
class Source:
    """Where the events come from: the file's name and digest, and the mapping."""

    name: str
    digest: str
    mapping: Mapping

    def key(self, ref: str, position: int | str) -> str:
        return f"import:{self.digest[:16]}:{ref}:{position}"


#: What the planner decides for an event from where the case stands and what the event's
#: values say (a pure function of both, memoised): the activity, whether a rule with
#: conditions matched, the outcome, and its steps (state, level, effects, deviations,
#: resolved level; None when the event changes nothing, not even a plain field).
_Decision = tuple[str, bool, Outcome, tuple[Any, ...] | None]


class Planner:
    """Plans the cases of one source. Most events of a log repeat a few situations, so
    what an event means is decided once per situation (:data:`_Decision`) and looked up
    after; the rest is per event (times, owners, the changed attributes)."""

    def __init__(self, process: ProcessDefinition, policy: Policy, source: Source) -> None:
        self.process = process
        self.policy = policy
        self.source = source
        self.carrier = next(s.name for s in process.states if s.carries_level)
        self.into = {spec.dest: spec.trigger for spec in reversed(process.transitions)}
        self.dest = {s.trigger: s.dest for s in reversed(process.transitions) if s.dest}
        self.working = frozenset(
            s.name for s in process.states if s.carries_level or process.allows("escalate", s.name)
        )
        m = source.mapping
        # the values an event's decision depends on: its activity and what the rules read
        self._read = (*m.activity, *[n for n in m.rule_attributes if n not in m.activity])
        self._decisions: dict[tuple[Any, ...], _Decision] = {}
        self._key_prefix = source.key("", "")[: -len("::")]

    def plan(self, case: SourceCase, tally: Tally, now: datetime) -> CasePlan | None:
        """The events of `case`, or None when no event of it has a usable time (one from
        1970 to `now`, as any instant tierflow is given) or a value of it is one no
        command could carry (see :func:`states.import_values.timed_events`)."""
        mapping = self.source.mapping
        timed = timed_events(case, mapping, tally.rejected, now)
        if timed is None:
            return None
        first = {**case.attrs, **timed[0][3]}
        priority, _ = mapping.priority_of(first)  # an unmapped value is counted per event
        opened = self._opened(case, first, priority, timed[0][0])
        plan = CasePlan(case.ref, [opened], [timed[0][2]], new_snapshot(opened), [])
        stamp(opened, plan.snapshot)
        previous: dict[str, str] = {}
        key_prefix = f"{self._key_prefix}:{case.ref}:"
        for at, position, iso, attrs in timed:
            event = self._event(plan, tally, at, attrs, previous)
            event.payload["position"] = position
            event.idempotency_key = f"{key_prefix}{position}"
            if event.payload.get("effects") and "escalate" in event.payload["effects"]:
                self._notify(plan, event)
            plan.events.append(event)
            plan.times.append(iso)
            evolve(plan.snapshot, event)
            stamp(event, plan.snapshot)
            plan.reached = reached_after(self.process, plan.reached, event)
            previous = attrs
        tally.events += len(timed)
        return plan

    def _opened(
        self, case: SourceCase, first: dict[str, str], priority: str, at: datetime
    ) -> Event:
        source = self.source
        m = source.mapping
        payload = {
            "customer_id": (first.get(m.customer_id or "") or "unknown").strip() or "unknown",
            "subject": (first.get(m.subject or "") or f"Imported case {case.ref}").strip(),
            "description": "",
            "priority": priority,
            "channel": "import",
            "customer_tier": "standard",
            "amount_claimed_minor": None,
            "currency": self.process.currency,
            "external_ref": case.ref,
            "team": None,
            "process_version": self.process.version_id,
            "policy_version": self.policy.version_id,
            "import": {
                "file": source.name,
                "digest": source.digest,
                "mapping": m.version_id,
                "attributes": case.attrs,
            },
        }
        actor = first.get(m.resource or "") or IMPORT_ACTOR
        event = Event("opened", at, actor, None, self.process.initial, None, None, payload)
        event.idempotency_key = source.key(case.ref, "case")
        return event

    def _event(
        self,
        plan: CasePlan,
        tally: Tally,
        at: datetime,
        attrs: dict[str, str],
        previous: dict[str, str],
    ) -> Event:
        m = self.source.mapping
        snap = plan.snapshot
        situation = (snap.state, snap.level, snap.acknowledged, snap.waiting, plan.reached)
        key = (*situation, *map(attrs.get, self._read))
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = self._decide(situation, attrs)
        activity, explicit, outcome, steps = decision
        payload: dict[str, Any] = {"activity": activity}
        if not explicit:
            tally.unmapped[activity] += 1
            payload["unmapped"] = True
        priority, raw = m.priority_of(attrs) if m.priority in attrs else (snap.priority, None)
        if raw is not None:
            tally.unmapped_values[f"{m.priority}={raw}"] += 1
        if steps is None:
            state, level, sets = snap.state, snap.level, None
        else:
            state, level, effects, deviations, resolved_level = steps
            sets = self._sets(snap, outcome, attrs, m, None if raw else priority)
            if effects:
                payload["effects"] = effects
            if deviations:
                payload["deviations"] = deviations
                for found in deviations:
                    tally.deviations[found["kind"]] += 1
            if sets:
                payload["set"] = sets
            if resolved_level:
                payload["resolved_level"] = resolved_level
        if not sets and not payload.get("effects") and state == snap.state and level == snap.level:
            payload["annotation"] = True
            tally.annotations += 1
        shown = m.recorded_elsewhere
        payload["attributes"] = {
            k: v for k, v in attrs.items() if k not in shown and previous.get(k) != v
        }
        resource = attrs.get(m.resource or "") or IMPORT_ACTOR
        return Event(IMPORTED, at, resource, snap.state, state, snap.level, level, payload)

    def _decide(self, situation: tuple[Any, ...], attrs: dict[str, str]) -> _Decision:
        m = self.source.mapping
        activity = m.activity_of(attrs)
        outcome, explicit = m.evaluate(activity, attrs)
        if not explicit or outcome.annotate:  # an unmapped event changes nothing either
            return activity, explicit, outcome, None
        return activity, explicit, outcome, self._steps(*situation, outcome)

    def _notify(self, plan: CasePlan, event: Event) -> None:
        """The notices an escalation would have sent: recorded, never sent."""
        level = event.to_level
        activity = event.payload["activity"]
        subject = f"Case {plan.ref} escalated to {level} (imported history, not sent)"
        for recipient in self.policy.recipients.get(level or "", ()):
            plan.notices.append(
                NewNotification(
                    None,
                    "escalated",
                    recipient,
                    subject,
                    activity,
                    f"{event.idempotency_key}:{recipient}",
                    event.occurred_at,
                )
            )

    def _steps(
        self,
        state: str,
        level: str | None,
        ack: bool | None,
        waiting: bool,
        reached: int,
        outcome: Outcome,
    ) -> tuple[str, str | None, list[str], list[dict[str, Any]], str | None]:
        """The triggers that take a case in `state` at `level` (acknowledged or not, waiting
        or not, having been as high as rank `reached`) where `outcome` says, with their
        deviations."""
        process = self.process
        effects: list[str] = []
        deviations: list[dict[str, Any]] = []

        def fire(trigger: str, to_level: str | None = None) -> None:
            deviations.extend(
                step_deviations(process, state, level, ack, trigger, to_level, reached=reached)
            )
            effects.append(trigger)

        target = outcome.state or state
        wanted = level if outcome.level is None else _level(outcome.level)
        if target in self.working and wanted is not None:
            target = self.carrier
        if target == self.carrier and wanted is None:
            wanted = level or process.ladder[0].name
        if target in self.working and state not in self.working:
            fire("reopen")
            state, level, ack = self.dest.get("reopen", process.initial), None, None
        moves = target in self.working or (state in self.working and outcome.level is not None)
        if state in self.working and moves and rank(process, wanted) != rank(process, level):
            if rank(process, wanted) > rank(process, level):
                fire("escalate", wanted)
                state, level, ack = self.carrier, wanted, False
            else:
                fire("de_escalate")
                if wanted is not None:
                    deviations.append(
                        deviation(
                            DISALLOWED,
                            "de_escalate",
                            state,
                            level,
                            f"{level} to {wanted}: the process de-escalates to first level only",
                        )
                    )
                state = self.carrier if wanted else self.dest.get("de_escalate", state)
                level, ack = wanted, (False if wanted else None)
        if target in self.working and target != state:
            trigger = self.into.get(target)
            if trigger == "assign" and level is None:
                fire("assign")
            else:
                deviations.append(
                    deviation(
                        DISALLOWED, None, state, level, f"no trigger leads from {state} to {target}"
                    )
                )
            state = target
        if outcome.acknowledge and process.state(state).carries_level and ack is False:
            fire("acknowledge")
            ack = True
        if outcome.waiting is not None and outcome.waiting != waiting and target == state:
            fire("wait_on_customer" if outcome.waiting else "customer_replied")
        resolved_level = None
        if target not in self.working and (outcome.state is not None or target != state):
            trigger = self.into.get(target)
            if trigger is None:
                deviations.append(
                    deviation(
                        DISALLOWED, None, state, level, f"no trigger leads from {state} to {target}"
                    )
                )
            else:
                fire(trigger)
                if trigger == "resolve":
                    resolved_level = level or FIRST_LEVEL
            state = target
        return (
            state,
            level if process.state(state).carries_level else None,
            effects,
            deviations,
            resolved_level,
        )

    def _sets(
        self,
        snap: CaseSnapshot,
        outcome: Outcome,
        attrs: dict[str, str],
        mapping: Mapping,
        priority: str | None,
    ) -> dict[str, Any]:
        """The plain fields the event changes: owner, team, priority."""
        sets: dict[str, Any] = {}
        resource = attrs.get(mapping.resource or "")
        if outcome.assignee == "resource" and resource and resource != snap.assignee:
            sets["assignee"] = resource
        elif outcome.assignee == "none" and snap.assignee is not None:
            sets["assignee"] = None
        team = attrs.get(mapping.team or "")
        if team and team != snap.team:
            sets["team"] = team
        if priority is not None and priority != snap.priority:
            sets["priority"] = priority
        return sets


def _level(name: str) -> str | None:
    return None if name == FIRST_LEVEL else name
