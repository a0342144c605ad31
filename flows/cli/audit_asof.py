"""For auditors: `tierflow audit case ID --at TS` and `tierflow audit snapshot --at TS`, a
case and the pipeline as they stood at an instant, folded from the events alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import click
import typer
from rich.table import Table

from flows.cli.common import CaseIdArg, JsonOpt, audit_app, instant, runtime
from flows.cli.render import console, emit_json, level_text, out, row
from states import fields
from states.asof import CaseAsOf, Deadline, PipelineAsOf, case_at, pipeline_at
from states.durations import format_duration, parse_duration
from states.errors import PolicyError
from states.store import read_connection

SHOWN = 50  # deadlines listed per kind on the terminal

AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="TIMESTAMP",
        help="The instant, e.g. 2026-11-23T09:00:00+00:00 (default: now); not in the future.",
    ),
]
HorizonOpt = Annotated[
    str,
    typer.Option(
        "--horizon",
        help="A deadline this close after the instant (ISO 8601 duration) is at risk.",
    ),
]


@audit_app.command("case")
def audit_case(case_id: CaseIdArg, at: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """The case as it stood at an instant: state, level, assignee, waiting, flags and every
    clock with its deadline then, from the events that had happened by then."""
    rt = runtime()
    when = instant("--at", at)
    with read_connection(rt.db) as conn:
        then = case_at(conn, case_id, when, policy=rt.policy)
    if as_json:
        emit_json(then.as_dict())
        return
    _case_text(then)


@audit_app.command("snapshot")
def audit_snapshot(
    at: AsOfOpt = None,
    team: Annotated[str | None, typer.Option("--team", help="Only this team's cases.")] = None,
    horizon: HorizonOpt = "PT4H",
    as_json: JsonOpt = False,
) -> None:
    """The whole pipeline as it stood at an instant: cases per state and level, cases
    waiting on their customer, and the deadlines breached or at risk then."""
    rt = runtime()
    fields.name("--team", team)
    when = instant("--at", at)
    within = _horizon(horizon)
    with read_connection(rt.db) as conn, conn.begin():
        then = pipeline_at(conn, when, team=team, horizon=within)
    if as_json:
        emit_json(then.as_dict())
        return
    _pipeline_text(then)


def _horizon(text: str) -> timedelta:
    try:
        return parse_duration(text, "--horizon", "horizon")
    except PolicyError as exc:
        raise click.BadParameter(exc.problem, param_hint="--horizon") from None


def _case_text(then: CaseAsOf) -> None:
    c = then.case
    later = then.total - then.events
    out(
        f"case {c.id} as it stood at {_when(then.at)} ({then.events} of {then.total} events"
        + (f"; {later} happened later)" if later else ")")
    )
    out(
        f"state: {level_text(c.state, c.level)}; assignee: {c.assignee or '-'}; team: "
        f"{c.team or '-'}; priority: {c.priority}; waiting on customer: "
        f"{'yes' if c.waiting else 'no'}; flags: {', '.join(c.flags) or '-'}"
    )
    table = Table(title="clocks then", title_justify="left")
    for column in ("clock", "round", "level", "standing", "target", "deadline (UTC)"):
        table.add_column(column)
    for view in then.clocks:
        deadline = view.deadline or view.last_deadline
        row(
            table,
            view.clock,
            str(view.generation),
            view.level or "-",
            view.verdict(then.at),
            view.target,
            _when(deadline) if deadline else "-",
        )
    console.print(table)
    _deadlines("breached then", [d for d in then.deadlines if d.breached])


def _pipeline_text(then: PipelineAsOf) -> None:
    scope = f" (team {then.team})" if then.team else ""
    out(f"pipeline as it stood at {_when(then.at)}{scope}: {then.cases} cases")
    table = Table()
    for column in ("state", "cases"):
        table.add_column(column)
    for (state, level), count in then.counts.items():
        row(table, level_text(state, level), str(count))
    console.print(table)
    out(f"waiting on customer: {then.waiting}")
    _deadlines("breached then", then.breached)
    _deadlines(f"at risk (deadline within {format_duration(then.horizon)})", then.at_risk)


def _deadlines(title: str, deadlines: list[Deadline]) -> None:
    out(f"{title}: {len(deadlines)}")
    if not deadlines:
        return
    table = Table()
    for column in ("case", "state", "clock", "round", "deadline (UTC)"):
        table.add_column(column)
    for d in deadlines[:SHOWN]:
        row(
            table,
            str(d.case_id),
            level_text(d.state, d.level),
            d.clock,
            str(d.generation),
            _when(d.deadline) if d.deadline else "-",
        )
    console.print(table)
    if len(deadlines) > SHOWN:
        out(f"and {len(deadlines) - SHOWN} more (--json lists them all)")


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"
