"""The process machine: the table-driven hot path agrees with the library's dispatch.

`ProcessMachine.fire` resolves a trigger against the machine's transition
table itself; `ProcessMachine.trigger` runs `transitions`' full dispatch.
Every state x trigger x guard outcome of the shipped process is checked
exhaustively (inputs built so that each guard passes or fails on its own),
and hypothesis throws arbitrary snapshots and commands at both, on the
shipped process and on small ops processes.
"""

from __future__ import annotations

import dataclasses
import itertools
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import MISSING
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from states.case import FIELD_NAMES, CaseSnapshot
from states.commands import Act
from states.errors import (
    AuthorityExceeded,
    GuardFailed,
    InvalidInput,
    InvalidTransition,
    ProcessDefinitionError,
)
from states.fields import name as check_name
from states.guards import GuardContext
from states.machine import ProcessMachine, machine_for
from states.process import (
    GUARDS,
    TRIGGERS,
    ProcessDefinition,
    TransitionSpec,
    load_process,
    parse_process,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SHIPPED = load_process()

TWO_LEVEL = parse_process(
    textwrap.dedent(
        """\
        format = 1
        name = "two-level"
        version = "1"
        initial = "new"

        [states.new]
        [states.handled]
        [states.escalated]
        carries_level = true
        [states.closed]

        [authority]
        first_level = "50"

        [[ladder]]
        name = "team"
        authority_limit = "500"

        [[ladder]]
        name = "director"
        authority_limit = "unlimited"

        [reopen]
        window = "P7D"

        [[transitions]]
        trigger = "assign"
        source = "new"
        dest = "handled"
        guards = ["has_assignee"]

        [[transitions]]
        trigger = "escalate"
        source = ["handled", "escalated"]
        dest = "escalated"
        guards = ["has_escalation_reason", "below_top_of_ladder", "has_customer_notice"]

        [[transitions]]
        trigger = "acknowledge"
        source = "escalated"
        guards = ["awaiting_acknowledgement", "has_note"]

        [[transitions]]
        trigger = "resolve"
        source = ["handled", "escalated"]
        dest = "closed"
        guards = ["within_authority", "has_resolution_note"]

        [[transitions]]
        trigger = "reopen"
        source = "closed"
        dest = "handled"
        guards = ["within_reopen_window"]
        """
    ),
    "two-level.toml",
)

# Two `assign` transitions from `open`: the library tries them in order and
# takes the first whose conditions pass.
OVERLAPPING_TEXT = textwrap.dedent(
    """\
    format = 1
    name = "overlapping"
    version = "1"
    initial = "open"

    [states.open]
    [states.working]
    [states.escalated]
    carries_level = true

    [authority]
    first_level = "100"

    [[ladder]]
    name = "team"
    authority_limit = "unlimited"

    [[transitions]]
    trigger = "assign"
    source = "open"
    dest = "escalated"
    guards = ["has_escalation_reason", "has_customer_notice"]

    [[transitions]]
    trigger = "assign"
    source = "open"
    dest = "working"
    guards = ["has_assignee"]

    [[transitions]]
    trigger = "wait_on_customer"
    source = ["working", "escalated"]
    guards = ["not_waiting"]

    [[transitions]]
    trigger = "customer_replied"
    source = ["working", "escalated"]
    guards = ["is_waiting"]
    """
)


# --- small worlds ---------------------------------------------------------------


def snapshot(state: str, **fields: Any) -> CaseSnapshot:
    values: dict[str, Any] = {
        "id": 7,
        "customer_id": "CUST-00001",
        "subject": "Refund for damaged delivery",
        "description": "",
        "priority": "normal",
        "channel": "email",
        "customer_tier": "standard",
        "amount_claimed_minor": None,
        "currency": "EUR",
        "external_ref": None,
        "state": state,
        "level": None,
        "acknowledged": None,
        "assignee": None,
        "team": None,
        "waiting": False,
        "flags": [],
        "satisfaction": None,
        "opened_at": NOW - timedelta(days=60),
        "updated_at": NOW - timedelta(days=1),
        "state_entered_at": NOW - timedelta(days=1),
        "escalated_at": None,
        "resolved_at": None,
        "resolved_level": None,
        "followed_up_at": None,
        "reopen_count": 0,
        "escalation_count": 0,
        "process_version": "test@1#0",
        "version": 3,
        "last_seq": 3,
        "last_hash": "0" * 64,
    }
    values.update(fields)
    for spec in dataclasses.fields(CaseSnapshot):  # fields added later get a neutral value
        if spec.name not in values and spec.default is spec.default_factory is MISSING:
            values[spec.name] = _NEUTRAL.get(str(spec.type).split(" | ")[0])
    return CaseSnapshot(**{name: values[name] for name in FIELD_NAMES if name in values})


_NEUTRAL: dict[str, Any] = {"str": "", "int": 0, "bool": False}


def act(trigger: str, satisfaction: int | None = None, **fields: Any) -> Act:
    """An `Act`; values `Act` itself refuses (a satisfaction outside 1-5, a blank
    assignee or team, one with control characters) are forced in afterwards, to reach
    the guards' refusals."""
    forced: dict[str, Any] = {}
    if satisfaction is not None and not 1 <= satisfaction <= 5:
        forced["satisfaction"] = satisfaction
    for name in ("assignee", "team"):
        try:
            check_name(name, fields.get(name))
        except InvalidInput:
            forced[name] = fields.pop(name)
    command = Act(
        case_id=7,
        trigger=trigger,
        actor="ana",
        satisfaction=None if "satisfaction" in forced else satisfaction,
        **fields,
    )
    for name, value in forced.items():
        object.__setattr__(command, name, value)
    return command


def context(definition: ProcessDefinition, case: CaseSnapshot, command: Act) -> GuardContext:
    return GuardContext(case, command, definition, NOW)


def outcome(run: Callable[[GuardContext], str], ctx: GuardContext) -> tuple[Any, ...]:
    """What firing did: ("state", name) or ("error", type, message)."""
    try:
        return ("state", run(ctx))
    except (InvalidTransition, GuardFailed) as exc:
        return ("error", type(exc), str(exc))


# --- levers: inputs that make one guard pass or fail on its own ------------------

Fields = dict[str, Any]


def _set(target: str, name: str, ok_value: Any, failing_value: Any):
    def lever(ok: bool, case: Fields, command: Fields, definition: ProcessDefinition) -> None:
        (case if target == "case" else command)[name] = ok_value if ok else failing_value

    return lever


def _escalation_reason(ok: bool, case: Fields, command: Fields, _: ProcessDefinition) -> None:
    command["reason"] = "refund above authority" if ok else "  "
    command["point"] = None


def _top_of_ladder(ok: bool, case: Fields, command: Fields, d: ProcessDefinition) -> None:
    case["level"] = d.ladder[0].name if ok else d.ladder[-1].name


def _authority(ok: bool, case: Fields, command: Fields, d: ProcessDefinition) -> None:
    limit = d.authority_of(case["level"])
    if limit.is_infinite():
        assert ok, f"level {case['level']!r} has no limit to exceed"
        case["amount_claimed_minor"] = 10**12
        return
    # Exactly the limit is within authority; one cent more is not.
    case["amount_claimed_minor"] = int((limit if ok else limit + Decimal("0.01")) * 100)


def _reopen_window(ok: bool, case: Fields, command: Fields, d: ProcessDefinition) -> None:
    window = timedelta(seconds=d.reopen_window_seconds)
    case["resolved_at"] = NOW - window + (timedelta(hours=1) if ok else -timedelta(seconds=1))


LEVERS = {
    "has_assignee": _set("command", "assignee", "ana", " "),
    "has_escalation_reason": _escalation_reason,
    "has_customer_notice": _set(
        "command", "notice", "Our specialist team takes over: they decide refunds.", None
    ),
    "below_top_of_ladder": _top_of_ladder,
    "awaiting_acknowledgement": _set("case", "acknowledged", False, True),
    "has_note": _set("command", "note", "handed back: the receipt was found", ""),
    "has_resolution_note": _set("command", "note", "refund issued", "   "),
    "valid_satisfaction": _set("command", "satisfaction", 4, 9),
    "within_reopen_window": _reopen_window,
    "is_waiting": _set("case", "waiting", True, False),
    "not_waiting": _set("case", "waiting", False, True),
    "within_authority": _authority,  # last: reads the level the others may have set
}


def test_every_guard_has_a_lever():
    assert set(LEVERS) == set(GUARDS)


def candidates(definition: ProcessDefinition, state: str, trigger: str) -> list[TransitionSpec]:
    return [s for s in definition.transitions if s.trigger == trigger and state in s.sources]


def relevant_guards(definition: ProcessDefinition, state: str, trigger: str) -> list[str]:
    """Guards of the trigger's transitions from `state` (of all of them if there are none)."""
    specs = candidates(definition, state, trigger) or [
        s for s in definition.transitions if s.trigger == trigger
    ]
    return list(dict.fromkeys(g for spec in specs for g in spec.guards))


def build(
    definition: ProcessDefinition, state: str, trigger: str, outcomes: dict[str, bool]
) -> GuardContext:
    carries = definition.state(state).carries_level
    case: Fields = {
        "level": definition.ladder[0].name if carries else None,
        "acknowledged": False if carries else None,
    }
    command: Fields = {}
    for guard, lever in LEVERS.items():
        if guard in outcomes:
            lever(outcomes[guard], case, command, definition)
    return context(definition, snapshot(state, **case), act(trigger, **command))


def combinations(definition: ProcessDefinition) -> list[Any]:
    params = []
    for state in definition.state_names:
        for trigger in TRIGGERS:
            guards = relevant_guards(definition, state, trigger)
            for values in itertools.product((True, False), repeat=len(guards)):
                outcomes = dict(zip(guards, values, strict=True))
                label = ",".join(f"{g}={'ok' if v else 'no'}" for g, v in outcomes.items())
                params.append(
                    pytest.param(
                        state, trigger, outcomes, id=f"{state}-{trigger}-{label or 'unguarded'}"
                    )
                )
    return params


def expected(
    definition: ProcessDefinition, state: str, trigger: str, outcomes: dict[str, bool]
) -> tuple[str, Any]:
    specs = candidates(definition, state, trigger)
    if not specs:
        return ("error", InvalidTransition)
    (spec,) = specs  # the shipped process has one transition per state and trigger
    failing = [g for g in spec.guards if not outcomes[g]]
    if not failing:
        return ("state", spec.dest or state)
    return ("error", AuthorityExceeded if failing[0] == "within_authority" else GuardFailed)


# --- fire and trigger agree --------------------------------------------------------


@pytest.mark.parametrize(("state", "trigger", "outcomes"), combinations(SHIPPED))
def test_fire_and_trigger_agree_on_every_state_trigger_and_guard_outcome(
    state: str, trigger: str, outcomes: dict[str, bool]
):
    machine = machine_for(SHIPPED)
    ctx = build(SHIPPED, state, trigger, outcomes)
    fired, triggered = outcome(machine.fire, ctx), outcome(machine.trigger, ctx)
    assert fired == triggered
    assert fired[:2] == expected(SHIPPED, state, trigger, outcomes)


def test_exhaustive_table_covers_every_state_and_trigger():
    pairs = {(p.values[0], p.values[1]) for p in combinations(SHIPPED)}
    assert pairs == set(itertools.product(SHIPPED.state_names, TRIGGERS))


TEXTS = st.one_of(
    st.none(),
    st.sampled_from(["", "   ", "\t", "ok"]),
    st.text(max_size=6).filter(lambda text: "\x00" not in text),  # NUL: refused at the edge
)


@st.composite
def contexts(draw: st.DrawFn, definition: ProcessDefinition) -> GuardContext:
    window = definition.reopen_window_seconds
    state = draw(st.sampled_from(definition.state_names))
    allowed = machine_for(definition).allowed_triggers(state) or list(TRIGGERS)
    case = snapshot(
        state,
        level=draw(st.sampled_from((None, *definition.level_names))),
        acknowledged=draw(st.sampled_from((None, False, True))),
        amount_claimed_minor=draw(
            st.one_of(
                st.none(),
                st.integers(0, 10**9),
                st.sampled_from([20_000, 20_001, 100_000, 100_001, 500_001]),
            )
        ),
        waiting=draw(st.booleans()),
        resolved_at=draw(
            st.one_of(
                st.none(),
                st.integers(0, 2 * window).map(lambda seconds: NOW - timedelta(seconds=seconds)),
            )
        ),
    )
    command = act(
        draw(st.one_of(st.sampled_from(allowed), st.sampled_from(TRIGGERS))),
        satisfaction=draw(st.one_of(st.none(), st.integers(-1, 7))),
        assignee=draw(TEXTS),
        reason=draw(TEXTS),
        point=draw(st.sampled_from([None, "legal_risk"])),
        notice=draw(TEXTS),
        note=draw(TEXTS),
        comment=draw(TEXTS),
    )
    ctx = context(definition, case, command)
    ctx.held_points = draw(st.sampled_from([(), ("legal_risk",), ("authority",)]))
    return ctx


def overlapping() -> ProcessDefinition | None:
    """The overlapping process, or None if the loader refuses overlapping transitions
    (with a line-numbered error: the other acceptable way to avoid surprises)."""
    try:
        return parse_process(OVERLAPPING_TEXT, "overlapping.toml")
    except ProcessDefinitionError as error:
        assert error.key.startswith("transitions[") and error.line, str(error)
        return None


GENERATED = {"shipped": SHIPPED, "two-level": TWO_LEVEL, "overlapping": overlapping()}


@pytest.mark.parametrize("name", list(GENERATED))
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fire_and_trigger_agree_on_generated_cases_and_commands(name: str, data: st.DataObject):
    definition = GENERATED[name]
    if definition is None:  # the loader refuses this process: nothing to dispatch
        return
    machine = machine_for(definition)
    ctx = data.draw(contexts(definition))
    fired = outcome(machine.fire, ctx)
    assert fired == outcome(machine.trigger, ctx)
    event(fired[1] if fired[0] == "state" else fired[1].__name__)


def test_a_refused_transition_lets_the_next_one_for_the_same_trigger_apply():
    """Same rule as `transitions.Event`: the first transition whose guards all pass wins.

    A guard that refuses the first `assign` (no escalation reason) must not stop
    the second one (which only needs an assignee) from applying.
    """
    definition = overlapping()
    if definition is None:  # refused at load time instead, with the line: also fine
        return
    machine = ProcessMachine(definition)
    ctx = context(definition, snapshot("open"), act("assign", assignee="ana"))
    assert outcome(machine.trigger, ctx) == ("state", "working")
    assert outcome(machine.fire, ctx) == ("state", "working")
    escalating = context(
        definition,
        snapshot("open"),
        act("assign", assignee="ana", reason="legal risk", notice="L2 now"),
    )
    assert machine.fire(escalating) == machine.trigger(escalating) == "escalated"


def test_agreement_holds_across_threads_sharing_one_machine():
    machine = ProcessMachine(SHIPPED)
    params = combinations(SHIPPED)
    contexts_ = [build(SHIPPED, *p.values) for p in params]

    def run(ctx: GuardContext) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        return outcome(machine.fire, ctx), outcome(machine.trigger, ctx)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, contexts_ * 5))
    assert all(fired == triggered for fired, triggered in results)


# --- errors and diagrams ------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "allowed"),
    [
        ("open", ["assign", "customer_replied", "escalate", "resolve", "wait_on_customer"]),
        ("first_level", ["assign", "customer_replied", "escalate", "resolve", "wait_on_customer"]),
        (
            "escalated",
            [
                "acknowledge",
                "customer_replied",
                "de_escalate",
                "escalate",
                "resolve",
                "wait_on_customer",
            ],
        ),
        ("resolved", ["follow_up", "reopen"]),
        ("followed_up", ["reopen"]),
    ],
)
def test_allowed_triggers_of_each_shipped_state(state: str, allowed: list[str]):
    assert machine_for(SHIPPED).allowed_triggers(state) == allowed


@pytest.mark.parametrize("method", ["fire", "trigger"])
def test_invalid_trigger_names_the_state_and_lists_the_allowed_triggers(method: str):
    machine = machine_for(SHIPPED)
    ctx = context(SHIPPED, snapshot("open"), act("follow_up", satisfaction=5))
    with pytest.raises(InvalidTransition) as caught:
        getattr(machine, method)(ctx)
    error = caught.value
    assert (error.case_id, error.trigger, error.state) == (7, "follow_up", "open")
    assert error.allowed == [
        "assign",
        "customer_replied",
        "escalate",
        "resolve",
        "wait_on_customer",
    ]
    assert str(error) == (
        "case 7: cannot follow_up from state 'open'; allowed here: assign, customer_replied, "
        "escalate, resolve, wait_on_customer"
    )


@pytest.mark.parametrize("method", ["fire", "trigger"])
def test_trigger_the_process_does_not_use_is_an_invalid_transition(method: str):
    machine = machine_for(TWO_LEVEL)
    ctx = context(TWO_LEVEL, snapshot("closed"), act("follow_up"))
    with pytest.raises(InvalidTransition) as caught:
        getattr(machine, method)(ctx)
    assert caught.value.state == "closed"
    assert caught.value.allowed == ["reopen"]
    assert "allowed here: reopen" in str(caught.value)


def test_state_the_process_does_not_know_is_refused_alike_on_both_paths():
    """A case recorded under an older process may sit in a state this one lacks."""
    machine = machine_for(SHIPPED)
    ctx = context(SHIPPED, snapshot("archived"), act("assign", assignee="ana"))
    fired = outcome(machine.fire, ctx)
    assert fired[:2] == ("error", InvalidTransition)
    assert outcome(machine.trigger, ctx) == fired


@pytest.mark.parametrize("method", ["fire", "trigger"])
def test_guard_refusal_says_what_would_satisfy_it(method: str):
    machine = machine_for(SHIPPED)
    ctx = context(
        SHIPPED,
        snapshot("first_level", amount_claimed_minor=80_000),
        act("resolve", note="refund issued"),
    )
    with pytest.raises(AuthorityExceeded) as caught:
        getattr(machine, method)(ctx)
    error = caught.value
    assert (error.acting_level, error.required_level) == ("first_level", "L2")
    assert "EUR 200.00" in str(error) and "'L2'" in str(error)


def test_machine_is_built_once_per_definition():
    assert machine_for(SHIPPED) is machine_for(load_process())
    assert machine_for(SHIPPED) is not machine_for(TWO_LEVEL)


@pytest.mark.parametrize("definition", [SHIPPED, TWO_LEVEL], ids=["shipped", "two-level"])
def test_mermaid_contains_every_transition(definition: ProcessDefinition):
    machine = ProcessMachine(definition)
    lines = machine.mermaid().splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert f"    [*] --> {definition.initial}" in lines
    drawn = set(lines[2:])
    from_spec = {
        f"    {source} --> {spec.dest or source}: {spec.trigger}"
        for spec in definition.transitions
        for source in spec.sources
    }
    from_machine = {
        f"    {source} --> {transition.dest or source}: {trigger}"
        for trigger, event in machine.machine.events.items()
        for source, transitions in event.transitions.items()
        for transition in transitions
    }
    assert from_spec == from_machine == drawn
    assert len(lines) == 2 + sum(len(spec.sources) for spec in definition.transitions)
