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

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    QueuePool,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.schema import CreateIndex
from sqlmodel import SQLModel

from states.errors import ConnectionLost, StoreError
from states.rows import load_events as load_events  # re-exported: read with the rest
from states.rows import row_to_event as row_to_event
from states.rows import row_to_snapshot as row_to_snapshot
from states.tables import (
    RETIRED_INDEXES,
    SCHEMA_VERSION,
    Case,
    CaseEvent,
    PolicyVersion,
    ProcessVersion,
    SchemaInfo,
)

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
        if url.startswith("sqlite"):
            return _sqlite_engine(url, create, **kwargs)
        return _server_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use database URL {url!r}: {exc}") from None


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
    # The log grows to some 40 MB between checkpoints; Engine.close folds it in.
    "PRAGMA wal_autocheckpoint=10000",
)


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


_process_id = os.getpid()


def _forked() -> None:
    """Note the child's process id: a kept connection is never used across a fork.
    (`os.getpid` per transaction was a system call each, and ``os.fork`` runs this.)"""
    global _process_id
    _process_id = os.getpid()


os.register_at_fork(after_in_child=_forked)


class HeldConnections:
    """One connection per thread, kept by a long-lived writer (the engine) between its
    transactions, for a SQLite file only.

    Taking a pooled connection and giving it back cost SQLAlchemy more per
    command (~20 µs: checkout, a Connection, the reset on return) than SQLite's
    commit. The connection is taken out of the pool (``detach``: the pool's size
    no longer counts it, and it is closed when dropped) and kept for this thread;
    a connection found invalidated, or inherited across a fork, is replaced.
    PostgreSQL keeps using the pool: its connections are pinged after idling,
    recycled, and counted against the server's limit, and a round trip costs
    more there than the checkout. An in-memory SQLite database (one per
    connection) keeps the pool too.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.enabled = engine.dialect.name == "sqlite" and isinstance(engine.pool, QueuePool)
        self._local = threading.local()
        self._kept: list[Connection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close every kept connection (each thread opens a new one on its next write).

        A process done with a database calls it (through ``Engine.close``) so that
        the last connection to close folds SQLite's write-ahead log into the file,
        as disposing of the pool does for pooled connections."""
        with self._lock:
            kept, self._kept = self._kept, []
        for conn in kept:
            if not conn.closed:
                conn.close()

    def get(self) -> Connection | None:
        """This thread's connection, or None where the pool is used."""
        if not self.enabled:
            return None
        local = self._local
        conn = getattr(local, "conn", None)
        # `_dbapi_connection is None`: what Connection.invalidated and .closed both test
        # first, and neither holds without it (one test instead of two properties)
        if conn is None or conn._dbapi_connection is None or local.pid != _process_id:
            error = self.engine.dialect.loaded_dbapi.Error
            try:
                proxied = self.engine.raw_connection()
            except error as exc:  # raw_connection leaves the driver's error as it is
                wrapped = DBAPIError.instance(None, None, exc, error)
                raise _store_error(wrapped, self.engine) from None
            proxied.detach()
            conn = Connection(self.engine, connection=proxied)
            local.conn, local.pid = conn, _process_id
            with self._lock:
                self._kept = [c for c in self._kept if not c.closed]
                self._kept.append(conn)
        return conn


def write_transaction(engine: Engine, held: HeldConnections | None = None) -> WriteTransaction:
    """One write transaction: commits on success, rolls back on any error.

    The transaction is begun and ended on the driver connection (SQLite:
    ``BEGIN IMMEDIATE``; PostgreSQL: the driver's implicit ``BEGIN``):
    SQLAlchemy's own begin/commit bookkeeping cost more than SQLite's commit.
    Statements run through SQLAlchemy in the body join that transaction (the
    dialect's begin sees it open) and are committed with it. With `held`, the
    transaction runs on that thread's kept connection instead of a pooled one.

    A unique-constraint violation stays a SQLAlchemy IntegrityError (the engine
    retries races on it); a connection lost before the commit raises
    :class:`ConnectionLost` (nothing was written); every other database error
    becomes a one-line StoreError.
    """
    return WriteTransaction(engine, held)


class WriteTransaction:
    """The context manager :func:`write_transaction` returns, written out as a class: a
    generator-based one cost a command more Python (its generator, and a
    ``nullcontext`` around a kept connection) than the rest of beginning and ending."""

    __slots__ = ("_conn", "_driver", "_engine", "_held", "_pooled")

    def __init__(self, engine: Engine, held: HeldConnections | None) -> None:
        self._engine = engine
        self._held = held

    def __enter__(self) -> Connection:
        kept = self._held.get() if self._held is not None else None
        self._pooled = kept is None
        try:
            conn = self._conn = self._engine.connect() if kept is None else kept
            try:
                self._driver = _begin(conn)
            except BaseException:
                self._close()
                raise
        except SAIntegrityError:
            raise
        except DBAPIError as exc:
            raise self._error(exc, committing=False) from None
        return conn

    def __exit__(self, exc_type: Any, exc: BaseException | None, _tb: Any) -> None:
        conn = self._conn
        committing = exc is None
        try:
            try:
                if committing:
                    if conn.in_transaction():  # SQLAlchemy joined: let it end its bookkeeping
                        conn.commit()
                    else:
                        _driver_call(conn, self._driver.commit)
                else:
                    self._rollback()
            except BaseException:
                if committing:
                    self._rollback()
                raise
            finally:
                if self._pooled:
                    conn.close()
        except SAIntegrityError:
            raise
        except DBAPIError as error:
            raise self._error(error, committing) from None
        if isinstance(exc, DBAPIError) and not isinstance(exc, SAIntegrityError):
            raise self._error(exc, committing=False) from None

    def _rollback(self) -> None:
        conn = self._conn
        if not conn.invalidated:
            if conn.in_transaction():
                conn.rollback()
            else:
                _driver_call(conn, self._driver.rollback)

    def _close(self) -> None:
        if self._pooled:
            self._conn.close()

    def _error(self, exc: DBAPIError, committing: bool) -> Exception:
        """What a database error in the transaction is raised as (see write_transaction)."""
        if exc.connection_invalidated and not committing:
            return ConnectionLost(str(_store_error(exc, self._engine)), transient=True)
        return _store_error(exc, self._engine)


def _begin(conn: Connection) -> Any:
    """Begin a write transaction on `conn`'s driver connection; returns that connection."""
    driver = conn.connection.dbapi_connection  # what the driver gave (no async adapters)
    if conn.dialect.name == "sqlite":
        _driver_call(conn, driver_cursor(driver).execute, "BEGIN IMMEDIATE")
    return driver


_kept_cursor: tuple[Any, Any] = (None, None)


def driver_cursor(driver: Any) -> Any:
    """A cursor of `driver` (a DB-API connection): the one made for the last statement
    when that ran on the same connection, else a new one (then kept).

    The engine's statements run on the driver's cursor (see :mod:`states.bulk`), some
    ten per command, and making a cursor through the pool's proxy cost about as much
    Python as SQLite's execution of a small statement. A cursor serves any number of
    statements in turn: each caller fetches what it needs before the next statement.
    One slot, a tuple swapped whole, so threads never share a cursor: a thread writes
    on a connection no other thread uses meanwhile, and a cursor is only taken for the
    very connection it was made on."""
    global _kept_cursor
    kept, cursor = _kept_cursor
    if kept is not driver:
        cursor = driver.cursor()
        _kept_cursor = (driver, cursor)
    return cursor


def _driver_call(conn: Connection, call: Any, *args: Any) -> Any:
    """`call(*args)` on the driver, its errors raised as SQLAlchemy's (a lost connection is
    invalidated, as SQLAlchemy's own execution path does)."""
    try:
        return call(*args)
    except conn.dialect.loaded_dbapi.Error as exc:
        lost = conn.dialect.is_disconnect(exc, conn.connection, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, conn.dialect.loaded_dbapi.Error, connection_invalidated=lost
        ) from exc


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
            from states.migrations import MIGRATIONS  # it reads this module's tables

            for version in range(found or SCHEMA_VERSION, SCHEMA_VERSION):
                MIGRATIONS[version](conn)
            SQLModel.metadata.create_all(conn)
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


def _schema_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table(SchemaInfo.__tablename__):
        return None
    return conn.execute(select(SchemaInfo.__table__.c.schema_version)).scalar_one_or_none()


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
