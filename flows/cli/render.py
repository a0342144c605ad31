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
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from flows.terminal import safe
from states.case import CaseSnapshot
from states.engine import Result
from states.events import Event
from states.money import from_minor
from states.outbox import DeliveryReport
from states.queries import case_ages
from states.sweep import SweepReport

console = Console(highlight=False, markup=False)
if not console.is_terminal:  # piped output: do not squeeze tables into 80 columns
    console = Console(highlight=False, markup=False, width=160)
HIDDEN_DETAILS = {"process_version", "currency", "customer_id", "subject", "description"}


def out(text: str) -> None:
    console.print(safe(text), markup=False, soft_wrap=True)


def row(table: Table, *cells: str) -> None:
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


def level_text(state: str, level: str | None) -> str:
    return f"{state} / {level}" if level else state


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
        row(
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


@contextmanager
def progress(label: str, total: int, in_bytes: bool = False) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal's stderr; nothing when stderr is a file or a pipe
    (a bar there is an empty line that would make a one-line error two). `in_bytes`:
    the counts are bytes (shown as kB, MB)."""
    bar_console = Console(stderr=True)
    if not bar_console.is_terminal:
        yield lambda _: None
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
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
    if report.by_kind:
        out(
            "fired: "
            + ", ".join(f"{count} {kind}" for kind, count in sorted(report.by_kind.items()))
        )


def delivery_report(report: DeliveryReport, as_json: bool) -> None:
    if as_json:
        emit_json(asdict(report))
        return
    out(f"notifications: {report.sent} sent, {report.retried} to retry, {report.failed} failed")
