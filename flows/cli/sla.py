"""Timers and notices by hand: `tierflow sweep`, `tierflow notify deliver` (the flows do
both on schedule)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from flows.cli import render
from flows.cli.common import (
    JsonOpt,
    app,
    check_choice,
    instant,
    notify_app,
    runtime,
    whole_option,
)
from states.errors import DeliveryError
from states.outbox import deliver_due
from states.sweep import default_worker, sweep
from states.timers import count_due


@app.command("sweep")
def sweep_command(
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Fire what is due at this ISO time (default: now); not in the future "
            "(2 minutes of clock skew allowed): simulations use the Python API.",
        ),
    ] = None,
    batch: Annotated[int, whole_option(min=1, max=100_000, help="Timers per transaction.")] = 2000,
    worker: Annotated[
        str | None, typer.Option(help="Name of this sweeper (default: host:pid).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fire due SLA timers once: warnings, breaches, missed acknowledgements, follow-ups."""
    engine, now = runtime().engine, instant("--at", at)
    with render.progress("firing due timers", total=count_due(engine.db, now=now)) as advance:
        report = sweep(engine, now, worker=worker, batch=batch, on_batch=advance)
    render.sweep_report(report, as_json)


@notify_app.command("deliver")
def deliver(
    sink: Annotated[
        str | None,
        typer.Option(help="file, console or smtp (default: TIERFLOW_NOTIFY_SINK, else file)."),
    ] = None,
    batch: Annotated[int, whole_option(min=1, max=10_000, help="Messages per claim.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Deliver pending notifications from the outbox."""
    check_choice("sink", sink, ("file", "console", "smtp"))
    rt = runtime()
    # with --json, standard output is the report alone: the console sink's messages
    # go to standard error
    sender, worker = rt.sender(sink, sys.stderr if as_json else None), default_worker()
    total, _ = deliver_due(
        rt.db, sender, clock=lambda: datetime.now(UTC), worker=worker, batch=batch
    )
    render.delivery_report(total, as_json)
    undelivered = total.failed + total.retried
    if undelivered:  # ops and schedulers must see it in the exit code, not only in a count
        raise DeliveryError(
            f"{undelivered} of {undelivered + total.sent} notifications could not be delivered "
            f"({total.retried} will be retried, {total.failed} failed for good)"
        )
