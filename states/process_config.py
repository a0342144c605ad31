"""Reading a process file into a :class:`~states.process.ProcessDefinition`: states,
transitions, guards and the ladder checked before any case runs (every state
reachable, the ladder's authority rising), every problem naming the file, the line,
the key and what is allowed."""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

from states.durations import parse_duration
from states.errors import ConfigError, ProcessDefinitionError
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
from states.tomlsource import TomlSource


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
    if data.get("format", FORMAT) != FORMAT:
        raise fail("format", f"unsupported format {data.get('format')!r}; allowed: {FORMAT}")
    name = _text(src, data, "name")
    version = _text(src, data, "version")
    states = _states(src, data.get("states"))
    state_names = [s.name for s in states]
    initial = _text(src, data, "initial")
    if initial not in state_names:
        raise fail("initial", f"unknown state {initial!r}; allowed: {', '.join(state_names)}")
    authority = _table(src, data, "authority")
    _only_keys(src, "authority", authority, {"currency", "first_level"})
    currency = str(authority.get("currency", "EUR"))
    if len(currency) != 3 or not currency.isalpha():
        raise fail("authority.currency", f"{currency!r} is not an ISO 4217 code like EUR")
    first_limit = _limit(src, "authority.first_level", authority.get("first_level"))
    ladder = _ladder(src, data.get("ladder"))
    reopen = _table(src, data, "reopen")
    _only_keys(src, "reopen", reopen, {"window"})
    try:
        window = parse_duration(str(reopen.get("window", "P30D")), src.path, "reopen.window")
    except ConfigError as exc:
        raise fail("reopen.window", exc.problem) from exc
    transitions = _transitions(src, data.get("transitions"), state_names)
    _check_reachable(src, initial, state_names, transitions)
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


def _text(src: TomlSource, table: dict[str, Any], key: str, prefix: str = "") -> str:
    value = table.get(key)
    full = f"{prefix}{key}"
    if not isinstance(value, str) or not value.strip():
        raise src.error(
            ProcessDefinitionError,
            full,
            f"missing or empty; allowed: a non-empty string (got {value!r})",
        )
    return value.strip()


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
            f"{item!r} is not a table; allowed: a [[{where.split('[')[0]}]] table or an inline "
            f"table such as {{ {example} }}",
        )


def _only_keys(src: TomlSource, where: str, table: dict[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            full = f"{where}.{key}" if where else key
            raise src.error(
                ProcessDefinitionError, full, f"unknown key; allowed: {', '.join(sorted(allowed))}"
            )


def _limit(src: TomlSource, key: str, value: Any) -> Decimal:
    if value is None:
        raise src.error(
            ProcessDefinitionError,
            key,
            'missing authority limit; allowed: an amount such as "1000.00" or "unlimited"',
        )
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
        _only_keys(src, f"states.{name}", spec, {"title", "description", "carries_level"})
        if not name.isidentifier():
            raise src.error(
                ProcessDefinitionError,
                f"states.{name}",
                "state names must be identifiers (letters, digits, _)",
            )
        states.append(
            StateSpec(
                name,
                str(spec.get("title", name)),
                str(spec.get("description", "")),
                bool(spec.get("carries_level", False)),
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
        name = _text(src, item, "name", f"{where}.")
        if name in {level.name for level in levels} or name == FIRST_LEVEL:
            raise src.error(
                ProcessDefinitionError,
                f"{where}.name",
                f"duplicate or reserved level name {name!r}",
            )
        limit = _limit(src, f"{where}.authority_limit", item.get("authority_limit"))
        levels.append(Level(name, str(item.get("title", name)), limit, rank))
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
                f"unknown trigger {trigger!r}; allowed: {', '.join(TRIGGERS)}",
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
                    f"unknown state {state!r}; allowed: {', '.join(state_names)}",
                )
        guards = item.get("guards", [])
        if not isinstance(guards, list):
            raise src.error(
                ProcessDefinitionError,
                f"{where}.guards",
                f"must be a list of guard names (got {guards!r}); allowed: {', '.join(GUARDS)}",
            )
        for guard in guards:
            if guard not in GUARDS:
                raise src.error(
                    ProcessDefinitionError,
                    f"{where}.guards",
                    f"unknown guard {guard!r}; allowed: {', '.join(GUARDS)}",
                )
        specs.append(TransitionSpec(trigger, tuple(sources), item.get("dest"), tuple(guards)))
    return specs


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
