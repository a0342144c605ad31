"""Everything the Case page shows about one case: the case, its timeline, its clock
ledger (every deadline and how it was computed) and the notifications it caused.
The same readings the CLI's ``case show`` and ``case clocks`` print."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from states.case import CaseSnapshot
from states.events import Event
from states.ledger import ClockView, clock_views
from states.outbox import numbered
from states.policy import Policy
from states.queries import case_ages, get_case
from states.tables import Notification

NOTIFICATION = Notification.__table__


@dataclass(frozen=True, slots=True)
class SentNotice:
    id: int
    kind: str
    recipient: str
    subject: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class CaseView:
    case: CaseSnapshot
    events: list[Event]
    clocks: list[ClockView]
    notices: list[SentNotice]
    ages: dict[str, timedelta]


def case_view(conn: Connection, case_id: int, policy: Policy, now: datetime) -> CaseView:
    """One case as of `now`; :class:`CaseNotFound` when there is none."""
    case, events = get_case(conn, case_id)
    rows = conn.execute(
        select(NOTIFICATION).where(NOTIFICATION.c.case_id == case_id).order_by(NOTIFICATION.c.id)
    )
    notices = [
        SentNotice(
            r.id,
            r.kind,
            r.recipient,
            numbered(r.kind, r.case_id, r.subject, "")[0],  # as it was sent
            r.status,
            r.created_at,
            r.sent_at,
            r.attempts,
            r.last_error,
        )
        for r in rows
    ]
    return CaseView(
        case, events, clock_views(conn, case, policy, now, events), notices, case_ages(case, now)
    )
