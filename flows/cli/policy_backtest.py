"""`tierflow policy backtest NEW.toml`: try a policy change on the stored history first.

Thin: reads the two policies, opens one read connection, calls
:func:`states.backtest_report.backtest` and prints what it found. Writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli import render
from flows.cli.common import JsonOpt, instant, policy_app, runtime, whole_option
from states.backtest_report import SIDES, BacktestReport, backtest, count_cases
from states.policy import load_policy
from states.store import read_connection

_WINDOW_HELP = "Only cases opened {} this instant (ISO 8601, e.g. 2026-08-01T00:00:00+00:00)."


@policy_app.command("backtest")
def backtest_command(
    new_file: Annotated[
        Path, typer.Argument(metavar="NEW.toml", help="The policy to try (TOML, as --policy).")
    ],
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            metavar="CURRENT.toml",
            help="The policy to compare with (default: the active one: --policy, "
            "TIERFLOW_POLICY_FILE, else the shipped one).",
        ),
    ] = None,
    opened_from: Annotated[
        str | None, typer.Option("--from", help=_WINDOW_HELP.format("at or after"))
    ] = None,
    opened_to: Annotated[
        str | None,
        typer.Option("--to", help=_WINDOW_HELP.format("strictly before")),
    ] = None,
    limit: Annotated[
        int, whole_option(min=0, max=100_000, help="Lines of each list printed (--json: all).")
    ] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Replay the stored histories under the current and the new SLA policy, in each
    policy's business time, timers fired on time up to now: warnings and breaches per
    priority and level, the clock rounds whose outcome changes, the breach escalations
    that would have fired earlier, later, not at all or newly. Writes nothing."""
    rt = runtime()
    new = load_policy(new_file, rt.process)
    current = load_policy(against, rt.process) if against else rt.policy
    start = None if opened_from is None else instant("--from", opened_from)
    end = None if opened_to is None else instant("--to", opened_to, future=True)
    if start is not None and end is not None and end <= start:
        raise typer.BadParameter(
            f"{opened_to!r} is not after --from {opened_from!r}", param_hint="--to"
        )
    now = datetime.now(UTC)
    with read_connection(rt.db) as conn:
        total = count_cases(conn, start, end)
        with render.progress("replaying histories", total) as advance:
            report = backtest(
                conn, rt.process, current, new, until=now,
                opened_from=start, opened_to=end, on_case=advance,
            )  # fmt: skip
    if as_json:
        render.emit_json(report.as_json())
        return
    _print(report, limit)


def _print(report: BacktestReport, limit: int) -> None:
    window = " ".join(
        part
        for part in (
            f"from {report.opened_from:%Y-%m-%d %H:%M}" if report.opened_from else "",
            f"to {report.opened_to:%Y-%m-%d %H:%M}" if report.opened_to else "",
        )
        if part
    )
    render.out(
        f"{report.cases:,} cases ({report.events:,} events) opened {window or 'at any time'}; "
        f"timers fired on time up to {report.until:%Y-%m-%d %H:%M} UTC"
    )
    for side, policy in zip(SIDES, (report.current, report.new), strict=True):
        render.out(f"{side + ':':8} {policy.name} {policy.version} ({policy.source})")
    table = Table(title="warnings and breaches (current → new)")
    for column in ("priority", "level", "warnings", "breaches"):
        table.add_column(column)
    for (priority, level), tallies in report.rows():
        render.row(table, priority, level, *_pair(tallies))
    render.row(table, "all", "", *_pair(report.totals()))
    render.console.print(table)
    changes = report.changes
    render.out(
        f"outcome changes: {len(changes)} clock rounds in {len({c.case_id for c in changes})} cases"
    )
    for change in changes[:limit]:
        render.out(
            f"  case {change.case_id} {change.clock} at {change.level} "
            f"(started {change.started_at}): {change.current} → {change.new}"
        )
    _more(len(changes), limit)
    counts = report.escalation_counts()
    render.out(
        "escalations on breach: " + ", ".join(f"{count} {name}" for name, count in counts.items())
    )
    for item in report.escalations[:limit]:
        was = f"{item.current_at:%Y-%m-%d %H:%M}" if item.current_at else "never"
        now = f"{item.new_at:%Y-%m-%d %H:%M}" if item.new_at else "never"
        happened = f" (happened {item.happened_at:%Y-%m-%d %H:%M})" if item.happened_at else ""
        render.out(
            f"  case {item.case_id} {item.clock} {item.from_level} → {item.to_level}: "
            f"{was}{happened} → {now} UTC, {item.change}"
        )
    _more(len(report.escalations), limit)


def _pair(tallies: dict) -> tuple[str, str]:
    old, new = tallies["current"], tallies["new"]
    return (
        f"{old.warnings} → {new.warnings}",
        f"{old.breaches} → {new.breaches}" + _delta(new.breaches - old.breaches),
    )


def _delta(difference: int) -> str:
    return f" ({difference:+d})" if difference else ""


def _more(total: int, limit: int) -> None:
    if total > limit:
        render.out(f"  … and {total - limit} more (--limit, or --json for all)")
