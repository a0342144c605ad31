"""Folding a period's history into review figures, one case at a time.

Where an event counts (the metric definitions of the review):

* Each event counts in the period [start, end) its ``occurred_at`` falls in,
  for the desk, for the **level that acted** and for the **team holding the
  case after it** (teams change by assignment, routing and updates). The
  acting level is the case's level (``first_level`` while open or with a
  first-level agent); for a case that is resolved, the level that resolved it.
* ``opened``: cases opened (first_level on the level view). ``escalated_in``:
  escalations that brought a case to a level (desk and teams: every escalation).
* ``handled``: distinct cases the group held at some instant of the period
  (an unresolved case sitting at a level all period long counts).
* ``escalations``: escalations out of the group; ``escalation_rate`` =
  escalations / handled. Reasons count the reason text; points the escalation
  point an escalation cited (``by hand`` when none); ``points_fired`` the
  escalation points that marked a case (``flagged`` events).
* ``resolved``: resolutions (a case resolved twice counts twice);
  ``reopens`` at the level that resolved the case; ``reopen_rate`` = reopens
  / resolutions of the same period.
* ``time_in_state``: stays (a case entering a state, at a level, until it
  leaves it) that ended in the period, whole, in business time of the team's
  calendar (the policy's ``[teams]``, else ``default_calendar``), as SLA
  clocks without a ``calendar_for`` override count. Labels are the state, and
  ``state:LEVEL`` for states that carry a level. Median and p90 (linear
  interpolation between closest ranks) in business hours.
* ``breaches`` per clock: ``sla_breached`` events. ``near_misses`` per clock:
  rounds of a clock that stopped in the period ``met`` after a warning fired.
* ``satisfaction``: scores given at follow-ups in the period (count, mean,
  distribution 1-5), at the level that resolved the case.
* ``repeat_cases`` / ``repeat_customers``: cases the repeat-customer point
  marked in the period, and their distinct customers.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from states.policy import Policy
from states.process import FIRST_LEVEL, ProcessDefinition

REPEAT_POINT = "repeat_customer"
BY_HAND = "by hand"
SCORES = (1, 2, 3, 4, 5)
_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Durations:
    """Business time of `count` stays: median and p90 in hours (2 decimals)."""

    count: int
    median_hours: float
    p90_hours: float

    @classmethod
    def of(cls, seconds: list[int]) -> Durations:
        if not seconds:
            return cls(0, 0.0, 0.0)
        hours = sorted(s / _HOUR for s in seconds)
        p90 = (
            hours[0]
            if len(hours) == 1
            else statistics.quantiles(hours, n=10, method="inclusive")[8]
        )
        return cls(len(hours), round(statistics.median(hours), 2), round(p90, 2))


@dataclass(frozen=True, slots=True)
class Satisfaction:
    count: int
    mean: float | None  # 2 decimals; None without scores
    distribution: dict[int, int]  # every score 1-5, zero included


@dataclass(slots=True)
class Figures:
    """Everything the review says about one group: the desk, a level or a team."""

    kind: str  # desk | level | team
    name: str
    opened: int = 0
    escalated_in: int = 0
    handled: int = 0
    resolved: int = 0
    escalations: int = 0
    reopens: int = 0
    escalation_reasons: dict[str, int] = field(default_factory=dict)
    escalation_points: dict[str, int] = field(default_factory=dict)
    points_fired: dict[str, int] = field(default_factory=dict)
    breaches: dict[str, int] = field(default_factory=dict)  # per clock
    near_misses: dict[str, int] = field(default_factory=dict)  # per clock
    time_in_state: dict[str, Durations] = field(default_factory=dict)
    satisfaction: Satisfaction = field(default_factory=lambda: Satisfaction(0, None, {}))
    repeat_cases: int = 0
    repeat_customers: int = 0

    @property
    def escalation_rate(self) -> float | None:
        return round(self.escalations / self.handled, 4) if self.handled else None

    @property
    def reopen_rate(self) -> float | None:
        return round(self.reopens / self.resolved, 4) if self.resolved else None


@dataclass(slots=True)
class _Tally:
    """Running totals of one group while the fold reads the history."""

    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    points: Counter[str] = field(default_factory=Counter)
    fired: Counter[str] = field(default_factory=Counter)
    breaches: Counter[str] = field(default_factory=Counter)
    near: Counter[str] = field(default_factory=Counter)
    stays: dict[str, list[int]] = field(default_factory=dict)
    scores: list[int] = field(default_factory=list)
    handled: set[int] = field(default_factory=set)
    repeat: set[int] = field(default_factory=set)
    customers: set[str] = field(default_factory=set)

    def figures(self, kind: str, name: str, order: Callable[[str], Any]) -> Figures:
        c = self.counts
        mean = round(statistics.fmean(self.scores), 2) if self.scores else None
        return Figures(
            kind, name, opened=c["opened"], escalated_in=c["escalated_in"],
            handled=len(self.handled), resolved=c["resolved"], escalations=c["escalations"],
            reopens=c["reopens"], escalation_reasons=_sorted(self.reasons),
            escalation_points=_sorted(self.points), points_fired=_sorted(self.fired),
            breaches=_sorted(self.breaches), near_misses=_sorted(self.near),
            time_in_state={k: Durations.of(self.stays[k]) for k in sorted(self.stays, key=order)},
            satisfaction=Satisfaction(
                len(self.scores), mean, {s: self.scores.count(s) for s in SCORES}
            ),
            repeat_cases=len(self.repeat), repeat_customers=len(self.customers),
        )  # fmt: skip


def _sorted(counter: Counter[str]) -> dict[str, int]:
    """Most frequent first, then by name: the order a reader scans."""
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def closed_states(definition: ProcessDefinition) -> tuple[str, ...]:
    """States in which no level holds the case: where ``resolve`` and ``follow_up`` lead."""
    return tuple(
        sorted(
            {
                t.dest
                for t in definition.transitions
                if t.trigger in ("resolve", "follow_up") and t.dest
            }
        )
    )


@dataclass(slots=True)
class _Case:
    """What the fold knows of the case it is reading."""

    id: int
    customer: str
    state: str
    level: str | None
    team: str | None
    stay_since: datetime
    resolved_by: str | None = None
    warnings: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # clock: warned, breached


class ReviewFold:
    """Reads events in (case, seq) order and tallies them per group; see the module doc."""

    def __init__(
        self,
        policy: Policy,
        definition: ProcessDefinition,
        start: datetime,
        end: datetime,
        team_label: str,
    ) -> None:
        self.policy = policy
        self.start, self.end = start, end
        self.team_label = team_label
        self.closed = frozenset(closed_states(definition))
        self.carries_level = frozenset(s.name for s in definition.states if s.carries_level)
        self.order = {name: rank for rank, name in enumerate(definition.state_names)}
        self.order.update((level, rank) for rank, level in enumerate(definition.level_names))
        self.tallies: dict[tuple[str, str], _Tally] = {}
        self._desk = self._tally("desk", "desk")
        self.case: _Case | None = None
        self.events_read = 0

    # -- reading ----------------------------------------------------------------------

    def event(
        self,
        case_id: int,
        kind: str,
        at: datetime,
        from_state: str | None,
        to_state: str,
        from_level: str | None,
        to_level: str | None,
        payload: dict[str, Any] | None,
    ) -> None:
        """Fold one event; events come in case order, each case's in sequence."""
        self.events_read += 1
        payload = payload or {}
        case = self.case
        if case is None or case.id != case_id:
            self.finish()
            case = self.case = _Case(
                case_id, payload.get("customer_id", ""), to_state, None,
                payload.get("team"), at,
            )  # fmt: skip
            if kind != "opened":  # a history that does not start with its opening
                case.state, case.level = from_state or to_state, from_level
        team_before = case.team
        _team_change(case, kind, payload)
        counted = self.start <= at < self.end
        acting = self._position(case.state, case.level) or case.resolved_by or FIRST_LEVEL
        if kind == "resolve":
            case.resolved_by = acting
        if counted:
            tallies = (
                self._desk,
                self._tally("level", acting),
                self._tally("team", self._team(case.team)),
            )
            self._count(case, kind, payload, to_level, tallies)
        for change in payload.get("clocks") or ():
            if _near_miss(case.warnings, change) and counted:
                for tally in tallies:
                    tally.near[change["clock"]] += 1
        if kind != "opened" and (to_state != case.state or to_level != case.level):
            self._stay(case, at, team_before)
            case.stay_since = at
        case.state, case.level = to_state, to_level

    def finish(self) -> None:
        """Close the case being read: its current stay runs on past the period's end."""
        case, self.case = self.case, None
        if case is not None and self._position(case.state, case.level) is not None:
            self._held(case, case.stay_since, self.end, case.team)

    # -- results ------------------------------------------------------------------------

    def group(self, kind: str, name: str) -> Figures:
        tally = self.tallies.get((kind, name)) or _Tally()
        return tally.figures(kind, name, self._label_order)

    def _label_order(self, label: str) -> tuple[int, int]:
        """States in process order; a state's levels bottom of the ladder first."""
        state, _, level = label.partition(":")
        return self.order.get(state, len(self.order)), self.order.get(level, -1)

    def team_names(self) -> list[str]:
        names = sorted(name for kind, name in self.tallies if kind == "team")
        return [n for n in names if n != self.team_label] + (
            [self.team_label] if self.team_label in names else []
        )

    def calendar_of(self, team: str) -> str:
        return self.policy.team_calendars.get(team, self.policy.default_calendar)

    # -- helpers --------------------------------------------------------------------------

    def _tally(self, kind: str, name: str) -> _Tally:
        tally = self.tallies.get((kind, name))
        if tally is None:
            tally = self.tallies[(kind, name)] = _Tally()
        return tally

    def _team(self, team: str | None) -> str:
        return team or self.team_label

    def _position(self, state: str, level: str | None) -> str | None:
        """The level holding a case in `state`: None once resolved."""
        if state in self.closed:
            return None
        return level if state in self.carries_level and level else FIRST_LEVEL

    def _count(
        self,
        case: _Case,
        kind: str,
        payload: dict[str, Any],
        to_level: str | None,
        tallies: tuple[_Tally, ...],
    ) -> None:
        desk, _, team = tallies
        if kind == "opened":
            for tally in tallies:
                tally.counts["opened"] += 1
        elif kind == "escalate":
            for tally in tallies:
                tally.counts["escalations"] += 1
                tally.reasons[payload.get("reason") or "(no reason)"] += 1
                tally.points[payload.get("point") or BY_HAND] += 1
            for tally in (desk, team, self._tally("level", to_level or FIRST_LEVEL)):
                tally.counts["escalated_in"] += 1
        elif kind in ("resolve", "reopen"):
            for tally in tallies:
                tally.counts["resolved" if kind == "resolve" else "reopens"] += 1
        elif kind == "follow_up" and payload.get("satisfaction") is not None:
            for tally in tallies:
                tally.scores.append(int(payload["satisfaction"]))
        elif kind == "sla_breached":
            for tally in tallies:
                tally.breaches[payload.get("clock", "?")] += 1
        elif kind == "flagged":
            point = payload.get("point") or payload.get("flag", "?")
            for tally in tallies:
                tally.fired[point] += 1
                if payload.get("flag") == REPEAT_POINT:
                    tally.repeat.add(case.id)
                    tally.customers.add(case.customer)

    def _stay(self, case: _Case, ended: datetime, team: str | None) -> None:
        """A stay in one state (and level) ended at `ended`: its time counts if it ended
        in the period, and the groups that held the case handled it."""
        position = self._position(case.state, case.level)
        if position is not None:
            self._held(case, case.stay_since, ended, team)
        if not self.start <= ended < self.end:
            return
        label = f"{case.state}:{case.level}" if case.state in self.carries_level else case.state
        team_name = self._team(team)
        calendar = self.policy.calendar(self.calendar_of(team_name))
        seconds = int(calendar.elapsed(case.stay_since, ended).total_seconds())
        groups = [("desk", "desk"), ("team", team_name)]
        if position is not None:
            groups.append(("level", position))
        for kind, name in groups:
            self._tally(kind, name).stays.setdefault(label, []).append(seconds)

    def _held(self, case: _Case, since: datetime, until: datetime, team: str | None) -> None:
        """Count the case as handled by the groups holding it, when this stay overlaps the
        period (a stay of no length inside it counts: an escalation at intake)."""
        if since >= self.end or (until <= self.start and since < self.start):
            return
        position = self._position(case.state, case.level) or FIRST_LEVEL
        for kind, name in (("desk", "desk"), ("level", position), ("team", self._team(team))):
            self._tally(kind, name).handled.add(case.id)


def _team_change(case: _Case, kind: str, payload: dict[str, Any]) -> None:
    """Teams change by assignment, by a routing point, or by an update."""
    team = payload.get("team") if kind in ("assign", "flagged") else None
    if kind == "updated":
        team = (payload.get("changes") or {}).get("team")
    if team:
        case.team = team


def _near_miss(warnings: dict[str, tuple[bool, bool]], change: dict[str, Any]) -> bool:
    """Follow whether the current round of a clock was warned or breached (from the clock
    changes the event carries); True when `change` stops a warned round that was met."""
    clock, moved = change["clock"], change["state"]
    warned, breached = (
        (False, False) if change["op"] == "start" else warnings.get(clock, (False, False))
    )
    warned, breached = moved.get("warned", warned), moved.get("breached", breached)
    warnings[clock] = (warned, breached)
    return change["op"] == "stop" and warned and not breached and moved.get("outcome") == "met"
