"""The process definition: states, triggers, guards and the escalation ladder.

A process TOML file becomes an immutable :class:`ProcessDefinition` (the
"spec", as SpiffWorkflow calls it); running cases refer to it by
:attr:`ProcessDefinition.version_id`. Loading validates everything a running
engine would otherwise discover too late, and every error names the file,
the line, the key and what is allowed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from states.durations import parse_duration
from states.errors import ConfigError, ProcessDefinitionError
from states.money import parse_limit
from states.tomlsource import TomlSource, VersionedText, parse_toml, read_toml

FORMAT = 1

#: The verbs the engine implements; a process file chooses where they apply.
TRIGGERS: tuple[str, ...] = (
    "assign",
    "escalate",
    "acknowledge",
    "de_escalate",
    "resolve",
    "follow_up",
    "reopen",
    "wait_on_customer",
    "customer_replied",
)

#: Guards a transition may name (implemented in :mod:`states.guards`).
GUARDS: tuple[str, ...] = (
    "has_assignee",
    "has_escalation_reason",
    "has_customer_notice",
    "below_top_of_ladder",
    "awaiting_acknowledgement",
    "has_note",
    "has_resolution_note",
    "within_authority",
    "valid_satisfaction",
    "within_reopen_window",
    "is_waiting",
    "not_waiting",
)

FIRST_LEVEL = "first_level"
"""Name of the authority tier of first-level agents (below the ladder)."""


@dataclass(frozen=True)
class StateSpec:
    name: str
    title: str
    description: str = ""
    carries_level: bool = False


@dataclass(frozen=True)
class Level:
    """One rung of the escalation ladder."""

    name: str
    title: str
    authority_limit: Decimal  # Decimal("Infinity") when unlimited
    rank: int


@dataclass(frozen=True)
class TransitionSpec:
    trigger: str
    sources: tuple[str, ...]
    dest: str | None  # None: internal transition (state does not change)
    guards: tuple[str, ...]


@dataclass(frozen=True)
class ProcessDefinition(VersionedText):
    """An immutable, validated process. Build machines from it, never edit it."""

    name: str
    version: str
    initial: str
    states: tuple[StateSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    ladder: tuple[Level, ...]
    first_level_limit: Decimal
    currency: str
    reopen_window_seconds: int
    source_text: str
    source: str

    @cached_property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @cached_property
    def level_names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.ladder)

    @cached_property
    def _states_by_name(self) -> dict[str, StateSpec]:
        return {spec.name: spec for spec in self.states}

    @cached_property
    def _levels_by_name(self) -> dict[str, Level]:
        return {level.name: level for level in self.ladder}

    def state(self, name: str) -> StateSpec:
        return self._states_by_name[name]

    @cached_property
    def _sources_by_trigger(self) -> dict[str, frozenset[str]]:
        sources: dict[str, set[str]] = {}
        for spec in self.transitions:
            sources.setdefault(spec.trigger, set()).update(spec.sources)
        return {trigger: frozenset(states) for trigger, states in sources.items()}

    def allows(self, trigger: str, state: str) -> bool:
        """Whether some transition of `trigger` leaves `state` (guards aside)."""
        return state in self._sources_by_trigger.get(trigger, frozenset())

    def level(self, name: str) -> Level:
        return self._levels_by_name[name]

    def next_level(self, current: str | None) -> Level | None:
        """The rung above `current` (the bottom rung from first level), or None at the top."""
        if current is None:
            return self.ladder[0]
        rank = self.level(current).rank
        return self.ladder[rank + 1] if rank + 1 < len(self.ladder) else None

    def authority_of(self, level: str | None) -> Decimal:
        return self.first_level_limit if level is None else self.level(level).authority_limit

    def lowest_level_covering(self, amount: Decimal) -> str | None:
        """The lowest tier whose authority covers `amount` (first level included)."""
        if amount <= self.first_level_limit:
            return FIRST_LEVEL
        for level in self.ladder:
            if amount <= level.authority_limit:
                return level.name
        return None


def default_process_path() -> Path:
    return Path(__file__).with_name("defaults") / "process.toml"


def load_process(path: str | Path | None = None) -> ProcessDefinition:
    """Load and validate a process file (the shipped default when `path` is None)."""
    source = read_toml(path or default_process_path(), ProcessDefinitionError)
    return _build(source)


def parse_process(text: str, source: str = "<process>") -> ProcessDefinition:
    return _build(parse_toml(text, source, ProcessDefinitionError))


def _build(src: TomlSource) -> ProcessDefinition:
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


__all__ = [
    "FIRST_LEVEL",
    "GUARDS",
    "TRIGGERS",
    "ConfigError",
    "Level",
    "ProcessDefinition",
    "StateSpec",
    "TransitionSpec",
    "default_process_path",
    "load_process",
    "parse_process",
]
