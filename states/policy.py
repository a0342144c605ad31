"""The SLA and escalation policy: targets, calendars, breach actions, points.

A policy TOML file becomes an immutable :class:`Policy` (read by
:mod:`states.policy_config`), validated against the
:class:`~states.process.ProcessDefinition` whose level names it uses.
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
from typing import Any, NamedTuple

from states.calendar import BusinessCalendar
from states.case import CHANNELS as CASE_CHANNELS
from states.case import PRIORITIES, TIERS
from states.errors import InvalidInput, PolicyError
from states.points import PointSet
from states.process import FIRST_LEVEL, ProcessDefinition, load_process
from states.tomlsource import VersionedText, parse_toml, read_toml

FORMAT = 1
CLOCKS = ("first_response", "acknowledge", "resolution", "escalation", "follow_up")
BREACH_ACTIONS = ("notify", "escalate", "none")
REOPEN_MODES = ("continue", "restart")
CHANNELS = ("email", "chat", "webhook", "log")
PAUSABLE = CLOCKS[:4]  # follow_up runs after resolution, when no case waits on its customer
DEFAULT_PAUSES = ("resolution", "escalation")


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
        """The calendar `name`; one look-up on the planner's path (each clock it closes or
        arms asks), the refusal only for a name the policy lacks."""
        try:
            return self.calendars[name]
        except KeyError:
            raise InvalidInput("calendar", name, "one of " + ", ".join(self.calendars)) from None

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
    from states.policy_config import PolicyReader  # it builds this module's Policy

    source = read_toml(path or default_policy_path(), PolicyError)
    return PolicyReader(source, process or load_process()).policy()


def parse_policy(
    text: str, source: str = "<policy>", process: ProcessDefinition | None = None
) -> Policy:
    from states.policy_config import PolicyReader  # it builds this module's Policy

    return PolicyReader(parse_toml(text, source, PolicyError), process or load_process()).policy()
