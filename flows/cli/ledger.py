"""The clock ledger on the terminal: every round of every SLA clock, each interval it
ran or was paused and why, the deadline in force and how the round ended."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from rich.table import Table

from flows.cli.render import (
    console,
    emit_json,
    level_text,
    out,
    row,
    safe,
)
from states.case import CaseSnapshot
from states.ledger import MISSED, ClockView, deadline_summary


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
        f"case {case.id}: {level_text(case.state, case.level)}"
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
            row(
                table,
                interval.status,
                f"{interval.started_at:%Y-%m-%d %H:%M}",
                f"{interval.ended_at:%Y-%m-%d %H:%M}" if interval.ended_at else "(open)",
                view.business(interval.business),
                interval.began_because,
                interval.ended_because or "-",
            )
        console.print(table)
