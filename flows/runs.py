"""What every tierflow flow run does around its work.

* one ``flow_run_log`` row per run (:mod:`states.runlog`), written at the start
  and completed at the end with the run's counts or its error;
* a run of a schedule inside its pause window (``paused_between`` in
  ``schedules.toml``) is skipped and says so: Prefect schedules have no
  exclusions, so the flow checks;
* Prefect's run logger is the one logger (outside a Prefect run, e.g. a
  flow's ``.fn()`` in tests, the ``tierflow`` logger Prefect configured);
* transient database errors are retried by Prefect with backoff: the work
  of each flow is one task, ``retry_condition_fn`` lets only those through.

The flows are ``async def`` though their work is synchronous (the database
calls block, which is fine: a run does nothing else meanwhile). Prefect 3.8.8
starts a heartbeat thread for every flow run that sleeps in one-second steps;
the synchronous flow engine waits for it when the run ends, so every sync run
ended up to a second after its work, idle. The async engine does not wait.
Call a flow with ``asyncio.run(flow(...))``; deployments and workers await it.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError
from prefect.logging import get_logger, get_run_logger
from prefect.states import State

from flows.runtime import Runtime
from states.errors import StoreError, TierflowError
from states.runlog import RunStart, finish_run, start_run

#: Backoff of a task's retries after a transient database error (seconds).
RETRY_DELAYS = [2, 10, 30]


def utcnow() -> datetime:
    return datetime.now(UTC)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The current Prefect run's logger, or tierflow's outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return get_logger("tierflow")


def is_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a task only when it failed on a database error that may pass."""
    try:
        state.result()
    except StoreError as exc:
        return exc.transient
    except Exception:
        return False
    return False


#: A flow's work: a plain function of the runtime and the flow's parameters that
#: returns what it counted. Flows wrap it; `tierflow run` without a Prefect API calls it.
Job = Callable[..., dict[str, Any]]


@cache
def work_task(job: Job) -> Task[..., dict[str, Any]]:
    """`job` as a Prefect task: retried on transient database errors with backoff, never
    cached (its inputs hold a database engine, and every run must do the work)."""
    return task(
        job,
        name=job.__name__.strip("_"),
        retries=len(RETRY_DELAYS),
        retry_delay_seconds=RETRY_DELAYS,
        retry_condition_fn=is_transient,
        cache_policy=NO_CACHE,
        persist_result=False,
    )


def execute(flow: str, job: Job, **parameters: Any) -> dict[str, Any]:
    """Run `job` as one run of `flow`: logged, skipped in a pause window, and, inside a
    Prefect flow run, as a task (so Prefect retries it); outside one, as a plain call."""
    runtime = Runtime.from_env()
    try:
        with logged_run(flow, runtime) as run:
            if run.skipped:
                return run.counts
            step = work_task(job) if FlowRunContext.get() is not None else job
            run.counts = step(runtime, **parameters)
            logger().info("%s: %s", flow, _summary(run.counts))
        return run.counts
    finally:
        runtime.close()  # a serving process runs many: none keeps this run's connections


def _summary(counts: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items()) or "nothing to do"


@dataclass
class Run:
    """A flow run in progress: its identity and what it counted."""

    flow: str
    run_id: str
    deployment: str | None
    counts: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


def _prefect_identity() -> tuple[str | None, str | None]:
    from prefect.runtime import deployment, flow_run

    run_id = flow_run.id
    return (str(run_id) if run_id else None), deployment.name


@contextmanager
def logged_run(flow: str, runtime: Runtime, now: datetime | None = None) -> Iterator[Run]:
    """Record one run of `flow` in the run log around the body.

    The body reads ``run.skipped``: when set (a pause window), it must do
    nothing. An exception is recorded on the row (``failed``) and re-raised,
    so Prefect sees the failure too. A start that cannot be recorded because
    the database is briefly away does not stop the run: the work is retried,
    and its end writes the whole row.
    """
    run_id, deployment = _prefect_identity()
    run = Run(flow, run_id or f"local-{uuid.uuid4()}", deployment)
    started = now or utcnow()
    record = RunStart(run.run_id, flow, worker_name(), started, deployment)
    try:
        start_run(runtime.db, record)
    except StoreError as exc:
        if not exc.transient:
            raise
        logger().warning("%s: could not record the start of run %s: %s", flow, run.run_id, exc)
    try:
        run.skipped = _pause_reason(runtime, deployment, started)
        yield run
    except BaseException as exc:
        error = str(exc) if isinstance(exc, TierflowError) else f"{type(exc).__name__}: {exc}"
        counts = getattr(exc, "counts", run.counts)
        finish_run(runtime.db, record, "failed", utcnow(), counts, error)
        raise
    status = "skipped" if run.skipped else "completed"
    if run.skipped:
        run.counts = {"skipped": run.skipped}
        logger().info("%s skipped: %s", flow, run.skipped)
    finish_run(runtime.db, record, status, utcnow(), run.counts)


def _pause_reason(runtime: Runtime, deployment: str | None, now: datetime) -> str | None:
    """Why a scheduled run of `deployment` must not work now, if it must not."""
    if deployment is None:
        return None
    schedules = runtime.schedules
    entry = schedules.entries.get(deployment)
    if entry is None or not entry.skips(now):
        return None
    first, last = entry.paused_between  # type: ignore[misc]
    return f"schedule {deployment} is paused from {first} to {last} ({schedules.source})"
