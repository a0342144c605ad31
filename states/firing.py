"""Firing claimed SLA timers: the engine's other way of changing cases, driven by the
sweep instead of a person. A mixin of :class:`states.engine.Engine`, whose transaction,
reads and writes it uses; what each timer does is decided by
:meth:`states.decide.Decider.timer`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from states.batch import Work
from states.bulk import BulkStatements
from states.case import CaseSnapshot
from states.decide import Decider
from states.decision import DueTimer
from states.results import FireReport
from states.timers import adopt_warnings, mark_fired


class TimerFiring:
    """`Engine.fire_timers`: a mixin of :class:`states.engine.Engine`."""

    decider: Decider
    _bulk: BulkStatements
    _registered: bool

    # the engine's own steps (states.engine)
    _now: Callable[[datetime | None], datetime]
    _transaction: Callable[..., Any]
    _register: Callable[[Connection, datetime], None]
    _load: Callable[..., dict[int, CaseSnapshot]]
    _record: Callable[..., None]
    _write: Callable[[Connection, Work], None]

    def fire_timers(
        self, timers: Sequence[DueTimer], worker: str, now: datetime | None = None
    ) -> FireReport:
        """Fire claimed `timers` in one transaction: only those `worker` still owns.

        Each timer whose clock is still armed as it was writes its events
        (warning, breach, follow-up due, and an escalation where the policy
        says so) and its notifications; the rest are marked fired with no effect.
        """
        at = self._now(now)
        return self._transaction(lambda conn: self._fire_batch(conn, timers, worker, at), False, ())

    def _fire_batch(
        self, conn: Connection, timers: Sequence[DueTimer], worker: str, now: datetime
    ) -> tuple[FireReport, Work]:
        if not self._registered:
            self._register(conn, now)
        work = Work(self._now(None))
        # Case rows first, timer rows after: the order every write transaction
        # takes its locks in, so two sweepers (or a sweeper and a command) on the
        # same case wait for each other instead of deadlocking on PostgreSQL.
        work.snapshots = self._load(conn, {timer.case_id for timer in timers}, work)
        work.remember_read(self._bulk.values_of)
        owned = mark_fired(conn, [timer.id for timer in timers], worker, now)
        mine = [timer for timer in timers if timer.id in owned]
        unwarned = [
            timer
            for timer in mine
            if timer.kind == "breach" and _unwarned(work.snapshots.get(timer.case_id), timer)
        ]
        adopted = adopt_warnings(conn, unwarned, worker, now) if unwarned else []
        mine = sorted([*mine, *adopted], key=lambda timer: (timer.due_at, timer.id))
        report = FireReport(owned=len(owned), adopted=len(adopted))
        for timer in mine:
            snap = work.snapshots.get(timer.case_id)
            if snap is None:
                continue
            at = max(now, snap.updated_at)  # a sweep behind the case's history: not before it
            decision = self.decider.timer(snap, timer, at)
            if not decision.events:
                continue
            self._record(work, snap, decision, at)
            report.effective += 1
            kind = f"{timer.clock} {timer.kind}"
            report.by_kind[kind] = report.by_kind.get(kind, 0) + 1
            report.events += len(decision.events)
            report.notifications += len(decision.notifications)
        self._write(conn, work)
        return report, work


def _unwarned(snap: CaseSnapshot | None, timer: DueTimer) -> bool:
    """Whether the clock of breach `timer` may still have a warning waiting to fire."""
    state = snap.clocks.get(timer.clock) if snap is not None else None
    return bool(state and state.get("warn_at") and not state.get("warned"))
