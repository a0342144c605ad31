"""What commands did: the engine's results, and those of commands already applied.

A command repeated with the idempotency key it was applied with gets its first
result back (``replayed=True``), read from the events it wrote: the keyed event
is the command's first, and the command's others follow it on its case's chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from states.commands import Command, fingerprint
from states.errors import IdempotencyConflict
from states.events import Event
from states.store import EVENT, row_to_event


@dataclass(slots=True)
class Result:
    """What one command did. ``replayed`` is True for an idempotent repeat."""

    case_id: int
    version: int
    state: str
    level: str | None
    events: list[Event] = field(default_factory=list)
    replayed: bool = False


@dataclass(slots=True)
class FireReport:
    """What one call of `fire_timers` did."""

    owned: int = 0  # claims still ours when firing
    adopted: int = 0  # warnings fired along with their breach, whoever had claimed them
    effective: int = 0  # timers whose clock was still armed: they wrote events
    events: int = 0
    notifications: int = 0
    #: effective timers by clock and kind, e.g. {"acknowledge breach": 2, "follow_up due": 1}
    by_kind: dict[str, int] = field(default_factory=dict)


def earlier_results(conn: Connection, commands: Sequence[Command]) -> dict[str, Result]:
    """Results of commands whose idempotency key was already applied (and stored)."""
    keyed = {c.idempotency_key: c for c in commands if c.idempotency_key}
    if not keyed:
        return {}
    found: dict[str, Result] = {}
    rows = conn.execute(
        select(
            EVENT.c.idempotency_key,
            EVENT.c.case_id,
            EVENT.c.seq,
            EVENT.c.command_id,
            EVENT.c.command_hash,
        ).where(EVENT.c.idempotency_key.in_(list(keyed)))
    ).all()
    for key, case_id, first_seq, command_id, command_hash in rows:
        if command_hash != fingerprint(keyed[key]):
            raise IdempotencyConflict(key)
        # The keyed event is its command's first: the rest follow it on the case's
        # chain (read through the (case, seq) key; command ids are not indexed).
        events = [
            row_to_event(row)
            for row in conn.execute(
                select(EVENT)
                .where(
                    EVENT.c.case_id == case_id,
                    EVENT.c.seq >= first_seq,
                    EVENT.c.command_id == command_id,
                )
                .order_by(EVENT.c.seq)
            )
        ]
        version = conn.execute(
            select(EVENT.c.command_id)
            .where(EVENT.c.case_id == case_id, EVENT.c.seq <= events[-1].seq)
            .distinct()
        ).all()
        last = events[-1]
        found[key] = Result(
            last.case_id,
            len(version),
            last.to_state,
            last.to_level,  # type: ignore[arg-type]
            events,
            replayed=True,
        )
    return found


def as_replay(result: Result) -> Result:
    return Result(
        result.case_id, result.version, result.state, result.level, result.events, replayed=True
    )
