"""Schema migrations: each takes a database from one schema version to the next, inside
``tierflow init``'s transaction (see :func:`states.store.init_schema`)."""

from __future__ import annotations

from contextlib import suppress
from functools import partial
from itertools import groupby
from operator import attrgetter

from sqlalchemy import (
    Connection,
    MetaData,
    Table,
    bindparam,
    case,
    func,
    inspect,
    select,
    text,
    update,
)

from states.case import DEADLINE_CLOCKS, DEADLINE_COLUMNS, CaseSnapshot
from states.dimensions import COLUMNS, derived
from states.events import Event, fold
from states.json_sql import PAUSED, clock_value, running
from states.store import CASE, EVENT, row_to_event
from states.tables import NOTIFICATION_STATUSES, CaseEvent, Notification

#: Indexes whose columns schema 5 changed (the filters were added last): dropped, then
#: made anew by init (states.store._create_missing_indexes) from the models.
_WIDENED = (
    "ix_case_state_level_entered",
    "ix_case_open_state_entered",
    "ix_case_event_type_occurred",
    "ix_case_event_moves",
    "ix_case_assignee",
    *(f"ix_case_deadline_{clock}" for clock in DEADLINE_CLOCKS),
)
#: Cases whose events are read and stamped at a time (their events, ~10 a case, in memory).
_CASES_AT_A_TIME = 2_000


def _drop_unused_flow_run_log(conn: Connection) -> None:
    """1 → 2: no release wrote the old flow_run_log; create_all makes the new one."""
    conn.execute(text("DROP TABLE IF EXISTS flow_run_log"))


def _allow_suppressed_notifications(conn: Connection) -> None:
    """2 → 3: a notification may be ``suppressed`` (imported history sends nothing). The
    status check is part of the table: PostgreSQL replaces the constraint; SQLite, which
    cannot, copies the rows into the table as now defined."""
    if conn.dialect.name != "postgresql":
        _rebuild_sqlite_table(conn, Notification.__table__)
        return
    conn.execute(text("ALTER TABLE notification DROP CONSTRAINT ck_notification_status"))
    allowed = ", ".join(f"'{status}'" for status in NOTIFICATION_STATUSES)
    conn.execute(
        text(
            "ALTER TABLE notification ADD CONSTRAINT ck_notification_status "
            f"CHECK (status IN ({allowed}))"
        )
    )


def _slim_write_indexes(conn: Connection) -> None:
    """3 → 4: the idempotency keys' NULLs are no longer indexed (every event wrote a page
    of them): the key's uniqueness moves to a partial index. SQLite cannot drop a
    column's UNIQUE: the event table is copied into the table as now defined (once, at
    ``tierflow init``). The other indexes retired (tables.RETIRED_INDEXES) are dropped
    on every init."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("ALTER TABLE case_event DROP CONSTRAINT IF EXISTS case_event_idempotency_key_key")
        )
        return  # create_all's sequel (_create_missing_indexes) makes the partial index
    _rebuild_sqlite_table(conn, CaseEvent.__table__)


def _rebuild_sqlite_table(conn: Connection, table: Table) -> None:
    """Copy `table`'s rows into the table as the model now defines it (SQLite alters no
    constraint in place), then make its indexes."""
    metadata = MetaData()
    for referred in {fk.column.table for fk in table.foreign_keys}:
        referred.to_metadata(metadata)  # so the copy's REFERENCES clauses resolve
    new = table.to_metadata(metadata, name=f"{table.name}_new")
    new.indexes.clear()
    new.create(conn)
    present = {column["name"] for column in inspect(conn).get_columns(table.name)}
    columns = ", ".join(f'"{c.name}"' for c in table.columns if c.name in present)
    conn.execute(text(f'INSERT INTO "{new.name}" ({columns}) SELECT {columns} FROM "{table.name}"'))
    conn.execute(text(f'DROP TABLE "{table.name}"'))
    conn.execute(text(f'ALTER TABLE "{new.name}" RENAME TO "{table.name}"'))
    for index in table.indexes:
        index.create(conn)


def _stamp_event_dimensions(conn: Connection) -> None:
    """4 → 5: every event carries the case's team, priority, channel and assignee once it
    applied (states.dimensions): the columns are added and filled from each case's fold of
    its own history, a few thousand cases at a time; the indexes that end with them are
    made anew. A history that cannot be replayed is left unstamped (the audit reports
    it, and its stamps then)."""
    present = {column["name"] for column in inspect(conn).get_columns("case_event")}
    for name in COLUMNS:  # a schema-3 table copied by _slim_write_indexes has them
        if name not in present:
            conn.execute(text(f"ALTER TABLE case_event ADD COLUMN {name} VARCHAR"))
    for name in _WIDENED:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    stamp = (
        update(EVENT)
        .where(EVENT.c.case_id == bindparam("b_case"), EVENT.c.seq == bindparam("b_seq"))
        .values({name: bindparam(f"b_{name}") for name in COLUMNS})
    )
    last = conn.execute(select(func.max(CASE.c.id))).scalar_one() or 0
    for first in range(1, last + 1, _CASES_AT_A_TIME):
        rows = conn.execute(
            select(EVENT)
            .where(EVENT.c.case_id.between(first, first + _CASES_AT_A_TIME - 1))
            .order_by(EVENT.c.case_id, EVENT.c.seq)
        ).all()
        values: list[dict[str, object]] = []
        for _, group in groupby(rows, key=attrgetter("case_id")):
            with suppress(ValueError):  # from the event it cannot be replayed at, unstamped
                fold([row_to_event(row) for row in group], partial(_stamp_values, values))
        if values:
            conn.execute(stamp, values)


def _stamp_values(values: list[dict[str, object]], event: Event, snap: CaseSnapshot) -> None:
    """The parameters of `event`'s stamp (`snap`: the case once it applied)."""
    found = dict(zip((f"b_{name}" for name in COLUMNS), derived(event, snap), strict=True))
    values.append({"b_case": event.case_id, "b_seq": event.seq, **found})


def _hold_running_deadlines(conn: Connection) -> None:
    """5 → 6: each clock's deadline while it runs is a column of the case row
    (states.case.DEADLINE_COLUMNS) instead of an index on the ``clocks`` JSON, which every
    update of a case rewrote: the old indexes are dropped, the columns added and filled
    from the JSON in one statement; init then makes the indexes on the columns."""
    for clock in DEADLINE_CLOCKS:
        conn.execute(text(f"DROP INDEX IF EXISTS ix_case_deadline_{clock}"))
    present = {column["name"] for column in inspect(conn).get_columns("case")}
    for name in DEADLINE_COLUMNS:
        if name not in present:
            conn.execute(text(f'ALTER TABLE "case" ADD COLUMN {name} VARCHAR(32)'))
    clocks = CASE.c.clocks
    conn.execute(
        update(CASE).values(
            {
                name: case(
                    (running(clocks, clock), clock_value(clocks, clock, "deadline")),
                    else_=None,
                )
                for clock, name in zip(DEADLINE_CLOCKS, DEADLINE_COLUMNS, strict=True)
            }
        )
    )


def _hold_reached_deadlines(conn: Connection) -> None:
    """6 → 7: a clock paused after it reached its deadline (a spent clock, breached through
    the wait) keeps that deadline in its column, as while it ran; the dashboard counted it
    as neither breached nor at risk. A clock paused in time has none (NULL, as before)."""
    clocks = CASE.c.clocks
    for clock, name in zip(DEADLINE_CLOCKS, DEADLINE_COLUMNS, strict=True):
        conn.execute(
            update(CASE)
            .where(clock_value(clocks, clock, "status") == PAUSED)
            .values({name: clock_value(clocks, clock, "deadline")})
        )


#: Schema migrations, by the version they start from (each runs in the init transaction).
MIGRATIONS = {
    1: _drop_unused_flow_run_log,
    2: _allow_suppressed_notifications,
    3: _slim_write_indexes,
    4: _stamp_event_dimensions,
    5: _hold_running_deadlines,
    6: _hold_reached_deadlines,
}
