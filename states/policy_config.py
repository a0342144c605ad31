"""Reading a policy file into a :class:`~states.policy.Policy`: every table and value
checked against the process's levels, every problem a :class:`PolicyError` naming the
file, the line, the key, what is wrong and what is allowed."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, cast

from states.calendar import BusinessCalendar
from states.case import CHANNELS as CASE_CHANNELS
from states.case import PRIORITIES, TIERS
from states.durations import parse_duration
from states.errors import PolicyError, shown
from states.horizon import check_reach
from states.points import PointSet
from states.points_config import read_notices, read_points
from states.policy import (
    BREACH_ACTIONS,
    CHANNELS,
    CLOCKS,
    DEFAULT_PAUSES,
    FORMAT,
    PAUSABLE,
    REOPEN_MODES,
    Duration,
    Policy,
)
from states.process import FIRST_LEVEL, ProcessDefinition
from states.tomlsource import NAME_ALLOWED, TEXT_ALLOWED, TomlSource, toml_type

_TOP_KEYS = ("format", "name", "version", "default_calendar", "warning_at", "calendars", "teams",
             "targets", "follow_up", "calendar_for", "on_breach", "notify", "reopen", "points",
             "notices", "wait_on_customer")  # fmt: skip


class PolicyReader:
    """Reads a parsed policy file, raising PolicyError with the key's line."""

    def __init__(self, src: TomlSource, process: ProcessDefinition) -> None:
        self.src = src
        self.ladder = process.level_names
        self.levels = (FIRST_LEVEL, *process.level_names)
        self.calendar_names: tuple[str, ...] = ()

    def fail(self, key: str, problem: str, allowed: str) -> PolicyError:
        return cast(PolicyError, self.src.error(PolicyError, key, f"{problem}; allowed: {allowed}"))

    def table(
        self, key: str, value: Any, allowed: tuple[str, ...] | None = None, what: str = "key"
    ) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, f"{shown(value)} is not a table", f"a [{key}] table")
        for name in value if allowed is not None else ():
            if name not in allowed:
                full = f"{key}.{name}" if key else name
                raise self.fail(full, f"unknown {what} {shown(name)}", ", ".join(allowed) or "none")
        return value

    def name(self, key: str, value: Any, allowed: str = NAME_ALLOWED) -> str:
        """A name or key (a calendar, a team, a recipient): see tomlsource.name_problem."""
        return self.src.name_at(key, value, allowed)

    def named_table(self, key: str, value: Any) -> dict:
        """A table whose keys are names (calendars, teams), each checked as a name is."""
        table = self.table(key, value)
        for name in table:
            self.name(f"{key}.{name}", name)
        return table

    def text(self, key: str, value: Any, allowed: str = TEXT_ALLOWED) -> str:
        """Free text (a reason, a notice): see tomlsource.text_problem."""
        return self.src.text_at(key, value, allowed)

    def choice(self, key: str, value: Any, allowed: tuple[str, ...], what: str = "value") -> str:
        if value not in allowed:
            raise self.fail(key, f"unknown {what} {shown(value)}", ", ".join(allowed))
        return value

    def integer(self, key: str, value: Any, minimum: int, maximum: int = 10_000) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.fail(
                key,
                f"{shown(value)} is not allowed",
                f"a whole number from {minimum} to {maximum:,}",
            )
        return value

    def duration(self, key: str, value: Any) -> Duration:
        try:
            return Duration(parse_duration(value, self.src.path, key), value)
        except PolicyError as exc:
            raise self.src.error(PolicyError, key, exc.problem) from None

    def names(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, f"{shown(value)} is not a list of names", '["maria.manager"]')
        return tuple(self.name(key, name) for name in value)

    def policy(self) -> Policy:
        data = self.table("", self.src.data, _TOP_KEYS)
        format_ = data.get("format", FORMAT)
        if toml_type(format_) != "an integer" or format_ != FORMAT:  # not true, nor 1.0
            raise self.fail("format", f"unsupported format {shown(format_)}", str(FORMAT))
        calendars = self.calendars(data.get("calendars"))
        points = read_points(self, data.get("points", {}))
        notify = self.table("notify", data.get("notify", {}), ("channel", "recipients"))
        reopen = self.table("reopen", data.get("reopen", {}), ("clocks",))
        waiting = self.table("wait_on_customer", data.get("wait_on_customer", {}), ("pauses",))
        policy = Policy(
            name=self.name("name", data.get("name")),
            version=self.name("version", data.get("version")),
            levels=self.levels,
            calendars=MappingProxyType(calendars),
            default_calendar=self.calendar_name("default_calendar", data.get("default_calendar")),
            team_calendars=MappingProxyType(self.teams(data.get("teams", {}))),
            warning_at=self.fraction("warning_at", data.get("warning_at", 0.8)),
            targets=MappingProxyType(self.targets(data.get("targets", {}))),
            calendar_for=MappingProxyType(self.calendar_for(data.get("calendar_for", {}))),
            follow_up_days=self.follow_up(data.get("follow_up", {})),
            on_breach=MappingProxyType(self.on_breach(data.get("on_breach", {}), points)),
            channel=self.choice("notify.channel", notify.get("channel", "email"), CHANNELS),
            recipients=MappingProxyType(self.recipients(notify.get("recipients", {}))),
            reopen_clocks=self.choice(
                "reopen.clocks", reopen.get("clocks", "restart"), REOPEN_MODES
            ),
            paused_while_waiting=self.pauses(waiting.get("pauses", list(DEFAULT_PAUSES))),
            points=points,
            notices=MappingProxyType(read_notices(self, data.get("notices"))),
            source_text=self.src.text,
            source=self.src.path,
        )
        check_reach(policy, self.fail)
        return policy

    def pauses(self, value: Any) -> frozenset[str]:
        key = "wait_on_customer.pauses"
        allowed = "a list of clocks from " + ", ".join(PAUSABLE) + ', such as ["resolution"]'
        if not isinstance(value, list):
            raise self.fail(key, f"{shown(value)} is not a list", allowed)
        for clock in value:
            if clock not in PAUSABLE:
                raise self.fail(key, f"unknown clock {shown(clock)}", allowed)
        return frozenset(value)

    def fraction(self, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise self.fail(
                key, f"{shown(value)} is out of range", "a fraction between 0 and 1, such as 0.8"
            )
        return float(value)

    def teams(self, raw: Any) -> dict[str, str]:
        table = self.named_table("teams", raw)
        return {team: self.calendar_name(f"teams.{team}", name) for team, name in table.items()}

    def follow_up(self, raw: Any) -> int | None:
        days = self.table("follow_up", raw, ("working_days",)).get("working_days")
        return None if days is None else self.integer("follow_up.working_days", days, 1)

    def calendars(self, raw: Any) -> dict[str, BusinessCalendar]:
        if raw is None:
            raise self.fail("calendars", "missing", "one or more [calendars.NAME] tables")
        calendars = {}
        for name, table in self.named_table("calendars", raw).items():
            try:
                calendars[name] = BusinessCalendar.from_config(name, table, self.src.path)
            except PolicyError as exc:
                raise self.src.error(PolicyError, exc.key, exc.problem) from None
        self.calendar_names = tuple(calendars)
        return calendars

    def calendar_name(self, key: str, value: Any) -> str:
        allowed = ", ".join(self.calendar_names) or "a [calendars.NAME] table"
        if value not in self.calendar_names:
            raise self.fail(key, f"unknown calendar {shown(value)}", allowed)
        return value

    def keys_of(self, clock: str) -> tuple[tuple[str, ...], str]:
        """The keys a clock's targets are given per, and what they are called."""
        if clock == "acknowledge":
            return self.levels, "level"
        if clock in ("first_response", "resolution"):
            return PRIORITIES, "priority"
        return (("all",) if clock == "escalation" else ()), "key"

    def targets(self, raw: Any) -> dict[str, Duration]:
        targets = {}
        for clock, table in self.table("targets", raw, CLOCKS[:4], "clock").items():
            keys, what = self.keys_of(clock)
            overrides = TIERS + CASE_CHANNELS
            table = self.table(
                f"targets.{clock}", table, keys + overrides, f"{what}, tier or channel"
            )
            for key, value in table.items():
                if key not in overrides:
                    targets[f"targets.{clock}.{key}"] = self.duration(
                        f"targets.{clock}.{key}", value
                    )
                    continue
                for sub, text in self.table(f"targets.{clock}.{key}", value, keys, what).items():
                    full = f"targets.{clock}.{key}.{sub}"
                    targets[full] = self.duration(full, text)
        return targets

    def calendar_for(self, raw: Any) -> dict[str, str]:
        chosen = {}
        for clock, value in self.table("calendar_for", raw, CLOCKS, "clock").items():
            if not isinstance(value, dict):
                chosen[f"calendar_for.{clock}"] = self.calendar_name(f"calendar_for.{clock}", value)
                continue
            keys, what = self.keys_of(clock)
            for key, name in self.table(f"calendar_for.{clock}", value, keys, what).items():
                full = f"calendar_for.{clock}.{key}"
                chosen[full] = self.calendar_name(full, name)
        return chosen

    def on_breach(self, raw: Any, points: PointSet) -> dict[str, str]:
        table = self.table("on_breach", raw, CLOCKS, "clock")
        actions = {}
        for clock in CLOCKS:
            action = self.choice(
                f"on_breach.{clock}", table.get(clock, "notify"), BREACH_ACTIONS, "action"
            )
            if action == "escalate" and not points.breach.enabled:
                raise self.fail(
                    f"on_breach.{clock}",
                    "escalate needs [points.breach] enabled",
                    "notify, none, or enable [points.breach]",
                )
            actions[clock] = action
        return actions

    def recipients(self, raw: Any) -> dict[str, tuple[str, ...]]:
        allowed = self.levels + tuple(f"{level}_miss" for level in self.levels)
        table = self.table("notify.recipients", raw, allowed, "level")
        return {key: self.names(f"notify.recipients.{key}", v) for key, v in table.items()}
