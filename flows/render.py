"""Terminal output of the CLI: rich tables for people, JSON for scripts.

Text people typed (subjects, notes, names) reaches the terminal through
:func:`safe`: control characters and bidirectional overrides are shown as
escapes (``\\x1b``), never obeyed, so a subject cannot recolour, rewrite or hide
what the terminal shows. JSON output keeps every value exact (JSON escapes them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from states.audit import Verification
from states.case import CaseSnapshot
from states.engine import Result
from states.events import Event
from states.ledger import MISSED, ClockView, deadline_summary
from states.money import format_money, from_minor
from states.outbox import DeliveryReport
from states.queries import case_ages
from states.sweep import SweepReport

console = Console(highlight=False, markup=False)
if not console.is_terminal:  # piped output: do not squeeze tables into 80 columns
    console = Console(highlight=False, markup=False, width=160)
_HIDDEN_DETAILS = {"process_version", "currency", "customer_id", "subject", "description"}


_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_ESCAPES.update(
    (code, f"\\u{code:04x}")
    for code in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
)


def safe(text: str) -> str:
    """`text` with control characters and bidi overrides shown as escapes, on one line."""
    return text.translate(_ESCAPES)


def out(text: str) -> None:
    console.print(safe(text), markup=False, soft_wrap=True)


def _row(table: Table, *cells: str) -> None:
    table.add_row(*map(safe, cells))


def _json_default(value: Any) -> str:
    """Times as ISO 8601 with a 'T', as events carry them; anything else as text."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def emit_json(value: Any) -> None:
    print(json.dumps(value, default=_json_default, indent=2))


def age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m"


def event_json(event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "type": event.type,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.recorded_at.isoformat() if event.recorded_at else None,
        "actor": event.actor,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "from_level": event.from_level,
        "to_level": event.to_level,
        "payload": event.payload,
        "idempotency_key": event.idempotency_key,
        "format": event.format,
        "hash": event.hash,
    }


def case_json(case: CaseSnapshot) -> dict[str, Any]:
    data = case.as_dict()
    data["amount_claimed"] = (
        str(from_minor(case.amount_claimed_minor))
        if case.amount_claimed_minor is not None
        else None
    )
    return data


def result(res: Result, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "case_id": res.case_id,
                "version": res.version,
                "state": res.state,
                "level": res.level,
                "replayed": res.replayed,
                "events": [event_json(e) for e in res.events],
            }
        )
        return
    where = f"{res.state} ({res.level})" if res.level else res.state
    note = " (already applied; nothing written)" if res.replayed else ""
    points = [
        f"{e.payload['point']} ({e.payload.get('evidence')})"
        for e in res.events
        if e.type == "flagged"
    ]
    fired = f"; escalation points: {', '.join(points)}" if points else ""
    out(f"case {res.case_id}: {res.events[0].type} -> {where}, version {res.version}{note}{fired}")


def _level_text(state: str, level: str | None) -> str:
    return f"{state} / {level}" if level else state


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
            _level_text(case.state, case.level)
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
        _row(head, key, value)
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
        _row(
            table,
            str(event.seq),
            f"{event.occurred_at:%Y-%m-%d %H:%M:%S}",
            event.actor,
            event.type,
            _level_text(event.from_state or "-", event.from_level),
            _level_text(event.to_state, event.to_level),
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


def case_list(cases: list[CaseSnapshot], total: int, now: datetime, as_json: bool) -> None:
    if as_json:
        emit_json({"total": total, "cases": [case_json(c) for c in cases]})
        return
    table = Table(caption=f"{len(cases)} of {total} cases")
    for column in (
        "id",
        "state",
        "level",
        "priority",
        "assignee",
        "team",
        "flags",
        "customer",
        "age",
        "in state",
        "subject",
    ):
        table.add_column(column)
    for case in cases:
        ages = case_ages(case, now)
        _row(
            table,
            str(case.id),
            case.state + (" (waiting)" if case.waiting else ""),
            case.level or "-",
            case.priority,
            case.assignee or "-",
            case.team or "-",
            ", ".join(case.flags) or "-",
            case.customer_id,
            age(ages["age"]),
            age(ages["in_state"]),
            case.subject[:40],
        )
    console.print(table)


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
        f"replayed case {snap.id}: {_level_text(snap.state, snap.level)}, version "
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


@contextmanager
def progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal's stderr; nothing when stderr is a file or a pipe
    (a bar there is an empty line that would make a one-line error two)."""
    bar_console = Console(stderr=True)
    if not bar_console.is_terminal:
        yield lambda _: None
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=bar_console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def demo_summary(summary: dict[str, Any]) -> str:
    if summary["already_loaded"]:
        return f"demo data already loaded ({summary['already_loaded']} cases); nothing added"
    parts = ", ".join(f"{state}: {count}" for state, count in sorted(summary["by_state"].items()))
    return f"loaded {summary['cases']} demo cases ({summary['events']} events): {parts}"


def clock_ledger(case: CaseSnapshot, views: list[ClockView], now: datetime, as_json: bool) -> None:
    summary = deadline_summary(views, now)
    if as_json:
        emit_json(
            {
                "case_id": case.id,
                "at": now.isoformat(),
                "summary": summary,
                "clocks": [
                    {
                        **{k: v for k, v in asdict(view).items() if k != "intervals"},
                        "verdict": view.verdict(now),
                        "consumed_s": view.consumed.total_seconds(),
                        "paused_s": view.paused_for.total_seconds(),
                        "explanation": view.explain(now),
                        "intervals": [
                            {**asdict(i), "business_s": i.business.total_seconds()}
                            for i in view.intervals
                        ],
                    }
                    for view in views
                ],
            }
        )
        return
    out(
        f"case {case.id}: {_level_text(case.state, case.level)}"
        + (" [waiting on customer]" if case.waiting else "")
        + f", as of {now:%Y-%m-%d %H:%M} UTC"
    )
    missed = [
        f"{v.clock} #{v.generation}{' at ' + v.level if v.level else ''}"
        for v in views
        if v.verdict(now) in MISSED
    ]
    out(
        "deadlines: "
        + (", ".join(f"{count} {verdict}" for verdict, count in summary.items()) or "none")
        + (f" (missed: {'; '.join(missed)})" if missed else "")
    )
    for view in views:
        flags = [flag for flag, on in (("warned", view.warned), ("BREACHED", view.breached)) if on]
        title = (
            f"{view.clock} (#{view.generation}{', ' + view.level if view.level else ''}): "
            f"{view.status}{' - ' + view.outcome if view.outcome else ''}"
            f"{' [' + ', '.join(flags) + ']' if flags else ''}"
        )
        table = Table(
            title=safe(title),
            title_justify="left",
            caption=safe(view.explain(now)),
            caption_justify="left",
        )
        for column in (
            "interval",
            "from (UTC)",
            "to (UTC)",
            "counted",
            "began because",
            "ended because",
        ):
            table.add_column(column)
        for interval in view.intervals:
            _row(
                table,
                interval.status,
                f"{interval.started_at:%Y-%m-%d %H:%M}",
                f"{interval.ended_at:%Y-%m-%d %H:%M}" if interval.ended_at else "(open)",
                view.business(interval.business),
                interval.began_because,
                interval.ended_because or "-",
            )
        console.print(table)


def sweep_report(report: SweepReport, as_json: bool) -> None:
    if as_json:
        emit_json(asdict(report))
        return
    seconds = report.claim_seconds + report.fire_seconds
    out(
        f"sweep: {report.claimed} timers claimed, {report.fired} fired, {report.stale} no "
        f"longer armed, {report.lost} no longer ours; {report.events} events, "
        f"{report.notifications} notifications ({seconds:.2f} s)"
    )


def delivery_report(report: DeliveryReport, as_json: bool) -> None:
    if as_json:
        emit_json(asdict(report))
        return
    out(f"notifications: {report.sent} sent, {report.retried} to retry, {report.failed} failed")
