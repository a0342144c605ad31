"""The process definition: states, triggers, guards and the escalation ladder.

A process TOML file becomes an immutable :class:`ProcessDefinition` (the
"spec", as SpiffWorkflow calls it; read by :mod:`states.process_config`); running
cases refer to it by
:attr:`ProcessDefinition.version_id`. Loading validates everything a running
engine would otherwise discover too late, and every error names the file,
the line, the key and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from states.errors import ConfigError, ProcessDefinitionError
from states.tomlsource import VersionedText, parse_toml, read_toml

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
    from states.process_config import build_process  # it builds this module's definition

    return build_process(read_toml(path or default_process_path(), ProcessDefinitionError))


def parse_process(text: str, source: str = "<process>") -> ProcessDefinition:
    from states.process_config import build_process  # it builds this module's definition

    return build_process(parse_toml(text, source, ProcessDefinitionError))


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
