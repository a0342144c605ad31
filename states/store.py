"""Database access: engine creation, schema, and the queries the domain needs.

SQLite (the default) runs in WAL mode and takes the write lock at the start
of a write transaction (``BEGIN IMMEDIATE``) so that two writers queue
instead of failing on lock upgrade; on PostgreSQL the engine locks the case
rows it reads (``FOR UPDATE``, case rows before timer rows) and checks the
version in the ``UPDATE``. Library errors are translated into
:class:`StoreError` here, at the edge of the domain. The hot-path statements
are in :mod:`states.bulk`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlmodel import SQLModel

from states.case import FIELD_NAMES, CaseSnapshot
from states.errors import StoreError
from states.events import Event
from states.tables import (
    SCHEMA_VERSION,
    Case,
    CaseEvent,
    ProcessVersion,
    SchemaInfo,
)

CASE = Case.__table__
INDEXED = ("state", "level", "assignee")  # case columns under an index that may change
EVENT = CaseEvent.__table__
_WRITE = "tierflow_write"
_INIT_LOCK = 0x7469_6572_666C_6F77  # "tierflow" in ASCII: the advisory lock of schema creation


def make_engine(url: str, *, create: bool = True, **kwargs: Any) -> Engine:
    """An Engine for `url`; SQLite files get WAL, a busy timeout and IMMEDIATE writes.

    With `create` False a SQLite file that does not exist is an error saying to run
    ``tierflow init``, instead of an empty file left behind by a command that reads.
    """
    try:
        if url.startswith("sqlite"):
            return _sqlite_engine(url, create, **kwargs)
        return create_engine(url, pool_pre_ping=True, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use database URL {url!r}: {exc}") from None


def _sqlite_engine(url: str, create: bool, **kwargs: Any) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        if not create and not Path(path).exists():
            raise StoreError(f"no database at {path}; run `tierflow init` first")
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {Path(path).parent}: {exc.strerror or exc}") from None
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: indexes of a big timer table stay hot
        cursor.execute("PRAGMA mmap_size=268435456")  # read pages without a syscall each
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        writing = conn.get_execution_options().get(_WRITE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def _store_error(exc: DBAPIError, engine: Engine) -> StoreError:
    """One line naming the database, whatever the driver wrote."""
    problem = " ".join(str(exc.orig).split())
    where = engine.url.database if engine.dialect.name == "sqlite" else None
    if "no such table" in problem or ("does not exist" in problem and "relation" in problem):
        return StoreError(f"the database has no tierflow tables ({problem}); run `tierflow init`")
    if "file is not a database" in problem or "malformed" in problem:
        return StoreError(f"{where} is not a tierflow database or is damaged ({problem})")
    return StoreError(
        f"database error{f' ({where})' if where else ''}: {problem}",
        transient=isinstance(exc, OperationalError),
    )


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: commits on success, rolls back on any error.

    A unique-constraint violation stays a SQLAlchemy IntegrityError (the engine
    retries races on it); every other database error becomes a one-line StoreError.
    """
    try:
        with engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
            yield conn
    except SAIntegrityError:
        raise
    except DBAPIError as exc:
        raise _store_error(exc, engine) from None


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.connect() as conn:
            yield conn
    except DBAPIError as exc:
        raise _store_error(exc, engine) from None


def init_schema(engine: Engine) -> None:
    """Create missing tables, migrate an older schema, record the schema version.

    Safe to race: the tables are created in the same transaction as the version row,
    under SQLite's write lock or, on PostgreSQL, a transaction-scoped advisory lock,
    so a second `tierflow init` waits for the first and then finds everything there.
    """
    import states.outbox  # noqa: F401  (defines the notification table; imports this module)

    try:
        with write_transaction(engine) as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INIT_LOCK})
            found = _schema_version(conn)
            if found is not None and found > SCHEMA_VERSION:
                raise StoreError(
                    f"database schema version {found} is newer than this release's "
                    f"{SCHEMA_VERSION}; upgrade tierflow"
                )
            for version in range(found or SCHEMA_VERSION, SCHEMA_VERSION):
                _MIGRATIONS[version](conn)
            SQLModel.metadata.create_all(conn)
            info = SchemaInfo.__table__
            if found is None:
                conn.execute(
                    info.insert().values(
                        id=1, schema_version=SCHEMA_VERSION, created_at=datetime.now(UTC)
                    )
                )
            else:
                conn.execute(info.update().values(schema_version=SCHEMA_VERSION))
    except SQLAlchemyError as exc:
        problem = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise StoreError(f"cannot initialise the database: {problem}") from None


def _schema_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table(SchemaInfo.__tablename__):
        return None
    return conn.execute(select(SchemaInfo.__table__.c.schema_version)).scalar_one_or_none()


def _drop_unused_flow_run_log(conn: Connection) -> None:
    """1 → 2: no release wrote the old flow_run_log; create_all makes the new one."""
    conn.execute(text("DROP TABLE IF EXISTS flow_run_log"))


#: Schema migrations, by the version they start from (each runs in the init transaction).
_MIGRATIONS = {1: _drop_unused_flow_run_log}


def register_process(
    conn: Connection,
    version_id: str,
    name: str,
    version: str,
    digest: str,
    text: str,
    now: datetime,
    table: Any = None,
) -> None:
    """Store a process (or, with `table`, a policy) definition's text once per version."""
    table = ProcessVersion.__table__ if table is None else table
    if conn.execute(select(table.c.id).where(table.c.id == version_id)).first() is None:
        conn.execute(
            table.insert().values(
                id=version_id,
                name=name,
                version=version,
                digest=digest,
                source_text=text,
                loaded_at=now,
            )
        )


def row_to_snapshot(row: Any) -> CaseSnapshot:
    mapping = row._mapping
    snap = CaseSnapshot(**{name: mapping[name] for name in FIELD_NAMES})
    snap.flags = list(snap.flags or [])
    snap.extra = dict(snap.extra or {})
    return snap


def load_events(conn: Connection, case_id: int) -> list[Event]:
    rows = conn.execute(select(EVENT).where(EVENT.c.case_id == case_id).order_by(EVENT.c.seq))
    return [row_to_event(row) for row in rows]


def row_to_event(row: Any) -> Event:
    return Event(
        type=row.type,
        occurred_at=row.occurred_at,
        actor=row.actor,
        from_state=row.from_state,
        to_state=row.to_state,
        from_level=row.from_level,
        to_level=row.to_level,
        payload=dict(row.payload or {}),
        case_id=row.case_id,
        seq=row.seq,
        command_id=row.command_id,
        idempotency_key=row.idempotency_key,
        format=row.format,
        prev_hash=row.prev_hash,
        hash=row.hash,
        recorded_at=row.recorded_at,
        command_hash=row.command_hash,
    )
