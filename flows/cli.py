"""The `tierflow` command line.

Every command is thin: parse options into a domain command, call the engine
or a query, print. Errors a user can fix (`TierflowError`, bad options) are
one line on stderr and a non-zero exit; nothing is written when a command
fails.
"""

from __future__ import annotations

import functools
import getpass
import inspect
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from flows import cli_ops, render
from flows.runtime import Runtime
from states.audit import replay as replay_case
from states.audit import verify_all, verify_case
from states.case import PRIORITIES
from states.commands import MAX_CASE_ID, TRIGGER_FIELDS, Act, OpenCase, Update
from states.errors import DeliveryError, TierflowError
from states.instants import read_instant
from states.ledger import clock_views
from states.outbox import DeliveryReport, deliver_pending
from states.points import POINTS
from states.process import TRIGGERS
from states.queries import CaseFilter, get_case, list_cases
from states.store import read_connection
from states.sweep import default_worker, sweep
from states.timers import count_due

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
app.add_typer(cli_ops.schedules_app, name="schedules")
app.command("serve")(cli_ops.serve_command)
app.command("run")(cli_ops.run_command)
app.command("deploy")(cli_ops.deploy_command)

_state: dict[str, Runtime] = {}


def runtime() -> Runtime:
    if "rt" not in _state:
        _state["rt"] = Runtime.from_env()
    return _state["rt"]


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CaseIdArg = Annotated[
    int, typer.Argument(metavar="ID", min=1, max=MAX_CASE_ID, help="Case number.")
]
ExpectedVersionOpt = Annotated[
    int | None,
    typer.Option("--expected-version", help="Refuse if the case is no longer at this version."),
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


@app.callback()
def _root(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL (default: TIERFLOW_DATABASE_URL or SQLite under TIERFLOW_HOME).",
        ),
    ] = None,
    home: Annotated[Path | None, typer.Option("--home", help="Data directory.")] = None,
    process: Annotated[
        Path | None,
        typer.Option("--process", help="Process definition TOML (default: the shipped one)."),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="SLA/escalation policy TOML (default: the shipped one)."),
    ] = None,
) -> None:
    _state["rt"] = Runtime.from_env(
        database_url=database_url, home=home, process_file=process, policy_file=policy
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
    cases: Annotated[int, typer.Option(min=1, max=100_000, help="How many cases.")] = 300,
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


@case_app.command("open")
def open_case(
    customer: Annotated[str, typer.Option(help="Customer identifier.")],
    subject: Annotated[str, typer.Option(help="One-line subject.")],
    description: Annotated[str, typer.Option(help="The customer's words.")] = "",
    priority: Annotated[str, typer.Option(help="low, normal, high or urgent.")] = "normal",
    channel: Annotated[
        str, typer.Option(help="email, phone, chat, web, letter, social.")
    ] = "email",
    tier: Annotated[str, typer.Option(help="standard, premium or vip.")] = "standard",
    amount: Annotated[str | None, typer.Option(help="Amount claimed, e.g. 800.00.")] = None,
    team: Annotated[str | None, typer.Option(help="Owning team.")] = None,
    ref: Annotated[
        str | None,
        typer.Option(help="The case's reference in another system (e.g. the ticket number)."),
    ] = None,
    actor: Annotated[str, typer.Option(help="Who opens it.")] = "intake",
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Applying the same key twice opens one case."),
    ] = None,
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a new case."""
    command = OpenCase(
        customer_id=customer,
        subject=subject,
        description=description,
        priority=priority,
        channel=channel,
        customer_tier=tier,
        amount_claimed=amount,
        team=team,
        external_ref=ref,
        actor=actor,  # type: ignore[arg-type]
        idempotency_key=idempotency_key,
    )
    render.result(runtime().engine.apply(command, _happened(at)), as_json)


# Options a trigger command may take; each trigger picks the ones it reads.
_OPTIONS: dict[str, tuple[Any, Any]] = {
    "assignee": (str | None, typer.Option(help="Who takes the case.")),
    "team": (str | None, typer.Option(help="Team that takes the case.")),
    "reason": (str | None, typer.Option(help="Why it is escalated (free text).")),
    "point": (str | None, typer.Option(help="Named escalation point that fired.")),
    "notice": (
        str | None,
        typer.Option(help="Message telling the customer who takes over and why."),
    ),
    "to_level": (str | None, typer.Option("--to-level", help="Jump to this ladder level.")),
    "note": (str | None, typer.Option(help="Note for the history (resolution, hand-back…).")),
    "satisfaction": (int | None, typer.Option(help="Customer satisfaction 1-5.")),
    "comment": (str | None, typer.Option(help="Customer's comment.")),
}
# The CLI offers what each trigger reads, except `evidence` (recorded by escalation points).
_TRIGGER_OPTIONS = {
    trigger: tuple(name for name in fields if name != "evidence")
    for trigger, fields in TRIGGER_FIELDS.items()
}
_TRIGGER_OPTIONS["escalate"] += ("to_level",)
_TRIGGER_HELP = {
    "assign": "An agent takes the case (open → first_level).",
    "escalate": "Move the case one level up the ladder (or --to-level), telling the customer.",
    "acknowledge": "The current escalation level accepts the case.",
    "de_escalate": "Hand the case back to first level with a note.",
    "resolve": "Resolve the case with a note (refused above the acting level's authority).",
    "follow_up": "Record the follow-up contact, with an optional satisfaction score.",
    "reopen": "The customer says it is not fixed: back to first level, within the window.",
    "wait_on_customer": "Pause: waiting on the customer (SLA clocks stop).",
    "customer_replied": "The customer replied: clear the pause.",
}


def _trigger_command(trigger: str) -> Callable[..., None]:
    def command(
        case_id: int,
        actor: str,
        expected_version: int | None,
        idempotency_key: str | None,
        at: str | None,
        as_json: bool,
        **options: Any,
    ) -> None:
        act = Act(
            case_id=case_id,
            trigger=trigger,
            actor=actor,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
            **options,
        )
        render.result(runtime().engine.apply(act, _happened(at)), as_json)

    P = inspect.Parameter
    params = [
        P(
            "case_id",
            P.KEYWORD_ONLY,
            annotation=CaseIdArg,
        ),
        *(
            P(
                name,
                P.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[_OPTIONS[name][0], _OPTIONS[name][1]],
            )
            for name in _TRIGGER_OPTIONS[trigger]
        ),
        P(
            "actor",
            P.KEYWORD_ONLY,
            default=getpass.getuser(),
            annotation=Annotated[str, typer.Option(help="Who acts.")],
        ),
        P("expected_version", P.KEYWORD_ONLY, default=None, annotation=ExpectedVersionOpt),
        P("idempotency_key", P.KEYWORD_ONLY, default=None, annotation=KeyOpt),
        P("at", P.KEYWORD_ONLY, default=None, annotation=AtOpt),
        P("as_json", P.KEYWORD_ONLY, default=False, annotation=JsonOpt),
    ]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = _TRIGGER_HELP[trigger]
    command.__name__ = trigger
    return command


for _trigger in TRIGGERS:
    case_app.command(_trigger)(_trigger_command(_trigger))


@case_app.command("show")
def show(
    case_id: CaseIdArg,
    as_json: JsonOpt = False,
) -> None:
    """State, level, assignee, ages and the full timeline of a case."""
    with read_connection(runtime().db) as conn:
        case, events = get_case(conn, case_id)
    render.case_detail(case, events, datetime.now(UTC), as_json)


@case_app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="Only cases in this state.")] = None,
    level: Annotated[str | None, typer.Option(help="Only cases at this ladder level.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only cases of this assignee.")] = None,
    priority: Annotated[str | None, typer.Option(help="Only cases of this priority.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's cases.")] = None,
    team: Annotated[str | None, typer.Option(help="Only cases owned by this team.")] = None,
    flag: Annotated[
        str | None,
        typer.Option(help="Only cases an escalation point marked, e.g. repeat_customer."),
    ] = None,
    ref: Annotated[
        str | None, typer.Option(help="The case with this reference in another system.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, max=MAX_CASE_ID, help="Skip this many first.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List cases, oldest first, with filters."""
    rt = runtime()
    _check_choice("state", state, rt.process.state_names)
    _check_choice("level", level, rt.process.level_names)
    _check_choice("priority", priority, PRIORITIES)
    _check_choice("flag", flag, POINTS)
    where = CaseFilter(
        state, level, assignee, priority, customer, team, ref, flag, limit=limit, offset=offset
    )
    with read_connection(rt.db) as conn:
        cases, total = list_cases(conn, where)
    render.case_list(cases, total, datetime.now(UTC), as_json)


@case_app.command("update")
def update_case(
    case_id: CaseIdArg,
    message: Annotated[str | None, typer.Option(help="New words from the customer.")] = None,
    amount: Annotated[str | None, typer.Option(help="New amount claimed, e.g. 800.00.")] = None,
    priority: Annotated[str | None, typer.Option(help="low, normal, high or urgent.")] = None,
    tier: Annotated[str | None, typer.Option(help="standard, premium or vip.")] = None,
    actor: Annotated[str, typer.Option(help="Who records it.")] = getpass.getuser(),
    expected_version: ExpectedVersionOpt = None,
    idempotency_key: KeyOpt = None,
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record new facts (a customer message, amount, priority); escalation points re-run."""
    command = Update(
        case_id=case_id,
        actor=actor,
        message=message,
        amount_claimed=amount,  # type: ignore[arg-type]
        priority=priority,
        customer_tier=tier,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
    )
    render.result(runtime().engine.apply(command, _happened(at)), as_json)


@case_app.command("clocks")
def clocks(
    case_id: CaseIdArg,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", help="As of this ISO time (default: now; may look ahead, before 3000)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The clock ledger: every interval each SLA clock ran or was paused, and each deadline
    with how it was computed."""
    rt = runtime()
    now = _instant("--at", at, future=True)
    with read_connection(rt.db) as conn:
        case, events = get_case(conn, case_id)
        views = clock_views(conn, case, rt.policy, now, events)
    render.clock_ledger(case, views, now, as_json)


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
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Timers per transaction.")] = 2000,
    worker: Annotated[
        str | None, typer.Option(help="Name of this sweeper (default: host:pid).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fire due SLA timers once: warnings, breaches, missed acknowledgements, follow-ups."""
    engine, now = runtime().engine, _instant("--at", at)
    with render.progress("firing due timers", total=count_due(engine.db, now=now)) as advance:
        report = sweep(engine, now, worker=worker, batch=batch, on_batch=advance)
    render.sweep_report(report, as_json)


@notify_app.command("deliver")
def deliver(
    sink: Annotated[
        str | None,
        typer.Option(help="file, console or smtp (default: TIERFLOW_NOTIFY_SINK, else file)."),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Messages per claim.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Deliver pending notifications from the outbox."""
    _check_choice("sink", sink, ("file", "console", "smtp"))
    rt = runtime()
    sender, worker = rt.sender(sink), default_worker()
    total = DeliveryReport()
    while True:  # batch after batch, until nothing is due now (retries wait for their backoff)
        report = deliver_pending(rt.db, sender, now=datetime.now(UTC), worker=worker, batch=batch)
        total = DeliveryReport(
            total.sent + report.sent, total.failed + report.failed, total.retried + report.retried
        )
        if report.claimed == 0 or report.sent == 0:
            break
    render.delivery_report(total, as_json)
    undelivered = total.failed + total.retried
    if undelivered:  # ops and schedulers must see it in the exit code, not only in a count
        raise DeliveryError(
            f"{undelivered} of {undelivered + total.sent} notifications could not be delivered "
            f"({total.retried} will be retried, {total.failed} failed for good)"
        )


@app.command("check")
def check() -> None:
    """Validate the process and policy files (as set by --process/--policy or the environment)."""
    rt = runtime()
    render.out(f"process {rt.process.version_id} ({rt.process.source}): ok")
    render.out(f"policy {rt.policy.version_id} ({rt.policy.source}): ok")


@app.command()
def replay(
    case_id: Annotated[
        int | None,
        typer.Argument(metavar="[ID]", min=1, max=MAX_CASE_ID, help="Case number."),
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
        checks = verify_all(rt.db)
        render.verifications(checks, as_json)
        raise typer.Exit(0 if all(c.ok for c in checks) else 1)
    if case_id is None:
        raise click.UsageError("give a case ID, or --all --verify")
    with read_connection(rt.db) as conn:
        check = verify_case(conn, case_id) if verify else None
        if check is not None and not check.ok:
            render.failed_verification(check, as_json)
            raise typer.Exit(1)
        snap, events = replay_case(conn, case_id)
    render.replay(snap, events, check, as_json)
    if check is not None and not check.ok:
        raise typer.Exit(1)


def _instant(option: str, text: str | None, *, future: bool = False) -> datetime:
    """`text` read as an instant (None: now); see :mod:`states.instants` for what is allowed."""
    now = datetime.now(UTC)
    return now if text is None else read_instant(option, text, now, future=future)


def _happened(text: str | None) -> datetime | None:
    """When a command happened: `--at`, or None for the engine's clock (recorded = happened)."""
    return None if text is None else _instant("--at", text)


def _check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise click.BadParameter(
            f"{value!r} is not one of {', '.join(allowed)}", param_hint=f"--{name}"
        )


@functools.cache
def _click_command() -> click.Command:
    """The click command tree, built once per process (building it costs ~20 ms)."""
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line on stderr and a non-zero exit for anything a user can fix."""
    command = _click_command()
    try:
        code = command.main(args=argv, prog_name="tierflow", standalone_mode=False)
    except (click.exceptions.Abort, typer.Abort):
        print("error: aborted", file=sys.stderr)
        return 130
    except (click.ClickException, typer.TyperException) as exc:
        print(f"error: {render.safe(exc.format_message())}", file=sys.stderr)
        return exc.exit_code
    except TierflowError as exc:
        print(f"error: {render.safe(str(exc))}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
