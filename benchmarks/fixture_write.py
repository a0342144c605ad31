"""Writing the load fixture into one SQLite file, the bottleneck of its generation:
one process writes, the workers only prepare.

A slab's rows reach the writer as a scratch SQLite file the worker wrote (in
``/dev/shm`` where there is one), copied in with ``INSERT … SELECT``: no row crosses
into the writing process as Python objects (unpickling them and binding their values
was most of its time). Cases, timers and clock-ledger segments go in at once; events
wait in a temporary table until every event before them is in (later slabs' cases have
events between theirs), so that ids follow the time events happened, as the engine
stores them.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.fixture_play import (
    CASE_COLUMNS,
    EVENT_COLUMNS,
    SEGMENT_COLUMNS,
    TIMER_COLUMNS,
    Rows,
)

_COPIED = {"case": CASE_COLUMNS, "timer": TIMER_COLUMNS, "clock_segment": SEGMENT_COLUMNS}
_EVENTS = ", ".join(EVENT_COLUMNS)
_OPENED = CASE_COLUMNS.index("opened_at")
ATTACHED = 9  # slabs a transaction reads (SQLite attaches ten databases at most)


def scratch_dir() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


@dataclass(frozen=True, slots=True)
class Slab:
    """A slab's rows in a scratch file, on their way to the writer."""

    path: Path
    opened: str  # its last case's opening: no later slab has an event before it
    counts: dict[str, int]


def _insert(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'


def spill(rows: Rows, path: Path) -> Slab:
    """Write `rows` to `path` (in a worker)."""
    tables = {**_COPIED, "case_event": EVENT_COLUMNS}
    data = (rows.cases, rows.timers, rows.segments, rows.events)
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        for (table, columns), values in zip(tables.items(), data, strict=True):
            db.execute(f'CREATE TABLE "{table}" ({", ".join(columns)})')
            db.executemany(_insert(table, columns), values)
        db.execute("COMMIT")
    finally:
        db.close()
    counts = {"cases": len(rows.cases), "timers": len(rows.timers)}
    counts["segments"] = len(rows.segments)
    return Slab(path, rows.cases[-1][_OPENED], counts)


class Writer:
    """Writes slabs in opening order. A transaction reads `ATTACHED` slabs (SQLite
    detaches a database only after the transaction that read it): few commits."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.counts = {"cases": 0, "events": 0, "timers": 0, "segments": 0}
        self.seconds = 0.0  # in add and finish: writing, not waiting for the workers
        self.attached: list[Path] = []
        db.execute(f"CREATE TEMP TABLE pending ({_EVENTS})")
        db.execute("CREATE INDEX temp.pending_order ON pending (occurred_at, case_id, seq)")

    def add(self, slab: Slab) -> None:
        started = time.perf_counter()
        db = self.db
        if not self.attached:
            db.execute("BEGIN")
        name = f"slab{len(self.attached)}"
        db.execute(f"ATTACH DATABASE ? AS {name}", (str(slab.path),))
        self.attached.append(slab.path)
        for table, columns in _COPIED.items():
            names = ", ".join(columns)
            db.execute(f'INSERT INTO main."{table}" ({names}) SELECT {names} FROM {name}."{table}"')
        for counted, count in slab.counts.items():
            self.counts[counted] += count
        db.execute(f"INSERT INTO pending SELECT {_EVENTS} FROM {name}.case_event")
        self._write(slab.opened)
        if len(self.attached) == ATTACHED:
            self._commit()
        self.seconds += time.perf_counter() - started

    def finish(self) -> None:
        started = time.perf_counter()
        if not self.attached:
            self.db.execute("BEGIN")
        self._write(None)
        self._commit()
        self.db.execute("DROP TABLE temp.pending")
        self.seconds += time.perf_counter() - started

    def _write(self, upto: str | None) -> None:
        """The pending events that happened up to `upto` (None: all), in time order."""
        where = "" if upto is None else "WHERE occurred_at <= ?"
        args = () if upto is None else (upto,)
        written = self.db.execute(
            f"INSERT INTO main.case_event ({_EVENTS}) SELECT {_EVENTS} FROM pending "
            f"{where} ORDER BY occurred_at, case_id, seq",
            args,
        ).rowcount
        self.db.execute(f"DELETE FROM pending {where}", args)
        self.counts["events"] += written

    def _commit(self) -> None:
        self.db.execute("COMMIT")
        for n, path in enumerate(self.attached):
            self.db.execute(f"DETACH DATABASE slab{n}")
            path.unlink(missing_ok=True)
        self.attached.clear()
