"""Durable timers and the clock ledger, as rows.

The engine records each clock change of a batch here and writes the net
effect in the batch's transaction: timers of a clock that starts, pauses,
resumes or stops are cancelled, the new deadlines are armed, and every
closed clock interval becomes a ``clock_segment`` row.

Firing is exactly once: :func:`claim_due` takes due timers with one
indexed ``UPDATE … RETURNING`` (on PostgreSQL the candidate rows are picked
``FOR UPDATE SKIP LOCKED``) and commits the claim; the firing transaction
then flips *its own* claims to ``fired`` (:func:`mark_fired`) together with
the events and notifications the timers cause. A sweeper that dies after
claiming leaves claims that expire after the lease and are taken again; a
claim taken over that way makes the old owner's ``mark_fired`` match nothing,
so its transaction writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select, text, update

from states import fields as check
from states.bulk import BulkStatements
from states.clock_effects import replaces_timers, timers_for
from states.decision import DueTimer
from states.events import Event, apply_change
from states.instants import as_utc
from states.store import read_connection, write_transaction
from states.tables import ClockSegment, Timer

TIMER = Timer.__table__
LEASE = timedelta(minutes=5)  # a claim older than this is a dead sweeper's: due again
SEGMENT = ClockSegment.__table__
_DUE_TIMER = (
    TIMER.c.id,
    TIMER.c.case_id,
    TIMER.c.clock,
    TIMER.c.kind,
    TIMER.c.generation,
    TIMER.c.due_at,
)  # the columns of a DueTimer, in order


@dataclass(slots=True)
class TimerWrites:
    """Net timer and ledger changes of one batch, in the order they happened.

    `cancel` names every (case, clock) whose timers the batch replaced; `write`
    sends the database only those of clocks that had a state before the batch
    (`unarmed` holds the others). Timers are only ever armed from a clock's
    changes, which give the case that clock's state, and a state is never
    removed, nor a case: a clock without one has no timer row to cancel. So a
    case's opening and its first escalation send no cancelling statement.

    The rows' times from clock states (a timer's ``due_at``, a segment's
    ``started_at`` and ``ended_at``) are those states' ISO-8601 texts, which the
    statements take as they are (see :func:`states.time_texts.sqlite_time`).
    """

    cancel: set[tuple[int, str]] = field(default_factory=set)
    unarmed: set[tuple[int, str]] = field(default_factory=set)
    arm: dict[tuple[int, str], list[dict[str, Any]]] = field(default_factory=dict)
    segments: list[dict[str, Any]] = field(default_factory=list)

    def record(self, event: Event, clocks: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Note `event`'s clock changes; `clocks` are the case's clock states before it.

        Returns the states after it, as :func:`states.fold_rules.clocks_after` gives them
        (`clocks` itself when the event changes none): each change's new state is worked
        out here anyway, and the fold takes them instead of working them out again."""
        changes = event.payload.get("clocks")
        if not changes:
            return clocks
        current = dict(clocks)
        case_id, seq = event.case_id, event.seq
        for change in changes:
            name = change["clock"]
            key = (case_id, name)
            if name not in current:
                self.unarmed.add(key)  # type: ignore[arg-type]
            current[name] = state = apply_change(current, change)
            if replaces_timers(change):
                self.cancel.add(key)  # type: ignore[arg-type]
                self.arm[key] = []  # type: ignore[index]
            for kind, due_at in timers_for(change, state):
                self.arm.setdefault(key, []).append(
                    {  # type: ignore[arg-type]
                        "case_id": case_id,
                        "clock": name,
                        "kind": kind,
                        "generation": seq,
                        "due_at": due_at,  # the clock state's text (see BulkStatements)
                        "status": "pending",
                        "created_at": now,
                    }
                )
            segment = change.get("segment")
            if segment:
                self.segments.append({**segment, "case_id": case_id, "seq": seq})
        return current

    def write(self, conn: Connection, bulk: BulkStatements) -> None:
        """Send the batch's net changes: each kind of statement only when it has rows
        (most commands change one or two of the three)."""
        if self.cancel:
            bulk.cancel_timers(conn, sorted(self.cancel - self.unarmed))
        if self.arm:
            bulk.insert_rows(conn, TIMER, list(chain.from_iterable(self.arm.values())))
        if self.segments:
            bulk.insert_rows(conn, SEGMENT, self.segments)


def claim_due(
    db: Engine, *, now: datetime, worker: str, limit: int, lease: timedelta = LEASE
) -> list[DueTimer]:
    """Claim up to `limit` due timers (oldest first) and commit the claim.

    Claims older than `lease` (their sweeper died or hangs) are due again.
    """
    now = as_utc("now", now)
    check.whole_number("limit", limit, 1)
    check.positive_duration("lease", lease)
    with write_transaction(db) as conn:
        expired = _claim(
            conn,
            (TIMER.c.status == "claimed") & (TIMER.c.claimed_at < now - lease),
            TIMER.c.claimed_at,
            limit,
            worker,
            now,
        )
        due = (
            _claim(
                conn,
                (TIMER.c.status == "pending") & (TIMER.c.due_at <= now),
                TIMER.c.due_at,
                limit - len(expired),
                worker,
                now,
            )
            if limit > len(expired)
            else []
        )
        rows = expired + due
    timers = [DueTimer(*row) for row in rows]
    timers.sort(key=lambda timer: (timer.due_at, timer.id))
    return timers


def count_due(db: Engine, *, now: datetime, lease: timedelta = LEASE) -> int:
    """Timers due at `now`, and claims older than `lease`: what a sweep would take."""
    with read_connection(db) as conn:
        return sum(
            conn.execute(select(func.count()).select_from(TIMER).where(condition)).scalar_one()
            for condition in (
                (TIMER.c.status == "pending") & (TIMER.c.due_at <= now),
                (TIMER.c.status == "claimed") & (TIMER.c.claimed_at < now - lease),
            )
        )


def _claim(
    conn: Connection, condition: Any, order: Any, limit: int, worker: str, now: datetime
) -> list[Any]:
    """One indexed UPDATE … RETURNING over the first `limit` rows matching `condition`."""
    candidates = select(TIMER.c.id).where(condition).order_by(order).limit(limit)
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    return list(
        conn.execute(
            update(TIMER)
            .where(TIMER.c.id.in_(candidates.scalar_subquery()))
            .values(status="claimed", claimed_by=worker, claimed_at=now)
            .returning(*_DUE_TIMER)
        ).all()
    )


def mark_fired(conn: Connection, timer_ids: list[int], worker: str, now: datetime) -> set[int]:
    """Flip `worker`'s claims among `timer_ids` to fired; returns the ids it still owned."""
    owned: set[int] = set()
    for start in range(0, len(timer_ids), 500):
        chunk = timer_ids[start : start + 500]
        owned.update(
            conn.execute(
                update(TIMER)
                .where(
                    and_(
                        TIMER.c.id.in_(chunk),
                        TIMER.c.status == "claimed",
                        TIMER.c.claimed_by == worker,
                    )
                )
                .values(status="fired", fired_at=now)
                .returning(TIMER.c.id)
            ).scalars()
        )
    return owned


def adopt_warnings(
    conn: Connection, breaches: list[DueTimer], worker: str, now: datetime
) -> list[DueTimer]:
    """The due warnings of the clocks whose breach is being fired, taken over and fired too.

    Two sweepers may split a clock's warning and breach between them; the one
    firing the breach takes the warning along (whoever claimed it), so the
    history always shows the warning first and each timer still fires once:
    the other sweeper's ``mark_fired`` then finds the warning already fired.
    """
    adopted: list[DueTimer] = []
    for timer in breaches:
        if timer.kind != "breach":
            continue
        adopted.extend(
            DueTimer(*row)
            for row in conn.execute(
                update(TIMER)
                .where(
                    TIMER.c.case_id == timer.case_id,
                    TIMER.c.clock == timer.clock,
                    TIMER.c.generation == timer.generation,
                    TIMER.c.kind == "warning",
                    TIMER.c.due_at <= now,
                    text("status IN ('pending', 'claimed')"),
                )
                .values(status="fired", fired_at=now, claimed_by=worker, claimed_at=now)
                .returning(*_DUE_TIMER)
            )
        )
    return adopted
