"""Shared fixtures: small readable worlds on real databases.

SQLite runs everywhere; PostgreSQL tests use the server on 127.0.0.1:5432
(database `test`), each test in a schema of its own, and skip with the
reason when no server answers.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import text

from states.commands import Act, OpenCase
from states.engine import Engine
from states.process import ProcessDefinition, load_process
from states.store import init_schema, make_engine

PG_URL = os.environ.get("TIERFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _pg_unavailable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL at {PG_URL} is not reachable: {exc}"


_PG_REASON = _pg_unavailable()
postgres = pytest.mark.skipif(_PG_REASON is not None, reason=_PG_REASON or "")


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """One Prefect test server for the session (Prefect's advice: a session-scoped
    `prefect_test_harness`), this process's API from then on; yields its URL, for the
    processes a test starts against it. Starting one costs 10-20 s."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="module", autouse=True)
def _prefect_events_stopped() -> Iterator[None]:
    """After a module whose flows ran in this process, stop Prefect's events worker (it
    starts again with the next event): its websocket's keepalive pings draw from the
    `random` module in a thread of their own, every 20 s, and Hypothesis, generating a
    later module's examples in the same process, reported them as a strategy drawing
    from `random`."""
    yield
    worker = sys.modules.get("prefect.events.worker")
    if worker is not None:
        worker.EventsWorker.drain_all(timeout=10, at_exit=False)


@pytest.fixture(scope="session")
def definition() -> ProcessDefinition:
    return load_process()


def sqlite_db(tmp_path: Path) -> SAEngine:
    """The database `tierflow.db` in `tmp_path`, initialised (`init_schema`). A new one is
    a copy of a file initialised once per session: 2 ms where `init_schema` takes 16."""
    path = tmp_path / "tierflow.db"
    if path.exists():
        db = make_engine(f"sqlite:///{path}")
        init_schema(db)
        return db
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_initialised_sqlite_file(), path)
    return make_engine(f"sqlite:///{path}")


@functools.cache
def _initialised_sqlite_file() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="tierflow-initialised-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    db = make_engine(f"sqlite:///{folder / 'tierflow.db'}")
    init_schema(db)
    db.dispose()
    return folder / "tierflow.db"


@pytest.fixture
def sqlite(tmp_path: Path) -> SAEngine:
    return sqlite_db(tmp_path)


@pytest.fixture
def pg() -> Iterator[SAEngine]:
    if _PG_REASON:
        pytest.skip(_PG_REASON)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    init_schema(db)
    try:
        yield db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[postgres, pytest.mark.postgres])])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> SAEngine:
    """The store under test, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_db(tmp_path)
    return request.getfixturevalue("pg")


@pytest.fixture
def engine(sqlite: SAEngine, definition: ProcessDefinition) -> Engine:
    return Engine(sqlite, definition, clock=lambda: MONDAY)


@pytest.fixture
def history(db: SAEngine, definition: ProcessDefinition) -> tuple[Engine, int]:
    """A case of six events (opened, assigned, escalated, acknowledged, resolved), for the
    audit and tamper tests, on each database."""
    eng = Engine(db, definition, clock=lambda: MONDAY)
    case_id = eng.apply(OpenCase(customer_id="C1", subject="refund", amount_claimed="800")).case_id
    for trigger, fields in [
        ("assign", {"assignee": "ana"}),
        ("escalate", {"reason": "refund above authority", "notice": "L2 takes over"}),
        ("acknowledge", {}),
        ("resolve", {"note": "refunded"}),
    ]:
        eng.apply(Act(case_id=case_id, trigger=trigger, actor="ana", **fields))
    return eng, case_id
