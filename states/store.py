"""Database access: engine creation, schema, and the queries the domain needs.

SQLite (the default) runs in WAL mode and takes the write lock at the start
of a write transaction (``BEGIN IMMEDIATE``) so that two writers queue
instead of failing on lock upgrade; on PostgreSQL the engine locks the case
rows it reads (``FOR UPDATE``, case rows before timer rows) and checks the
version in the ``UPDATE``. Library errors are translated into
:class:`StoreError` at the edge of the domain (:mod:`states.transactions`, which
holds the transactions and is re-exported here). The hot-path statements are in
:mod:`states.bulk`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    create_engine,
    event,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    SQLAlchemyError,
)
from sqlalchemy.schema import CreateIndex
from sqlmodel import SQLModel

from states.errors import StoreError
from states.rows import load_events as load_events  # re-exported: read with the rest
from states.rows import row_to_event as row_to_event
from states.rows import row_to_snapshot as row_to_snapshot
from states.schema_checks import (
    missing_tables,
    refuse_changed_columns,
    refuse_incomplete,
    refuse_name_taken,
)
from states.stored_types import stored_json
from states.tables import (
    RETIRED_INDEXES,
    SCHEMA_VERSION,
    Case,
    CaseEvent,
    PolicyVersion,
    ProcessVersion,
    SchemaInfo,
)
from states.transactions import HeldConnections as HeldConnections  # re-exported
from states.transactions import read_connection as read_connection
from states.transactions import write_transaction as write_transaction

CASE = Case.__table__
EVENT = CaseEvent.__table__
IDLE_PING_SECONDS = 30.0  # a pooled connection idle longer than this is checked before use
RECYCLE_SECONDS = 1800  # and one older than this is replaced (server-side timeouts)
_INIT_LOCK = 0x7469_6572_666C_6F77  # "tierflow" in ASCII: the advisory lock of schema creation


def make_engine(url: str, *, create: bool = True, **kwargs: Any) -> Engine:
    """An Engine for `url`; SQLite files get WAL, a busy timeout and IMMEDIATE writes.

    With `create` False a SQLite file that does not exist is an error saying to run
    ``tierflow init``, instead of an empty file left behind by a command that reads.
    """
    try:
        check_url(url)
        if url.startswith("sqlite"):
            return _sqlite_engine(url, create, **kwargs)
        return _server_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use database URL {url!r}: {exc}") from None


#: The databases and drivers tierflow runs on (SQLAlchemy's backend, driver).
SUPPORTED_DRIVERS = {("sqlite", "pysqlite"), ("postgresql", "psycopg")}


def check_url(text: str) -> URL:
    """`text` as a URL tierflow runs on; ArgumentError for another database or driver,
    before it is used: an async driver installed beside tierflow (asyncpg, aiosqlite)
    loaded, and the first query was a traceback (MissingGreenlet); plain
    ``postgresql://`` asks for psycopg2."""
    url = make_url(text)
    if (url.get_backend_name(), url.get_driver_name()) not in SUPPORTED_DRIVERS:
        raise ArgumentError(
            f"tierflow runs on SQLite (sqlite:///PATH) or PostgreSQL through psycopg "
            f"(postgresql+psycopg://USER@HOST:PORT/DATABASE), not "
            f"{url.get_backend_name()} through {url.get_driver_name()}"
        )
    return url


def sqlite_file(url: str) -> str | None:
    """The file a SQLite `url` names, without the URL's query (``?timeout=5``); None for
    an in-memory database. (Its text after ``///`` read as the path, such a query became
    part of a file name no command then found.)"""
    try:
        database = make_url(url).database
    except ArgumentError:  # not a URL: make_engine's check_url says so, in one line
        return None
    return None if not database or database == ":memory:" else database


def _server_engine(url: str, **kwargs: Any) -> Engine:
    """A server database (PostgreSQL) without ``pool_pre_ping``: it cost a ``SELECT 1``
    round trip per command. Instead a connection is pinged only when it sat idle in the
    pool for `IDLE_PING_SECONDS` (what a long-running dashboard or sweeper meets after
    a quiet spell), connections are recycled after `RECYCLE_SECONDS`, and a connection
    found dead by a write transaction's statements before the commit makes the engine
    run the transaction again (:class:`ConnectionLost`)."""
    kwargs.setdefault("pool_recycle", RECYCLE_SECONDS)
    engine = create_engine(url, **kwargs)
    error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except error as exc:  # the pool replaces the connection and tries again
            raise DisconnectionError(f"idle connection lost: {exc}") from exc

    return engine


#: What every SQLite connection is set to (the benchmarks' raw floors and peers use them too).
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA cache_size=-65536",  # 64 MiB: indexes of a big timer table stay hot
    "PRAGMA mmap_size=268435456",  # read pages without a syscall each
    # A checkpoint every 10,000 pages (SQLite's default: 1,000). A command dirties some 18
    # index and table pages, most of them the same hot ones: a rarer checkpoint copies
    # each of those into the file once instead of ten times, and syncs ten times less.
    # The log grows to some 40 MB between checkpoints; Engine.close folds it in. A busy
    # engine folds it in from a thread of its own as it grows (states.wal_checkpoints):
    # this mark is then the backstop, reached only by a writer that never pauses.
    "PRAGMA wal_autocheckpoint=10000",
)


def _sqlite_engine(url: str, create: bool, **kwargs: Any) -> Engine:
    path = sqlite_file(url)
    if path is not None:
        if not create and not Path(path).exists():
            raise StoreError(f"no database at {path}; run `tierflow init` first")
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {Path(path).parent}: {exc.strerror or exc}") from None
    kwargs.setdefault("json_deserializer", stored_json)  # what SQLAlchemy's JSON type reads with
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    def _do_begin(dbapi_connection: Any) -> None:
        """SQLAlchemy's begin: a deferred ``BEGIN`` for reads (one snapshot for all their
        statements); a write transaction has begun ``IMMEDIATE`` on the driver already.
        A dialect hook, not a ``begin`` event: any engine event listener makes every
        connection and statement dispatch events, which cost more than the BEGIN."""
        driver = dbapi_connection.dbapi_connection  # pysqlite: the driver itself
        if not driver.in_transaction:
            driver.execute("BEGIN")

    engine.dialect.do_begin = _do_begin  # type: ignore[method-assign]

    return engine


def init_schema(engine: Engine) -> None:
    """Create missing tables, migrate an older schema, record the schema version.

    Safe to race: the tables are created in the same transaction as the version row,
    under SQLite's write lock or, on PostgreSQL, a transaction-scoped advisory lock,
    so a second `tierflow init` waits for the first and then finds everything there.
    """
    try:
        with write_transaction(engine) as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INIT_LOCK})
            found = _schema_version(conn)
            missing = missing_tables(conn, older=found is not None and found < SCHEMA_VERSION)
            refuse_incomplete(conn, missing, finishing=True)
            from states.migrations import MIGRATIONS  # it reads this module's tables

            for version in range(found or SCHEMA_VERSION, SCHEMA_VERSION):
                MIGRATIONS[version](conn)
            try:
                SQLModel.metadata.create_all(conn)
            except SQLAlchemyError as exc:
                refuse_name_taken(missing, exc)
                raise
            refuse_changed_columns(conn)
            _create_missing_indexes(conn)
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


def _create_missing_indexes(conn: Connection) -> None:
    """Indexes added to a table after it was created: ``create_all`` skips the existing
    tables, and with them their new indexes (those the dashboard reads through); and
    indexes this release no longer has, which every write would still pay for."""
    for table in SQLModel.metadata.sorted_tables:
        for index in table.indexes:  # IF NOT EXISTS: reflection skips expression indexes
            conn.execute(CreateIndex(index, if_not_exists=True))
    for name in RETIRED_INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))


def check_schema(engine: Engine) -> None:
    """Refuse, in one line, a database this release cannot use as it is: one without
    tierflow's tables, or with some of them only (one dropped: every command said there
    were none), an older schema (`tierflow init` migrates it), a newer one, or a version
    no release wrote. Every command but `init` asks first: a newer schema used anyway was
    written to as if it were this release's."""
    with read_connection(engine) as conn:
        found = _schema_version(conn)
        older = found is not None and found < SCHEMA_VERSION
        refuse_incomplete(conn, missing_tables(conn, older=older), finishing=False)
    if found is None:
        raise StoreError("the database has no tierflow tables; run `tierflow init`")
    if found < SCHEMA_VERSION:
        raise StoreError(
            f"database schema version {found} is older than this release's {SCHEMA_VERSION}; "
            "run `tierflow init` to migrate it"
        )


def _schema_version(conn: Connection) -> int | None:
    """The schema version recorded, None without a schema_info table; refused when it is
    newer than this release's, or not a version any release wrote (edited by hand)."""
    if not inspect(conn).has_table(SchemaInfo.__tablename__):
        return None
    found = conn.execute(select(SchemaInfo.__table__.c.schema_version)).scalars().all()
    if len(found) > 1 or (
        found and (not isinstance(found[0], int) or isinstance(found[0], bool) or found[0] < 1)
    ):
        shown = ", ".join(repr(value) for value in found)
        raise StoreError(
            f"database schema version {shown} is not one tierflow writes (one row, 1 to "
            f"{SCHEMA_VERSION}); the schema_info table was edited outside tierflow"
        )
    if found and found[0] > SCHEMA_VERSION:
        raise StoreError(
            f"database schema version {found[0]} is newer than this release's "
            f"{SCHEMA_VERSION}; upgrade tierflow"
        )
    return found[0] if found else None


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


def register_versions(conn: Connection, definition: Any, policy: Any, now: datetime) -> None:
    """Store the texts of `definition` (a ProcessDefinition) and `policy` (a Policy) once
    per version: what every case that runs under them refers to."""
    for versioned, table in ((definition, None), (policy, PolicyVersion.__table__)):
        register_process(
            conn,
            versioned.version_id,
            versioned.name,
            versioned.version,
            versioned.digest,
            versioned.source_text,
            now,
            table=table,
        )
