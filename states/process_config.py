"""Reading a process file into a :class:`~states.process.ProcessDefinition`: states,
transitions, guards and the ladder checked before any case runs (every state
reachable, the ladder's authority rising), every problem naming the file, the line,
the key and what is allowed."""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

from states.durations import parse_duration
from states.errors import ConfigError, ProcessDefinitionError, shown
from states.money import parse_limit
from states.process import (
    FIRST_LEVEL,
    FORMAT,
    GUARDS,
    TRIGGERS,
    Level,
    ProcessDefinition,
    StateSpec,
    TransitionSpec,
)
from states.tomlsource import TomlSource, toml_type, type_problem

_CURRENCY_ALLOWED = "an ISO 4217 code such as EUR"
_LIMIT_ALLOWED = (
    'an amount as a string such as "1000.50", a whole number such as 1000, or "unlimited"'
)


def build_process(src: TomlSource) -> ProcessDefinition:
    """The process definition a parsed process file describes, checked whole."""
    data = src.data

    def fail(key: str, problem: str) -> ProcessDefinitionError:
        return src.error(ProcessDefinitionError, key, problem)  # type: ignore[return-value]

    _only_keys(
        src,
        "",
        data,
        {
            "format",
            "name",
            "version",
            "initial",
            "states",
            "authority",
            "ladder",
            "reopen",
            "transitions",
        },
    )
    format_ = data.get("format", FORMAT)
    if toml_type(format_) != "an integer" or format_ != FORMAT:  # not true, nor 1.0
        raise fail("format", f"unsupported format {shown(format_)}; allowed: {FORMAT}")
    name = src.name_at("name", data.get("name"))
    version = src.name_at("version", data.get("version"))
    states = _states(src, data.get("states"))
    state_names = [s.name for s in states]
    initial = src.name_at("initial", data.get("initial"))
    if initial not in state_names:
        raise fail("initial", f"unknown state {shown(initial)}; allowed: {', '.join(state_names)}")
    authority = _table(src, data, "authority")
    _only_keys(src, "authority", authority, {"currency", "first_level"})
    currency = authority.get("currency", "EUR")
    src.refuse("authority.currency", type_problem(currency, "a string", _CURRENCY_ALLOWED))
    if len(currency) != 3 or not (currency.isascii() and currency.isalpha()):
        raise fail(
            "authority.currency", f"{shown(currency)} is not allowed; allowed: {_CURRENCY_ALLOWED}"
        )
    first_limit = _limit(src, "authority.first_level", authority.get("first_level"))
    ladder = _ladder(src, data.get("ladder"))
    reopen = _table(src, data, "reopen")
    _only_keys(src, "reopen", reopen, {"window"})
    try:
        window = parse_duration(reopen.get("window", "P30D"), src.path, "reopen.window")
    except ConfigError as exc:
        raise fail("reopen.window", exc.problem) from exc
    transitions = _transitions(src, data.get("transitions"), state_names)
    _check_reachable(src, initial, state_names, transitions)
    _check_engine_needs(src, states, transitions)
    _check_levels(src, first_limit, ladder)
    return ProcessDefinition(
        name=name,
        version=version,
        initial=initial,
        states=tuple(states),
        transitions=tuple(transitions),
        ladder=tuple(ladder),
        first_level_limit=first_limit,
        currency=currency.upper(),
        reopen_window_seconds=int(window.total_seconds()),
        source_text=src.text,
        source=src.path,
    )


def _table(src: TomlSource, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise src.error(ProcessDefinitionError, key, "must be a table")
    return value


def _entry(src: TomlSource, where: str, item: Any, example: str) -> None:
    """An entry of an array of tables must be a table, not a bare value (`ladder = ["L2"]`)."""
    if not isinstance(item, dict):
        raise src.error(
            ProcessDefinitionError,
            where,
            f"{shown(item)} is not a table; allowed: a [[{where.split('[')[0]}]] table or an "
            f"inline table such as {{ {example} }}",
        )


def _only_keys(src: TomlSource, where: str, table: dict[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            full = f"{where}.{key}" if where else key
            raise src.error(
                ProcessDefinitionError, full, f"unknown key; allowed: {', '.join(sorted(allowed))}"
            )


def _limit(src: TomlSource, key: str, value: Any) -> Decimal:
    """An authority limit: an amount as a string (``"1,000.50"``), a whole number or
    ``"unlimited"``. A TOML float is refused, not rounded: money never passes through a
    float (see :mod:`states.money`), and ``1000.5`` reads as a mistake for ``"1000.50"``."""
    if value is None:
        raise src.error(
            ProcessDefinitionError, key, f"missing authority limit; allowed: {_LIMIT_ALLOWED}"
        )
    if isinstance(value, float):
        src.refuse(key, f"{value!r} is a float, not an exact amount; allowed: {_LIMIT_ALLOWED}")
    try:
        return parse_limit(value)
    except ValueError as exc:
        raise src.error(ProcessDefinitionError, key, str(exc)) from exc


def _states(src: TomlSource, raw: Any) -> list[StateSpec]:
    if not isinstance(raw, dict) or not raw:
        raise src.error(
            ProcessDefinitionError, "states", "missing; allowed: one [states.NAME] table per state"
        )
    states = []
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            raise src.error(ProcessDefinitionError, f"states.{name}", "must be a table")
        where = f"states.{name}"
        _only_keys(src, where, spec, {"title", "description", "carries_level"})
        if not src.name_at(where, name).isidentifier():
            raise src.error(
                ProcessDefinitionError,
                where,
                "state names must be identifiers (letters, digits, _)",
            )
        description = spec.get("description", "")  # "" is no description, not blank text
        states.append(
            StateSpec(
                name,
                src.name_at(f"{where}.title", spec.get("title", name)),
                "" if description == "" else src.text_at(f"{where}.description", description),
                src.boolean_at(f"{where}.carries_level", spec.get("carries_level", False)),
            )
        )
    return states


def _ladder(src: TomlSource, raw: Any) -> list[Level]:
    if not isinstance(raw, list) or not raw:
        raise src.error(
            ProcessDefinitionError,
            "ladder",
            "missing; allowed: one or more [[ladder]] tables, bottom rung first",
        )
    levels: list[Level] = []
    for rank, item in enumerate(raw):
        where = f"ladder[{rank}]"
        _entry(src, where, item, 'name = "L2", title = "Specialist team", authority_limit = "1000"')
        _only_keys(src, where, item, {"name", "title", "authority_limit"})
        name = src.name_at(f"{where}.name", item.get("name"))
        if name in {level.name for level in levels} or name == FIRST_LEVEL:
            raise src.error(
                ProcessDefinitionError,
                f"{where}.name",
                f"duplicate or reserved level name {name!r}",
            )
        title = src.name_at(f"{where}.title", item.get("title", name))
        limit = _limit(src, f"{where}.authority_limit", item.get("authority_limit"))
        levels.append(Level(name, title, limit, rank))
    return levels


def _check_levels(src: TomlSource, first_limit: Decimal, ladder: list[Level]) -> None:
    previous = first_limit
    for level in ladder:
        if level.authority_limit < previous:
            raise src.error(
                ProcessDefinitionError,
                f"ladder[{level.rank}].authority_limit",
                "must not be lower than the rung below; allowed: limits that grow up the ladder",
            )
        previous = level.authority_limit


def _transitions(src: TomlSource, raw: Any, state_names: list[str]) -> list[TransitionSpec]:
    if not isinstance(raw, list) or not raw:
        raise src.error(
            ProcessDefinitionError,
            "transitions",
            "missing; allowed: one or more [[transitions]] tables",
        )
    specs = []
    for index, item in enumerate(raw):
        where = f"transitions[{index}]"
        _entry(src, where, item, 'trigger = "assign", source = "open", dest = "first_level"')
        _only_keys(src, where, item, {"trigger", "source", "dest", "guards"})
        trigger = item.get("trigger")
        if trigger not in TRIGGERS:
            raise src.error(
                ProcessDefinitionError,
                f"{where}.trigger",
                f"unknown trigger {shown(trigger)}; allowed: {', '.join(TRIGGERS)}",
            )
        sources = item.get("source")
        if isinstance(sources, str):
            sources = [sources]
        if not isinstance(sources, list) or not sources:
            raise src.error(
                ProcessDefinitionError,
                f"{where}.source",
                "missing; allowed: a state name or a list of state names",
            )
        for state in [*sources, item.get("dest")]:
            if state is not None and state not in state_names:
                key = f"{where}.dest" if state == item.get("dest") else f"{where}.source"
                raise src.error(
                    ProcessDefinitionError,
                    key,
                    f"unknown state {shown(state)}; allowed: {', '.join(state_names)}",
                )
        guards = item.get("guards", [])
        if not isinstance(guards, list):
            raise src.error(
                ProcessDefinitionError,
                f"{where}.guards",
                f"must be a list of guard names (got {shown(guards)}); allowed: "
                f"{', '.join(GUARDS)}",
            )
        for guard in guards:
            if guard not in GUARDS:
                raise src.error(
                    ProcessDefinitionError,
                    f"{where}.guards",
                    f"unknown guard {shown(guard)}; allowed: {', '.join(GUARDS)}",
                )
        specs.append(TransitionSpec(trigger, tuple(sources), item.get("dest"), tuple(guards)))
    return specs


#: Guards a trigger cannot do without: the engine records what they ensure (an assign
#: records the assignee it names; with no guard, an assign naming none crashed the fold).
_REQUIRED_GUARDS = {"assign": "has_assignee"}


def _check_engine_needs(
    src: TomlSource, states: list[StateSpec], transitions: list[TransitionSpec]
) -> None:
    """What the engine needs of a process beyond its shape, refused by `check` where it
    failed cases at run time: an escalation leads to a state that carries the level (a
    case escalated to a state without one had no level, and no level could resolve it),
    and the guards in :data:`_REQUIRED_GUARDS` stay on their triggers."""
    carries = {state.name: state.carries_level for state in states}
    for index, spec in enumerate(transitions):
        where = f"transitions[{index}]"
        if spec.trigger == "escalate" and spec.dest is not None and not carries[spec.dest]:
            raise src.error(
                ProcessDefinitionError,
                f"{where}.dest",
                f"escalate leads to {spec.dest!r}, which does not carry the level; allowed: "
                "a state with carries_level = true",
            )
        needed = _REQUIRED_GUARDS.get(spec.trigger)
        if needed is not None and needed not in spec.guards:
            raise src.error(
                ProcessDefinitionError,
                f"{where}.guards",
                f"{spec.trigger} needs the guard {needed!r} (the engine records what it "
                f"ensures); allowed: a list of guards that holds {needed!r}",
            )


def _check_reachable(
    src: TomlSource, initial: str, states: list[str], transitions: list[TransitionSpec]
) -> None:
    seen = {initial}
    queue = deque([initial])
    while queue:
        state = queue.popleft()
        for spec in transitions:
            if state in spec.sources and spec.dest and spec.dest not in seen:
                seen.add(spec.dest)
                queue.append(spec.dest)
    for state in states:
        if state not in seen:
            raise src.error(
                ProcessDefinitionError,
                f"states.{state}",
                f"unreachable from the initial state {initial!r}; allowed: states "
                "that some transition leads to",
            )
