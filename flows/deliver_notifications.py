"""Flow ``deliver_notifications``: drain the outbox through the configured sender."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow

from flows.runs import execute, utcnow, worker_name
from flows.runtime import Runtime
from states.outbox import deliver_pending


def deliver_job(runtime: Runtime, batch_size: int = 100, max_batches: int = 50) -> dict[str, int]:
    sender = runtime.sender()
    totals = {"sent": 0, "failed": 0, "retried": 0, "batches": 0}
    for _ in range(max_batches):
        report = asdict(
            deliver_pending(
                runtime.db, sender, now=utcnow(), worker=worker_name(), batch=batch_size
            )
        )
        if not any(report.values()):
            break
        totals["batches"] += 1
        for key, value in report.items():
            totals[key] += value
    return totals


@flow(name="deliver_notifications", log_prints=False)
async def deliver_notifications(batch_size: int = 100, max_batches: int = 50) -> dict[str, int]:
    """Send what the outbox holds (breach and warning notices, customer notices,
    follow-ups due) through the sender the settings name, at least once each; failed
    sends are retried with backoff by later runs. Returns sent/failed/retried."""
    return execute(
        "deliver_notifications", deliver_job, batch_size=batch_size, max_batches=max_batches
    )
