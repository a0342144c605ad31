"""The messages a decision sends: who hears of what, and what the message says.

Pure, like :mod:`states.decide` that calls it: each function returns
:class:`~states.outbox.NewNotification` values for the decision to enqueue in
its transaction. Messages to staff describe the case as it stands after the
change (state, level, owner), so nobody acts on where it used to be.
"""

from __future__ import annotations

from states.case import CaseSnapshot
from states.money import format_money, from_minor
from states.outbox import CUSTOMER, NewNotification
from states.policy import Policy
from states.process import FIRST_LEVEL

Position = tuple[str, str | None, str | None]
"""Where a case stands: state, level, assignee."""


def case_ref(snap: CaseSnapshot) -> str:
    """How a message names the case; at intake the number is not known yet (the
    outbox row carries it, and e-mails an X-Tierflow-Case header)."""
    return f"Case {snap.id}" if snap.id else "New case"


def level_recipients(policy: Policy, level: str | None, snap: CaseSnapshot) -> list[str]:
    """Who hears of a clock at `level` (None: first level): its list, and the owner."""
    listed = list(policy.recipients.get(level or FIRST_LEVEL, ()))
    if snap.assignee and snap.assignee not in listed:
        listed.append(snap.assignee)
    return listed


def staff_notices(
    snap: CaseSnapshot,
    kind: str,
    recipients: list[str],
    subject: str,
    once: str | None,
    lead: str = "",
    position: Position | None = None,
) -> list[NewNotification]:
    """One message per recipient about `snap`; `once` (e.g. the timer's key) makes a
    repeat of the same message a no-op in the outbox. `position` is where the case
    stands when that is not yet folded into `snap`."""
    state, level, assignee = position or (snap.state, snap.level, snap.assignee)
    amount = format_money(from_minor(snap.amount_claimed_minor), snap.currency)
    body = (
        (f"{lead}\n" if lead else "")
        + f"{case_ref(snap)}: {snap.subject}\nCustomer: {snap.customer_id} "
        f"({snap.customer_tier}), priority {snap.priority}, amount {amount}\n"
        f"State: {state}{' / ' + level if level else ''}, assignee {assignee or '-'}"
    )
    return [
        NewNotification(
            snap.id,
            kind,
            recipient,
            subject,
            body,
            dedupe_key=f"{once}:{recipient}" if once else None,
        )
        for recipient in dict.fromkeys(r.strip() for r in recipients if r and r.strip())
    ]  # a blank name (from data written before names were checked) must not stop a sweep


def escalation_notices(
    policy: Policy,
    case: CaseSnapshot,
    *,
    actor: str,
    from_tier: str,
    reason: str | None,
    point: str | None,
    evidence: str | None,
    notice: str | None,
    position: Position,
    tell_level: bool,
) -> list[NewNotification]:
    """An escalation tells the level taking over who sent it and why (unless a breach
    notice already does, `tell_level` False), and the customer what the agent wrote."""
    _, to_level, _ = position
    out = []
    if tell_level:
        # A point's `reason` is written for the customer; staff read the point and evidence.
        why = [] if reason is None or actor.startswith("system:") else [reason]
        if point:
            why.append(f"point {point}" + (f": {evidence}" if evidence else ""))
        out += staff_notices(
            case,
            "escalated",
            list(policy.recipients.get(to_level or "", ())),
            f"{case_ref(case)} escalated to {to_level}: {why[0] if why else '-'}",
            None,
            lead=f"Escalated from {from_tier} by {actor}" + (f": {'; '.join(why)}" if why else ""),
            position=position,
        )
    if notice:
        out.append(
            NewNotification(
                case.id,
                "customer_notice",
                f"{CUSTOMER}{case.customer_id}",
                f"About your case: {case.subject}",
                notice,
                dedupe_key=None,
            )
        )
    return out
