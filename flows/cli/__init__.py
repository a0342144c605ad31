"""The `tierflow` command line.

Every command is thin: parse options into a domain command, call the engine,
a query or a flow's work, print. Errors a user can fix (`TierflowError`, bad
options) are one line on stderr and a non-zero exit; nothing is written when a
command fails. One module per group of commands:

    common    the app, its groups, the runtime, shared options and readers
    system    init, demo, check
    cases     case open / trigger commands / update / show / list / clocks
    sla       sweep, notify deliver
    audit     replay
    ops       schedules list|validate|set, serve, run, deploy
    render    terminal output: safe text, tables, JSON, progress bars, short reports
    history   a case's detail and timeline, replays and verification results
    ledger    the clock ledger
    usage     how a refused option value, a group without a command or a file-system
              fault is worded
"""

from __future__ import annotations

import functools
import importlib
import sys

import click
import typer
from typer._click.exceptions import NoArgsIsHelpError

from flows.cli import render
from flows.cli.common import app, release_runtime
from flows.cli.usage import os_message, refusal_message, usage_message
from states.errors import TierflowError

# Each module registers its commands; `tierflow --help` lists them in this order.
COMMAND_MODULES = (
    "system",
    "cases",
    "sla",
    "audit",
    "audit_asof",
    "audit_verify",
    "audit_export",
    "audit_import",
    "audit_conformance",
    "process_export",
    "policy_backtest",
    "ops",
    "dashboard",
)
for _name in COMMAND_MODULES:
    importlib.import_module(f"flows.cli.{_name}")


@functools.cache
def _click_command() -> click.Command:
    """The click command tree, built once per process (building it costs ~20 ms)."""
    return typer.main.get_command(app)


def _encodable_output() -> None:
    """Text the terminal's encoding cannot show (a customer's "é" or "✓" under LANG=C or
    PYTHONIOENCODING=ascii) is written as escapes (``\\xe9``), not a UnicodeEncodeError
    in the middle of a table."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line on stderr and a non-zero exit for anything a user can fix.

    A group run without a command prints its help (on stderr, exit 2, as click does). An
    OSError no command caught (a file-system fault: a name too long, a disk full) is one
    line too, naming the file: no command prints a traceback for one."""
    command = _click_command()
    _encodable_output()
    try:
        code = command.main(args=argv, prog_name="tierflow", standalone_mode=False)
    except (click.exceptions.Abort, typer.Abort):
        print("error: aborted", file=sys.stderr)
        return 130
    except NoArgsIsHelpError as exc:
        print(exc.format_message(), file=sys.stderr)
        return exc.exit_code
    except (click.ClickException, typer.TyperException) as exc:
        print(f"error: {render.safe(usage_message(exc))}", file=sys.stderr)
        return exc.exit_code
    except TierflowError as exc:
        print(f"error: {render.safe(refusal_message(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {render.safe(os_message(exc))}", file=sys.stderr)
        return 1
    finally:
        release_runtime()
    return code if isinstance(code, int) else 0
