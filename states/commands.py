"""Commands: what callers ask the engine to do, validated once at the edge.

The CLI, flows and (later) the HTTP API build these; the engine trusts their
field types and only checks what depends on the case (guards).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from states.case import CHANNELS, PRIORITIES, TIERS
from states.errors import InvalidInput
from states.money import parse_amount
from states.points import POINTS
from states.process import TRIGGERS

MAX_TEXT = 20_000
MAX_CASE_ID = 2**63 - 1  # the largest id a database integer column holds


@dataclass(frozen=True, slots=True)
class OpenCase:
    """Open a new case (intake)."""

    customer_id: str
    subject: str
    description: str = ""
    priority: str = "normal"
    channel: str = "email"
    customer_tier: str = "standard"
    amount_claimed: Decimal | None = None
    team: str | None = None
    external_ref: str | None = None
    actor: str = "intake"
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        _required("customer_id", self.customer_id)
        _required("subject", self.subject)
        _text("description", self.description)
        _choice("priority", self.priority, PRIORITIES)
        _choice("channel", self.channel, CHANNELS)
        _choice("customer_tier", self.customer_tier, TIERS)
        _required("actor", self.actor)
        if self.amount_claimed is not None:
            object.__setattr__(self, "amount_claimed", amount(self.amount_claimed))


@dataclass(frozen=True, slots=True)
class Act:
    """Fire one trigger on an existing case.

    Only the fields a trigger reads matter: ``assignee`` (assign, optionally
    acknowledge), ``reason``/``point``/``notice``/``to_level`` (escalate),
    ``note`` (resolve, de_escalate, reopen, waiting), ``satisfaction`` and
    ``comment`` (follow_up).
    """

    case_id: int
    trigger: str
    actor: str
    assignee: str | None = None
    team: str | None = None
    reason: str | None = None
    point: str | None = None
    evidence: str | None = None
    notice: str | None = None
    to_level: str | None = None
    note: str | None = None
    satisfaction: int | None = None
    comment: str | None = None
    expected_version: int | None = None
    idempotency_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _case_number(self.case_id)
        _choice("trigger", self.trigger, TRIGGERS)
        _required("actor", self.actor)
        for name in ("assignee", "reason", "notice", "note", "comment", "team", "point"):
            _text(name, getattr(self, name))
        for name in ("assignee", "team"):  # names messages go to: blank is never one
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise InvalidInput(name, value, "a non-empty name, or leave the option out")
        if self.satisfaction is not None and (
            isinstance(self.satisfaction, bool)
            or not isinstance(self.satisfaction, int)
            or not 1 <= self.satisfaction <= 5
        ):
            raise InvalidInput("satisfaction", self.satisfaction, "an integer from 1 to 5")
        if self.point is not None:
            _choice("point", self.point, POINTS)
        if self.expected_version is not None and (
            not isinstance(self.expected_version, int) or self.expected_version < 1
        ):
            raise InvalidInput("expected_version", self.expected_version, "a positive integer")


@dataclass(frozen=True, slots=True)
class Update:
    """New facts about a case: a customer message, the amount claimed, priority or tier.

    Not a state transition: the escalation points are evaluated again against
    the new facts, and may escalate the case.
    """

    case_id: int
    actor: str
    message: str | None = None
    amount_claimed: Decimal | None = None
    priority: str | None = None
    customer_tier: str | None = None
    expected_version: int | None = None
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        _case_number(self.case_id)
        _required("actor", self.actor)
        _text("message", self.message)
        if self.priority is not None:
            _choice("priority", self.priority, PRIORITIES)
        if self.customer_tier is not None:
            _choice("customer_tier", self.customer_tier, TIERS)
        if self.amount_claimed is not None:
            object.__setattr__(self, "amount_claimed", amount(self.amount_claimed))


Command = OpenCase | Act | Update

#: The fields of :class:`Act` each trigger reads (and records in its event).
TRIGGER_FIELDS: dict[str, tuple[str, ...]] = {
    "assign": ("assignee", "team"),
    "escalate": ("reason", "point", "evidence", "notice"),
    "acknowledge": ("assignee", "note"),
    "de_escalate": ("note", "assignee"),
    "resolve": ("note",),
    "follow_up": ("satisfaction", "comment"),
    "reopen": ("note", "assignee"),
    "wait_on_customer": ("note",),
    "customer_replied": ("note",),
}


def fingerprint(command: Command) -> str:
    """Digest of what a command asks, to tell a retry from a reused idempotency key."""
    body = {k: v for k, v in asdict(command).items() if k != "idempotency_key"}
    body["kind"] = type(command).__name__
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, default=str, separators=(",", ":")).encode()
    ).hexdigest()


def amount(value: object) -> Decimal:
    try:
        return parse_amount(value)
    except ValueError as exc:
        raise InvalidInput("amount_claimed", value, str(exc).split("allowed: ")[-1]) from None


def _case_number(value: object) -> None:
    # 0 names the case being opened by the same command (escalation at intake)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_CASE_ID:
        raise InvalidInput("case_id", value, "a positive integer case number")


def _required(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(name, value, "a non-empty text")
    _text(name, value)


def _text(name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidInput(name, value, "text")
    if len(value) > MAX_TEXT:
        raise InvalidInput(name, value[:40] + "…", f"at most {MAX_TEXT} characters")


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidInput(name, value, f"one of {', '.join(allowed)}")
