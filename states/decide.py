"""Deciding: turn a command (or a fired timer) and the current case into events, purely.

No database and no clock here: the engine passes the snapshot it loaded and
`now`; the same inputs always give the same events, which is what makes the
engine testable without time passing and replay trustworthy. Each event
carries the clock changes it causes (see :mod:`states.clocks`), and a
:class:`~states.decision.Decision` carries the notifications to enqueue with it.
What a fired timer does is decided in :mod:`states.decide_timers`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from states.acknowledgement import acknowledgement, asks_acknowledgement
from states.case import CaseSnapshot
from states.clocks import ClockPlanner
from states.commands import TRIGGER_FIELDS, Act, OpenCase, Update, check_amount_currency
from states.decide_timers import TimerDecisions
from states.decision import SYSTEM_POINTS, Decision, attach, in_place
from states.errors import InvalidInput
from states.events import Event, evolve, new_snapshot
from states.fold_rules import clocks_after
from states.guards import GuardContext
from states.machine import ProcessMachine
from states.money import to_minor
from states.notices import escalation_notices
from states.points import PointMatch, evaluate_points, holding_points, notice_for
from states.policy import Policy

#: Triggers that move a case to another tier: each records who owns it afterwards.
HANDS_OVER = ("escalate", "de_escalate", "reopen")


class Decider(TimerDecisions):
    """Turns commands and fired timers (:class:`states.decide_timers.TimerDecisions`) into
    events, given the process machine and the policy."""

    def __init__(self, machine: ProcessMachine, policy: Policy) -> None:
        self.machine = machine
        self.process = machine.definition
        self.policy = policy
        self.clocks = ClockPlanner(policy)
        # what every opened case records; each `version_id` formats its digest anew
        self._versions = (machine.definition.version_id, policy.version_id)

    # -- commands ----------------------------------------------------------------

    def open(self, command: OpenCase, now: datetime, recent_cases: int | None) -> Decision:
        """The ``opened`` event, then whatever the escalation points do at intake."""
        process = self.process
        check_amount_currency(command, process.currency)
        payload: dict[str, Any] = {
            "customer_id": command.customer_id.strip(),
            "subject": command.subject.strip(),
            "description": command.description,
            "priority": command.priority,
            "channel": command.channel,
            "customer_tier": command.customer_tier,
            "amount_claimed_minor": to_minor(command.amount_claimed),
            "currency": process.currency,
            "external_ref": command.external_ref,
            "team": command.team,
            "process_version": self._versions[0],
            "policy_version": self._versions[1],
        }
        opened = Event(
            "opened", now, command.actor, None, process.initial, None, None, payload, seq=1
        )
        snap = new_snapshot(opened)
        attach(opened, self.clocks.changes(snap, opened, 1, now))
        # as new_snapshot would have, had the changes been in the event from the start
        snap.clocks = clocks_after(snap.clocks, opened)
        decision = Decision([opened], opened=snap)
        texts = {"subject": command.subject, "description": command.description}
        matches = self._matches(snap, texts, recent_cases, now)
        if matches:  # folded into a copy: the decision keeps the case as opened
            self._fold_points(decision, snap.copy(), matches, now)
        if asks_acknowledgement(command):  # a mail's: the number, before any other notice
            decision.notifications.insert(0, acknowledgement(command))
        return decision

    def act(self, case: CaseSnapshot, command: Act, now: datetime) -> Decision:
        """Events for one trigger, or a `CommandError` explaining why it cannot happen."""
        decision = Decision()
        self._trigger(decision, case, command, now, scratch=False)
        return decision

    def update(
        self, case: CaseSnapshot, command: Update, now: datetime, recent_cases: int | None
    ) -> Decision:
        """Record what changed (a customer message, the amount, the priority), then re-check
        the escalation points against the new facts."""
        changes: dict[str, Any] = {}
        if command.amount_claimed is not None:
            check_amount_currency(command, case.currency)
            changes["amount_claimed_minor"] = to_minor(command.amount_claimed)
        if command.priority is not None and command.priority != case.priority:
            changes["priority"] = command.priority
        if command.customer_tier is not None and command.customer_tier != case.customer_tier:
            changes["customer_tier"] = command.customer_tier
        if not changes and not command.message:
            raise InvalidInput(
                "update", "nothing", "at least one of --message, --amount, --priority, --tier"
            )
        payload: dict[str, Any] = {"changes": changes}
        if command.message:
            payload["message"] = command.message
        event = Event(
            "updated",
            now,
            command.actor,
            case.state,
            case.state,
            case.level,
            case.level,
            payload,
            seq=case.last_seq + 1,
        )
        snap = case.copy()  # a scratch copy: the points below may fold more events in
        evolve(snap, event)
        decision = Decision([event])
        texts = {"message": command.message} if command.message else {}
        self._fold_points(decision, snap, self._matches(snap, texts, recent_cases, now), now)
        return decision

    # -- helpers -------------------------------------------------------------------------

    def _trigger(
        self,
        decision: Decision,
        case: CaseSnapshot,
        command: Act,
        now: datetime,
        scratch: bool,
        tell_level: bool = True,
    ) -> None:
        """Decide one trigger on `case`; with `scratch`, also fold it into `case`.

        An escalation tells the customer (the notice) and, with `tell_level`,
        the recipients of the level taking over.
        """
        process = self.process
        to_level = case.level
        held: dict[str, str | None] = {}
        if command.trigger == "escalate":
            cited = None
            if command.point:
                held = holding_points(self.policy, process, case=case, cited=command.point, now=now)
            if command.point in held:  # one that does not hold moves nothing: refused below
                cited = self.policy.points[command.point].level_for(case.priority)
            to_level = _escalation_target(case, command, self.machine, cited)
        to_state = self.machine.fire(GuardContext(case, command, process, now, held))
        if (
            command.trigger in ("de_escalate", "reopen")
            or not process.state(to_state).carries_level
        ):
            to_level = None
        seq = case.last_seq + 1
        payload = _payload(command)
        # A cited point that holds by its condition now, not a flag: its evidence is recorded,
        # as the engine's own escalations record theirs, so the history shows it held.
        evidence = command.evidence or held.get(command.point or "")
        if evidence:
            payload["evidence"] = evidence
        if command.trigger in HANDS_OVER:
            # The case changes hands: it has the owner named, or waits in the new tier's
            # queue; recorded either way, so the fold needs no rule of its own.
            payload.setdefault("assignee", None)
        elif command.trigger == "resolve" and case.state == process.initial:
            payload["assignee"] = command.actor  # first contact: who resolved it owns it
        event = Event(
            command.trigger,
            now,
            command.actor,
            case.state,
            to_state,
            case.level,
            to_level,
            payload,
            seq=seq,
        )
        attach(event, self.clocks.changes(case, event, seq, now))
        decision.events.append(event)
        if scratch:
            evolve(case, event)
        if command.trigger == "escalate":
            decision.notifications += escalation_notices(
                self.policy,
                case,
                actor=command.actor,
                from_tier=event.from_level or event.from_state or "-",
                reason=command.reason,
                point=command.point,
                evidence=evidence,
                notice=command.notice,
                position=(to_state, to_level, payload["assignee"]),
                tell_level=tell_level,
            )

    def _matches(
        self, snap: CaseSnapshot, texts: dict[str, str], recent_cases: int | None, now: datetime
    ) -> list[PointMatch]:
        """The escalation points `snap` meets, strongest first (see :meth:`_fold_points`)."""
        return evaluate_points(
            self.policy,
            self.process,
            case=snap,
            texts=texts,
            recent_case_count=recent_cases,
            now=now,
        )

    def _fold_points(
        self, decision: Decision, snap: CaseSnapshot, matches: list[PointMatch], now: datetime
    ) -> None:
        """Flag `matches` (and escalate the first that says so), folding each event into
        `snap`, the caller's scratch copy."""
        escalation = next((m for m in matches if m.action == "escalate"), None)
        for match in matches:
            if match is escalation or match.point in snap.flags:
                continue
            self._flag(decision, snap, match, now)
        if escalation is not None:
            self._flag(decision, snap, escalation, now)
            self._escalate(decision, snap, escalation, now, SYSTEM_POINTS)

    def _flag(
        self, decision: Decision, snap: CaseSnapshot, match: PointMatch, now: datetime
    ) -> None:
        payload: dict[str, Any] = {
            "flag": match.point,
            "point": match.point,
            "action": match.action,
            "evidence": match.evidence,
        }
        if match.route_to_team:
            payload["team"] = match.route_to_team
        event = in_place("flagged", snap, now, SYSTEM_POINTS, payload)
        decision.events.append(event)
        evolve(snap, event)

    def _escalate(
        self,
        decision: Decision,
        snap: CaseSnapshot,
        match: PointMatch,
        now: datetime,
        actor: str,
        tell_level: bool = True,
    ) -> None:
        process = self.process
        target = match.to_level or (process.next_level(snap.level) or process.ladder[-1]).name
        command = Act(
            case_id=snap.id or 0,
            trigger="escalate",
            actor=actor,
            reason=self.policy.points[match.point].reason,
            point=match.point,
            evidence=match.evidence,
            to_level=target,
            notice=notice_for(self.policy, process, match, target),
        )
        self._trigger(decision, snap, command, now, scratch=True, tell_level=tell_level)


def _escalation_target(
    case: CaseSnapshot, command: Act, machine: ProcessMachine, cited: str | None
) -> str | None:
    """Where an escalation goes: `--to-level`, else where the cited point sends cases
    (legal risk: manager) when that is above the case, else one level up."""
    definition = machine.definition
    current_rank = -1 if case.level is None else definition.level(case.level).rank
    if command.to_level is None:
        if cited is not None and definition.level(cited).rank > current_rank:
            return cited
        target = definition.next_level(case.level)
        return target.name if target else case.level
    if command.to_level not in definition.level_names:
        raise InvalidInput(
            "to_level",
            command.to_level,
            f"one of the ladder's levels: {', '.join(definition.level_names)}",
        )
    if definition.level(command.to_level).rank <= current_rank:
        above = [lv.name for lv in definition.ladder if lv.rank > current_rank]
        raise InvalidInput(
            "to_level",
            command.to_level,
            f"a level above {case.level!r}: {', '.join(above) or 'none'}",
        )
    return command.to_level


def _payload(command: Act) -> dict[str, Any]:
    payload = {
        name: value
        for name in TRIGGER_FIELDS[command.trigger]
        if (value := getattr(command, name)) is not None
    }
    if command.extra:
        payload["extra"] = command.extra
    return payload
