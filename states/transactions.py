"""Write and read transactions: the connection each runs on, how it begins and ends,
and what a database error becomes (one :class:`StoreError` line naming the database).

The engine's write transaction is begun and committed on the driver connection
(SQLite: ``BEGIN IMMEDIATE``), on a connection it keeps per thread for a SQLite
file (:class:`HeldConnections`); see :func:`write_transaction`. Split out of
:mod:`states.store`, which re-exports what its callers import from there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, QueuePool
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from states.errors import ConnectionLost, StoreError


def _store_error(exc: DBAPIError, engine: Engine) -> StoreError:
    """One line naming the database, whatever the driver wrote."""
    problem = " ".join(str(exc.orig).split())
    where = engine.url.database if engine.dialect.name == "sqlite" else None
    if "no such table" in problem or ("does not exist" in problem and "relation" in problem):
        return StoreError(f"the database has no tierflow tables ({problem}); run `tierflow init`")
    if "file is not a database" in problem or "malformed" in problem:
        return StoreError(f"{where} is not a tierflow database or is damaged ({problem})")
    if "no such column" in problem or "has no column named" in problem:
        # a schema changed under a running process: no retry will find the column
        return StoreError(
            f"the database's tables are not the ones tierflow made ({problem}); run "
            "`tierflow init` to check them"
        )
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


_NOT_KEPT = (None, None)


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
        # (connection, process id) in one thread-local value: each read of one costs as
        # much as a dict lookup and a call
        conn, pid = getattr(local, "kept", _NOT_KEPT)
        # `_dbapi_connection is None`: what Connection.invalidated and .closed both test
        # first, and neither holds without it (one test instead of two properties)
        if conn is None or conn._dbapi_connection is None or pid != _process_id:
            error = self.engine.dialect.loaded_dbapi.Error
            try:
                proxied = self.engine.raw_connection()
            except error as exc:  # raw_connection leaves the driver's error as it is
                wrapped = DBAPIError.instance(None, None, exc, error)
                raise _store_error(wrapped, self.engine) from None
            proxied.detach()
            conn = Connection(self.engine, connection=proxied)
            local.kept = (conn, _process_id)
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
                    self._end(commit=True)
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
        if exc is None:  # (an isinstance of None against an exception class: ~500 instructions)
            return
        if isinstance(exc, DBAPIError) and not isinstance(exc, SAIntegrityError):
            raise self._error(exc, committing=False) from None

    def _end(self, commit: bool) -> None:
        """Commit or roll back: through SQLAlchemy when it joined the transaction (it ends
        its own bookkeeping), else on the driver, its errors raised as SQLAlchemy's."""
        conn = self._conn
        joined = conn._transaction  # `conn.in_transaction()`, without its call
        if joined is not None and joined.is_active:
            (conn.commit if commit else conn.rollback)()
            return
        try:
            (self._driver.commit if commit else self._driver.rollback)()
        except conn.dialect.loaded_dbapi.Error as error:
            raise _driver_error(conn, error) from error

    def _rollback(self) -> None:
        if not self._conn.invalidated:
            self._end(commit=False)

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
    fairy = conn._dbapi_connection  # what `conn.connection` gives a live connection
    if fairy is None:
        fairy = conn.connection  # revalidates it, or raises as SQLAlchemy does
    driver = fairy.dbapi_connection  # what the driver gave (no async adapters)
    if conn.dialect.name == "sqlite":
        try:
            driver_cursor(driver).execute("BEGIN IMMEDIATE")
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _driver_error(conn, exc) from exc
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


def _driver_error(conn: Connection, exc: Exception) -> DBAPIError:
    """A driver's error `exc` on `conn`, as SQLAlchemy raises it (a lost connection is
    invalidated, as SQLAlchemy's own execution path does). The callers catch the driver's
    errors themselves: a helper running the call cost a frame per begin and commit."""
    lost = conn.dialect.is_disconnect(exc, conn.connection, None)
    if lost:
        conn.invalidate(exc)
    return DBAPIError.instance(  # type: ignore[no-any-return]
        None, None, exc, conn.dialect.loaded_dbapi.Error, connection_invalidated=lost
    )


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.connect() as conn:
            yield conn
    except DBAPIError as exc:
        raise _store_error(exc, engine) from None
