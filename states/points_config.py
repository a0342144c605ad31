"""Reading a policy's ``[points]`` and ``[notices]`` tables into the escalation points
of :mod:`states.points` and the customer notices' templates, each problem named by its
key (the policy reader, :mod:`states.policy`, offers the checks)."""

from __future__ import annotations

import re
from datetime import timedelta
from string import Formatter
from types import MappingProxyType
from typing import Any, Protocol

from states.case import PRIORITIES
from states.errors import PolicyError, shown
from states.points import (
    NOTICE_PLACEHOLDERS,
    POINT_ACTIONS,
    POINTS,
    LegalRiskPoint,
    Point,
    PointSet,
    PriorityPoint,
    RepeatCustomerPoint,
)
from states.tomlsource import NAME_ALLOWED, TEXT_ALLOWED

_COMMON_KEYS = ("enabled", "action", "reason", "to_level", "route_to_team")
_KEYS = {
    "legal_risk": (*_COMMON_KEYS, "phrases"),
    "priority": _COMMON_KEYS,
    "repeat_customer": (*_COMMON_KEYS, "min_cases", "within"),
    "authority": _COMMON_KEYS,
    "breach": ("enabled", "action", "reason"),
}
_DEFAULT_ACTIONS = {
    "legal_risk": "escalate",
    "priority": "escalate",
    "repeat_customer": "route",
    "authority": "flag",
    "breach": "escalate",
}
_DEFAULT_REASON = "this gives your case the attention it needs"


def template_problem(text: str) -> str | None:
    """What is wrong with a notice template, or None."""
    try:
        fields = [
            (name, spec, conv)
            for _, name, spec, conv in Formatter().parse(text)
            if name is not None
        ]
    except ValueError as exc:
        return f"not a valid template ({exc})"
    for name, spec, conversion in fields:
        if name not in NOTICE_PLACEHOLDERS or spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            return f"unknown placeholder {{{shown}}}"
    return None


def _placeholders() -> str:
    return ", ".join("{" + name + "}" for name in NOTICE_PLACEHOLDERS)


class ConfigReader(Protocol):
    """What the policy reader offers the point readers (see states.policy_config)."""

    ladder: tuple[str, ...]

    def fail(self, key: str, problem: str, allowed: str) -> PolicyError: ...
    def table(
        self, key: str, value: Any, allowed: tuple[str, ...] | None = None, what: str = ...
    ) -> dict: ...
    def name(self, key: str, value: Any, allowed: str = ...) -> str: ...
    def text(self, key: str, value: Any, allowed: str = ...) -> str: ...
    def choice(self, key: str, value: Any, allowed: tuple[str, ...], what: str = ...) -> str: ...
    def integer(self, key: str, value: Any, minimum: int, maximum: int = ...) -> int: ...
    def duration(self, key: str, value: Any) -> tuple[timedelta, str]: ...
    def names(self, key: str, value: Any) -> tuple[str, ...]: ...


def read_points(reader: ConfigReader, raw: Any) -> PointSet:
    """``[points]``: a point whose table is absent is disabled."""
    table = reader.table("points", raw, POINTS, "point")
    return PointSet(**{name: _read_point(reader, name, table.get(name)) for name in POINTS})


def _read_point(reader: ConfigReader, name: str, raw: Any) -> Point:
    key = f"points.{name}"
    table = reader.table(key, {"enabled": False} if raw is None else raw, _KEYS[name])
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise reader.fail(f"{key}.enabled", f"{shown(enabled)} is not a boolean", "true or false")
    actions = ("escalate",) if name == "breach" else POINT_ACTIONS
    action = reader.choice(
        f"{key}.action", table.get("action", _DEFAULT_ACTIONS[name]), actions, "action"
    )
    common: dict[str, Any] = {
        "name": name,
        "enabled": enabled,
        "action": action,
        "reason": reader.text(f"{key}.reason", table.get("reason", _DEFAULT_REASON)),
    }
    team = table.get("route_to_team")
    if team is not None or (enabled and action == "route"):
        common["route_to_team"] = reader.name(
            f"{key}.route_to_team", team, f"a team name: {NAME_ALLOWED}"
        )
    to_level = table.get("to_level")
    if name == "priority":
        levels = reader.table(
            f"{key}.to_level", {} if to_level is None else to_level, PRIORITIES, "priority"
        )
        checked = {
            p: reader.choice(f"{key}.to_level.{p}", v, reader.ladder, "level")
            for p, v in levels.items()
        }
        return PriorityPoint(**common, levels=MappingProxyType(checked))
    if to_level is not None:
        common["to_level"] = reader.choice(f"{key}.to_level", to_level, reader.ladder, "level")
    if name == "legal_risk":
        return LegalRiskPoint(**common, phrases=_read_phrases(reader, key, table, enabled))
    if name == "repeat_customer":
        return RepeatCustomerPoint(
            **common,
            min_cases=reader.integer(f"{key}.min_cases", table.get("min_cases", 3), 2),
            within=reader.duration(f"{key}.within", table.get("within", "P90D"))[0],
        )
    return Point(**common)


def _read_phrases(reader: ConfigReader, key: str, table: dict, enabled: bool) -> tuple[str, ...]:
    phrases = reader.names(f"{key}.phrases", table.get("phrases", []))
    allowed = 'words or phrases such as "lawyer" or "legal action"'
    for phrase in phrases:
        if not re.search(r"\w", phrase):
            raise reader.fail(
                f"{key}.phrases", f"{shown(phrase)} has no letters or digits", allowed
            )
    if enabled and not phrases:
        raise reader.fail(f"{key}.phrases", "empty while the point is enabled", allowed)
    return tuple(dict.fromkeys(" ".join(phrase.split()) for phrase in phrases))


def read_notices(reader: ConfigReader, raw: Any) -> dict[str, str]:
    """``[notices]``: ``default`` and optionally one template per point."""
    table = reader.table("notices", {} if raw is None else raw, ("default", *POINTS), "notice")
    if "default" not in table:
        raise reader.fail(
            "notices.default", "missing", "a notice template using " + _placeholders()
        )
    notices = {}
    for name, value in table.items():
        key = f"notices.{name}"
        text = reader.text(key, value, f"a notice template using {_placeholders()}: {TEXT_ALLOWED}")
        problem = template_problem(text)
        if problem:
            raise reader.fail(key, problem, _placeholders() + " (write {{ and }} for braces)")
        notices[name] = text
    return notices
