"""Cases and events from their rows: the reads every module shares (re-exported by
:mod:`states.store`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from states.case import FIELD_NAMES, CaseSnapshot
from states.dimensions import COLUMNS
from states.events import Event
from states.tables import CaseEvent

EVENT = CaseEvent.__table__


def row_to_snapshot(row: Any) -> CaseSnapshot:
    mapping = row._mapping
    snap = CaseSnapshot(**{name: mapping[name] for name in FIELD_NAMES})
    snap.flags = list(snap.flags or [])
    snap.extra = dict(snap.extra or {})
    return snap


def load_events(conn: Connection, case_id: int) -> list[Event]:
    rows = conn.execute(select(EVENT).where(EVENT.c.case_id == case_id).order_by(EVENT.c.seq))
    return [row_to_event(row) for row in rows]


def row_to_event(row: Any, payload: dict[str, Any] | None = None) -> Event:
    """An event from its row; `payload` when the caller decoded the row's JSON itself
    (a bulk read selects it as text and decodes it faster than the column type does)."""
    return Event(
        type=row.type,
        occurred_at=row.occurred_at,
        actor=row.actor,
        from_state=row.from_state,
        to_state=row.to_state,
        from_level=row.from_level,
        to_level=row.to_level,
        payload=dict(row.payload or {}) if payload is None else payload,
        case_id=row.case_id,
        seq=row.seq,
        command_id=row.command_id,
        idempotency_key=row.idempotency_key,
        format=row.format,
        prev_hash=row.prev_hash,
        hash=row.hash,
        recorded_at=row.recorded_at,
        command_hash=row.command_hash,
        **{name: row._mapping[name] for name in COLUMNS},
    )
