"""The flow run log: one row per flow run, so ops see flow health from the database.

A run's row is written when it starts (``running``) and completed when it
ends (``completed``, ``failed`` with the error, or ``skipped`` with the
reason); a retry of the same run (same ``run_id``) updates that row and
counts the attempt. A row still ``running`` long after its start is a run
whose process died: :func:`recent_runs` shows it as it is, and Prefect marks
the run crashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from states.store import read_connection, write_transaction
from states.tables import FlowRunLog

RUN = FlowRunLog.__table__
STATUSES = ("running", "completed", "failed", "skipped")
MAX_ERROR = 2_000


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    flow: str
    deployment: str | None
    worker: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    attempts: int
    counts: dict[str, Any]
    error: str | None


@dataclass(frozen=True, slots=True)
class RunStart:
    """Who is running what, since when: enough to write the row at either end."""

    run_id: str
    flow: str
    worker: str
    started_at: datetime
    deployment: str | None = None


def start_run(db: Engine, run: RunStart) -> None:
    """Record that `run` started (again, for a retry of the same run: one more attempt)."""
    with write_transaction(db) as conn:
        attempts = conn.execute(
            select(RUN.c.attempts).where(RUN.c.run_id == run.run_id)
        ).scalar_one_or_none()
        if attempts is None:
            conn.execute(RUN.insert().values(**_started(run), status="running", attempts=1))
        else:
            conn.execute(
                RUN.update()
                .where(RUN.c.run_id == run.run_id)
                .values(
                    worker=run.worker,
                    started_at=run.started_at,
                    finished_at=None,
                    status="running",
                    attempts=attempts + 1,
                    error=None,
                )
            )


def finish_run(
    db: Engine,
    run: RunStart,
    status: str,
    now: datetime,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Complete `run`'s row: how it ended, what it counted, why it failed. Writes the
    whole row when its start could not be recorded (the database was away then)."""
    if status not in STATUSES[1:]:
        raise ValueError(f"status {status!r}; allowed: {', '.join(STATUSES[1:])}")
    ended = {
        "finished_at": now,
        "status": status,
        "counts": counts or {},
        "error": error[:MAX_ERROR] if error else None,
    }
    with write_transaction(db) as conn:
        updated = conn.execute(RUN.update().where(RUN.c.run_id == run.run_id).values(**ended))
        if updated.rowcount == 0:
            conn.execute(RUN.insert().values(**_started(run), **ended, attempts=1))


def _started(run: RunStart) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "flow": run.flow,
        "deployment": run.deployment,
        "worker": run.worker,
        "started_at": run.started_at,
    }


def recent_runs(db: Engine, flow: str | None = None, limit: int = 50) -> list[RunRecord]:
    """The latest runs, newest first (of one flow, or of all)."""
    query = select(RUN).order_by(RUN.c.started_at.desc(), RUN.c.id.desc()).limit(limit)
    if flow is not None:
        query = query.where(RUN.c.flow == flow)
    with read_connection(db) as conn:
        return [
            RunRecord(**{name: getattr(row, name) for name in RunRecord.__slots__})
            for row in conn.execute(query)
        ]


def last_runs(db: Engine) -> dict[str, RunRecord]:
    """The latest run of each schedule, keyed by its deployment (a run started by hand,
    without one, by its flow's name): one grouped query, however long the log."""
    key = func.coalesce(RUN.c.deployment, RUN.c.flow)
    latest = select(key.label("key"), func.max(RUN.c.id).label("id")).group_by(key).subquery()
    query = select(RUN).join(latest, RUN.c.id == latest.c.id)
    with read_connection(db) as conn:
        return {
            (row.deployment or row.flow): RunRecord(
                **{name: getattr(row, name) for name in RunRecord.__slots__}
            )
            for row in conn.execute(query)
        }


def run_totals(db: Engine, since: datetime) -> dict[str, dict[str, int]]:
    """How many runs of each schedule (keyed as in :func:`last_runs`) ended in each
    status since `since`: a schedule's health at a glance."""
    key = func.coalesce(RUN.c.deployment, RUN.c.flow)
    query = (
        select(key.label("key"), RUN.c.status, func.count().label("runs"))
        .where(RUN.c.started_at >= since)
        .group_by(key, RUN.c.status)
    )
    totals: dict[str, dict[str, int]] = {}
    with read_connection(db) as conn:
        for row in conn.execute(query):
            totals.setdefault(row.key, {})[row.status] = row.runs
    return totals
