"""SQLModel tables. Defined once here; hot paths write them with Core statements.

Timestamps are stored as UTC and always come back timezone-aware
(:class:`states.stored_types.UTCDateTime`), on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from states.case import DEADLINE_CLOCKS, DEADLINE_COLUMNS
from states.json_sql import moved
from states.stored_types import UTCDateTime

SCHEMA_VERSION = 7  # 2: flow_run_log gained run_id, counts, error; 3: suppressed notifications;
# 4: fewer indexes written by every command; 5: events carry the case's team, priority,
# channel and assignee; 6: cases carry their running deadlines; 7: and a spent clock's
# deadline through a wait (see states.migrations)

#: The dashboard's filters (states.dimensions), last in its indexes: a filtered count
#: reads the same index range as an unfiltered one and compares them there, with no
#: lookup of a row per entry.
_FILTERS = ("team", "priority", "channel", "assignee")


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Case(SQLModel, table=True):
    """The current projection of a case (rebuildable from `case_event`)."""

    __tablename__ = "case"
    __table_args__ = (
        Index("ix_case_customer_opened", "customer_id", "opened_at"),
        # An agent's cases (`case list --assignee`); and, whole, how many cases a filter
        # keeps (the Pipeline page's closed cases: that count less the others), read as a
        # scan of narrow entries instead of the closed state's range of a wide index. The
        # entries change when the assignee does, as before, and with team, priority or
        # channel, which change far less often.
        Index("ix_case_assignee", "assignee", "team", "priority", "channel"),
        # The dashboard (see benchmarks/dashboard_queries.py): the pipeline's median wait
        # per state and level walks this index instead of sorting a state's cases; it is
        # also the index of every lookup by state, or state and level (an index on those
        # two alone cost each move a page more and served no query this one does not)...
        Index("ix_case_state_level_entered", "state", "level", "state_entered_at", *_FILTERS),
        # ...and the open cases (aging table, waiting times) are read without the closed.
        # resolved_at (NULL in every entry) makes it covering for SQLite, which reads the
        # row for a column of the index's condition that the index does not hold.
        Index(
            "ix_case_open_state_entered",
            "state",
            "state_entered_at",
            *_FILTERS,
            "resolved_at",
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(index=False)
    subject: str
    description: str = ""
    priority: str
    channel: str
    customer_tier: str = "standard"
    amount_claimed_minor: int | None = Field(default=None, sa_type=BigInteger)
    currency: str = "EUR"
    external_ref: str | None = Field(default=None, unique=True)
    state: str
    level: str | None = None
    acknowledged: bool | None = None
    assignee: str | None = None
    team: str | None = None
    waiting: bool = False
    flags: list[str] = Field(default_factory=list, sa_type=JSON)
    satisfaction: int | None = None
    opened_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    state_entered_at: datetime = _ts(nullable=False)
    escalated_at: datetime | None = _ts()
    resolved_at: datetime | None = _ts()
    resolved_level: str | None = None
    followed_up_at: datetime | None = _ts()
    reopen_count: int = 0
    escalation_count: int = 0
    process_version: str
    policy_version: str = ""
    version: int
    last_seq: int
    last_hash: str
    clocks: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # states.case.DEADLINE_COLUMNS: ISO texts as the clock states hold them, which sort
    # as the instants do (fixed width, UTC)
    deadline_first_response: str | None = Field(default=None, sa_type=String(32))
    deadline_acknowledge: str | None = Field(default=None, sa_type=String(32))
    deadline_resolution: str | None = Field(default=None, sa_type=String(32))
    deadline_escalation: str | None = Field(default=None, sa_type=String(32))
    deadline_follow_up: str | None = Field(default=None, sa_type=String(32))


#: Each clock's running deadline (states.case.DEADLINE_COLUMNS), indexed where it runs:
#: the dashboard's deadlines at risk or breached, and the aging table's most urgent open
#: cases, are read from these partial indexes, not from every case's JSON (at a million
#: cases, seconds). The filters follow the deadline (a filtered count reads no row).
for _clock, _name in zip(DEADLINE_CLOCKS, DEADLINE_COLUMNS, strict=True):
    _column = Case.__table__.c[_name]
    Index(
        f"ix_case_deadline_{_clock}",
        _column,
        *(Case.__table__.c[name] for name in _FILTERS),
        sqlite_where=_column.is_not(None),
        postgresql_where=_column.is_not(None),
    )


class CaseEvent(SQLModel, table=True):
    """Append-only history; `hash` chains each event to the one before it."""

    __tablename__ = "case_event"
    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_case_event_seq"),
        # Reads by time alone: an export of a period, the pipeline as it stood at an instant.
        Index("ix_case_event_occurred", "occurred_at"),
        # Only keyed commands are indexed: most commands carry no key, and an index of
        # their NULLs cost every event written a page and served no lookup.
        Index(
            "uq_case_event_idempotency_key",
            "idempotency_key",
            unique=True,
            sqlite_where=text("idempotency_key IS NOT NULL"),
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # The dashboard's counts of one kind of event in a period (escalations, breaches,
        # cases opened and resolved per day) read only those events; breaches per clock
        # read nothing else. (Not the reason: free text, longer than PostgreSQL indexes.)
        Index("ix_case_event_type_occurred", "type", "occurred_at", *_FILTERS, "point", "clock"),
        # The pipeline's moves between states and levels in a period: each move (from one
        # state and level to another) counted as a range of this index, moves only (a third
        # of the events), so the count reads no other event and sorts nothing. The
        # condition is spelled by states.json_sql.moved, as the query spells it.
        Index(
            "ix_case_event_moves",
            "from_state",
            "from_level",
            "to_state",
            "to_level",
            "occurred_at",
            *_FILTERS,
            sqlite_where=moved("sqlite"),
            postgresql_where=moved("postgresql"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id")
    seq: int
    type: str
    occurred_at: datetime = _ts(nullable=False)
    recorded_at: datetime = _ts(nullable=False)
    actor: str
    from_state: str | None = None
    to_state: str
    from_level: str | None = None
    to_level: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    command_id: str  # not indexed: a command's events are found by case and seq
    idempotency_key: str | None = None
    command_hash: str | None = None
    format: int = 1
    prev_hash: str
    hash: str
    # Not hashed (states.dimensions): the case's team, priority, channel and assignee
    # once the event applied, what the dashboard filters a period's counts by; the
    # payload's escalation point, reason and clock, what it groups them by.
    team: str | None = None
    priority: str | None = None
    channel: str | None = None
    assignee: str | None = None
    point: str | None = None
    reason: str | None = None
    clock: str | None = None


#: Indexes earlier releases created and this one does not: `init_schema` drops them.
RETIRED_INDEXES: tuple[str, ...] = (
    "ix_case_event_occurred_moves",  # every event; the moves alone are ix_case_event_moves
    "ix_case_state_level",  # the prefix of ix_case_state_level_entered
    "ix_case_event_command_id",  # a keyed command's events are found by case and seq
)


class ProcessVersion(SQLModel, table=True):
    """Every process definition a case ran under, with its exact text."""

    __tablename__ = "process_version"

    id: str = Field(primary_key=True)  # ProcessDefinition.version_id
    name: str
    version: str
    digest: str
    source_text: str
    loaded_at: datetime = _ts(nullable=False)


class SchemaInfo(SQLModel, table=True):
    __tablename__ = "schema_info"

    id: int = Field(default=1, primary_key=True)
    schema_version: int
    created_at: datetime = _ts(nullable=False)


__all__ = ["Case", "CaseEvent", "Column", "ProcessVersion", "SchemaInfo", "UTCDateTime"]


class Timer(SQLModel, table=True):
    """A durable BPMN boundary timer on a case's clock.

    ``status`` moves pending → claimed → fired, or to cancelled when the clock
    it belongs to pauses or stops (in the same transaction as the transition).
    (case, clock, kind, generation) is unique: the generation is the sequence
    number of the event that armed the timer, so re-arming never collides.
    """

    __tablename__ = "timer"
    __table_args__ = (
        # Also the index of every lookup by case: cancelling a clock's timers, adopting a
        # warning (its prefix is case_id, clock). Not partial, so claims never touch it;
        # a second index on (case_id, clock) only doubled the pages each new timer dirties.
        UniqueConstraint("case_id", "clock", "kind", "generation", name="uq_timer_generation"),
        # Partial indexes: only timers waiting to fire (or claimed) are indexed, so
        # fired and cancelled ones cost nothing to the claim query.
        Index(
            "ix_timer_due",
            "due_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_timer_claimed",
            "claimed_at",
            sqlite_where=text("status = 'claimed'"),
            postgresql_where=text("status = 'claimed'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id")
    clock: str
    kind: str  # warning | breach | due
    generation: int
    due_at: datetime = _ts(nullable=False)
    status: str = "pending"  # pending | claimed | fired | cancelled
    claimed_by: str | None = None
    claimed_at: datetime | None = _ts()
    fired_at: datetime | None = _ts()
    created_at: datetime = _ts(nullable=False)


class ClockSegment(SQLModel, table=True):
    """The clock ledger: one closed interval during which a clock ran or was paused.

    The interval still open is on the case (``clocks``); every closed one is
    here, with the business time it counted and why it began and ended.
    """

    __tablename__ = "clock_segment"
    __table_args__ = (Index("ix_clock_segment_case", "case_id", "clock", "generation"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id")
    clock: str
    generation: int
    status: str  # running | paused
    started_at: datetime = _ts(nullable=False)
    ended_at: datetime = _ts(nullable=False)
    business_seconds: int
    calendar: str
    began_because: str
    ended_because: str
    seq: int  # the event that closed the interval


class FlowRunLog(SQLModel, table=True):
    """One row per flow run (intake, sweeps, deliveries, reports, audits): what it did,
    so the ops page shows flow health without asking Prefect. Written when the run
    starts (``running``) and completed when it ends; a retry of the same run updates
    the same row (``attempts``)."""

    __tablename__ = "flow_run_log"
    __table_args__ = (Index("ix_flow_run_log_flow_started", "flow", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(sa_type=String(64), unique=True)
    flow: str = Field(sa_type=String(64))
    deployment: str | None = Field(default=None, sa_type=String(64))
    worker: str = Field(sa_type=String(200))
    started_at: datetime = _ts(nullable=False)
    finished_at: datetime | None = _ts()
    status: str = Field(sa_type=String(16))  # running, completed, failed, skipped
    attempts: int = 1
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    error: str | None = None


NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed", "suppressed")


class Notification(SQLModel, table=True):
    """One outgoing notice. ``case_id`` is not a foreign key: system notices have none."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_status_id", "status", "id"),
        CheckConstraint(f"status IN {NOTIFICATION_STATUSES}", name="ck_notification_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, index=True)
    kind: str
    recipient: str  # an e-mail address, or a role name mapped at delivery time
    subject: str
    body: str
    created_at: datetime = _ts(nullable=False)
    due_at: datetime | None = _ts()  # not delivered before this instant (also retry backoff)
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = _ts()
    sent_at: datetime | None = _ts()
    dedupe_key: str | None = Field(default=None, unique=True)


class PolicyVersion(SQLModel, table=True):
    """Every SLA/escalation policy a case ran under, with its exact text."""

    __tablename__ = "policy_version"

    id: str = Field(primary_key=True)
    name: str
    version: str
    digest: str
    source_text: str
    loaded_at: datetime = _ts(nullable=False)
