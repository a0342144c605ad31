"""Flow ``deliver_notifications``: drain the outbox through the configured sender."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow

from flows.runs import logged_run, logger, utcnow, work_task, worker_name
from flows.runtime import Runtime
from states.outbox import deliver_pending


@work_task
def _deliver(runtime: Runtime, batch_size: int, max_batches: int) -> dict[str, int]:
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
            totals[key] = totals.get(key, 0) + value
    return totals


@flow(name="deliver_notifications", log_prints=False)
def deliver_notifications(batch_size: int = 100, max_batches: int = 50) -> dict[str, int]:
    """Send what the outbox holds (breach and warning notices, customer notices,
    follow-ups due) through the sender the settings name, at least once each;
    failed sends are retried with backoff by later runs. Returns sent/failed/retried."""
    runtime = Runtime.from_env()
    with logged_run("deliver_notifications", runtime) as run:
        if run.skipped:
            return run.counts
        run.counts = _deliver(runtime, batch_size, max_batches)
        logger().info(
            "delivered: %(sent)s sent, %(failed)s failed, %(retried)s to retry", run.counts
        )
    return run.counts
