"""The timer sweep: claim due timers in batches and fire them through the engine.

Safe to run as many sweepers as you like, at the same time, and to kill any
of them at any point: each timer fires exactly once (see :mod:`states.timers`).
Timers are fired in due order, oldest first, so a case's warning fires before
its breach even when both are overdue; a sweep goes on until nothing is due,
so timers armed by what it fired (the next level's acknowledgement after a
missed one) fire in the same sweep when they are already due.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from states import fields as check
from states.engine import Engine
from states.instants import as_utc
from states.timers import LEASE, claim_due


@dataclass(slots=True)
class SweepReport:
    claimed: int = 0
    fired: int = 0  # timers that wrote events (their clock was still armed)
    stale: int = 0  # fired, but their clock had moved on: no effect
    lost: int = 0  # claimed, but no longer ours when firing: taken over after the lease,
    # cancelled by a transition that stopped the clock, or fired by another sweeper
    # along with its breach
    adopted: int = 0  # warnings of other sweepers fired here along with their breach
    events: int = 0
    notifications: int = 0
    batches: int = 0
    claim_seconds: float = 0.0
    fire_seconds: float = 0.0
    #: timers that wrote events, by clock and kind ("resolution warning", "follow_up due")
    by_kind: dict[str, int] = field(default_factory=dict)


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def sweep(
    engine: Engine,
    now: datetime,
    *,
    worker: str | None = None,
    batch: int = 2000,
    lease: timedelta = LEASE,
    max_batches: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> SweepReport:
    """Fire every timer due at `now`; returns what happened (with the time spent).

    `on_batch` hears how many timers each batch claimed (a progress bar's step).
    """
    check.name("worker", worker)  # recorded on every timer it claims
    now = as_utc("now", now)
    check.whole_number("batch", batch, 1)
    if max_batches is not None:
        check.whole_number("max_batches", max_batches, 1)
    check.positive_duration("lease", lease)
    worker = worker or default_worker()
    report = SweepReport()
    while max_batches is None or report.batches < max_batches:
        started = time.perf_counter()
        timers = claim_due(engine.db, now=now, worker=worker, limit=batch, lease=lease)
        claimed_at = time.perf_counter()
        report.claim_seconds += claimed_at - started
        if not timers:
            break
        fired = engine.fire_timers(timers, worker, now)
        report.fire_seconds += time.perf_counter() - claimed_at
        report.batches += 1
        report.claimed += len(timers)
        report.fired += fired.effective
        report.stale += fired.owned + fired.adopted - fired.effective
        report.lost += len(timers) - fired.owned
        report.adopted += fired.adopted
        report.events += fired.events
        report.notifications += fired.notifications
        for kind, count in fired.by_kind.items():
            report.by_kind[kind] = report.by_kind.get(kind, 0) + count
        if on_batch is not None:
            on_batch(len(timers))
    return report
