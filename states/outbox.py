"""The notification outbox: enqueue inside the command's transaction, deliver later.

Why an outbox: a notice (SLA warning, breach, escalation, customer notice) is
written in the same transaction as the change that causes it, so it exists
exactly when the change does; delivery happens afterwards, outside any
database transaction, and survives crashes and retries.

The table is :class:`states.tables.Notification`; the senders that deliver
(SMTP, file, console) are in :mod:`flows.senders`: delivery is I/O, not domain.

Delivery guarantees: a notification is claimed by one deliverer at a time
(``UPDATE … RETURNING``; PostgreSQL adds ``FOR UPDATE SKIP LOCKED``), so two
deliverers never hold the same row. A deliverer stops sending once half its
lease has passed and releases the rest, so a slow server cannot outlive a
claim. If a deliverer dies between sending and recording, its claim expires
after ``lease_seconds`` and the row is sent again: delivery is *at least
once*. SMTP messages carry a stable ``Message-ID`` per notification so a
receiver can drop such repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from time import monotonic
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from states import fields as check
from states.errors import DeliveryError, InvalidInput
from states.store import write_transaction
from states.tables import Notification

ACKNOWLEDGEMENT = "acknowledgement"
KINDS = ("sla_warning", "sla_breach", "ack_missed", "escalated", "follow_up_due", "customer_notice",
         ACKNOWLEDGEMENT)  # fmt: skip

CASE_NUMBER = "{case}"
"""Where the case number goes in a notice written before its case had one (a mail's
acknowledgement, decided with the case's opening): see :func:`numbered`."""


NOTIFICATION = Notification.__table__
_C = NOTIFICATION.c
# OutgoingMessage's fields, in order (the claim returns them; `to` is added after)
_MESSAGE_COLUMNS = (
    _C.id,
    _C.case_id,
    _C.kind,
    _C.recipient,
    _C.subject,
    _C.body,
    _C.created_at,
    _C.attempts,
)


@dataclass(frozen=True)
class NewNotification:
    """A notice to enqueue with :func:`enqueue_many`."""

    case_id: int | None
    kind: str
    recipient: str
    subject: str
    body: str
    dedupe_key: str | None = None
    due_at: datetime | None = None


def notification_row(notice: NewNotification, now: datetime) -> dict[str, Any]:
    """The table row for `notice`, validated (kind and recipient)."""
    if notice.kind not in KINDS:
        raise InvalidInput("kind", notice.kind, "one of " + ", ".join(KINDS))
    if not notice.recipient.strip():
        raise InvalidInput("recipient", notice.recipient, "an address or a role name")
    return {
        "case_id": notice.case_id,
        "kind": notice.kind,
        "recipient": notice.recipient,
        "subject": notice.subject,
        "body": notice.body,
        "dedupe_key": notice.dedupe_key,
        "due_at": notice.due_at,
        "created_at": now,
        "status": "pending",
        "attempts": 0,
    }


def _insert(conn: Connection) -> Any:
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(NOTIFICATION).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return stmt.returning(NOTIFICATION.c.id)


def enqueue(
    conn: Connection,
    *,
    case_id: int | None,
    kind: str,
    recipient: str,
    subject: str,
    body: str,
    now: datetime,
    dedupe_key: str | None = None,
    due_at: datetime | None = None,
) -> int | None:
    """Add a notice in the caller's transaction; None if ``dedupe_key`` was already used."""
    row = notification_row(
        NewNotification(case_id, kind, recipient, subject, body, dedupe_key, due_at), now
    )
    return conn.execute(_insert(conn).values(row)).scalar_one_or_none()


def enqueue_many(conn: Connection, rows: Iterable[NewNotification], *, now: datetime) -> int:
    """Add many notices in one statement; returns how many were new (not deduplicated)."""
    values = [notification_row(notice, now) for notice in rows]
    if not values:
        return 0
    return len(conn.execute(_insert(conn), values).all())


@dataclass(frozen=True)
class OutgoingMessage:
    """What a sender receives: ``to`` is the address after role mapping."""

    notification_id: int
    case_id: int | None
    kind: str
    recipient: str
    subject: str
    body: str
    created_at: datetime
    attempt: int
    to: str


def numbered(kind: str, case_id: int | None, subject: str, body: str) -> tuple[str, str]:
    """`subject` and `body` as sent: an acknowledgement's :data:`CASE_NUMBER` written as
    `case_id`, the first in the subject (what follows it is the customer's own text, where
    the same characters stay as written), every one in the body (tierflow's text alone).
    Other kinds are returned as they are."""
    if kind != ACKNOWLEDGEMENT or case_id is None:
        return subject, body
    number = str(case_id)
    return subject.replace(CASE_NUMBER, number, 1), body.replace(CASE_NUMBER, number)


#: How a customer notice names its recipient: ``customer:`` and the case's customer id.
CUSTOMER = "customer:"


def address_of(recipient: str, roles: Mapping[str, str]) -> str:
    """Where a notification to `recipient` goes: an address as it is; a customer's, the
    customer id when it is an address (a mail's sender is its case's customer); a role
    through `roles`. Left as it is when none applies (sinks write it; SMTP refuses it).

    A customer notice went to ``customer:jane@example.com`` as written: SMTP read that as
    a group named "customer" (it reached jane by accident of syntax)."""
    if "@" not in recipient:
        return roles.get(recipient, recipient)
    return recipient.removeprefix(CUSTOMER)


class Sender(Protocol):
    def send(self, message: OutgoingMessage) -> None:
        """Deliver or raise :class:`DeliveryError`."""


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    retried: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.failed + self.retried


def _claim(
    engine: Engine, *, now: datetime, worker: str, batch: int, lease_seconds: float
) -> list[Any]:
    """Claim up to ``batch`` deliverable rows (due pending ones, and expired claims)."""
    deliverable = or_(
        and_(_C.status == "pending", or_(_C.due_at.is_(None), _C.due_at <= now)),
        and_(_C.status == "sending", _C.claimed_at < now - timedelta(seconds=lease_seconds)),
    )
    ids = select(_C.id).where(deliverable).order_by(_C.id).limit(batch)
    if engine.dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    claim = (
        update(NOTIFICATION)
        .where(_C.id.in_(ids))
        .values(status="sending", claimed_by=worker, claimed_at=now, attempts=_C.attempts + 1)
        .returning(*_MESSAGE_COLUMNS)
    )
    with write_transaction(engine) as conn:
        return sorted(conn.execute(claim).all(), key=lambda row: row.id)


def _record(
    engine: Engine, ids: list[int], claim: tuple[str, datetime], values: dict[str, Any]
) -> None:
    """Write an outcome only where our claim still holds (a newer claim wins)."""
    if not ids:
        return
    worker, claimed_at = claim
    with write_transaction(engine) as conn:
        conn.execute(
            update(NOTIFICATION)
            .where(
                _C.id.in_(ids),
                _C.status == "sending",
                _C.claimed_by == worker,
                _C.claimed_at == claimed_at,
            )
            .values(values)
        )


_UNCLAIMED = {"status": "pending", "claimed_by": None, "claimed_at": None}


def _release(engine: Engine, untried: list[Any], claim: tuple[str, datetime]) -> None:
    """Hand claimed rows back untried: pending again, their attempt not counted."""
    values = {**_UNCLAIMED, "attempts": _C.attempts - 1}
    _record(engine, [row.id for row in untried], claim, values)


def _failure(
    error: DeliveryError, attempts: int, max_attempts: int, retry_at: datetime
) -> dict[str, Any]:
    """The row's new values after a failed attempt: retry at ``retry_at``, or give up."""
    if error.permanent or attempts >= max_attempts:
        return {"status": "failed", "last_error": error.problem}
    return {**_UNCLAIMED, "last_error": error.problem, "due_at": retry_at}


MAX_BATCH = 10_000
"""Messages claimed at once at most (`tierflow notify deliver --batch`)."""


def deliver_pending(
    engine: Engine,
    sender: Sender,
    *,
    now: datetime,
    worker: str,
    batch: int = 100,
    max_attempts: int = 5,
    lease_seconds: float = 300,
    retry_delay: timedelta = timedelta(minutes=1),
    recipients: Mapping[str, str] | None = None,
) -> DeliveryReport:
    """Claim one batch, send it outside any transaction, and record each outcome.

    Each claim counts an attempt. A transient :class:`DeliveryError` returns
    the row to ``pending`` with ``last_error``, due again after
    ``retry_delay * 2 ** (attempts - 1)``; a permanent one, or the
    ``max_attempts``-th failure, marks it ``failed``. Each outcome is committed
    right after its send, so a crash repeats at most the message in flight.
    Recipients are addressed by :func:`address_of`: roles (recipients without ``@``)
    map through ``recipients``; an unmapped role is passed on as is (sinks write it;
    `flows.senders.SmtpSender` fails it permanently). Any other exception from the
    sender is a bug: it is recorded on its row, the rest of the batch is released
    untried, and it propagates. Sending stops after ``lease_seconds / 2`` of wall time (a
    slow server): the rest of the batch is released for the next round.
    """
    check.whole_number("batch", batch, 1, MAX_BATCH)  # -1 was a LIMIT -1: every message
    check.whole_number("max_attempts", max_attempts, 1)
    claimed = _claim(engine, now=now, worker=worker, batch=batch, lease_seconds=lease_seconds)
    roles = recipients or {}
    claim = (worker, now)
    counts = {"sent": 0, "failed": 0, "pending": 0}
    stop_at = monotonic() + lease_seconds / 2
    for index, row in enumerate(claimed):
        if index and monotonic() > stop_at:
            _release(engine, claimed[index:], claim)
            break
        to = address_of(row.recipient, roles)
        subject, body = numbered(row.kind, row.case_id, row.subject, row.body)
        try:
            sender.send(replace(OutgoingMessage(*row, to=to), subject=subject, body=body))
            values: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": None}
        except Exception as exc:
            error = exc if isinstance(exc, DeliveryError) else DeliveryError(repr(exc))
            retry_at = now + retry_delay * 2 ** (row.attempts - 1)
            values = _failure(error, row.attempts, max_attempts, retry_at)
            if error is not exc:
                _record(engine, [row.id], claim, values)
                _release(engine, claimed[index + 1 :], claim)
                raise
        _record(engine, [row.id], claim, values)
        counts[values["status"]] += 1
    return DeliveryReport(sent=counts["sent"], failed=counts["failed"], retried=counts["pending"])


def deliver_due(
    engine: Engine,
    sender: Sender,
    *,
    clock: Callable[[], datetime],
    worker: str,
    batch: int = 100,
    max_batches: int | None = None,
) -> tuple[DeliveryReport, int]:
    """Deliver batch after batch (each claimed at `clock()`) until nothing is due, a batch
    sends nothing (what it could not send waits for its backoff), or `max_batches` ran.
    Returns the totals and how many batches claimed something."""
    check.whole_number("batch", batch, 1, MAX_BATCH)
    if max_batches is not None:
        check.whole_number("max_batches", max_batches, 1)
    total, batches = DeliveryReport(), 0
    while max_batches is None or batches < max_batches:
        report = deliver_pending(engine, sender, now=clock(), worker=worker, batch=batch)
        if report.claimed:
            batches += 1
        total = DeliveryReport(
            total.sent + report.sent, total.failed + report.failed, total.retried + report.retried
        )
        if report.claimed == 0 or report.sent == 0:
            break
    return total, batches
