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
from datetime import UTC, datetime
from typing import Any

from states.case import CaseSnapshot
from states.deviations import DISALLOWED, deviation, rank, step_deviations
from states.events import Event, evolve, new_snapshot
from states.import_read import SourceCase
from states.mapping import Mapping, Outcome
from states.outbox import NewNotification
from states.policy import Policy
from states.process import FIRST_LEVEL, ProcessDefinition

IMPORTED = "imported"
IMPORT_ACTOR = "import"


@dataclass(slots=True)
class CasePlan:
    """One case's events (opened first), the notices they would have sent, and tallies."""

    ref: str
    events: list[Event]
    snapshot: CaseSnapshot | None = None  # the fold of `events` (id and hashes set at sealing)
    notices: list[NewNotification] = field(default_factory=list)
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


class Planner:
    def __init__(self, process: ProcessDefinition, policy: Policy) -> None:
        self.process = process
        self.policy = policy
        self.carrier = next(s.name for s in process.states if s.carries_level)
        self.into = {spec.dest: spec.trigger for spec in reversed(process.transitions)}
        self._shown: dict[str, frozenset[str]] = {}
        self._memo: dict[tuple[Any, ...], Any] = {}
        self.dest = {s.trigger: s.dest for s in reversed(process.transitions) if s.dest}
        self.working = frozenset(
            s.name for s in process.states if s.carries_level or process.allows("escalate", s.name)
        )

    def plan(self, case: SourceCase, source: Source) -> CasePlan | None:
        """The events of `case`, or None when no event of it has a usable time."""
        mapping = source.mapping
        plan = CasePlan(case.ref, [])
        timed = []
        for event in case.events:
            at = _instant(event.attrs.get(mapping.timestamp), mapping)
            if at is None:
                plan.rejected["timestamp missing or not ISO 8601"] += 1
            else:
                timed.append((at, event.position, event.attrs))
        if not timed:
            return None
        timed.sort(key=lambda item: (item[0], item[1]))
        first = {**case.attrs, **timed[0][2]}
        priority, _ = mapping.priority_of(first)  # an unmapped value is counted per event
        opened = self._opened(case, source, first, priority, timed[0][0])
        plan.events.append(opened)
        snap = new_snapshot(opened)
        previous: dict[str, str] = {}
        for at, position, attrs in timed:
            event = self._event(plan, snap, source, at, position, attrs, previous)
            plan.events.append(event)
            evolve(snap, event)
            previous = attrs
        plan.snapshot = snap
        return plan

    def _opened(
        self, case: SourceCase, source: Source, first: dict[str, str], priority: str, at: datetime
    ) -> Event:
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
        return _keyed(event, source.key(case.ref, "case"))

    def _event(
        self,
        plan: CasePlan,
        snap: CaseSnapshot,
        source: Source,
        at: datetime,
        position: int,
        attrs: dict[str, str],
        previous: dict[str, str],
    ) -> Event:
        m = source.mapping
        activity = m.activity_of(attrs)
        outcome, explicit = m.evaluate(activity, attrs)
        if not explicit:
            plan.unmapped[activity] += 1
        resource = attrs.get(m.resource or "")
        payload: dict[str, Any] = {"activity": activity, "position": position}
        priority, raw = m.priority_of(attrs) if m.priority in attrs else (snap.priority, None)
        if raw is not None:
            plan.unmapped_values[f"{m.priority}={raw}"] += 1
        if explicit and not outcome.annotate:  # an unmapped event changes nothing either
            key = (snap.state, snap.level, snap.acknowledged, snap.waiting, outcome)
            steps = self._memo.get(key)
            if steps is None:  # a pure function of the key: most events repeat one
                steps = self._memo[key] = self._steps(snap, outcome)
            state, level, effects, deviations, resolved_level = steps
            sets = self._sets(snap, outcome, attrs, m, None if raw else priority)
        else:
            state, level, effects, deviations, resolved_level = snap.state, snap.level, [], [], None
            sets = {}
        if effects:
            payload["effects"] = effects
        if deviations:
            payload["deviations"] = deviations
        if sets:
            payload["set"] = sets
        if resolved_level:
            payload["resolved_level"] = resolved_level
        if not effects and not sets and state == snap.state and level == snap.level:
            payload["annotation"] = True
        if not explicit:
            payload["unmapped"] = True
        shown = self.shown(m)
        payload["attributes"] = {
            k: v for k, v in attrs.items() - previous.items() if k not in shown
        }
        event = Event(
            IMPORTED, at, resource or IMPORT_ACTOR, snap.state, state, snap.level, level, payload
        )
        key = source.key(plan.ref, position)
        if "escalate" in effects:
            recipients = self.policy.recipients.get(level or "", ())
            subject = f"Case {plan.ref} escalated to {level} (imported history, not sent)"
            for recipient in recipients:
                plan.notices.append(
                    NewNotification(
                        None, "escalated", recipient, subject, activity, f"{key}:{recipient}", at
                    )
                )
        return _keyed(event, key)

    def shown(self, mapping: Mapping) -> frozenset[str]:
        """Source attributes an imported event records elsewhere (time, activity, actor,
        team): left out of its ``attributes``."""
        known = self._shown.get(mapping.version_id)
        if known is None:
            named = (mapping.timestamp, *mapping.activity, mapping.resource, mapping.team)
            known = self._shown[mapping.version_id] = frozenset(n for n in named if n)
        return known

    def _steps(
        self, snap: CaseSnapshot, outcome: Outcome
    ) -> tuple[str, str | None, list[str], list[dict[str, Any]], str | None]:
        """The triggers that take `snap` where `outcome` says, with their deviations."""
        process = self.process
        state, level, ack = snap.state, snap.level, snap.acknowledged
        effects: list[str] = []
        deviations: list[dict[str, Any]] = []

        def fire(trigger: str, to_level: str | None = None) -> None:
            deviations.extend(step_deviations(process, state, level, ack, trigger, to_level))
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
        if outcome.waiting is not None and outcome.waiting != snap.waiting and target == state:
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


def _keyed(event: Event, key: str) -> Event:
    event.idempotency_key = key
    return event


def _instant(text: str | None, mapping: Mapping) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=mapping.timezone)
    return at.astimezone(UTC)
