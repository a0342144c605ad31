"""Writing the load fixture into one SQLite file, the bottleneck of its generation:
one process writes, the workers only prepare.

A slab's cases, timers and clock-ledger segments (none of them waits for another slab)
reach the writer as a scratch SQLite file the worker wrote (in ``/dev/shm`` where
there is one), copied in with ``INSERT … SELECT``: no row of them crosses into the
writing process as Python objects, which was a third of its time. Its events come as
tuples: they wait until every event before them is in (later slabs' cases have events
between theirs), so that ids follow the time events happened, as the engine stores
them.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.fixture_play import (
    CASE_COLUMNS,
    EVENT_COLUMNS,
    SEGMENT_COLUMNS,
    TIMER_COLUMNS,
    Rows,
)

_COPIED = {"case": CASE_COLUMNS, "timer": TIMER_COLUMNS, "clock_segment": SEGMENT_COLUMNS}
_OPENED = CASE_COLUMNS.index("opened_at")
ATTACHED = 9


def scratch_dir() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


@dataclass(slots=True)
class Slab:
    """A slab's rows on their way to the writer (see the module docstring)."""

    path: Path
    opened: str  # its last case's opening
    counts: dict[str, int]
    events: list[tuple[Any, ...]]


def _insert(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'


def spill(rows: Rows, path: Path) -> Slab:
    """Write `rows`' cases, timers and segments to `path` (in a worker)."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        for (table, columns), data in zip(
            _COPIED.items(), (rows.cases, rows.timers, rows.segments), strict=True
        ):
            db.execute(f'CREATE TABLE "{table}" ({", ".join(columns)})')
            db.executemany(_insert(table, columns), data)
        db.execute("COMMIT")
    finally:
        db.close()
    counts = {"cases": len(rows.cases), "timers": len(rows.timers)}
    counts["segments"] = len(rows.segments)
    return Slab(path, rows.cases[-1][_OPENED], counts, rows.events)


class Writer:
    """Writes slabs in opening order; events wait until every event before them is in.
    A transaction holds `ATTACHED` slabs (SQLite attaches ten databases at most, and
    detaches one only after the transaction that read it): few commits, each writing
    the pages the slabs before dirtied."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.pending: list[tuple[Any, ...]] = []
        self.counts = {"cases": 0, "events": 0, "timers": 0, "segments": 0}
        self.seconds = 0.0  # in add and finish: writing, not waiting for the workers
        self.events_sql = _insert("case_event", EVENT_COLUMNS)
        self.attached: list[Path] = []

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
        for name, count in slab.counts.items():
            self.counts[name] += count
        # Cases open in id order: no later slab has an event before this slab's last opening.
        self.pending += slab.events
        self.pending.sort()  # two sorted runs mostly: merged, not sorted afresh
        self._write(bisect_right(self.pending, (slab.opened, float("inf"))))
        if len(self.attached) == ATTACHED:
            self._commit()
        self.seconds += time.perf_counter() - started

    def _commit(self) -> None:
        self.db.execute("COMMIT")
        for n, path in enumerate(self.attached):
            self.db.execute(f"DETACH DATABASE slab{n}")
            path.unlink(missing_ok=True)
        self.attached.clear()

    def finish(self) -> None:
        started = time.perf_counter()
        if not self.attached:
            self.db.execute("BEGIN")
        self._write(len(self.pending))
        self._commit()
        self.seconds += time.perf_counter() - started

    def _write(self, upto: int) -> None:
        self.db.executemany(self.events_sql, self.pending[:upto])
        del self.pending[:upto]
        self.counts["events"] += upto
