"""The engine's hot-path statements: compiled once per dialect, run on the driver's cursor.

SQLAlchemy's per-row parameter processing costs more than the database write
itself for the engine's batches, so :class:`BulkStatements` compiles Core
statements built on the same SQLModel tables once, reads values straight off
snapshots and events, and converts them with the columns' own processors (or
the faster ones below for SQLite times and JSON).

They run through :func:`run`, on the DB-API cursor of the transaction's own
connection: SQLAlchemy's execution path (context, result proxy, events) cost
more per statement than SQLite's write of the row, for a single command as much
as for a batch. `run` keeps what callers rely on from that path: listeners of
``before_cursor_execute`` still see every statement, and driver errors come out
as SQLAlchemy's exceptions (a lost connection invalidates it, as SQLAlchemy does).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import compress
from operator import attrgetter, itemgetter, ne
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from states.case import CASE_COLUMNS, DEADLINE_COLUMNS, FIELD_NAMES, CaseSnapshot, running_deadlines
from states.events import Event
from states.parameters import parameter_maker
from states.store import CASE, EVENT
from states.stored_types import UTCDateTime, stored_json
from states.time_texts import sqlite_time, sqlite_time_value, time_from_text
from states.transactions import driver_cursor

_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


def _json_text(value: Any) -> str:
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    return _JSON.encode(value)


def _clocks_text(clocks: dict[str, Any]) -> str:
    """The ``clocks`` column, through orjson: a case update writes every clock state of
    the case, and the standard encoder costs ten times as much (~4 µs a state).
    Clock states hold only JSON scalars, which both encoders read and write alike."""
    return orjson.dumps(clocks).decode() if clocks else "{}"


def run(conn: Connection, sql: str, params: Any = (), many: bool = False) -> Any:
    """Execute `sql` on the driver cursor of `conn`'s connection (inside its transaction)
    and return the cursor; see the module docstring."""
    fairy = conn._dbapi_connection  # what the `connection` property gives a live connection
    if fairy is None:
        fairy = conn.connection  # revalidates it, or raises as SQLAlchemy does
    cursor = driver_cursor(fairy.dbapi_connection)
    if conn._has_events or conn.engine._has_events:  # SQLAlchemy's own test, cheaper
        conn.dispatch.before_cursor_execute(conn, cursor, sql, params, None, many)
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        lost = conn.dialect.is_disconnect(exc, fairy, cursor)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql,
            params,
            exc,
            conn.dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=conn.dialect,
            ismulti=many,
        ) from exc
    return cursor


def run_rows(conn: Connection, sql: str, rows: list[Any]) -> Any:
    """`run` for a list of parameter rows: one execute for one row, else executemany."""
    return run(conn, sql, rows[0]) if len(rows) == 1 else run(conn, sql, rows, many=True)


class BulkStatements:
    """The engine's hot-path statements, compiled once per dialect.

    SQLAlchemy's per-row parameter processing costs more than the database
    write itself for the engine's batches (~20 µs a row), so these statements
    are built from the same SQLModel tables, compiled once, and run through
    the driver's ``executemany``; values are read straight off snapshots and
    events and converted by the columns' own bind/result processors.
    """

    def __init__(self, dialect: Any, update_columns: tuple[str, ...]) -> None:
        self.dialect = dialect
        self.positional = dialect.positional
        stored = tuple(name for name in update_columns if name not in DEADLINE_COLUMNS)
        deadlines = tuple(name for name in update_columns if name in DEADLINE_COLUMNS)
        if deadlines not in ((), DEADLINE_COLUMNS) or (deadlines and "clocks" not in stored):
            raise ValueError("running deadlines are updated all together, with the clocks")
        #: a snapshot's update-column values, to tell later which of them changed; all but
        #: the running deadlines, which follow from its ``clocks`` (see `_changed`)
        self.values_of = attrgetter(*stored)
        #: the columns of an update's row of values (see `_changed`), in order
        self._row_columns = stored + deadlines
        self._stored_at = range(len(stored))
        self._deadlines_at = range(len(stored), len(self._row_columns))
        self._clocks_at = stored.index("clocks") if deadlines else None
        self._updates: dict[tuple[int, ...], tuple[str, Callable[..., Any]]] = {}
        event_columns = [c.name for c in EVENT.columns if c.name != "id"]
        self.insert_sql, self._event_row = self._compile(
            EVENT.insert().values({name: bindparam(name) for name in event_columns}),
            EVENT,
            (),
            read_as={"payload": "payload_text"},  # the canonical JSON the hash covered
        )
        new_case = CASE.insert().values(
            {name: bindparam(name) for name in CASE_COLUMNS if name != "id"}
        )
        self.case_insert_sql, self._case_row = self._compile(
            new_case.returning(CASE.c.id), CASE, ()
        )
        opened = CASE.c.opened_at
        recent = (
            select(func.count())
            .select_from(CASE)
            .where(
                CASE.c.customer_id == bindparam("customer_id"),
                opened >= bindparam("since", type_=opened.type),
                opened <= bindparam("until", type_=opened.type),
            )
        )  # ix_case_customer_opened
        compiled = recent.compile(dialect=dialect)
        self._recent_sql = compiled.string
        #: the dict of count_opened's values, as the driver takes them
        self._recent_params: Callable[[dict[str, Any]], Any] = (
            itemgetter(*compiled.positiontup) if self.positional else dict
        )
        self._time = self._processor(opened, "bind") or (lambda value: value)
        self._readers = [
            (i, reader)
            for i, name in enumerate(FIELD_NAMES)
            if (reader := self._processor(CASE.c[name], "result")) is not None
        ]
        self._lock = " FOR UPDATE" if dialect.name == "postgresql" else ""
        #: compiled dict-row inserts, by (table, unless_exists, the rows' keys in order...)
        self._dict_inserts: dict[tuple[Any, ...], tuple[str, Callable[..., Any]]] = {}
        quote = dialect.identifier_preparer.quote
        self._select = (
            f"SELECT {', '.join(quote(n) for n in FIELD_NAMES)} "  # a snapshot's fields
            f"FROM {quote(CASE.name)} WHERE id IN "
        )
        marks = ("?", "?") if self.positional else ("%(c)s", "%(k)s")
        self._cancel_sql = (
            f"UPDATE timer SET status = 'cancelled' WHERE case_id = {marks[0]} AND "
            f"clock = {marks[1]} AND status IN ('pending', 'claimed')"
        )  # uq_timer_generation's (case_id, clock) prefix

    def _processor(self, column: Any, kind: str) -> Any:
        """The bind or result processor of `column`'s values; a time column's bind
        processor also takes ISO-8601 text (see states.time_texts.sqlite_time)."""
        if self.dialect.name == "sqlite" and isinstance(column.type, UTCDateTime):
            return sqlite_time if kind == "bind" else sqlite_time_value
        if isinstance(column.type, JSON) and kind == "bind":
            return _clocks_text if column.name == "clocks" else _json_text
        if isinstance(column.type, JSON) and self.dialect.name == "sqlite":
            return stored_json  # psycopg decodes JSON itself
        impl = column.type.dialect_impl(self.dialect)
        if kind == "bind" and isinstance(column.type, UTCDateTime):
            return time_from_text(impl.bind_processor(self.dialect))
        if kind == "bind":
            return impl.bind_processor(self.dialect)
        return impl.result_processor(self.dialect, None)

    def _compile(
        self,
        stmt: Any,
        table: Any,
        extra: tuple[str, ...],
        read_as: dict[str, str] | None = None,
        keyed: bool = False,
        at: dict[str, int] | None = None,
    ) -> tuple[str, Callable[..., Any]]:
        """Compile `stmt` and make the function that gives its parameters for one object.

        Values are read off the object by attribute, by key with `keyed` (dict rows), or
        with `at` by index (a row of values: each name's index in it); `read_as` renames
        an attribute whose value is already in database form (e.g. serialised JSON). The
        values of `extra` parameters follow the object as arguments, in order."""
        read_as = read_as or {}
        compiled = stmt.compile(dialect=self.dialect)
        names = list(compiled.positiontup) if self.positional else list(compiled.binds)
        names = [n for n in names if n not in extra]
        columns = [
            (
                at[n] if at is not None else read_as.get(n, n),
                None if n in read_as else self._processor(table.c[n], "bind"),
            )
            for n in names
        ]
        keys = [*names, *extra] if not self.positional else None
        return compiled.string, parameter_maker(columns, len(extra), keys, keyed or at is not None)

    def cancel_timers(self, conn: Connection, keys: list[tuple[int, str]]) -> None:
        """Cancel the live timers of each (case, clock) in `keys`."""
        if not keys:
            return
        rows: list[Any] = (
            keys  # the parameter rows already
            if self.positional
            else [{"c": case_id, "k": clock} for case_id, clock in keys]
        )
        run_rows(conn, self._cancel_sql, rows)

    def insert_rows(
        self,
        conn: Connection,
        table: Any,
        rows: list[dict[str, Any]],
        unless_exists: str | None = None,
    ) -> None:
        """Insert dict rows (all with the same keys) into `table` with one executemany;
        with `unless_exists` (a unique column), rows whose value is taken are skipped."""
        if not rows:
            return
        key = (table, unless_exists, *rows[0])
        compiled = self._dict_inserts.get(key)
        if compiled is None:
            stmt = table.insert()
            if unless_exists is not None:
                dialect_insert = (
                    postgresql_insert if self.dialect.name == "postgresql" else sqlite_insert
                )
                stmt = dialect_insert(table).on_conflict_do_nothing(index_elements=[unless_exists])
            values = {name: bindparam(name) for name in rows[0]}
            compiled = self._compile(stmt.values(values), table, (), keyed=True)
            self._dict_inserts[key] = compiled
        sql, parameters = compiled
        run_rows(conn, sql, list(map(parameters, rows)))

    def insert_case(self, conn: Connection, snap: CaseSnapshot) -> int:
        """Insert a new case row from `snap`; returns its id."""
        row = self._case_row(snap)
        return int(run(conn, self.case_insert_sql, row).fetchone()[0])

    def count_opened(
        self, conn: Connection, customer_id: str, since: datetime, until: datetime
    ) -> int:
        """Cases of `customer_id` opened in [since, until] (through ix_case_customer_opened)."""
        values = {
            "customer_id": customer_id,
            "since": self._time(since),
            "until": self._time(until),
        }
        return int(run(conn, self._recent_sql, self._recent_params(values)).fetchone()[0])

    def insert_events(self, conn: Connection, events: list[Event]) -> None:
        run_rows(conn, self.insert_sql, list(map(self._event_row, events)))

    def update_cases(
        self,
        conn: Connection,
        snaps: list[CaseSnapshot],
        read_versions: list[int],
        read_values: list[tuple[Any, ...]],
    ) -> int:
        """Optimistic update of `snaps`; returns how many rows still had the version read.

        Each row is given only the columns that changed since it was read
        (`read_values[i]`: the i-th case's `values_of` then): SQLite rewrites the
        entries of every index on a column an UPDATE sets, changed or not, and
        every entry rewritten is a page written (PostgreSQL skips index work too
        when no indexed column is set). Cases that changed the same columns share
        one statement, run with executemany.
        """
        if len(snaps) == 1:  # a single command's case: no grouping
            snap = snaps[0]
            changed, values = self._changed(snap, read_values[0])
            sql, parameters = self._update(changed)
            return run(conn, sql, parameters(values, snap.id, read_versions[0])).rowcount  # type: ignore[no-any-return]
        groups: dict[tuple[int, ...], list[tuple[CaseSnapshot, int, tuple[Any, ...]]]] = {}
        for snap, version, before in zip(snaps, read_versions, read_values, strict=True):
            changed, values = self._changed(snap, before)
            groups.setdefault(changed, []).append((snap, version, values))
        updated = 0
        for changed, chosen in groups.items():
            sql, parameters = self._update(changed)
            rows = [parameters(values, snap.id, version) for snap, version, values in chosen]
            if self.dialect.supports_sane_multi_rowcount or len(rows) == 1:
                updated += run_rows(conn, sql, rows).rowcount
            else:
                updated += sum(run(conn, sql, row).rowcount for row in rows)
        return updated

    def _changed(
        self, snap: CaseSnapshot, before: tuple[Any, ...]
    ) -> tuple[tuple[int, ...], tuple[Any, ...]]:
        """Which update columns of `snap` changed since `before` (its `values_of` then), and
        its row of values: the positions (in `_row_columns`) of those that changed, then
        `values_of` `snap`, followed by its running deadlines when its clocks changed.

        The deadlines follow from the clocks, so they are worked out (before and after)
        only when the clocks changed, one call for all five each time: reading them with
        the other columns cost five descriptor calls on each read and each update."""
        values = self.values_of(snap)
        changed = tuple(compress(self._stored_at, map(ne, before, values)))
        clocks = self._clocks_at
        if clocks in changed:
            deadlines = running_deadlines(values[clocks])
            was = running_deadlines(before[clocks])
            changed += tuple(compress(self._deadlines_at, map(ne, was, deadlines)))
            values += deadlines
        return changed, values

    def _update(self, changed: tuple[int, ...]) -> tuple[str, Callable[..., Any]]:
        """The optimistic UPDATE setting the `changed` columns of a row of values (see
        `_changed`), compiled once per set of columns."""
        compiled = self._updates.get(changed)
        if compiled is None:
            names = [self._row_columns[i] for i in changed]
            stmt = (
                CASE.update()
                .where(CASE.c.id == bindparam("b_id"), CASE.c.version == bindparam("b_version"))
                .values({name: bindparam(name) for name in names})
            )
            at = {name: i for i, name in zip(changed, names, strict=True)}
            compiled = self._compile(stmt, CASE, ("b_id", "b_version"), at=at)
            self._updates[changed] = compiled
        return compiled

    def _in(self, ids: list[int]) -> tuple[str, Any]:
        if self.positional:
            return ", ".join(["?"] * len(ids)), tuple(ids)
        return ", ".join(f"%(p{i})s" for i in range(len(ids))), {
            f"p{i}": v for i, v in enumerate(ids)
        }

    def versions(self, conn: Connection, case_ids: Iterable[int]) -> dict[int, int]:
        """Current version of each existing case in `case_ids` (cheap: two columns).

        On PostgreSQL the rows are locked (``FOR UPDATE``) for the rest of the
        transaction, so a concurrent writer of the same case waits and then
        sees this one's result (including its idempotency keys); SQLite's
        ``BEGIN IMMEDIATE`` already serialises writers.
        """
        ids = sorted(set(case_ids))
        found: dict[int, int] = {}
        quote = self.dialect.identifier_preparer.quote
        for start in range(0, len(ids), 500):
            marks, params = self._in(ids[start : start + 500])
            sql = f"SELECT id, version FROM {quote(CASE.name)} WHERE id IN ({marks}){self._lock}"
            found.update(run(conn, sql, params).fetchall())
        return found

    def load_cases(self, conn: Connection, case_ids: Iterable[int]) -> dict[int, CaseSnapshot]:
        ids = sorted(set(case_ids))
        found: dict[int, CaseSnapshot] = {}
        for start in range(0, len(ids), 500):
            marks, params = self._in(ids[start : start + 500])
            for raw in run(conn, f"{self._select}({marks})", params).fetchall():
                values = list(raw)
                for i, reader in self._readers:
                    if values[i] is not None:
                        values[i] = reader(values[i])
                snap = CaseSnapshot(*values)
                snap.flags = list(snap.flags or [])
                snap.extra = dict(snap.extra or {})
                found[snap.id] = snap  # type: ignore[index]
        return found
