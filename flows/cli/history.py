"""What happened to a case, on the terminal: its detail and timeline, replays and
verification results (JSON for scripts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from flows.cli.render import (
    age,
    case_json,
    console,
    emit_json,
    event_json,
    level_text,
    out,
    row,
)
from states.audit import Verification
from states.case import CaseSnapshot
from states.events import Event
from states.money import format_money, from_minor
from states.queries import case_ages


def case_detail(case: CaseSnapshot, events: list[Event], now: datetime, as_json: bool) -> None:
    ages = case_ages(case, now)
    if as_json:
        emit_json(
            {
                "case": case_json(case),
                "ages": {k: v.total_seconds() for k, v in ages.items()},
                "timeline": [event_json(e) for e in events],
            }
        )
        return
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    rows = [
        ("case", str(case.id)),
        ("subject", case.subject),
        ("reference", case.external_ref or "-"),
        ("customer", f"{case.customer_id} ({case.customer_tier})"),
        (
            "state",
            level_text(case.state, case.level)
            + (" [waiting on customer]" if case.waiting else "")
            + (" [acknowledged]" if case.acknowledged else ""),
        ),
        ("priority", case.priority),
        ("assignee", case.assignee or "-"),
        ("team", case.team or "-"),
        ("amount claimed", format_money(from_minor(case.amount_claimed_minor), case.currency)),
        ("flags", ", ".join(case.flags) or "-"),
        ("channel", case.channel),
        ("deadlines", _deadlines(case, now) or "-"),
        ("opened", f"{case.opened_at:%Y-%m-%d %H:%M} UTC ({age(ages['age'])} ago)"),
        ("in state since", f"{case.state_entered_at:%Y-%m-%d %H:%M} UTC ({age(ages['in_state'])})"),
        *(
            [("at level since", f"{case.escalated_at:%Y-%m-%d %H:%M} UTC")]
            if case.level and case.escalated_at
            else []
        ),
        ("version", str(case.version)),
        ("process", case.process_version),
    ]
    if case.resolved_at:
        rows.insert(
            -2, ("resolved", f"{case.resolved_at:%Y-%m-%d %H:%M} UTC at {case.resolved_level}")
        )
    if case.satisfaction is not None:
        rows.insert(-2, ("satisfaction", f"{case.satisfaction} of 5"))
    for key, value in rows:
        row(head, key, value)
    console.print(head)
    console.print(timeline_table(events))


def clock_change_text(change: dict[str, Any]) -> str:
    """One clock change as a person reads it: 'resolution paused', 'acknowledge started
    (PT4H, due 2026-11-02 13:00)', 'first_response stopped: met'."""
    state = change.get("state") or {}
    op = change["op"]
    verb = {"start": "started", "stop": "stopped", "pause": "paused", "resume": "resumed",
            "warn": "warned", "breach": "BREACHED", "due": "fell due"}.get(op, op)  # fmt: skip
    text = f"{change['clock']} {verb}"
    if op == "stop" and state.get("outcome"):
        text += f": {state['outcome']}"
    due = state.get("deadline")
    if due and op in ("start", "resume"):
        target = f"{state['target']}, " if state.get("target") else ""
        text += f" ({target}due {datetime.fromisoformat(due):%Y-%m-%d %H:%M})"
    return text


def event_details(event: Event, currency: str = "EUR") -> str:
    """The payload of `event` in one line: clock changes in words, amounts as money,
    lists and changed fields spelled out, not as Python or JSON literals."""
    parts = []
    for key, value in event.payload.items():
        if key in ("process_version", "currency"):
            continue
        if key == "clocks":
            parts.append("clocks: " + ", ".join(clock_change_text(c) for c in value))
        elif key == "assignee" and value is None:
            parts.append("assignee=(the level's queue)")
        elif isinstance(value, dict):
            parts += [_detail(f"{key}.{name}", item, currency) for name, item in value.items()]
        elif value not in (None, ""):
            parts.append(_detail(key, value, currency))
    return "; ".join(parts)


def _detail(key: str, value: Any, currency: str) -> str:
    if key.endswith("_minor") and isinstance(value, int):
        return f"{key.removesuffix('_minor')}={format_money(from_minor(value), currency)}"
    if isinstance(value, list):
        return f"{key}={', '.join(map(str, value))}"
    return f"{key}={value}"


def _deadlines(case: CaseSnapshot, now: datetime) -> str:
    """The deadlines the case runs against, soonest first, those past marked."""
    running = sorted(
        (datetime.fromisoformat(state["deadline"]), name, state["breached"])
        for name, state in case.clocks.items()
        if state["status"] == "running" and state.get("deadline")
    )
    return ", ".join(
        f"{name} {due:%Y-%m-%d %H:%M} UTC"
        + (" (BREACHED)" if breached else " (overdue)" if due <= now else "")
        for due, name, breached in running
    )


def timeline_table(events: list[Event]) -> Table:
    currency = events[0].payload.get("currency", "EUR") if events else "EUR"
    table = Table(
        title="timeline",
        title_justify="left",
        caption="each event was recorded when it happened unless its details say otherwise",
        caption_justify="left",
    )
    for column in ("#", "happened (UTC)", "actor", "event", "from", "to", "details"):
        table.add_column(column)
    for event in events:
        details = _recorded_text(event) + event_details(event, currency)
        row(
            table,
            str(event.seq),
            f"{event.occurred_at:%Y-%m-%d %H:%M:%S}",
            event.actor,
            event.type,
            level_text(event.from_state or "-", event.from_level),
            level_text(event.to_state, event.to_level),
            details,
        )
    return table


def _recorded_text(event: Event) -> str:
    """When an event was recorded, when that is not when it happened (to the second): a
    column of its own would take the width the details need, for a time mostly the same."""
    if event.recorded_at is None:
        return ""
    recorded = f"{event.recorded_at:%Y-%m-%d %H:%M:%S}"
    if recorded == f"{event.occurred_at:%Y-%m-%d %H:%M:%S}":
        return ""
    return f"recorded {recorded} UTC; "


def replay(
    snap: CaseSnapshot, events: list[Event], check: Verification | None, as_json: bool
) -> None:
    if as_json:
        emit_json(
            {
                "case": case_json(snap),
                "events": [event_json(e) for e in events],
                "verified": None if check is None else check.ok,
                "problems": [] if check is None else check.problems,
            }
        )
        return
    console.print(timeline_table(events))
    out(
        f"replayed case {snap.id}: {level_text(snap.state, snap.level)}, version "
        f"{snap.version}, {len(events)} events"
    )
    if check is not None:
        _verification_line(check)


def failed_verification(check: Verification, as_json: bool) -> None:
    if as_json:
        emit_json({"case_id": check.case_id, "verified": False, "problems": check.problems})
    else:
        _verification_line(check)


def _verification_line(check: Verification) -> None:
    if check.ok:
        out(
            f"case {check.case_id}: verified: {check.events} events, hash chain intact, "
            "projection matches"
        )
    else:
        if check.first_broken is not None:
            out(f"NOT VERIFIED: {check.first_broken}")
        for problem in check.problems:
            out(f"case {check.case_id}: NOT VERIFIED: {problem}")


def verifications(checks: list[Verification], as_json: bool) -> None:
    bad = [c for c in checks if not c.ok]
    if as_json:
        emit_json(
            {
                "cases": len(checks),
                "failed": [{"case_id": c.case_id, "problems": c.problems} for c in bad],
            }
        )
        return
    for check in bad:
        _verification_line(check)
    out(
        f"{len(checks) - len(bad)} of {len(checks)} cases verified"
        + (f", {len(bad)} NOT verified" if bad else "")
    )
