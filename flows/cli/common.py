"""What every command shares: the app and its groups, the runtime the root options
build, option types, and how times and choices typed on the command line are read."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from sqlalchemy.exc import SQLAlchemyError

from flows.runtime import Runtime
from states.commands import MAX_CASE_ID, Command
from states.errors import InvalidInput, OutOfOrder, shown
from states.instants import read_instant
from states.results import Result
from states.store import sqlite_file

app = typer.Typer(
    help="tierflow: customer-service escalation as a durable, auditable workflow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
case_app = typer.Typer(
    help="Open, act on and inspect cases.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(case_app, name="case")
notify_app = typer.Typer(
    help="The notification outbox.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(notify_app, name="notify")
schedules_app = typer.Typer(
    help="When the flows run: list, validate and change schedules.toml.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(schedules_app, name="schedules")
audit_app = typer.Typer(
    help="For auditors: cases and the pipeline as they stood, verification against "
    "anchors, export and import of event logs, conformance.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(audit_app, name="audit")
policy_app = typer.Typer(
    help="The SLA and escalation policy: try a change on stored history first.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(policy_app, name="policy")
process_app = typer.Typer(
    help="The process definition: export it for modelling tools.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(process_app, name="process")

_state: dict[str, Runtime] = {}


def runtime() -> Runtime:
    if "rt" not in _state:
        _state["rt"] = Runtime.from_env()
    return _state["rt"]


def release_runtime() -> None:
    """Close what the command opened (its engine's thread and connections, the pool), so
    that the last connection to a SQLite file folds the log into it and removes it, which
    a process that just ends leaves undone (`tierflow demo` left a 41 MB log behind). What
    the command did is committed by then: a database error in closing is not its error."""
    rt = _state.pop("rt", None)
    if rt is None:
        return
    # the next connection to open the file folds the log in, as it always did
    with suppress(SQLAlchemyError, sqlite3.Error, OSError):
        rt.close()


def _whole(low: int, high: int) -> Callable[[Any], int]:
    """The parser of a whole-number option: ASCII digits only, from `low` to `high`. The
    option parser's own int took "1_0" as 10, " 5", "+5", and "3.0" as 3."""
    allowed = f"a whole number (ASCII digits) from {low} to {high}"

    def parse(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):  # a default
            number = value
        elif isinstance(value, str) and value.isascii() and value.isdigit():
            number = int(value)
        else:
            raise ValueError(allowed)
        if not low <= number <= high:
            raise ValueError(allowed)
        return number

    return parse


def whole_option(*names: str, min: int, max: int, **kwargs: Any) -> Any:
    """`typer.Option` for a whole number (see `_whole`); --help still shows the range."""
    return typer.Option(*names, min=min, max=max, parser=_whole(min, max), **kwargs)


def whole_argument(*, min: int, max: int, **kwargs: Any) -> Any:
    """`typer.Argument` for a whole number (see `_whole`)."""
    return typer.Argument(min=min, max=max, parser=_whole(min, max), **kwargs)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CaseIdArg = Annotated[
    int, whole_argument(metavar="ID", min=1, max=MAX_CASE_ID, help="Case number.")
]
ExpectedVersionOpt = Annotated[
    int | None,
    whole_option(
        "--expected-version",
        min=1,
        max=MAX_CASE_ID,
        help="Refuse if the case is no longer at this version.",
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="Applying the same key twice acts once."),
]
AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="When it happened, e.g. 2026-11-23T09:00:00+00:00 (default: now); not in the "
        "future (2 minutes of clock skew allowed), not before the case's last event. "
        "SLA clocks run on this time; the event also records when it was written.",
    ),
]


def path_text(text: str) -> Path:
    """A path typed on the command line (the `parser` of every path option): an empty or
    blank one is refused, where `Path("")` would silently be the current directory."""
    if not text.strip():
        raise ValueError("a path, not " + ("empty" if not text else "blank"))
    return Path(text)


_KINDS = {
    stat.S_ISDIR: "a directory",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISSOCK: "a socket",
}
WRITABLE = "a file name in an existing directory"


def output_path(option: str, path: Path, kept: str | None = None) -> Path:
    """`path` if a command may write it, replacing what is there: a regular file or a new
    name in an existing directory. A device or FIFO is refused, never replaced by a file
    (`--output /dev/null` would otherwise leave a regular file where the device was); so
    is a file tierflow keeps its own data in (the database, the audit key, the anchor
    log, the outbox), but the one the option is for (`kept`, as `_kept_files` names it):
    an export over the database made every later command fail, one over the key lost it."""
    for name, where in _kept_files().items():
        if name != kept and any(_same_file(path, each) for each in where):
            allowed = f"a file tierflow does not keep its own data in (this is {name})"
            raise InvalidInput(option, str(path), allowed)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise InvalidInput(option, str(path), f"{WRITABLE} ({exc.strerror})") from None
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS.items() if test(mode)), "a special file")
        allowed = f"a regular file, or a new one in an existing directory; not {kind}"
        raise InvalidInput(option, str(path), allowed)
    if not path.parent.is_dir():
        raise InvalidInput(option, str(path), WRITABLE)
    return path


def _kept_files() -> dict[str, tuple[Path, ...]]:
    """The files tierflow keeps its own data in, by what they hold."""
    settings = runtime().settings
    kept = {
        "the audit key": (settings.resolved_audit_key_file,),
        "the anchor log": (settings.resolved_anchor_file,),
        "the outbox": (settings.outbox_file,),
    }
    url = settings.resolved_database_url
    database = sqlite_file(url) if url.startswith("sqlite") else None
    if database is not None:
        kept["the database"] = tuple(
            Path(f"{database}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")
        )
    return kept


def _same_file(path: Path, kept: Path) -> bool:
    """Whether `path` names `kept` (through a link or a relative path too)."""
    try:
        return path.resolve() == kept.resolve() or path.samefile(kept)
    except OSError:  # either missing: only the same resolved name is the same file
        return False


@contextmanager
def writing(option: str, path: Path) -> Iterator[None]:
    """Any OSError while writing `path` becomes one error naming the option and the path."""
    try:
        yield
    except OSError as exc:
        raise InvalidInput(
            option, str(path), f"a path a file can be written to ({exc.strerror or exc})"
        ) from None


@app.callback()
def _root(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL (default: TIERFLOW_DATABASE_URL or SQLite under TIERFLOW_HOME).",
        ),
    ] = None,
    home: Annotated[
        Path | None, typer.Option("--home", parser=path_text, help="Data directory.")
    ] = None,
    process: Annotated[
        Path | None,
        typer.Option(
            "--process",
            parser=path_text,
            help="Process definition TOML (default: the shipped one).",
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            parser=path_text,
            help="SLA/escalation policy TOML (default: the shipped one).",
        ),
    ] = None,
) -> None:
    if database_url is not None and not database_url.strip():
        raise InvalidInput(
            "--database-url",
            database_url,
            "a SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db, or leave the option out",
        )
    _state["rt"] = Runtime.from_env(
        database_url=database_url, home=home, process_file=process, policy_file=policy
    )


def instant(option: str, text: str | None, *, future: bool = False) -> datetime:
    """`text` read as an instant (None: now); see :mod:`states.instants` for what is allowed."""
    now = datetime.now(UTC)
    return now if text is None else read_instant(option, text, now, future=future)


def happened(text: str | None) -> datetime | None:
    """When a command happened: `--at`, or None for the engine's clock (recorded = happened)."""
    return None if text is None else instant("--at", text)


def apply_at(command: Command, at: str | None) -> Result:
    """`command` applied by the engine at `--at` (None: its clock). An `--at` before the
    case's last event is refused naming the option, its text as typed and the earliest
    time allowed in the offset typed: the engine's refusal named its own argument and
    both times in UTC, so an operator in +05:30 read a time they never typed."""
    when = happened(at)
    try:
        return runtime().engine.apply(command, when)
    except OutOfOrder as exc:
        if at is None or when is None:
            raise
        typed = datetime.fromisoformat(at.strip()).tzinfo  # read as valid by `happened`
        earliest = exc.earliest.astimezone(typed).isoformat()
        allowed = f"not before case {exc.case_id}'s last event; earliest allowed: {earliest}"
        raise InvalidInput("--at", at, allowed) from None


def check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise click.BadParameter(
            f"{shown(value)} is not one of {', '.join(allowed)}", param_hint=f"--{name}"
        )
