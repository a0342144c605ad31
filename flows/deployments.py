"""Deployments built from ``schedules.toml``: one per schedule, for `serve` and `deploy`.

Each schedule becomes a Prefect deployment named after it, running its flow
with its parameters on its cron or interval, in its time zone. A paused
schedule is deployed paused, so Prefect creates no runs for it; a pause
window is enforced by the flow (see :mod:`flows.runs`).
"""

from __future__ import annotations

from typing import Any

from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron, Interval, Schedule

from flows.catalogue import FLOWS
from flows.schedules import FlowSchedule, Schedules


def prefect_schedule(entry: FlowSchedule) -> Schedule:
    if entry.cron is not None:
        return Cron(entry.cron, timezone=entry.timezone, parameters=entry.parameters)
    return Interval(
        entry.interval,  # type: ignore[arg-type]
        anchor_date=entry.anchor,
        timezone=entry.timezone,
        parameters=entry.parameters,
    )


def build_deployments(schedules: Schedules, **options: Any) -> list[RunnerDeployment]:
    """One deployment per schedule; `options` go to `to_deployment` (e.g. work_pool_name)."""
    return [
        FLOWS[entry.flow].to_deployment(
            name=entry.name,
            schedules=[prefect_schedule(entry)],
            parameters=entry.parameters,
            paused=entry.paused,
            description=f"{entry.flow} on {entry.when} ({entry.timezone}), from {schedules.source}",
            tags=["tierflow"],
            entrypoint_type=EntrypointType.MODULE_PATH,
            **options,
        )
        for entry in schedules.entries.values()
    ]
