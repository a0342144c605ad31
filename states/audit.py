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
    """What is wrong with the chain: gaps in the numbering (each gap once), links to
    anything but the event before, and events whose content no longer matches its hash."""
    problems = []
    previous, expected = GENESIS, 1
    for event in events:
        if event.seq > expected:
            gap = (
                f"#{expected}" if event.seq == expected + 1 else f"#{expected} to #{event.seq - 1}"
            )
            problems.append(f"event {gap} is missing")
        elif event.seq < expected:
            problems.append(f"event #{event.seq} appears again after #{expected - 1}")
        if event.prev_hash != previous:
            problems.append(f"event #{event.seq} does not link to the event before it")
        if event.compute_hash() != event.hash:
            problems.append(f"event #{event.seq} ({event.type}) was altered: hash mismatch")
        previous, expected = event.hash, max(expected, event.seq + 1)
    return problems


def projection_problems(stored: CaseSnapshot, replayed: CaseSnapshot) -> list[str]:
    """Fields of the stored row that differ from the replayed case; for the clock
    states and other documents, only the keys that differ (a whole state is kilobytes)."""
    problems = []
    for name in FIELD_NAMES:
        mine, theirs = getattr(stored, name), getattr(replayed, name)
        if mine == theirs:
            continue
        if isinstance(mine, dict) and isinstance(theirs, dict):
            problems.append(f"field {name}: {'; '.join(_dict_differences(mine, theirs))}")
        else:
            problems.append(f"field {name}: stored {mine!r}, replayed {theirs!r}")
    return problems


def _dict_differences(stored: dict, replayed: dict, prefix: str = "", most: int = 5) -> list[str]:
    found: list[str] = []
    for key in sorted(set(stored) | set(replayed), key=str):
        mine, theirs = stored.get(key, _ABSENT), replayed.get(key, _ABSENT)
        if mine == theirs:
            continue
        path = f"{prefix}{key}"
        if isinstance(mine, dict) and isinstance(theirs, dict):
            found.extend(_dict_differences(mine, theirs, f"{path}.", most))
        else:
            found.append(f"{path} stored {mine!r}, replayed {theirs!r}")
    if len(found) > most:
        return [*found[:most], f"and {len(found) - most} more"]
    return found


_ABSENT = "(absent)"


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
