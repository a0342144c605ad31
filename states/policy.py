"""The SLA and escalation policy: targets, calendars, breach actions, points.

A policy TOML file becomes an immutable :class:`Policy`, validated against
the :class:`~states.process.ProcessDefinition` whose level names it uses.
Like the process, a policy is identified by :attr:`Policy.version_id` and
keeps its exact text, so a case's deadlines can always be explained by the
policy they were computed under. Every error is a :class:`PolicyError` that
names the file, the line, the key, what is wrong and what is allowed.

Lookups are pure: :meth:`Policy.target` says how long a clock may run and in
which calendar (and from which TOML key that came), :meth:`Policy.breach_plan`
what a missed target does. The escalation points themselves are evaluated in
:mod:`states.points`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, cast

from states.calendar import BusinessCalendar
from states.case import CHANNELS as CASE_CHANNELS
from states.case import PRIORITIES, TIERS
from states.durations import parse_duration
from states.errors import InvalidInput, PolicyError
from states.horizon import check_reach
from states.points import PointSet
from states.points_config import read_notices, read_points
from states.process import FIRST_LEVEL, ProcessDefinition, load_process
from states.tomlsource import TomlSource, VersionedText, parse_toml, read_toml

FORMAT = 1
CLOCKS = ("first_response", "acknowledge", "resolution", "escalation", "follow_up")
BREACH_ACTIONS = ("notify", "escalate", "none")
REOPEN_MODES = ("continue", "restart")
CHANNELS = ("email", "chat", "webhook", "log")
PAUSABLE = CLOCKS[:4]  # follow_up runs after resolution, when no case waits on its customer
DEFAULT_PAUSES = ("resolution", "escalation")
_TOP_KEYS = ("format", "name", "version", "default_calendar", "warning_at", "calendars", "teams",
             "targets", "follow_up", "calendar_for", "on_breach", "notify", "reopen", "points",
             "notices", "wait_on_customer")  # fmt: skip


def default_policy_path() -> Path:
    return Path(__file__).with_name("defaults") / "policy.toml"


class Duration(NamedTuple):
    value: timedelta
    text: str  # as written in the policy, e.g. "PT48H"


@dataclass(frozen=True)
class Target:
    """How long a clock may run, counted in which calendar, and why.

    `duration` is None for a clock counted in working days (`follow_up`);
    use :meth:`due_at` to get a deadline either way. `source_key` is the TOML
    key the figure came from and `calendar_key` the one that chose the
    calendar, so a deadline can say how it was computed.
    """

    duration: timedelta | None
    calendar: BusinessCalendar
    warning_at: float | None
    source_key: str
    clock: str = ""
    calendar_key: str = ""
    working_days: int | None = None
    text: str = ""

    def due_at(self, start: datetime) -> datetime:
        """The deadline of a clock that started at `start` and never paused."""
        if self.duration is None:
            return self.calendar.add_working_days(start, self.working_days or 1)
        return self.calendar.add(start, self.duration)

    def warning_due_at(self, start: datetime) -> datetime | None:
        """When the warning fires (`warning_at` of the duration), or None."""
        if self.duration is None or self.warning_at is None:
            return None
        return self.calendar.add(start, self.duration * self.warning_at)

    def describe(self) -> str:
        kind = "calendar" if self.calendar.always_open else "business"
        amount = (
            f"{self.working_days} working days"
            if self.duration is None
            else f"{self.text} of {kind} time"
        )
        return (
            f"{self.clock}: {amount} in calendar {self.calendar.name!r} "
            f"({self.source_key}; calendar from {self.calendar_key})"
        )


@dataclass(frozen=True)
class BreachPlan:
    """What a missed target does: `action` is ``escalate``, ``notify`` or ``none``.

    A miss at a level is told to the level's own recipients and to
    ``LEVEL_miss`` (the next on the list, who hears of that level's misses);
    an escalation also tells the level taking over. At the top of the
    ladder an ``escalate`` becomes ``notify``.
    """

    clock: str
    level: str
    action: str
    to_level: str | None
    recipients: tuple[str, ...]
    source_key: str


@dataclass(frozen=True)
class Policy(VersionedText):
    """An immutable, validated policy. Keys of `targets` / `calendar_for` are TOML keys."""

    name: str
    version: str
    levels: tuple[str, ...]  # first_level, then the ladder, bottom first
    calendars: Mapping[str, BusinessCalendar]
    default_calendar: str
    team_calendars: Mapping[str, str]
    warning_at: float
    targets: Mapping[str, Duration]  # "targets.resolution.vip.urgent" -> duration
    calendar_for: Mapping[str, str]  # "calendar_for.acknowledge.board" -> calendar name
    follow_up_days: int | None
    on_breach: Mapping[str, str]
    channel: str
    recipients: Mapping[str, tuple[str, ...]]
    reopen_clocks: str
    paused_while_waiting: frozenset[str]
    points: PointSet
    notices: Mapping[str, str]
    source_text: str = field(repr=False)
    source: str = ""

    def __hash__(self) -> int:
        return hash((self.digest, self.levels))

    def calendar(self, name: str) -> BusinessCalendar:
        if name not in self.calendars:
            raise InvalidInput("calendar", name, "one of " + ", ".join(self.calendars))
        return self.calendars[name]

    def target(
        self,
        clock: str,
        *,
        priority: str,
        level: str | None,
        tier: str,
        team: str | None = None,
        channel: str | None = None,
    ) -> Target | None:
        """The target of `clock` for a case, or None when the policy sets none.

        Keys: priority for first_response/resolution, level for acknowledge
        (None is first_level), ``all`` for escalation. A tier sub-table wins
        over a channel sub-table, which wins over the plain key: what a
        customer's contract promises comes before what a channel usually
        gets. The calendar is ``calendar_for.CLOCK.KEY``, then
        ``calendar_for.CLOCK``, then the team's, then ``default_calendar``.
        """
        _check("clock", clock, CLOCKS)
        _check("priority", priority, PRIORITIES)
        _check("tier", tier, TIERS)
        if channel is not None:
            _check("channel", channel, CASE_CHANNELS)
        level = level or FIRST_LEVEL
        _check("level", level, self.levels)
        key = {"acknowledge": level, "escalation": "all"}.get(clock, priority)
        calendar_key = self._calendar_key(clock, key, team)
        calendar_name = self.calendar_for.get(calendar_key) or self.team_calendars.get(
            team or "", self.default_calendar
        )
        calendar = self.calendars[calendar_name]
        if clock == "follow_up":
            if self.follow_up_days is None:
                return None
            return Target(
                None, calendar, None, "follow_up.working_days", clock=clock,
                calendar_key=calendar_key, working_days=self.follow_up_days,
            )  # fmt: skip
        overrides = (tier, channel) if channel is not None else (tier,)
        for source_key in (
            *(f"targets.{clock}.{o}.{key}" for o in overrides),
            f"targets.{clock}.{key}",
        ):
            if source_key in self.targets:
                duration = self.targets[source_key]
                return Target(
                    duration.value, calendar, self.warning_at, source_key, clock=clock,
                    calendar_key=calendar_key, text=duration.text,
                )  # fmt: skip
        return None

    def _calendar_key(self, clock: str, key: str, team: str | None) -> str:
        for candidate in (f"calendar_for.{clock}.{key}", f"calendar_for.{clock}"):
            if candidate in self.calendar_for:
                return candidate
        return f"teams.{team}" if team in self.team_calendars else "default_calendar"

    def breach_plan(
        self, clock: str, *, level: str | None, process: ProcessDefinition
    ) -> BreachPlan:
        """What a breach of `clock` at `level` (None: first level) does; see BreachPlan."""
        _check("clock", clock, CLOCKS)
        level = level or FIRST_LEVEL
        action = self.on_breach[clock]
        source_key = f"on_breach.{clock}"
        if action == "none":
            return BreachPlan(clock, level, action, None, (), source_key)
        told = tuple(
            dict.fromkeys(self.recipients.get(level, ()) + self.recipients.get(f"{level}_miss", ()))
        )
        above = process.next_level(None if level == FIRST_LEVEL else level)
        if action == "escalate" and above is not None:
            recipients = tuple(dict.fromkeys(told + self.recipients.get(above.name, ())))
            return BreachPlan(clock, level, action, above.name, recipients, source_key)
        return BreachPlan(clock, level, "notify", None, told, source_key)


def _check(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidInput(name, value, "one of " + ", ".join(allowed))


def load_policy(path: str | Path | None = None, process: ProcessDefinition | None = None) -> Policy:
    """Load and validate a policy file (the shipped default when `path` is None)
    against `process` (the shipped default process when None)."""
    source = read_toml(path or default_policy_path(), PolicyError)
    return _Reader(source, process or load_process()).policy()


def parse_policy(
    text: str, source: str = "<policy>", process: ProcessDefinition | None = None
) -> Policy:
    return _Reader(parse_toml(text, source, PolicyError), process or load_process()).policy()


class _Reader:
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
            raise self.fail(key, f"{value!r} is not a table", f"a [{key}] table")
        for name in value if allowed is not None else ():
            if name not in allowed:
                full = f"{key}.{name}" if key else name
                raise self.fail(full, f"unknown {what} {name!r}", ", ".join(allowed) or "none")
        return value

    def text(self, key: str, value: Any, allowed: str = "a non-empty text") -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"{value!r} is not a non-empty text", allowed)
        return value.strip()

    def choice(self, key: str, value: Any, allowed: tuple[str, ...], what: str = "value") -> str:
        if value not in allowed:
            raise self.fail(key, f"unknown {what} {value!r}", ", ".join(allowed))
        return value

    def integer(self, key: str, value: Any, minimum: int, maximum: int = 10_000) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.fail(
                key, f"{value!r} is not allowed", f"a whole number from {minimum} to {maximum:,}"
            )
        return value

    def duration(self, key: str, value: Any) -> Duration:
        try:
            return Duration(parse_duration(value, self.src.path, key), value)
        except PolicyError as exc:
            raise self.src.error(PolicyError, key, exc.problem) from None

    def names(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, f"{value!r} is not a list of names", '["maria.manager"]')
        return tuple(v.strip() for v in value)

    def policy(self) -> Policy:
        data = self.table("", self.src.data, _TOP_KEYS)
        if data.get("format", FORMAT) != FORMAT:
            raise self.fail("format", f"unsupported format {data.get('format')!r}", str(FORMAT))
        calendars = self.calendars(data.get("calendars"))
        points = read_points(self, data.get("points", {}))
        notify = self.table("notify", data.get("notify", {}), ("channel", "recipients"))
        reopen = self.table("reopen", data.get("reopen", {}), ("clocks",))
        waiting = self.table("wait_on_customer", data.get("wait_on_customer", {}), ("pauses",))
        policy = Policy(
            name=self.text("name", data.get("name")),
            version=self.text("version", data.get("version")),
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
            raise self.fail(key, f"{value!r} is not a list", allowed)
        for clock in value:
            if clock not in PAUSABLE:
                raise self.fail(key, f"unknown clock {clock!r}", allowed)
        return frozenset(value)

    def fraction(self, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise self.fail(
                key, f"{value!r} is out of range", "a fraction between 0 and 1, such as 0.8"
            )
        return float(value)

    def teams(self, raw: Any) -> dict[str, str]:
        table = self.table("teams", raw)
        return {team: self.calendar_name(f"teams.{team}", name) for team, name in table.items()}

    def follow_up(self, raw: Any) -> int | None:
        days = self.table("follow_up", raw, ("working_days",)).get("working_days")
        return None if days is None else self.integer("follow_up.working_days", days, 1)

    def calendars(self, raw: Any) -> dict[str, BusinessCalendar]:
        if raw is None:
            raise self.fail("calendars", "missing", "one or more [calendars.NAME] tables")
        calendars = {}
        for name, table in self.table("calendars", raw).items():
            try:
                calendars[name] = BusinessCalendar.from_config(name, table, self.src.path)
            except PolicyError as exc:
                raise self.src.error(PolicyError, exc.key, exc.problem) from None
        self.calendar_names = tuple(calendars)
        return calendars

    def calendar_name(self, key: str, value: Any) -> str:
        allowed = ", ".join(self.calendar_names) or "a [calendars.NAME] table"
        if value not in self.calendar_names:
            raise self.fail(key, f"unknown calendar {value!r}", allowed)
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
