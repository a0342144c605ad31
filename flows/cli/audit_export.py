"""`tierflow audit export`: the stored history as an event log for process-mining tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli import render
from flows.cli.common import JsonOpt, audit_app, instant, output_path, path_text, runtime, writing
from states.eventlog import LogFilter
from states.logexport import FORMATS, export_log, prepare_export, snapshot


@audit_app.command("export")
def export(
    fmt: Annotated[
        str,
        typer.Option(
            "--format", metavar="|".join(FORMATS), help="xes, csv or ocel (OCEL 2.0 JSON)."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            parser=path_text,
            help="The file to write (a regular file is replaced); .gz compresses it.",
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Only events that happened at or after this time (ISO 8601 with offset).",
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Only events that happened before this time.")
    ] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="Only cases in this state now.")
    ] = None,
    team: Annotated[str | None, typer.Option("--team", help="Only cases of this team now.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export cases and their events as XES, CSV or OCEL 2.0 (pm4py, ProM, Disco, Celonis).

    --from/--to keep the events that happened in [from, to): a case appears with those of
    its events only. --state and --team choose cases by where they are now."""
    rt = runtime()
    output_path("--output", output)
    where = LogFilter(
        since=None if since is None else instant("--from", since, future=True),
        until=None if until is None else instant("--to", until, future=True),
        state=state,
        team=team,
    )
    with snapshot(rt.db) as conn:
        total = prepare_export(conn, rt.process, where, fmt, output)
        with render.progress(f"exporting {fmt}", total) as advance, writing("--output", output):
            summary = export_log(conn, rt.process, where, fmt, output, advance)
    if as_json:
        render.emit_json(summary.__dict__)
    else:
        render.out(
            f"wrote {summary.events:,} events of {summary.cases:,} cases to "
            f"{render.safe(summary.path)} ({summary.format})"
        )
