"""`tierflow dashboard`: the Streamlit dashboard on its own (``make run`` starts it beside
the scheduler with `tierflow serve --dashboard`)."""

from __future__ import annotations

import socket
from typing import Annotated

import click
import typer

from flows.cli import render
from flows.cli.common import app, runtime, whole_option
from states.errors import shown

DASHBOARD_PORT = 8501


HOST_ALLOWED = "a host name or IP address of this machine, e.g. 127.0.0.1 or 0.0.0.0"


def refuse_bad_host(host: str, option: str = "--host") -> None:
    """Stop before anything starts when the address to listen on is blank or names no
    address (else the bind fails and the port would be blamed)."""
    if not host.strip():
        raise click.BadParameter(f"{shown(host)} is blank; give {HOST_ALLOWED}", param_hint=option)
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not a valid host name"
        raise click.BadParameter(
            f"{shown(host)} cannot be resolved ({reason}); give {HOST_ALLOWED}", param_hint=option
        ) from None


def refuse_busy_port(port: int, option: str, host: str = "127.0.0.1") -> None:
    """Stop before anything starts when the dashboard's port is taken."""
    from flows.serve import port_free

    if not port_free(port, host):
        raise click.BadParameter(
            f"port {port} is in use on {host}; choose another", param_hint=option
        )


@app.command("dashboard")
def dashboard_command(
    port: Annotated[int, whole_option(min=1, max=65535, help="The port to listen on.")] = (
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

    refuse_bad_host(host)
    refuse_busy_port(port, "--port", host)
    supervisor = Supervisor(
        runtime(), say=render.out, scheduler=False, dashboard_port=port, dashboard_host=host
    )
    raise typer.Exit(supervisor.run())
