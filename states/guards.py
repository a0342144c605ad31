"""Guards a process file may name on a transition.

Each guard reads a :class:`GuardContext` and raises :class:`GuardFailed` (or
a subclass with more fields) saying what is missing and what would satisfy
it; a guard that returns normally lets the transition happen. Process files
name guards, they never carry code.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from states.case import CaseSnapshot
from states.commands import Act
from states.errors import AuthorityExceeded, GuardFailed
from states.money import format_money, from_minor
from states.points import POINTS
from states.process import FIRST_LEVEL, GUARDS, ProcessDefinition


@dataclass(slots=True)
class GuardContext:
    case: CaseSnapshot
    command: Act
    definition: ProcessDefinition
    now: datetime
    #: the escalation points that hold for the case (:func:`states.points.holding_points`),
    #: when the command cites one; the decider knows the policy, the guards do not
    held_points: Collection[str] = ()


def _refuse(ctx: GuardContext, reason: str) -> GuardFailed:
    return GuardFailed(ctx.command.trigger, reason, ctx.case.id)


def has_assignee(ctx: GuardContext) -> None:
    if not (ctx.command.assignee or "").strip():
        raise _refuse(ctx, "an assignee is required (--assignee NAME)")


def has_escalation_reason(ctx: GuardContext) -> None:
    """A reason in words, or an escalation point that holds for the case: a cited point
    is recorded as what fired and may move the case where the point sends it, so one
    that never fired and does not hold now is refused, whatever text comes with it."""
    point = ctx.command.point
    if not ((ctx.command.reason or "").strip() or point):
        raise _refuse(
            ctx,
            "an escalation reason is required: free text (--reason) or a "
            "named escalation point (--point)",
        )
    if point and point not in ctx.held_points:
        held = ", ".join(name for name in POINTS if name in ctx.held_points) or "none"
        raise _refuse(
            ctx,
            f"escalation point {point!r} does not hold for this case (it never fired and "
            f"its condition does not hold now); points that hold: {held}; or give --reason "
            "without --point to escalate for another reason",
        )


def has_customer_notice(ctx: GuardContext) -> None:
    if not (ctx.command.notice or "").strip():
        raise _refuse(
            ctx,
            "a customer notice is required (--notice): tell the customer who takes over and why",
        )


def below_top_of_ladder(ctx: GuardContext) -> None:
    if ctx.definition.next_level(ctx.case.level) is None:
        raise _refuse(ctx, f"the case is already at the top of the ladder ({ctx.case.level!r})")


def awaiting_acknowledgement(ctx: GuardContext) -> None:
    if ctx.case.acknowledged:
        raise _refuse(ctx, f"level {ctx.case.level!r} has already acknowledged the case")


def has_note(ctx: GuardContext) -> None:
    if not (ctx.command.note or "").strip():
        raise _refuse(ctx, "a note is required (--note)")


def has_resolution_note(ctx: GuardContext) -> None:
    if not (ctx.command.note or "").strip():
        raise _refuse(ctx, "a resolution note is required (--note)")


def within_authority(ctx: GuardContext) -> None:
    amount = from_minor(ctx.case.amount_claimed_minor)
    if amount is None:
        return
    definition = ctx.definition
    limit = definition.authority_of(ctx.case.level)
    if amount > limit:
        currency = ctx.case.currency
        raise AuthorityExceeded(
            ctx.command.trigger,
            format_money(amount, currency),
            ctx.case.level or FIRST_LEVEL,
            format_money(limit, currency),
            definition.lowest_level_covering(amount),
            ctx.case.id,
        )


def valid_satisfaction(ctx: GuardContext) -> None:
    score = ctx.command.satisfaction
    if score is not None and not 1 <= score <= 5:
        raise _refuse(ctx, f"satisfaction {score} is outside 1-5")


def within_reopen_window(ctx: GuardContext) -> None:
    resolved_at = ctx.case.resolved_at
    window = timedelta(seconds=ctx.definition.reopen_window_seconds)
    if resolved_at is not None and ctx.now - resolved_at > window:
        raise _refuse(
            ctx,
            f"the reopen window of {window.days} days after resolution "
            f"({resolved_at:%Y-%m-%d %H:%M} UTC) has passed; open a new case",
        )


def is_waiting(ctx: GuardContext) -> None:
    if not ctx.case.waiting:
        raise _refuse(ctx, "the case is not waiting on the customer")


def not_waiting(ctx: GuardContext) -> None:
    if ctx.case.waiting:
        raise _refuse(ctx, "the case is already waiting on the customer")


REGISTRY: dict[str, Callable[[GuardContext], None]] = {name: globals()[name] for name in GUARDS}
