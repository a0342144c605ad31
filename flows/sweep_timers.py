"""Flow ``sweep_timers``: fire every SLA timer that is due, every minute by default."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow

from flows.runs import logged_run, logger, utcnow, work_task
from flows.runtime import Runtime
from states.sweep import sweep


@work_task
def _sweep(runtime: Runtime, batch_size: int) -> dict[str, int | float]:
    report = sweep(runtime.engine, utcnow(), batch=batch_size)
    return asdict(report)


@flow(name="sweep_timers", log_prints=False)
def sweep_timers(batch_size: int = 2000) -> dict[str, int | float]:
    """Fire the SLA timers that are due (warnings, breaches, missed acknowledgements,
    follow-ups due), in batches of `batch_size`, each timer exactly once however many
    sweepers run. Returns what fired."""
    runtime = Runtime.from_env()
    with logged_run("sweep_timers", runtime) as run:
        if run.skipped:
            return run.counts
        run.counts = _sweep(runtime, batch_size)
        logger().info(
            "swept: %(claimed)s claimed, %(fired)s fired, %(stale)s stale, %(events)s events, "
            "%(notifications)s notices",
            run.counts,
        )
    return run.counts
