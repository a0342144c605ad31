"""What the benchmarks share: databases (SQLite file or a PostgreSQL schema of their own),
the case life cycle, the engine set-up, and a raw DB-API floor that replays the very
rows the engine wrote.

The floor is honest by construction: :class:`WriteRecorder` records every write
statement (INSERT / UPDATE / DELETE) and its parameters exactly as SQLAlchemy
handed them to the driver, transaction by transaction; :func:`replay` runs them
again through the bare driver (``sqlite3`` or ``psycopg``) on a fresh schema made
by tierflow's own ``init_schema`` (same tables, columns and indexes), with the
same SQLite pragmas and one commit per recorded transaction. It skips every
read the engine makes (version check, idempotency lookup, repeat-customer count)
and all of tierflow's Python.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine as SAEngine
from sqlalchemy import event, text

from states.commands import Act, OpenCase
from states.engine import Engine
from states.policy import load_policy
from states.process import load_process
from states.store import SQLITE_PRAGMAS, init_schema, make_engine
from states.wal_checkpoints import WalCheckpoints

NO_SLA = Path(__file__).with_name("policies") / "no_sla.toml"
START = datetime(2026, 11, 2, 9, tzinfo=UTC)
_WRITES = ("INSERT", "UPDATE", "DELETE")


CONFIG_NAMES = {"process": "process only", "sla": "with SLA policy"}


def at_least_one(text: str) -> int:
    """An argparse type: a count of 1 or more (a bad one is argparse's one error line)."""
    return _whole(text, 1)


def zero_or_more(text: str) -> int:
    """An argparse type: a count of 0 or more."""
    return _whole(text, 0)


def _whole(text: str, least: int) -> int:
    """`text` as a count of `least` or more: ASCII digits only, as every count tierflow reads."""
    if text.isascii() and text.isdigit() and int(text) >= least:
        return int(text)
    raise argparse.ArgumentTypeError(f"{text!r}: allowed: a whole number, {least} or more")


def each_configuration(choice: str, measure: Callable[[str, str], dict[str, Any]]) -> list[Any]:
    """`measure(backend, config)` for every backend and the chosen configuration(s)."""
    configs = ("process", "sla") if choice == "both" else (choice,)
    return [measure(backend, config) for backend in backends() for config in configs]


def print_results(
    results: list[Any], as_json: bool, header: str, line: Callable[[dict[str, Any], str], str]
) -> None:
    """One JSON object, or `header` (with the machine) and `line(result, configuration)`
    for each result, prefixed with its backend."""
    if as_json:
        print(json.dumps({"machine": machine(), "results": results}))
        return
    print(f"{header} ({machine()})")
    for result in results:
        name = CONFIG_NAMES[str(result["config"])]
        print(f"{result['backend']:10} {name:16}: {line(result, str(result['config']))}")


def machine() -> str:
    return f"{platform.node()} {platform.machine()} python {platform.python_version()}"


def backends() -> list[str]:
    """SQLite always; PostgreSQL too when ``TIERFLOW_DATABASE_URL`` names it."""
    url = os.environ.get("TIERFLOW_DATABASE_URL", "")
    return ["sqlite", url] if url.startswith("postgresql") else ["sqlite"]


def label(backend: str) -> str:
    return "SQLite" if backend == "sqlite" else "PostgreSQL"


@dataclass
class Database:
    """One empty tierflow database: a SQLite file, or a fresh PostgreSQL schema."""

    backend: str
    url: str
    connect_args: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    schema: str | None = None

    def engine(self) -> SAEngine:
        if self.connect_args:
            return make_engine(self.url, connect_args=self.connect_args)
        return make_engine(self.url)

    def raw(self) -> Any:
        """A bare DB-API connection with the settings tierflow's own connections have."""
        if self.path is not None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            for pragma in SQLITE_PRAGMAS:
                conn.execute(pragma)
            return conn
        import psycopg

        url = self.url.replace("postgresql+psycopg://", "postgresql://")
        return psycopg.connect(url, options=f"-csearch_path={self.schema}")


@contextmanager
def database(backend: str) -> Iterator[Database]:
    """A fresh database with tierflow's schema, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.db"
            db = Database("sqlite", f"sqlite:///{path}", path=path)
            engine = db.engine()
            init_schema(engine)
            engine.dispose()
            yield db
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(backend)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database("postgresql", backend, {"options": f"-csearch_path={schema}"}, schema=schema)
    try:
        engine = db.engine()
        init_schema(engine)
        engine.dispose()
        yield db
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_tierflow(db: SAEngine, config: str, background_checkpoints: bool = True) -> Engine:
    """An engine on the shipped process, with the shipped policy (``sla``) or none; on
    SQLite its log folded in by a thread of its own (as shipped) or by its commits."""
    process = load_process()
    policy = load_policy(NO_SLA if config == "process" else None, process)
    return Engine(db, process, policy, background_checkpoints=background_checkpoints)


def life_cycle(case_id: int) -> list[Act]:
    """assign → escalate → acknowledge → resolve → follow_up, after the open."""
    return [
        Act(case_id=case_id, trigger="assign", actor="ana", assignee="ana"),
        Act(
            case_id=case_id,
            trigger="escalate",
            actor="ana",
            reason="needs a specialist",
            notice="Our specialists take over.",
        ),
        Act(case_id=case_id, trigger="acknowledge", actor="l2", assignee="l2-team"),
        Act(case_id=case_id, trigger="resolve", actor="l2", note="refund issued"),
        Act(case_id=case_id, trigger="follow_up", actor="ana", satisfaction=5),
    ]


def open_case(n: int) -> OpenCase:
    return OpenCase(customer_id=f"C{n}", subject=f"benchmark case {n}")


def run_life_cycles(
    engine: Engine, first: int, count: int, recorder: WriteRecorder | None = None
) -> int:
    """`count` whole life cycles, one `apply` (one commit) per step; returns commands run."""
    done = 0
    for n in range(first, first + count):
        at = START + timedelta(minutes=n)
        case_id = engine.apply(open_case(n), at).case_id
        done += 1
        if recorder:
            recorder.cut()
        for step, command in enumerate(life_cycle(case_id), 1):
            engine.apply(command, at + timedelta(seconds=step))
            done += 1
            if recorder:
                recorder.cut()
    return done


class WriteRecorder:
    """Every write statement the engine sends the driver, grouped by command
    (the runner calls `cut` after each `apply`: one command, one transaction)."""

    def __init__(self, db: SAEngine) -> None:
        self.transactions: list[list[tuple[str, Any, bool]]] = []
        self._current: list[tuple[str, Any, bool]] = []
        self._db = db
        event.listen(db, "before_cursor_execute", self._execute)

    def _execute(self, _c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        if sql.lstrip().upper().startswith(_WRITES):
            self._current.append((sql, params, many))

    def cut(self) -> None:
        if self._current:
            self.transactions.append(self._current)
        self._current = []

    def close(self) -> None:
        event.remove(self._db, "before_cursor_execute", self._execute)

    @property
    def statements(self) -> int:
        return sum(len(t) for t in self.transactions)


class Stopwatch:
    """Wall-clock and process CPU seconds of a block. On SQLite, which runs inside this
    process, the CPU time is the cost without the waits of a machine busy with other
    work (a shared machine's wall-clock figures move by tens of percent run to run)."""

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def replay(
    db: Database,
    transactions: list[list[tuple[str, Any, bool]]],
    background_checkpoints: bool = True,
) -> Stopwatch:
    """Write the recorded transactions again with the bare driver, one commit each; on
    SQLite with the engine's background checkpoints (or without, as the engine ran),
    stopped within the time."""
    conn = db.raw()
    try:
        if db.path is not None:
            checkpoints = WalCheckpoints(str(db.path)) if background_checkpoints else None
            with Stopwatch() as watch:
                for statements in transactions:
                    conn.execute("BEGIN IMMEDIATE")
                    for sql, params, many in statements:
                        (conn.executemany if many else conn.execute)(sql, params)
                    conn.execute("COMMIT")
                    if checkpoints is not None:
                        checkpoints.committed(1)
                if checkpoints is not None:
                    checkpoints.close()
            return watch
        cursor = conn.cursor()
        with Stopwatch() as watch:
            for statements in transactions:
                for sql, params, many in statements:
                    (cursor.executemany if many else cursor.execute)(sql, params)
                conn.commit()
        return watch
    finally:
        conn.close()


def command_count(cases: int) -> int:
    return cases * (1 + len(life_cycle(0)))
