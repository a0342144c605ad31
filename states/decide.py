"""Deciding: turn a command and the current case into new events, purely.

No database and no clock here: the engine passes the snapshot it loaded and
`now`; the same inputs always give the same events, which is what makes the
engine testable without time passing and replay trustworthy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from states.case import CaseSnapshot
from states.commands import Act, OpenCase
from states.errors import InvalidInput
from states.events import Event
from states.guards import GuardContext
from states.machine import ProcessMachine
from states.money import to_minor


def decide_open(command: OpenCase, machine: ProcessMachine, now: datetime) -> list[Event]:
    definition = machine.definition
    payload: dict[str, Any] = {
        "customer_id": command.customer_id.strip(),
        "subject": command.subject.strip(),
        "description": command.description,
        "priority": command.priority,
        "channel": command.channel,
        "customer_tier": command.customer_tier,
        "amount_claimed_minor": to_minor(command.amount_claimed),
        "currency": definition.currency,
        "external_ref": command.external_ref,
        "team": command.team,
        "process_version": definition.version_id,
    }
    return [Event("opened", now, command.actor, None, definition.initial, None, None, payload)]


def decide_act(
    case: CaseSnapshot, command: Act, machine: ProcessMachine, now: datetime
) -> list[Event]:
    """Events for one trigger, or a `CommandError` explaining why it cannot happen."""
    definition = machine.definition
    to_level = case.level
    if command.trigger == "escalate":
        to_level = _escalation_target(case, command, machine)
    to_state = machine.fire(GuardContext(case, command, definition, now))
    if command.trigger in ("de_escalate", "reopen"):
        to_level = None
    if not definition.state(to_state).carries_level:
        to_level = None
    payload = _payload(command)
    return [
        Event(
            command.trigger, now, command.actor, case.state, to_state, case.level, to_level, payload
        )
    ]


def _escalation_target(case: CaseSnapshot, command: Act, machine: ProcessMachine) -> str | None:
    definition = machine.definition
    if command.to_level is None:
        target = definition.next_level(case.level)
        return target.name if target else case.level
    if command.to_level not in definition.level_names:
        raise InvalidInput(
            "to_level",
            command.to_level,
            f"one of the ladder's levels: {', '.join(definition.level_names)}",
        )
    current_rank = -1 if case.level is None else definition.level(case.level).rank
    if definition.level(command.to_level).rank <= current_rank:
        above = [lv.name for lv in definition.ladder if lv.rank > current_rank]
        raise InvalidInput(
            "to_level",
            command.to_level,
            f"a level above {case.level!r}: {', '.join(above) or 'none'}",
        )
    return command.to_level


_PAYLOAD_FIELDS = {
    "assign": ("assignee", "team"),
    "escalate": ("reason", "point", "evidence", "notice"),
    "acknowledge": ("assignee", "note"),
    "de_escalate": ("note",),
    "resolve": ("note",),
    "follow_up": ("satisfaction", "comment"),
    "reopen": ("note",),
    "wait_on_customer": ("note",),
    "customer_replied": ("note",),
}


def _payload(command: Act) -> dict[str, Any]:
    payload = {
        name: value
        for name in _PAYLOAD_FIELDS[command.trigger]
        if (value := getattr(command, name)) is not None
    }
    if command.extra:
        payload["extra"] = command.extra
    return payload
