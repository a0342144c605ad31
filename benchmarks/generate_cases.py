"""A load fixture: a SQLite tierflow database with a million cases and ten million events.

    python benchmarks/generate_cases.py /tmp/tf-1m.db [--cases 1000000] [--events 10000000]
        [--days 730] [--seed 1] [--workers 2] [--verify 200]

A database tierflow reads as its own: every case is played through the engine's
decisions (:mod:`benchmarks.fixture_play`: guards, escalation points, SLA clocks, the
timer sweep), its events sealed in the current format and chained, its case row the
fold of its events, its timers and clock-ledger segments those its clock changes made;
``tierflow audit verify`` passes on it (`--verify` checks a sample at the end). What
happens to the cases is drawn from a real desk's shares (:mod:`benchmarks.fixture_plan`):
cases opened evenly over the last `--days` (730: the BPI Challenge 2013 log spans two
years; a million cases is a desk of about 1,400 a day), ids in opening order, each
case's life cut at now, about `--events` / `--cases` events a case (the customer messages
are tuned to it; BPIC has 8.7 events a case).

Written straight to SQLite, into the schema tierflow's ``init_schema`` creates (checked
at the end: ``sqlite_master`` is the same as a fresh database's): `--workers` processes
play slabs of cases while this one writes them, in opening order, with the raw driver's
``executemany`` in one transaction (journal and sync off while loading); events go in
the order they happened across cases, as the engine appends them; the secondary
indexes are dropped for the load and built once at the end.

Approximations, said so: the business calendar is the policy's (exact), but the times
are drawn, not lived; notifications and flow-run log rows are not written; timer ids
are ``case id * 128 + n``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import sys
import time
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import Pool
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks.fixture_plan import Desk
from benchmarks.fixture_play import (
    CASE_COLUMNS,
    EVENT_COLUMNS,
    SEGMENT_COLUMNS,
    TIMER_COLUMNS,
    Player,
    Rows,
)
from states.audit import verify_case
from states.policy import load_policy
from states.process import load_process
from states.store import init_schema, make_engine, read_connection, register_process
from states.tables import PolicyVersion

SLAB = 2000  # cases a worker plays at a time
_LOAD_PRAGMAS = ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1048576", "temp_store=MEMORY")


@dataclass(frozen=True, slots=True)
class Slab:
    """Cases `first` to `last` of `cases` (opened over `days` before `now`)."""

    first: int
    last: int
    cases: int
    days: float
    seed: int
    now: datetime
    events_per_case: float


_PLAYER: dict[str, Player] = {}


def play_slab(slab: Slab) -> Rows:
    """The rows of one slab's cases (in a worker; its own random stream, so the fixture
    is the same whatever the number of workers)."""
    rng = random.Random(slab.seed * 1_000_003 + slab.first)
    player = _PLAYER.get("player")
    if player is None:
        process = load_process()
        player = _PLAYER["player"] = Player(process, load_policy(None, process), slab.now, rng)
    player.now, player.rng = slab.now, rng
    desk = Desk(rng)
    rows = Rows()
    span = timedelta(days=slab.days)
    produced = 0
    for n in range(slab.first, slab.last + 1):
        opened = slab.now - span * (1 - (n - 1 + rng.random()) / slab.cases)
        plan = desk.plan(f"CUST-{rng.randrange(400_000):06d}", opened)
        produced += player.play(n, plan, desk, rows)
        done = n - slab.first + 1
        if done % 50 == 0:  # more customer messages when short of the target, fewer over
            short = slab.events_per_case - produced / done
            desk.messages = min(max(desk.messages + short / 2, 0.0), 20.0)
    return rows


def _insert(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'


class Writer:
    """Writes slabs in opening order; events wait until every event before them is in."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.pending: list[tuple[Any, ...]] = []
        self.counts = {"cases": 0, "events": 0, "timers": 0, "segments": 0}
        self.sql = {
            "case": _insert("case", CASE_COLUMNS),
            "case_event": _insert("case_event", EVENT_COLUMNS),
            "timer": _insert("timer", TIMER_COLUMNS),
            "clock_segment": _insert("clock_segment", SEGMENT_COLUMNS),
        }

    def add(self, rows: Rows) -> None:
        db, sql = self.db, self.sql
        db.executemany(sql["case"], rows.cases)
        db.executemany(sql["timer"], rows.timers)
        db.executemany(sql["clock_segment"], rows.segments)
        self.counts["cases"] += len(rows.cases)
        self.counts["timers"] += len(rows.timers)
        self.counts["segments"] += len(rows.segments)
        # Cases open in id order: no later slab has an event before this slab's last opening.
        opened = rows.cases[-1][CASE_COLUMNS.index("opened_at")]
        self.pending += rows.events
        self.pending.sort()  # two sorted runs mostly: merged, not sorted afresh
        self._write(bisect_right(self.pending, (opened, float("inf"))))

    def finish(self) -> None:
        self._write(len(self.pending))

    def _write(self, upto: int) -> None:
        self.db.executemany(self.sql["case_event"], self.pending[:upto])
        del self.pending[:upto]
        self.counts["events"] += upto


def generate(
    path: Path,
    cases: int,
    events: int,
    days: float,
    seed: int,
    workers: int = 2,
    verify: int = 200,
    console: Console | None = None,
) -> dict[str, Any]:
    """Write the fixture to `path` (which must not exist); counts, seconds, and how many
    of `verify` cases drawn at random passed ``verify_case``."""
    console = console or Console(stderr=True)
    started, cpu = time.perf_counter(), time.process_time()
    schema = _create(path)
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in _LOAD_PRAGMAS:
        db.execute(f"PRAGMA {pragma}")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:  # built once at the end: much faster than row by row
        db.execute(f'DROP INDEX "{name}"')
    now = datetime.now(UTC)
    slabs = [
        Slab(first, min(first + SLAB - 1, cases), cases, days, seed, now, events / cases)
        for first in range(1, cases + 1, SLAB)
    ]
    writer = Writer(db)
    db.execute("BEGIN")
    with _progress(console) as progress:
        task = progress.add_task("cases", total=cases, events=0, rate=0.0)
        pool = Pool(workers) if workers > 0 else None
        try:
            played = pool.imap(play_slab, slabs) if pool else map(play_slab, slabs)
            for rows in played:
                writer.add(rows)
                seconds = time.perf_counter() - started
                rate = writer.counts["events"] / seconds
                progress.update(
                    task,
                    completed=writer.counts["cases"],
                    events=writer.counts["events"],
                    rate=rate,
                )
        finally:
            if pool:
                pool.close()
                pool.join()
    writer.finish()
    db.execute("COMMIT")
    loaded = time.perf_counter()
    for name, sql in indexes:
        at = time.perf_counter()
        db.execute(sql)
        console.print(f"  index {name}: {time.perf_counter() - at:.1f} s")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    done = time.perf_counter()
    if _schema(path) != schema:
        raise RuntimeError(f"{path}: the schema differs from init_schema's")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        **writer.counts,
        "load_seconds": round(loaded - started, 1),
        "index_seconds": round(done - loaded, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),  # this process: writing, indexes
        "worker_cpu_seconds": round(children.ru_utime + children.ru_stime, 1),
        "bytes": path.stat().st_size,
        "events_per_second": round(writer.counts["events"] / (done - started)),
        "verified": _verify(path, cases, verify, seed),
    }


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} cases, {task.fields[events]:,} events"),
        TextColumn("{task.fields[rate]:,.0f} events/s"),
        TimeElapsedColumn(),
        console=console,
    )


def _create(path: Path) -> list[tuple[Any, ...]]:
    """The empty database, with the process and policy the cases run under; its schema."""
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it or pick another path")
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    process = load_process()
    policy = load_policy(None, process)
    with engine.begin() as conn:
        at = datetime.now(UTC)
        for version, table in ((process, None), (policy, PolicyVersion.__table__)):
            args = (version.version_id, version.name, version.version, version.digest)
            register_process(
                conn,
                *args,
                version.source_text,
                at,
                **({"table": table} if table is not None else {}),
            )
    engine.dispose()
    return _schema(path)


def _schema(path: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
        ).fetchall()
    finally:
        db.close()


def _verify(path: Path, cases: int, sample: int, seed: int) -> dict[str, Any]:
    """``states.audit.verify_case`` (chain, projection, process and policy) on a sample."""
    engine = make_engine(f"sqlite:///{path}", create=False)
    ids = sorted(random.Random(seed).sample(range(1, cases + 1), min(sample, cases)))
    failed: dict[int, list[str]] = {}
    with read_connection(engine) as conn:
        known: dict[tuple[str, str], list[str]] = {}
        for case_id in ids:
            result = verify_case(conn, case_id, known)
            if not result.ok:
                failed[case_id] = result.problems[:3]
    engine.dispose()
    return {
        "cases": len(ids),
        "ok": len(ids) - len(failed),
        "failed": dict(list(failed.items())[:5]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=float, default=730)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="processes playing cases (0: none)")
    parser.add_argument("--verify", type=int, default=200, help="cases verified at the end")
    args = parser.parse_args()
    if args.path.exists():
        parser.error(f"{args.path} exists; remove it or pick another path")
    result = generate(
        args.path, args.cases, args.events, args.days, args.seed, args.workers, args.verify
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
