"""A load fixture: a SQLite tierflow database with a million cases and ten million events.

    python benchmarks/generate_cases.py /tmp/tf-1m.db [--cases 1000000] [--events 10000000]
        [--days 730] [--seed 1] [--workers 2] [--verify 200] [--templates 20000]

A database tierflow reads as its own: `--templates` cases are played through the
engine's decisions (:mod:`benchmarks.fixture_play`: guards, escalation points, SLA
clocks, the timer sweep) and the others are cloned from them
(:mod:`benchmarks.fixture_clone`: a template opened whole weeks earlier or later, cut
at now, with its own id, customer, agents and chain); every case's events are sealed in
the current format and chained, its case row is the fold of its events, its timers and
clock-ledger segments those its clock changes made; ``tierflow audit verify`` passes on
it (`--verify` checks a sample at the end). What happens to the cases is drawn from a
real desk's shares (:mod:`benchmarks.fixture_plan`): cases opened evenly over the last
`--days` (730: the BPI Challenge 2013 log spans two years; a million cases is a desk of
about 1,400 a day), ids in opening order, each case's life cut at now, about `--events`
/ `--cases` events a case (the customer messages are tuned to it; BPIC has 8.7 events a
case). With as many templates as cases, every case is played.

Written straight to SQLite, into the schema tierflow's ``init_schema`` creates (checked
at the end: ``sqlite_master`` is the same as a fresh database's): `--workers` processes
play the templates, then clone slabs of cases into scratch files this one copies in,
in opening order (:mod:`benchmarks.fixture_write`; journal and sync off while loading);
events go in the order they happened across cases, as the engine appends them; the
secondary indexes of the other tables are dropped for the load and built once at the
end. The figures printed: counts, seconds by phase (templates; clone and write, of which
the writer was busy; indexes; verify) and processor seconds by process.

Approximations, said so: the business calendar is the policy's (exact for templates;
clones carry their template's deadlines, see :mod:`benchmarks.fixture_clone`), but the
times are drawn, not lived; notifications and flow-run log rows are not written; timer
ids are ``case id * 128 + n``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import sqlite3
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks._common import at_least_one, zero_or_more
from benchmarks.fixture_clone import WEEK, Template, clone
from benchmarks.fixture_plan import Desk
from benchmarks.fixture_play import Player, Rows, stamp
from benchmarks.fixture_write import Slab as Written
from benchmarks.fixture_write import Writer, scratch_dir, spill
from states.audit import verify_case
from states.policy import load_policy
from states.process import load_process
from states.store import init_schema, make_engine, read_connection, register_process
from states.tables import PolicyVersion

SLAB = 2000  # cases a worker plays or clones at a time
AHEAD = 4  # slabs a worker may have ready before the writer takes them
TEMPLATES = 20_000  # cases played through the engine; the others are cloned from them
_LOAD_PRAGMAS = ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1048576", "temp_store=MEMORY")


@dataclass(frozen=True, slots=True)
class Slab:
    """Templates `first` onwards, opened at `openings`, played up to `horizon`; their
    events up to `now` count towards `events_per_case`."""

    first: int
    openings: tuple[datetime, ...]
    seed: int
    now: datetime
    horizon: datetime
    events_per_case: float


@dataclass(frozen=True, slots=True)
class Clones:
    """Cases `first` onwards: each (template index, weeks later) cut at `now`."""

    first: int
    pairs: tuple[tuple[int, int], ...]
    seed: int
    now: datetime
    scratch: Path  # the file its cases, timers and segments are spilled to


_PLAYER: dict[str, Player] = {}
_TEMPLATES: list[Template] = []  # set before the clone workers fork


def play_slab(slab: Slab) -> list[Template]:
    """One slab's templates (in a worker; its own random stream, so the fixture is the
    same whatever the number of workers)."""
    rng = random.Random(slab.seed * 1_000_003 + slab.first)
    player = _PLAYER.get("player")
    if player is None:
        process = load_process()
        player = _PLAYER["player"] = Player(process, load_policy(None, process), slab.now, rng)
    player.now, player.rng = slab.horizon, rng
    desk = Desk(rng)
    templates, now, produced = [], stamp(slab.now), 0
    for done, opened in enumerate(slab.openings, start=1):
        rows = Rows(marks=[])
        plan = desk.plan(f"CUST-{rng.randrange(400_000):06d}", opened)
        player.play(slab.first + done - 1, plan, desk, rows)
        templates.append(Template.of(slab.first + done - 1, rows))
        produced += templates[-1].at(now)[0]
        if done % 50 == 0:  # more customer messages when short of the target, fewer over
            short = slab.events_per_case - produced / done
            desk.messages = min(max(desk.messages + short / 2, 0.0), 20.0)
    return templates


def clone_slab(slab: Clones) -> Written:
    """One slab's cases, cloned from the templates (in a worker forked after they were
    played: it reads them from this module)."""
    rng = random.Random(slab.seed * 1_000_003 + slab.first)
    rows = Rows()
    for case_id, (index, weeks) in enumerate(slab.pairs, start=slab.first):
        cut = stamp(slab.now - WEEK * weeks)
        customer = f"CUST-{rng.randrange(400_000):06d}"
        clone(_TEMPLATES[index], case_id, weeks, cut, customer, rng.randrange(400), rows)
    return spill(rows, slab.scratch)


def openings(count: int, days: float, now: datetime, rng: random.Random) -> list[datetime]:
    """`count` instants evenly over the `days` before `now`, in order."""
    span = timedelta(days=days)
    return [now - span * (1 - (n + rng.random()) / count) for n in range(count)]


def assign(
    cases: int, templates: list[datetime], days: float, now: datetime, rng: random.Random
) -> list[tuple[int, int]]:
    """Each case's (template, weeks later) in opening order: opened evenly over `days`
    like the templates, each from a template opened within two weeks of it, shifted by
    the whole weeks that bring it closest without passing its instant (so none opens
    after now). As many templates as cases: each case is its template."""
    if len(templates) >= cases:
        return [(n, 0) for n in range(cases)]
    reach = max(1, round(len(templates) * 14 / days))
    drawn = []
    for n, at in enumerate(openings(cases, days, now, rng)):
        middle = n * len(templates) // cases
        index = min(max(middle + rng.randint(-reach, reach), 0), len(templates) - 1)
        weeks = (at - templates[index]) // WEEK
        drawn.append((templates[index] + WEEK * weeks, index, weeks))
    drawn.sort()
    return [(index, weeks) for _, index, weeks in drawn]


def generate(
    path: Path,
    cases: int,
    events: int,
    days: float,
    seed: int,
    workers: int = 2,
    verify: int = 200,
    console: Console | None = None,
    templates: int = TEMPLATES,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write the fixture to `path` (which must not exist), as of `now` (default: the
    clock); counts, seconds by phase, and how many of `verify` cases drawn at random
    passed ``verify_case``. The same seed and `now` write the same cases."""
    console = console or Console(stderr=True)
    started, cpu = time.perf_counter(), time.process_time()
    schema = _create(path)
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in _LOAD_PRAGMAS:
        db.execute(f"PRAGMA {pragma}")
    # The secondary indexes are built once at the end (much faster than row by row),
    # but for the events': they are written in time order, so their indexes (on time, on
    # type and time, on moves and time) grow at a few places only, and building them after
    # would read the whole table (14 GB at a million cases) three more times.
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND tbl_name != 'case_event'"
    ).fetchall()
    for name, _ in indexes:
        db.execute(f'DROP INDEX "{name}"')
    now, rng = now or datetime.now(UTC), random.Random(seed)
    pool_openings = openings(min(templates, cases), days, now, rng)
    pairs = assign(cases, pool_openings, days, now, rng)
    horizon, per_case = now - WEEK * min(weeks for _, weeks in pairs), events / cases
    slabs = [
        Slab(first + 1, tuple(pool_openings[first : first + SLAB]), seed, now, horizon, per_case)
        for first in range(0, len(pool_openings), SLAB)
    ]
    _TEMPLATES[:] = [t for played in _map(workers, play_slab, slabs) for t in played]
    phases = {"templates": time.perf_counter() - started}
    template_cpu = _children_cpu()
    gc.freeze()  # the forked workers read the templates: fewer pages copied
    gc.disable()  # millions of tuples, no cycles: collections would only scan them
    scratch = scratch_dir()
    batches = [
        Clones(
            first + 1,
            tuple(pairs[first : first + SLAB]),
            seed,
            now,
            scratch / f"tf-{os.getpid()}-{first}.db",
        )
        for first in range(0, cases, SLAB)
    ]
    writer = Writer(db)
    with _progress(console) as progress:
        task = progress.add_task("cases", total=cases, events=0, rate=0.0)
        try:
            for slab in _map(workers, clone_slab, batches):
                writer.add(slab)
                rate = writer.counts["events"] / (time.perf_counter() - started)
                counts = writer.counts
                progress.update(task, completed=counts["cases"], events=counts["events"], rate=rate)
            writer.finish()
        finally:
            for batch in batches:  # what a failed run left in the scratch directory
                batch.scratch.unlink(missing_ok=True)
    _TEMPLATES.clear()
    gc.unfreeze()
    gc.enable()
    loaded = time.perf_counter()
    phases["clone and write"] = loaded - started - phases["templates"]
    phases["writer busy"] = writer.seconds
    for name, sql in indexes:
        at = time.perf_counter()
        db.execute(sql)
        console.print(f"  index {name}: {time.perf_counter() - at:.1f} s")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    done = time.perf_counter()
    phases["indexes"] = done - loaded
    if _schema(path) != schema:
        raise RuntimeError(f"{path}: the schema differs from init_schema's")
    verified = _verify(path, cases, verify, seed)
    phases["verify"] = time.perf_counter() - done
    return {
        **writer.counts,
        "templates": len(pool_openings),
        "seconds": {name: round(value, 1) for name, value in phases.items()},
        "cpu_seconds": round(time.process_time() - cpu, 1),  # this process: writing, indexes
        "template_cpu_seconds": round(template_cpu, 1),
        "clone_cpu_seconds": round(_children_cpu() - template_cpu, 1),
        "bytes": path.stat().st_size,
        "events_per_second": round(writer.counts["events"] / (done - started)),
        "verified": verified,
    }


def _map(workers: int, function: Any, items: list[Any]) -> Iterator[Any]:
    """`function` over `items`, in order, in `workers` forked processes (0: here), at
    most `AHEAD` a worker ahead of the caller: the writer is the slower, and each slab
    waiting for it is a scratch file in memory."""
    if workers <= 0:
        yield from map(function, items)
        return
    with get_context("fork").Pool(workers) as pool:
        waiting: deque[Any] = deque()
        for item in items:
            waiting.append(pool.apply_async(function, (item,)))
            if len(waiting) > AHEAD * workers:
                yield waiting.popleft().get()
        while waiting:
            yield waiting.popleft().get()
        pool.close()
        pool.join()


def _children_cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


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
    parser.add_argument("--cases", type=at_least_one, default=1_000_000)
    parser.add_argument("--events", type=at_least_one, default=10_000_000)
    parser.add_argument("--days", type=float, default=730)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--workers", type=zero_or_more, default=2, help="processes playing cases (0: none)"
    )
    parser.add_argument(
        "--verify", type=zero_or_more, default=200, help="cases verified at the end"
    )
    parser.add_argument(
        "--templates", type=at_least_one, default=TEMPLATES, help="cases played; the others cloned"
    )
    args = parser.parse_args()
    if args.path.exists():
        parser.error(f"{args.path} exists; remove it or pick another path")
    result = generate(
        args.path,
        args.cases,
        args.events,
        args.days,
        args.seed,
        args.workers,
        args.verify,
        templates=args.templates,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
