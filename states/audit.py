"""Replay and verification of a case's history.

`replay` folds the stored events into a fresh projection; `verify` checks
the hash chain event by event and compares the replayed projection with the
stored case row, field by field, so an edited event, a removed one, or a
projection written behind the engine's back is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, select

from states.case import FIELD_NAMES, CaseSnapshot
from states.errors import CaseNotFound, IntegrityError
from states.events import GENESIS, Event, fold
from states.store import CASE, load_events, read_connection, row_to_snapshot


@dataclass(slots=True)
class Verification:
    case_id: int
    events: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def replay(conn: Connection, case_id: int) -> tuple[CaseSnapshot, list[Event]]:
    events = load_events(conn, case_id)
    if not events:
        raise CaseNotFound(case_id)
    try:
        return fold(events), events
    except ValueError as exc:
        raise IntegrityError(case_id, [str(exc)]) from None


def chain_problems(events: list[Event]) -> list[str]:
    problems = []
    previous = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            problems.append(f"event #{expected_seq} is missing (found seq {event.seq})")
        if event.prev_hash != previous:
            problems.append(f"event #{event.seq} does not link to the event before it")
        if event.compute_hash() != event.hash:
            problems.append(f"event #{event.seq} ({event.type}) was altered: hash mismatch")
        previous = event.hash
    return problems


def projection_problems(stored: CaseSnapshot, replayed: CaseSnapshot) -> list[str]:
    return [
        f"field {name}: stored {getattr(stored, name)!r}, replayed {getattr(replayed, name)!r}"
        for name in FIELD_NAMES
        if getattr(stored, name) != getattr(replayed, name)
    ]


def verify_case(conn: Connection, case_id: int) -> Verification:
    row = conn.execute(select(CASE).where(CASE.c.id == case_id)).first()
    if row is None:
        raise CaseNotFound(case_id)
    events = load_events(conn, case_id)
    result = Verification(case_id, len(events), chain_problems(events))
    if not events:
        result.problems.append("the case has no history")
        return result
    try:
        replayed = fold(events)
    except (KeyError, TypeError, ValueError) as exc:
        result.problems.append(f"history cannot be replayed: {type(exc).__name__}: {exc}")
        return result
    result.problems.extend(projection_problems(row_to_snapshot(row), replayed))
    return result


def verify_all(engine: Engine) -> list[Verification]:
    with read_connection(engine) as conn:
        ids = [row.id for row in conn.execute(select(CASE.c.id).order_by(CASE.c.id))]
        return [verify_case(conn, case_id) for case_id in ids]
