"""Read-side queries shared by the CLI and (later) the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, cast, func, select

from states import fields as check
from states.case import CaseSnapshot
from states.errors import CaseNotFound
from states.events import Event
from states.store import CASE, load_events, row_to_snapshot

MAX_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class CaseFilter:
    state: str | None = None
    level: str | None = None
    assignee: str | None = None
    priority: str | None = None
    customer_id: str | None = None
    team: str | None = None
    external_ref: str | None = None
    flag: str | None = None  # an escalation point that marked the case, e.g. repeat_customer
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        """Values no case can hold are refused, not sent to the database (see states.fields)."""
        for name in ("state", "level", "assignee", "priority", "customer_id", "team"):
            check.name(name, getattr(self, name))
        check.name("external_ref", self.external_ref)
        check.name("flag", self.flag)
        check.whole_number("limit", self.limit, 1, MAX_LIMIT)
        check.whole_number("offset", self.offset, 0)


def list_cases(conn: Connection, where: CaseFilter) -> tuple[list[CaseSnapshot], int]:
    """Cases matching `where` (oldest first) and the total count before the limit."""
    query = select(CASE)
    for column in ("state", "level", "assignee", "priority", "customer_id", "team", "external_ref"):
        value = getattr(where, column)
        if value is not None:
            query = query.where(CASE.c[column] == value)
    if where.flag is not None:  # flags is a JSON list of names, stored compact
        query = query.where(cast(CASE.c.flags, String).like(f'%"{where.flag}"%'))
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(CASE.c.id).limit(where.limit).offset(where.offset))
    return [row_to_snapshot(row) for row in rows], total


def get_case(conn: Connection, case_id: int) -> tuple[CaseSnapshot, list[Event]]:
    row = conn.execute(select(CASE).where(CASE.c.id == case_id)).first()
    if row is None:
        raise CaseNotFound(case_id)
    return row_to_snapshot(row), load_events(conn, case_id)


def case_ages(case: CaseSnapshot, now: datetime) -> dict[str, Any]:
    """How long the case has existed and how long it has sat in its current state."""
    return {
        "age": now - case.opened_at,
        "in_state": now - case.state_entered_at,
        "since_update": now - case.updated_at,
    }
