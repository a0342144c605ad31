"""Setting up: `tierflow init`, `tierflow demo`, `tierflow check`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from flows.cli import render
from flows.cli.common import (
    app,
    runtime,
    whole_option,
)


@app.command()
def init() -> None:
    """Create the data directory and database tables (safe to run again)."""
    rt = runtime()
    rt.policy  # noqa: B018 - validate process and policy before creating anything
    rt.init()
    render.out(f"initialised {rt.settings.resolved_database_url} (process {rt.process.version_id})")


@app.command()
def demo(
    cases: Annotated[int, whole_option(min=1, max=100_000, help="How many cases.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 2013,
) -> None:
    """Load a demo data set: cases spread over every state, level and age."""
    from states.demo import generate_demo

    rt = runtime()
    rt.init()
    with render.progress("loading demo cases", total=cases) as advance:
        summary = generate_demo(
            rt.engine, cases=cases, seed=seed, now=datetime.now(UTC), on_progress=advance
        )
    render.out(render.demo_summary(summary))


@app.command("check")
def check() -> None:
    """Validate the process and policy files (as set by --process/--policy or the environment)."""
    rt = runtime()
    render.out(f"process {rt.process.version_id} ({rt.process.source}): ok")
    render.out(f"policy {rt.policy.version_id} ({rt.policy.source}): ok")
