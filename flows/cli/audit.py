"""For auditors: `tierflow replay ID [--verify]`, `tierflow replay --all --verify`."""

from __future__ import annotations

from typing import Annotated

import click
import typer

from flows.cli import history
from flows.cli.common import (
    JsonOpt,
    app,
    runtime,
    whole_argument,
)
from states.audit import replay as replay_case
from states.audit import verify_all, verify_case
from states.commands import MAX_CASE_ID
from states.store import read_connection


@app.command()
def replay(
    case_id: Annotated[
        int | None,
        whole_argument(metavar="[ID]", min=1, max=MAX_CASE_ID, help="Case number."),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check the hash chain and compare the rebuilt case with the stored "
            "row; exit 1 if anything differs.",
        ),
    ] = False,
    all_cases: Annotated[bool, typer.Option("--all", help="Every case (with --verify).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild a case from its events; with --verify, prove its history was not altered."""
    rt = runtime()
    if all_cases:
        if not verify:
            raise click.UsageError("--all needs --verify")
        if case_id is not None:
            raise click.UsageError("give a case ID or --all, not both")
        checks = verify_all(rt.db)
        history.verifications(checks, as_json)
        raise typer.Exit(0 if all(c.ok for c in checks) else 1)
    if case_id is None:
        raise click.UsageError("give a case ID, or --all --verify")
    with read_connection(rt.db) as conn:
        check = verify_case(conn, case_id) if verify else None
        if check is not None and not check.ok:
            history.failed_verification(check, as_json)
            raise typer.Exit(1)
        snap, events = replay_case(conn, case_id)
    history.replay(snap, events, check, as_json)
    if check is not None and not check.ok:
        raise typer.Exit(1)
