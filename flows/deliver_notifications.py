"""Flow ``deliver_notifications``: drain the outbox through the configured sender."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from annotated_types import Interval
from prefect import flow

from flows.runs import execute, utcnow, worker_name
from flows.runtime import Runtime
from states.outbox import MAX_BATCH, deliver_due

#: Messages per claim, as `tierflow notify deliver --batch` allows; and claims per run.
BatchSize = Annotated[int, Interval(ge=1, le=MAX_BATCH)]
Batches = Annotated[int, Interval(ge=1, le=10_000)]


def deliver_job(
    runtime: Runtime, batch_size: BatchSize = 100, max_batches: Batches = 50
) -> dict[str, int]:
    total, batches = deliver_due(
        runtime.db,
        runtime.sender(),
        clock=utcnow,
        worker=worker_name(),
        batch=batch_size,
        max_batches=max_batches,
    )
    return {**asdict(total), "batches": batches}


@flow(name="deliver_notifications", log_prints=False)
async def deliver_notifications(
    batch_size: BatchSize = 100, max_batches: Batches = 50
) -> dict[str, int]:
    """Send what the outbox holds (breach and warning notices, customer notices,
    follow-ups due) through the sender the settings name, at least once each; failed
    sends are retried with backoff by later runs. Returns sent/failed/retried."""
    return execute(
        "deliver_notifications", deliver_job, batch_size=batch_size, max_batches=max_batches
    )
