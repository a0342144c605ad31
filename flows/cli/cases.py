"""`tierflow case …`: open cases, fire triggers, update, show, list, and the clock ledger."""

from __future__ import annotations

import getpass
import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from flows.cli import history, ledger, render
from flows.cli.common import (
    AtOpt,
    CaseIdArg,
    ExpectedVersionOpt,
    JsonOpt,
    KeyOpt,
    apply_at,
    case_app,
    check_choice,
    instant,
    runtime,
    whole_option,
)
from states.case import PRIORITIES
from states.commands import MAX_CASE_ID, TRIGGER_FIELDS, Act, OpenCase, Update
from states.errors import CommandError, InvalidInput
from states.ledger import clock_views
from states.points import POINTS
from states.process import TRIGGERS
from states.queries import CaseFilter, get_case, list_cases
from states.store import read_connection


@case_app.command("open")
def open_case(
    customer: Annotated[str, typer.Option(help="Customer identifier.")],
    subject: Annotated[
        str,
        typer.Option(
            help="Subject: free text, not blank (a line break is kept; terminals show it escaped)."
        ),
    ],
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
    render.result(apply_at(command, at), as_json)


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
    "satisfaction": (int | None, whole_option(min=1, max=5, help="Customer satisfaction 1-5.")),
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
        render.result(apply_at(act, at), as_json)

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
    history.case_detail(case, events, datetime.now(UTC), as_json)


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
    limit: Annotated[int, whole_option(min=1, max=100_000, help="At most this many.")] = 50,
    offset: Annotated[int, whole_option(min=0, max=MAX_CASE_ID, help="Skip this many first.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List cases, oldest first, with filters."""
    rt = runtime()
    check_choice("state", state, rt.process.state_names)
    check_choice("level", level, rt.process.level_names)
    check_choice("priority", priority, PRIORITIES)
    check_choice("flag", flag, POINTS)
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
    if message is not None and not message.strip():
        raise InvalidInput("--message", message, "a non-empty text, or leave the option out")
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
    try:
        result = apply_at(command, at)
    except InvalidInput as exc:
        if exc.field == "update" and (priority or tier):  # given, and the same as the case's
            raise _unchanged(case_id, priority, tier) from None
        raise
    render.result(result, as_json)


def _unchanged(case_id: int, priority: str | None, tier: str | None) -> CommandError:
    """An update whose only news is what the case already has (the domain says 'nothing')."""
    given = (("priority", priority), ("tier", tier))
    already = [f"{name} {value}" for name, value in given if value]
    return CommandError(
        f"nothing to update: case {case_id} already has {' and '.join(already)}; give "
        "another value, or --message or --amount"
    )


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
    now = instant("--at", at, future=True)
    with read_connection(rt.db) as conn:
        case, events = get_case(conn, case_id)
        if events and now < events[0].occurred_at:
            raise InvalidInput(
                "--at",
                at,
                f"case {case_id} was opened at {events[0].occurred_at.isoformat()}; "
                "give an instant at or after it",
            )
        views = clock_views(conn, case, rt.policy, now, events)
    ledger.clock_ledger(case, views, now, as_json)
