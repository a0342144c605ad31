"""Flow ``sweep_timers``: fire every SLA timer that is due, every minute by default."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from annotated_types import Interval
from prefect import flow

from flows.runs import execute, utcnow
from flows.runtime import Runtime
from states.sweep import sweep

#: Timers per transaction, as `tierflow sweep --batch` allows.
BatchSize = Annotated[int, Interval(ge=1, le=100_000)]


def sweep_job(runtime: Runtime, batch_size: BatchSize = 2000) -> dict[str, Any]:
    report = asdict(sweep(runtime.engine, utcnow(), batch=batch_size))
    report["seconds"] = round(report.pop("claim_seconds") + report.pop("fire_seconds"), 3)
    return report


@flow(name="sweep_timers", log_prints=False)
async def sweep_timers(batch_size: BatchSize = 2000) -> dict[str, Any]:
    """Fire the SLA timers that are due (warnings, breaches, missed acknowledgements,
    follow-ups due), in batches of `batch_size`, each timer exactly once however many
    sweepers run. Returns what fired."""
    return execute("sweep_timers", sweep_job, batch_size=batch_size)
