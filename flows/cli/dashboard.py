"""`tierflow dashboard`: the Streamlit dashboard on its own (``make run`` starts it beside
the scheduler with `tierflow serve --dashboard`)."""

from __future__ import annotations

from typing import Annotated

import click
import typer

from flows.cli import render
from flows.cli.common import app, runtime

DASHBOARD_PORT = 8501


def refuse_busy_port(port: int, option: str, host: str = "127.0.0.1") -> None:
    """Stop before anything starts when the dashboard's port is taken."""
    from flows.serve import port_free

    if not port_free(port, host):
        raise click.BadParameter(
            f"port {port} is in use on {host}; choose another", param_hint=option
        )


@app.command("dashboard")
def dashboard_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="The port to listen on.")] = (
        DASHBOARD_PORT
    ),
    host: Annotated[
        str, typer.Option(help="The address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
) -> None:
    """Run the dashboard (headless) on http://HOST:PORT and print its URL; it reads the
    database the root options name (passed on as TIERFLOW_* variables). Ctrl-C stops it.
    With PREFECT_API_URL set its ops page links to the Prefect UI."""
    from flows.serve import Supervisor

    refuse_busy_port(port, "--port", host)
    supervisor = Supervisor(
        runtime(), say=render.out, scheduler=False, dashboard_port=port, dashboard_host=host
    )
    raise typer.Exit(supervisor.run())
