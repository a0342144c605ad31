"""Schema migrations: each takes a database from one schema version to the next, inside
``tierflow init``'s transaction (see :func:`states.store.init_schema`)."""

from __future__ import annotations

from sqlalchemy import Connection, MetaData, Table, text

from states.tables import NOTIFICATION_STATUSES, CaseEvent, Notification


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
    columns = ", ".join(f'"{column.name}"' for column in table.columns)
    conn.execute(text(f'INSERT INTO "{new.name}" ({columns}) SELECT {columns} FROM "{table.name}"'))
    conn.execute(text(f'DROP TABLE "{table.name}"'))
    conn.execute(text(f'ALTER TABLE "{new.name}" RENAME TO "{table.name}"'))
    for index in table.indexes:
        index.create(conn)


#: Schema migrations, by the version they start from (each runs in the init transaction).
MIGRATIONS = {
    1: _drop_unused_flow_run_log,
    2: _allow_suppressed_notifications,
    3: _slim_write_indexes,
}
