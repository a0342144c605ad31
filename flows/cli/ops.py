"""Commands for ops: the flow schedules, the running system, one flow run now.

`tierflow schedules list|validate|set`, `tierflow serve`, `tierflow run FLOW`
and `tierflow deploy --pool NAME`. Prefect is imported by the commands that
need it, not at start-up, so the case commands stay quick.
"""

from __future__ import annotations

import asyncio
import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.table import Table

from flows.cli import render
from flows.cli.common import JsonOpt, app, runtime, schedules_app, whole_option
from flows.cli.dashboard import DASHBOARD_PORT, refuse_busy_port
from flows.prefect_api import answering_api, checked_prefect_settings
from flows.runtime import catalogue
from flows.schedule_edit import set_schedule
from flows.schedules import (
    FlowParameter,
    FlowSchedule,
    Schedules,
    load_schedules,
    parameter_problem,
)
from states.errors import InvalidInput


@schedules_app.command("list")
def list_schedules(
    count: Annotated[int, whole_option(min=1, max=50, help="Next runs to show per schedule.")] = 3,
    as_json: JsonOpt = False,
) -> None:
    """Every schedule with its flow, when it runs, and its next runs."""
    rt = runtime()
    _show(rt.schedules, datetime.now(UTC), count, as_json)


@schedules_app.command("validate")
def validate_schedules(
    file: Annotated[Path, typer.Argument(help="A schedules TOML file to check.")],
) -> None:
    """Check a schedules file: every error names its line, key and what is allowed."""
    schedules = load_schedules(file, catalogue())
    render.out(f"{file}: {len(schedules.entries)} schedules, ok")


@schedules_app.command("set")
def set_command(
    name: Annotated[str, typer.Argument(help="The schedule (see `tierflow schedules list`).")],
    cron: Annotated[str | None, typer.Option(help="Run on this cron, e.g. '0 7 1 * *'.")] = None,
    interval: Annotated[
        str | None, typer.Option(help="Run every ISO 8601 duration, e.g. PT5M.")
    ] = None,
    pause: Annotated[bool, typer.Option("--pause", help="Stop running it until --resume.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Run it again.")] = False,
    pause_between: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--pause-between",
            metavar="FIRST LAST",
            help="Skip its runs on these days, both included (YYYY-MM-DD YYYY-MM-DD).",
        ),
    ] = None,
    clear_window: Annotated[
        bool, typer.Option("--clear-window", help="Remove the pause window.")
    ] = False,
    actor: Annotated[
        str | None,
        typer.Option(help="Who makes the change, recorded with it (default: your login name)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change one schedule. The file is written only if the result validates, keeping
    its comments; the first change copies the shipped file to the data directory. Each
    change is recorded, with who made it, in schedules.changes.jsonl beside the file."""
    rt = runtime()
    for option, value in (("--cron", cron), ("--interval", interval)):
        if value is not None and not value.strip():
            raise InvalidInput(option, value, "a schedule, not blank; or leave the option out")
    if pause_between and clear_window:
        raise click.UsageError("--pause-between and --clear-window contradict: give one")
    if not any((cron, interval, pause, resume, pause_between, clear_window)):
        raise click.UsageError(
            "say what to change: --cron, --interval, --pause, --resume, --pause-between "
            "or --clear-window"
        )
    target = rt.settings.ops_schedules_file
    result = set_schedule(
        target,
        name,
        catalogue(),
        cron=cron,
        interval=interval,
        pause=pause,
        resume=resume,
        paused_between=pause_between,
        clear_window=clear_window,
        source=rt.schedules_source,
        actor=actor,
    )
    if not as_json:
        render.out(f"{target}: schedule {name} changed")
    _show(
        Schedules(result.source, result.timezone, {name: result.get(name)}),
        datetime.now(UTC),
        3,
        as_json,
    )


@app.command("serve")
def serve_command(
    dashboard: Annotated[
        bool, typer.Option("--dashboard", help="Run the Streamlit dashboard beside it.")
    ] = False,
    dashboard_port: Annotated[
        int, whole_option(min=1, max=65535, help="The dashboard's port (with --dashboard).")
    ] = DASHBOARD_PORT,
) -> None:
    """The running system: start a Prefect server (unless PREFECT_API_URL names one),
    serve one deployment per schedule (with --dashboard, the dashboard too; both URLs are
    printed), and stop all of it cleanly on Ctrl-C or SIGTERM."""
    from flows.serve import Supervisor

    checked_prefect_settings()
    rt = runtime()
    rt.init()
    rt.schedules  # noqa: B018 - refuse a bad schedules file before starting anything
    port = dashboard_port if dashboard else None
    if port is not None:
        refuse_busy_port(port, "--dashboard-port")
    raise typer.Exit(Supervisor(rt, say=render.out, dashboard_port=port).run())


@app.command("run")
def run_command(
    flow: Annotated[str, typer.Argument(help="The flow: see `tierflow schedules list`.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="KEY=VALUE", help="A flow parameter (repeatable)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one flow now, in this process, and print what it counted. With PREFECT_API_URL
    set the run is a Prefect flow run (it shows in the Prefect UI); without, it runs the
    flow's work directly. Either way it writes its flow_run_log row."""
    api_url = answering_api()  # before Prefect is imported: it validates the URL on import
    flows = catalogue()
    if flow not in flows:
        raise click.BadParameter(
            f"{flow!r} is not a flow; allowed: {', '.join(flows)}", param_hint="FLOW"
        )
    parameters = _parameters(param or [], flows[flow])
    from flows.catalogue import FLOWS, JOBS
    from flows.runs import execute
    from flows.serve import settings_env

    # The flows read their settings from the environment (as a worker's do): the root
    # options (--home, --database-url, ...) must reach them there, or the run acted on the
    # database the environment named instead
    os.environ.update(settings_env(runtime().settings))
    if api_url:
        counts = asyncio.run(FLOWS[flow](**parameters))
    else:
        counts = execute(flow, JOBS[flow], **parameters)
    if as_json:
        render.emit_json(counts)
    else:
        render.out(f"{flow}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command("deploy")
def deploy_command(
    pool: Annotated[str, typer.Option(help="The Prefect work pool (created if missing).")],
) -> None:
    """Register one deployment per schedule in work pool POOL of the Prefect server that
    PREFECT_API_URL names; `prefect worker start --pool POOL` on any machine runs them."""
    checked_prefect_settings()  # before Prefect is imported: it fails on them in a traceback
    from flows.deploy import deploy_to_pool

    rt = runtime()
    ids = deploy_to_pool(rt, pool)
    render.out(f"{len(ids)} deployments in work pool {pool}; start workers with:")
    render.out(f"  prefect worker start --pool {pool}")


def _parameters(given: list[str], accepted: dict[str, FlowParameter]) -> dict[str, Any]:
    """KEY=VALUE pairs, values read as TOML (5, true, "text") or else as text, checked
    against the flow's signature as the parameters in schedules.toml are."""
    parameters: dict[str, Any] = {}
    for pair in given:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--param")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except (tomllib.TOMLDecodeError, ValueError):  # ValueError: over 4,300 digits
            value = raw
        if key.strip() in parameters:
            raise click.BadParameter(
                f"{key.strip()} is given twice ({pair!r}); give each parameter once",
                param_hint="--param",
            )
        problem = parameter_problem(key.strip(), value, accepted)
        if problem is not None:
            raise click.BadParameter(f"{key.strip()}: {problem}", param_hint="--param")
        parameters[key.strip()] = value
    return parameters


def _show(schedules: Schedules, now: datetime, count: int, as_json: bool) -> None:
    rows = [_row(entry, now, count) for entry in schedules.entries.values()]
    if as_json:
        render.emit_json({"source": schedules.source, "schedules": rows})
        return
    table = Table(title=f"schedules ({schedules.source})", title_justify="left")
    for column in ("schedule", "flow", "runs", "zone", "parameters", "state", "next runs"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            row["flow"],
            row["when"],
            row["timezone"],
            ", ".join(f"{k}={v}" for k, v in row["parameters"].items()),
            row["state"],
            "\n".join(f"{at:%a %Y-%m-%d %H:%M %Z}" for at in row["next_runs"]) or "-",
        )
    render.console.print(table)


def _row(entry: FlowSchedule, now: datetime, count: int) -> dict[str, Any]:
    state = "paused" if entry.paused else "active"
    if entry.paused_between:
        first, last = entry.paused_between
        state += f", skips {first} to {last}"
    return {
        "name": entry.name,
        "flow": entry.flow,
        "when": entry.when,
        "timezone": entry.timezone,
        "parameters": entry.parameters,
        "state": state,
        "paused": entry.paused,
        "paused_between": list(entry.paused_between or ()),
        "next_runs": entry.next_runs(now, count),
    }
