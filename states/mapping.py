"""The import mapping: how an external event log's attributes become tierflow's facts.

A mapping TOML file (see ``states/defaults/mappings/bpic2013.toml``) names the
attributes that hold the case id, the activity, the timestamp, the resource
and the team, the case-level fields (customer, subject, priority), and a list
of ``[[rules]]``. Every rule whose conditions (``when``) hold for an event
applies, in file order, later ones overriding earlier ones field by field,
until a rule with ``stop = true``; a rule without ``when`` applies to every
event (a default). What the rules set, an :class:`Outcome`, is where the
event leaves the case: its state, its level, whether it waits on the
customer, whether the level took the case in hand (``acknowledge``), who owns
it. How the case gets there (which triggers, which deviations) is decided by
:mod:`states.import_plan`, not here.

Loading validates every key against the process (state and level names) and
every error names the file, the line, the key, the value and what is allowed,
as the policy's do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from states.case import PRIORITIES
from states.errors import MappingError
from states.process import FIRST_LEVEL, ProcessDefinition
from states.tomlsource import TomlSource, VersionedText, parse_toml, read_toml

FORMAT = 1
OPERATORS = ("equals", "starts_with", "ends_with", "contains", "matches")
OUTCOME_KEYS = ("state", "level", "waiting", "acknowledge", "assignee", "annotate")
ASSIGNEES = ("resource", "none", "keep")
SOURCE_FORMATS = ("xes", "csv")
_ROLES = ("activity", "resource", "team")  # condition names that stand for a source attribute


def default_mapping_path(name: str = "bpic2013") -> Path:
    """A mapping shipped with tierflow (``states/defaults/mappings/NAME.toml``)."""
    return Path(__file__).with_name("defaults") / "mappings" / f"{name}.toml"


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on one attribute: `attribute` is a source attribute name."""

    attribute: str
    operator: str
    values: tuple[str, ...]
    pattern: re.Pattern[str] | None = None

    def holds(self, value: str | None) -> bool:
        if value is None:
            return False
        if self.operator == "equals":
            return value in self.values
        if self.operator == "starts_with":
            return value.startswith(self.values)
        if self.operator == "ends_with":
            return value.endswith(self.values)
        if self.operator == "contains":
            return any(v in value for v in self.values)
        return self.pattern is not None and self.pattern.search(value) is not None


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where an event leaves the case; None: as it was."""

    state: str | None = None
    level: str | None = None  # a ladder level or FIRST_LEVEL
    waiting: bool | None = None
    acknowledge: bool = False
    assignee: str = "resource"  # resource | none | keep
    annotate: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    conditions: tuple[Condition, ...]
    sets: dict[str, Any]
    stop: bool = False


@dataclass(frozen=True)
class Mapping(VersionedText):
    """A validated mapping. :meth:`evaluate` is memoised on the attributes rules read."""

    name: str
    version: str
    source_text: str
    source: str
    format: str | None  # xes | csv | None (from the file name)
    case_id: str
    activity: tuple[str, ...]  # joined with "/" when several
    timestamp: str
    resource: str | None
    team: str | None
    timezone: ZoneInfo
    delimiter: str
    customer_id: str | None
    subject: str | None
    priority: str | None
    priorities: dict[str, str]
    default_priority: str
    rules: tuple[Rule, ...]
    _memo: dict[tuple[Any, ...], tuple[Outcome, bool]] = field(default_factory=dict, repr=False)

    @cached_property
    def recorded_elsewhere(self) -> frozenset[str]:
        """Source attributes an imported event records in its own fields (time, activity,
        actor, team): left out of its ``attributes``."""
        named = (self.timestamp, *self.activity, self.resource, self.team)
        return frozenset(name for name in named if name)

    def activity_of(self, attrs: dict[str, str]) -> str:
        if len(self.activity) == 1:
            return attrs.get(self.activity[0], "")
        return "/".join([attrs.get(name, "") for name in self.activity])

    def attribute(self, role: str) -> str | None:
        """The source attribute behind a condition name (activity is computed)."""
        return {"resource": self.resource, "team": self.team}.get(role, role)

    def evaluate(self, activity: str, attrs: dict[str, str]) -> tuple[Outcome, bool]:
        """The outcome of an event, and whether a rule with conditions matched it
        (False: the event's values are unmapped; only defaults applied)."""
        key = (activity, *[attrs.get(name) for name in self.rule_attributes])
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._evaluate(activity, attrs)
        return found

    @cached_property
    def rule_attributes(self) -> tuple[str, ...]:
        """The source attributes the rules' conditions read (activity aside): an event's
        outcome depends on its activity and these alone."""
        names = {c.attribute for r in self.rules for c in r.conditions if c.attribute != "activity"}
        return tuple(sorted(names))

    def _evaluate(self, activity: str, attrs: dict[str, str]) -> tuple[Outcome, bool]:
        sets: dict[str, Any] = {}
        explicit = False
        for rule in self.rules:
            if all(
                c.holds(activity if c.attribute == "activity" else attrs.get(c.attribute))
                for c in rule.conditions
            ):
                sets.update(rule.sets)
                explicit = explicit or bool(rule.conditions)
                if rule.stop:
                    break
        return Outcome(**sets), explicit

    def priority_of(self, attrs: dict[str, str]) -> tuple[str, str | None]:
        """The priority an event's attribute says, and the raw value when it is unmapped.
        A value that is a priority of tierflow's already (`high`: a log tierflow exported)
        is itself unless `[case.priorities]` maps it; it was counted as unmapped."""
        if self.priority is None:
            return self.default_priority, None
        raw = attrs.get(self.priority)
        mapped = self.priorities.get(raw) if raw is not None else None
        if mapped is None and raw in PRIORITIES:
            mapped = raw
        return (mapped, None) if mapped else (self.default_priority, raw)


def load_mapping(path: str | Path, definition: ProcessDefinition) -> Mapping:
    """Load and validate a mapping file against `definition`'s states and levels; a bare
    name (no directory, no suffix) that is no file here names a shipped mapping."""
    path = Path(path)
    if not path.exists() and path.name == str(path) and not path.suffix:
        shipped = default_mapping_path(path.name)
        if shipped.exists():
            path = shipped
    return _build(read_toml(path, MappingError), definition)


def parse_mapping(text: str, definition: ProcessDefinition, source: str = "<mapping>") -> Mapping:
    return _build(parse_toml(text, source, MappingError), definition)


def _build(src: TomlSource, definition: ProcessDefinition) -> Mapping:
    data = src.data

    def fail(key: str, problem: str) -> MappingError:
        return src.error(MappingError, key, problem)  # type: ignore[return-value]

    _only(src, "", data, ("format", "name", "version", "source", "case", "rules"))
    if data.get("format", FORMAT) != FORMAT:
        raise fail("format", f"unsupported format {data.get('format')!r}; allowed: {FORMAT}")
    source = _table(src, data, "source")
    _only(
        src,
        "source",
        source,
        ("format", "case_id", "activity", "timestamp", "resource", "team", "timezone", "delimiter"),
    )
    case = _table(src, data, "case")
    _only(
        src, "case", case, ("customer_id", "subject", "priority", "priorities", "default_priority")
    )
    fmt = _opt_text(src, source, "format", "source")
    if fmt is not None and fmt not in SOURCE_FORMATS:
        raise fail("source.format", f"{fmt!r} is not allowed; allowed: {', '.join(SOURCE_FORMATS)}")
    activity = source.get("activity", "concept:name")
    names = [activity] if isinstance(activity, str) else activity
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise fail("source.activity", f"{activity!r}: allowed: an attribute name or a list of them")
    zone_name = _opt_text(src, source, "timezone", "source") or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(
            "source.timezone", f"unknown time zone {zone_name!r}; allowed: an IANA name"
        ) from None
    delimiter = _opt_text(src, source, "delimiter", "source") or ","
    if len(delimiter) != 1:
        raise fail("source.delimiter", f"{delimiter!r}: allowed: one character")
    priorities = case.get("priorities", {})
    if not isinstance(priorities, dict):
        raise fail("case.priorities", "allowed: a table of source value = tierflow priority")
    for raw, value in priorities.items():
        if value not in PRIORITIES:
            raise fail(
                f"case.priorities.{raw}",
                f"{value!r} is not a priority; allowed: " + ", ".join(PRIORITIES),
            )
    default_priority = case.get("default_priority", "normal")
    if default_priority not in PRIORITIES:
        raise fail(
            "case.default_priority",
            f"{default_priority!r} is not a priority; allowed: " + ", ".join(PRIORITIES),
        )
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise fail("rules", "allowed: [[rules]] tables")
    mapping = Mapping(
        name=src.name_at("name", data.get("name")),
        version=src.name_at("version", data.get("version")),
        source_text=src.text,
        source=src.path,
        format=fmt,
        case_id=_opt_text(src, source, "case_id", "source") or "concept:name",
        activity=tuple(names),
        timestamp=_opt_text(src, source, "timestamp", "source") or "time:timestamp",
        resource=_opt_text(src, source, "resource", "source"),
        team=_opt_text(src, source, "team", "source"),
        timezone=zone,
        delimiter=delimiter,
        customer_id=_opt_text(src, case, "customer_id", "case"),
        subject=_opt_text(src, case, "subject", "case"),
        priority=_opt_text(src, case, "priority", "case"),
        priorities=dict(priorities),
        default_priority=default_priority,
        rules=(),
    )
    rules = tuple(
        _rule(src, f"rules[{i}]", raw, definition, mapping) for i, raw in enumerate(raw_rules)
    )
    object.__setattr__(mapping, "rules", rules)
    return mapping


def _rule(
    src: TomlSource, where: str, raw: Any, definition: ProcessDefinition, mapping: Mapping
) -> Rule:
    def fail(key: str, problem: str) -> MappingError:
        return src.error(MappingError, f"{where}.{key}", problem)  # type: ignore[return-value]

    if not isinstance(raw, dict):
        raise src.error(MappingError, where, "allowed: a [[rules]] table")
    _only(src, where, raw, ("when", "stop", *OUTCOME_KEYS))
    sets: dict[str, Any] = {}
    if "state" in raw:
        if raw["state"] not in definition.state_names:
            raise fail(
                "state",
                f"unknown state {raw['state']!r}; allowed: " + ", ".join(definition.state_names),
            )
        sets["state"] = raw["state"]
    if "level" in raw:
        allowed = (FIRST_LEVEL, *definition.level_names)
        if raw["level"] not in allowed:
            raise fail("level", f"unknown level {raw['level']!r}; allowed: {', '.join(allowed)}")
        sets["level"] = raw["level"]
    for flag in ("waiting", "acknowledge", "annotate", "stop"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise fail(flag, f"{raw[flag]!r}: allowed: true or false")
        if flag in raw and flag != "stop":
            sets[flag] = raw[flag]
    if "assignee" in raw:
        if raw["assignee"] not in ASSIGNEES:
            raise fail("assignee", f"{raw['assignee']!r}; allowed: {', '.join(ASSIGNEES)}")
        sets["assignee"] = raw["assignee"]
    when = raw.get("when", {})
    if not isinstance(when, dict):
        raise fail("when", "allowed: a table of attribute = value, list or {operator = value}")
    conditions = []
    for name, test in when.items():
        attribute = mapping.attribute(name) if name in _ROLES else name
        if attribute is None:
            raise fail(f"when.{name}", f"the mapping names no {name} attribute in [source]")
        conditions.append(_condition(fail, f"when.{name}", attribute, test))
    return Rule(tuple(conditions), sets, bool(raw.get("stop", False)))


def _condition(fail: Any, key: str, attribute: str, test: Any) -> Condition:
    if isinstance(test, str | list):
        test = {"equals": test}
    if not isinstance(test, dict) or len(test) != 1:
        raise fail(
            key,
            f"{test!r}: allowed: a value, a list, or one of "
            + ", ".join(f"{{{op} = ...}}" for op in OPERATORS),
        )
    ((operator, value),) = test.items()
    if operator not in OPERATORS:
        raise fail(f"{key}.{operator}", f"unknown operator; allowed: {', '.join(OPERATORS)}")
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise fail(f"{key}.{operator}", f"{value!r}: allowed: a text or a list of texts")
    pattern = None
    if operator == "matches":
        try:
            pattern = re.compile("|".join(f"(?:{v})" for v in values))
        except re.error as exc:
            raise fail(f"{key}.matches", f"{value!r} is not a regular expression: {exc}") from None
    return Condition(attribute, operator, tuple(values), pattern)


def _table(src: TomlSource, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise src.error(MappingError, key, f"allowed: a [{key}] table")
    return value


def _opt_text(src: TomlSource, table: dict[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    dotted = f"{where}.{key}" if where else key
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise src.error(MappingError, dotted, f"{value!r}: allowed: a non-empty text")
    return value


def _only(src: TomlSource, where: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            dotted = f"{where}.{key}" if where else key
            raise src.error(MappingError, dotted, f"unknown key; allowed: {', '.join(allowed)}")
