"""What a forger with write access to the database does, for the tests that catch it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, update

from states.events import GENESIS, seal
from states.store import CASE, EVENT, load_events, read_connection


def reseal(db: Engine, case_id: int, seq: int, **values: Any) -> None:
    """What a forger with write access does: edit event `seq`, recompute every hash from
    there with tierflow's own sealing, and move the case row's head to match."""
    with read_connection(db) as conn:
        events = load_events(conn, case_id)
    for name, value in values.items():
        setattr(events[seq - 1], name, value)
    head = seal(events[seq - 1 :], case_id, seq - 1, events[seq - 2].hash if seq > 1 else GENESIS)
    with db.begin() as conn:
        for event in events[seq - 1 :]:
            edited = values if event.seq == seq else {}
            conn.execute(
                update(EVENT)
                .where(EVENT.c.case_id == case_id, EVENT.c.seq == event.seq)
                .values(prev_hash=event.prev_hash, hash=event.hash, **edited)
            )
        conn.execute(update(CASE).where(CASE.c.id == case_id).values(last_hash=head))
