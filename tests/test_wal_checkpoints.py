"""Background checkpoints: a busy engine's write-ahead log is folded into the SQLite file
by a thread of its own (states.wal_checkpoints), not by the command that crosses the mark."""

from __future__ import annotations

import gc
import os
import signal
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine as SAEngine

from states.audit import verify_all
from states.commands import Act, OpenCase
from states.engine import Engine
from states.process import ProcessDefinition
from states.store import make_engine
from states.wal_checkpoints import WalCheckpoints, _Worker, wal_checkpoints
from tests.conftest import MONDAY, sqlite_db


def _busy(engine: Engine, cases: int) -> None:
    """`cases` cases opened and assigned: two commands each."""
    for n in range(cases):
        at = MONDAY + timedelta(minutes=n)
        case_id = engine.apply(OpenCase(customer_id=f"C{n}", subject="printer"), at).case_id
        engine.apply(Act(case_id=case_id, trigger="assign", actor="ana", assignee="ana"), at)


def _until(condition, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _file(db: SAEngine) -> Path:
    return Path(str(db.url.database))


def test_a_busy_engine_folds_its_log_into_the_database_file_from_a_thread(
    tmp_path: Path, definition: ProcessDefinition
) -> None:
    db = sqlite_db(tmp_path)
    engine = Engine(db, definition)
    assert engine.checkpoints is not None
    engine.checkpoints.every = 8
    before = _file(db).stat().st_size
    _busy(engine, 20)
    assert _until(lambda: engine.checkpoints.runs >= 1 and _file(db).stat().st_size > before)
    busy, log, folded = engine.checkpoints.last  # type: ignore[misc]
    assert (busy, folded > 0, folded <= log) == (0, True, True)
    assert engine.checkpoints.failed is None
    engine.close()


def test_without_the_thread_the_file_stays_as_it_was_until_a_commit_crosses_the_mark(
    tmp_path: Path, definition: ProcessDefinition
) -> None:
    """The control of the test above: the same commands leave the file untouched (far
    under the connections' own mark of 10,000 log pages)."""
    db = sqlite_db(tmp_path)
    engine = Engine(db, definition, background_checkpoints=False)
    assert engine.checkpoints is None
    before = _file(db).stat().st_size
    _busy(engine, 20)
    time.sleep(0.2)
    assert _file(db).stat().st_size == before
    engine.close()


def test_histories_written_beside_the_thread_verify_whole(
    tmp_path: Path, definition: ProcessDefinition
) -> None:
    db = sqlite_db(tmp_path)
    engine = Engine(db, definition)
    engine.checkpoints.every = 1  # type: ignore[union-attr]
    _busy(engine, 60)
    assert _until(lambda: engine.checkpoints.runs >= 5)  # type: ignore[union-attr]
    engine.close()
    db.dispose()
    fresh = make_engine(f"sqlite:///{_file(db)}")
    results = verify_all(fresh)
    assert (len(results), [r.case_id for r in results if not r.ok]) == (60, [])
    assert {r.events for r in results} == {2}


def test_close_stops_the_thread_and_a_later_command_starts_another(
    sqlite: SAEngine, definition: ProcessDefinition
) -> None:
    engine = Engine(sqlite, definition)
    checkpoints = engine.checkpoints
    assert checkpoints is not None and not checkpoints.running
    checkpoints.every = 2
    _busy(engine, 1)
    assert checkpoints.running
    engine.close()
    assert not checkpoints.running
    _busy(engine, 1)
    assert checkpoints.running
    engine.close()


def test_fewer_commands_than_a_waking_start_no_thread(
    sqlite: SAEngine, definition: ProcessDefinition
) -> None:
    engine = Engine(sqlite, definition)
    _busy(engine, 5)
    assert engine.checkpoints is not None and not engine.checkpoints.running


def test_a_database_error_in_the_thread_is_kept_and_the_thread_goes_on(tmp_path: Path) -> None:
    checkpoints = WalCheckpoints(str(tmp_path), every=1)  # a folder
    checkpoints.committed(1)
    assert _until(lambda: checkpoints.failed is not None)
    assert "unable to open database file" in str(checkpoints.failed)
    assert checkpoints.running and checkpoints.runs == 0
    checkpoints.close()
    assert not checkpoints.running


def test_a_missing_file_is_not_made_into_an_empty_database(tmp_path: Path) -> None:
    missing = tmp_path / "moved.db"
    checkpoints = WalCheckpoints(str(missing), every=1)
    checkpoints.committed(1)
    assert _until(lambda: checkpoints.failed is not None)
    checkpoints.close()
    assert sorted(tmp_path.iterdir()) == []


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "tierflow-wal-checkpoints"}


def test_closing_while_other_threads_commit_leaves_no_thread_behind(tmp_path: Path) -> None:
    """A close racing a waking from another thread once left a thread waiting forever."""
    before = _threads()
    # no file: each waking fails at once, so the race is run through thousands of times
    checkpoints = WalCheckpoints(str(tmp_path / "none.db"), every=1)
    done = threading.Event()

    def commit() -> None:
        while not done.is_set():
            checkpoints.committed(1)

    writers = [threading.Thread(target=commit) for _ in range(2)]
    for writer in writers:
        writer.start()
    for _ in range(5000):
        checkpoints.close()
    done.set()
    for writer in writers:
        writer.join()
    checkpoints.close()
    assert _until(lambda: _threads() <= before, 10)


def test_closing_again_and_again_keeps_no_worker_alive(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    checkpoints = WalCheckpoints(path)
    for _ in range(1000):
        checkpoints.close()
    gc.collect()
    workers = [t for t in gc.get_objects() if isinstance(t, _Worker) and t.path == path]
    assert len(workers) == 1  # the one a next waking would start


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "postgresql+psycopg://postgres@127.0.0.1/test"]
)
def test_databases_without_a_log_of_ours_get_no_thread(url: str) -> None:
    assert wal_checkpoints(make_engine(url)) is None


def _exited(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return True
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return False


def test_a_child_forked_while_the_thread_is_inside_sqlite_can_use_sqlite(
    tmp_path: Path, definition: ProcessDefinition
) -> None:
    """A fork waits for a checkpoint in progress: a child forked in the middle of one
    used to inherit SQLite's mutexes locked, and hang at its first SQLite call (about
    one fork in twenty, forking right after commands that woke the thread)."""
    engine = Engine(sqlite_db(tmp_path), definition)
    engine.checkpoints.every = 1  # type: ignore[union-attr]
    _busy(engine, 150)  # a log of some size: each checkpoint takes a while
    hung = 0
    for _ in range(150):
        _busy(engine, 3)
        pid = os.fork()
        if pid == 0:  # the child: one SQLite call, then out (no pytest teardown)
            try:
                sqlite3.connect(":memory:").execute("select 1")
            finally:
                os._exit(0)
        hung += not _exited(pid, 5.0)
    engine.close()
    assert hung == 0
