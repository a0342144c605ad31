"""Read-only database access for the dashboard.

The dashboard only reads; a bug in a page must never write. The guarantee is
the database's, not the page's: a SQLite file is opened through a
``file:…?mode=ro`` URI, so the driver refuses any write, and a PostgreSQL
session starts with ``default_transaction_read_only`` on, so the server
refuses them. Errors reaching the database become one-line
:class:`~states.errors.StoreError` (see :func:`states.transactions.read_connection`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import ArgumentError

from states.errors import StoreError
from states.store import check_url, read_connection, sqlite_file

CONNECT_TIMEOUT_S = 5  # an unreachable server is reported, not waited on for minutes
READ_CACHE_KIB = 262_144  # SQLite page cache of a dashboard connection (allocated as used)
READ_MMAP_BYTES = 1 << 30  # and the first GiB of the file read through memory mapping


def make_readonly_engine(url: str) -> Engine:
    """An Engine on `url` that cannot write; a SQLite file that is missing is an error."""
    try:
        check_url(url)
        if url.startswith("sqlite"):
            return _sqlite_readonly(url)
        return _server_readonly(url)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use database URL {url!r}: {exc}") from None


def _sqlite_readonly(url: str) -> Engine:
    path = sqlite_file(url)
    if path is None:
        raise StoreError(f"cannot read {url!r} read-only: an in-memory database has no data")
    if not Path(path).is_file():
        raise StoreError(f"no database at {path}; run `tierflow init` (or `tierflow demo`)")
    uri = f"sqlite:///file:{quote(str(Path(path).resolve()))}?mode=ro&uri=true"
    engine = create_engine(uri, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")  # a sweep writing: wait, do not fail
        cursor.execute("PRAGMA query_only=ON")
        # A page reload reads the same pages again: the period's events of a million-case
        # desk (some 20,000 escalations, each on a page of its own) stay in memory instead
        # of being read from the file each time (SQLite's default cache holds 2 MB).
        cursor.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")
        cursor.execute(f"PRAGMA mmap_size={READ_MMAP_BYTES}")
        cursor.close()

    return engine


def _server_readonly(url: str) -> Engine:
    engine = create_engine(
        url,
        pool_pre_ping=True,  # a dashboard sits idle between clicks
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET default_transaction_read_only = on")
        cursor.close()
        dbapi_connection.commit()

    return engine


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for one page's reads; database errors become one-line StoreErrors."""
    with read_connection(engine) as conn:
        yield conn
