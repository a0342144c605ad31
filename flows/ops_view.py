"""What the ops page shows of each schedule: when it runs, its next and last runs, health.

One row per schedule of the file in force, joined with the run log
(:mod:`states.runlog`): the latest run of that schedule (its status, what it
counted, its error) and how its runs ended over the last day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from flows.schedules import Schedules
from states.runlog import RunRecord, last_runs, run_totals

HEALTH_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ScheduleView:
    name: str
    flow: str
    when: str
    timezone: str
    parameters: dict[str, Any]
    paused: bool
    paused_between: tuple[str, str] | None
    next_runs: list[datetime]
    last_run: RunRecord | None
    runs_last_day: dict[str, int] = field(default_factory=dict)
    scheduled: bool = True

    @property
    def state(self) -> str:
        if not self.scheduled:
            return "not scheduled (runs by hand: tierflow run)"
        text = "paused" if self.paused else "active"
        if self.paused_between:
            text += f", skips {self.paused_between[0]} to {self.paused_between[1]}"
        return text


def schedule_views(
    schedules: Schedules,
    db: Engine | None,
    now: datetime,
    count: int = 3,
    flows: Iterable[str] = (),
) -> list[ScheduleView]:
    """Every schedule with its next `count` runs and, when the database answers (`db`),
    its last run and the last day's runs by status; then each of `flows` (the
    catalogue) that no schedule runs, with its last run by hand."""
    last = last_runs(db) if db is not None else {}
    totals = run_totals(db, now - HEALTH_WINDOW) if db is not None else {}
    scheduled = {entry.flow for entry in schedules.entries.values()}
    unscheduled = [
        ScheduleView(
            name=flow,
            flow=flow,
            when="-",
            timezone=schedules.timezone,
            parameters={},
            paused=False,
            paused_between=None,
            next_runs=[],
            last_run=last.get(flow),
            runs_last_day=totals.get(flow, {}),
            scheduled=False,
        )
        for flow in flows
        if flow not in scheduled
    ]
    return [
        ScheduleView(
            name=entry.name,
            flow=entry.flow,
            when=entry.when,
            timezone=entry.timezone,
            parameters=entry.parameters,
            paused=entry.paused,
            paused_between=(
                (str(entry.paused_between[0]), str(entry.paused_between[1]))
                if entry.paused_between
                else None
            ),
            next_runs=entry.next_runs(now, count),
            last_run=last.get(entry.name),
            runs_last_day=totals.get(entry.name, {}),
        )
        for entry in schedules.entries.values()
    ] + unscheduled
