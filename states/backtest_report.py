"""Policy backtest over the stored histories: two policies, one history, the difference.

:func:`backtest` reads every case opened in a window (``opened_from`` included,
``opened_to`` excluded; each bound optional) on one read connection, replays
each history under the current and the new policy (:mod:`states.backtest`)
and compares them:

* warnings and breaches each policy would have had, per priority (the case's
  when the timer fired) and level (the acknowledging level for the
  acknowledge clock, else the case's level), and per clock;
* every clock round whose outcome changes (met → late, late → met, …);
* every escalation a breach would have fired (``on_breach.CLOCK = "escalate"``)
  that moves: earlier, later, only under the current policy (``not at all``
  under the new one) or only under the new one (``new``); ``recorded`` says the
  history holds it, as the escalation the live system made.

It writes nothing: no table is touched, the histories stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, func, select

from states.backtest import CaseRun, Escalation, Replayer, RoundKey, verdict
from states.policy import Policy
from states.process import FIRST_LEVEL, ProcessDefinition
from states.store import CASE, EVENT, row_to_event

SIDES = ("current", "new")


@dataclass(slots=True)
class Tally:
    warnings: int = 0
    breaches: int = 0


@dataclass(frozen=True, slots=True)
class OutcomeChange:
    case_id: int
    clock: str
    level: str
    started_at: str
    current: str
    new: str


@dataclass(frozen=True, slots=True)
class EscalationChange:
    case_id: int
    clock: str
    from_level: str
    to_level: str
    current_at: datetime | None
    new_at: datetime | None
    change: str  # earlier | later | not at all | new
    happened_at: datetime | None  # when the history's own breach escalation of the round was


@dataclass(slots=True)
class BacktestReport:
    current: Policy
    new: Policy
    opened_from: datetime | None
    opened_to: datetime | None
    until: datetime
    cases: int = 0
    events: int = 0
    by_priority_level: dict[tuple[str, str], dict[str, Tally]] = field(default_factory=dict)
    by_clock: dict[str, dict[str, Tally]] = field(default_factory=dict)
    changes: list[OutcomeChange] = field(default_factory=list)
    escalations: list[EscalationChange] = field(default_factory=list)
    unchanged_escalations: int = 0

    def totals(self) -> dict[str, Tally]:
        total = {side: Tally() for side in SIDES}
        for tallies in self.by_clock.values():
            for side, tally in tallies.items():
                total[side].warnings += tally.warnings
                total[side].breaches += tally.breaches
        return total

    def escalation_counts(self) -> dict[str, int]:
        counts = {"earlier": 0, "later": 0, "not at all": 0, "new": 0}
        for item in self.escalations:
            counts[item.change] += 1
        return {**counts, "unchanged": self.unchanged_escalations}

    def rows(self) -> list[tuple[tuple[str, str], dict[str, Tally]]]:
        """The per priority and level tallies, urgent first, each level bottom first."""
        levels = {name: rank for rank, name in enumerate(self.current.levels)}
        return sorted(
            self.by_priority_level.items(),
            key=lambda item: (_PRIORITY_ORDER.get(item[0][0], 9), levels.get(item[0][1], 99)),
        )

    def add(self, current: CaseRun, new: CaseRun, events: int) -> None:
        """Fold one case's two replays into the report."""
        self.cases += 1
        self.events += events
        for side, run in zip(SIDES, (current, new), strict=True):
            for mark in run.marks:
                for key, table in (
                    ((mark.priority, mark.level), self.by_priority_level),
                    (mark.clock, self.by_clock),
                ):
                    tally = table.setdefault(key, {s: Tally() for s in SIDES})[side]  # type: ignore[index]
                    if mark.kind == "warning":
                        tally.warnings += 1
                    else:
                        tally.breaches += 1
        self._outcomes(current, new)
        self._escalations(current, new)

    def _outcomes(self, current: CaseRun, new: CaseRun) -> None:
        for key in sorted({*current.rounds, *new.rounds}, key=lambda k: (k[1], k[0])):
            old_state, new_state = current.rounds.get(key), new.rounds.get(key)
            before, after = verdict(old_state), verdict(new_state)
            if before != after:
                state = old_state or new_state or {}
                self.changes.append(
                    OutcomeChange(
                        current.case_id,
                        key[0],
                        state.get("level") or FIRST_LEVEL,
                        state.get("started_at", ""),
                        before,
                        after,
                    )
                )

    def _escalations(self, current: CaseRun, new: CaseRun) -> None:
        old = _by_round(current.escalations)
        fresh = _by_round(new.escalations)
        for key in sorted({*old, *fresh}, key=lambda k: (k[1], k[0])):
            before, after = old.get(key), fresh.get(key)
            if before and after and before.at == after.at:
                self.unchanged_escalations += 1
                continue
            if before and after:
                change = "earlier" if after.at < before.at else "later"
            else:
                change = "not at all" if before else "new"
            either = before or after
            assert either is not None
            self.escalations.append(
                EscalationChange(
                    current.case_id,
                    key[0],
                    either.from_level,
                    either.to_level,
                    before.at if before else None,
                    after.at if after else None,
                    change,
                    current.recorded_escalations.get(key),
                )
            )

    def as_json(self) -> dict[str, Any]:
        def tallies(table: dict[str, Tally]) -> dict[str, dict[str, int]]:
            return {
                side: {"warnings": t.warnings, "breaches": t.breaches} for side, t in table.items()
            }

        return {
            "policies": {
                side: _policy_json(p)
                for side, p in zip(SIDES, (self.current, self.new), strict=True)
            },
            "opened_from": self.opened_from,
            "opened_to": self.opened_to,
            "timers_fired_until": self.until,
            "cases": self.cases,
            "events": self.events,
            "totals": tallies(self.totals()),
            "by_priority_level": [
                {"priority": priority, "level": level, **tallies(table)}
                for (priority, level), table in self.rows()
            ],
            "by_clock": {clock: tallies(table) for clock, table in sorted(self.by_clock.items())},
            "outcome_changes": [_as_dict(change) for change in self.changes],
            "cases_changed": len({change.case_id for change in self.changes}),
            "escalations": self.escalation_counts(),
            "escalation_changes": [_as_dict(item) for item in self.escalations],
        }


def backtest(
    conn: Connection,
    process: ProcessDefinition,
    current: Policy,
    new: Policy,
    *,
    until: datetime,
    opened_from: datetime | None = None,
    opened_to: datetime | None = None,
    on_case: Callable[[int], None] | None = None,
) -> BacktestReport:
    """Replay every case opened in [`opened_from`, `opened_to`) under both policies,
    firing timers up to `until`; reads through `conn` and writes nothing."""
    report = BacktestReport(current, new, opened_from, opened_to, until)
    old_replayer, new_replayer = Replayer(process, current), Replayer(process, new)
    for history in histories(conn, opened_from, opened_to):
        report.add(old_replayer.run(history, until), new_replayer.run(history, until), len(history))
        if on_case is not None:
            on_case(1)
    return report


def count_cases(conn: Connection, opened_from: datetime | None, opened_to: datetime | None) -> int:
    """How many cases a backtest of the window reads (a progress bar's total)."""
    return conn.execute(
        select(func.count()).select_from(CASE).where(*_window(opened_from, opened_to))
    ).scalar_one()


def histories(
    conn: Connection, opened_from: datetime | None, opened_to: datetime | None
) -> Iterator[list[Any]]:
    """Each case's events in order, case after case, read as one stream."""
    cases = select(CASE.c.id).where(*_window(opened_from, opened_to))
    query = (
        select(EVENT)
        .where(EVENT.c.case_id.in_(cases.scalar_subquery()))
        .order_by(EVENT.c.case_id, EVENT.c.seq)
    )
    rows = conn.execution_options(stream_results=True, yield_per=5000).execute(query)
    for _, group in groupby(rows, key=lambda row: row.case_id):
        yield [row_to_event(row) for row in group]


def _window(opened_from: datetime | None, opened_to: datetime | None) -> list[Any]:
    conditions = []
    if opened_from is not None:
        conditions.append(CASE.c.opened_at >= opened_from)
    if opened_to is not None:
        conditions.append(CASE.c.opened_at < opened_to)
    return conditions


def _by_round(escalations: list[Escalation]) -> dict[RoundKey, Escalation]:
    return {item.round: item for item in escalations}


_PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


def _policy_json(policy: Policy) -> dict[str, str]:
    return {"name": policy.name, "version": policy.version, "file": policy.source}


def _as_dict(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}
