"""Sweeping due timers among a million pending ones, on SQLite (and PostgreSQL).

Set-up (not timed), two cohorts of `--cases` cases each, priority normal, on
the shipped policy (Europe/Brussels office hours):

* breaches: opened Monday 10:00. A share (`--escalated`, default half) is
  escalated to L2 at 13:00: its acknowledgement warns at 16:12 and is missed
  at 17:00, and the shipped policy escalates a missed acknowledgement, so each
  of those breaches is a real transition (L2 -> manager: events, clocks
  stopped and started, timers cancelled and armed, customer notice). The
  others' first response warns at 16:24 and is missed Tuesday 10:00 (notify).
  A sweep at Monday 16:30 (untimed) fires their warnings, as a sweeper running
  all along would have;
* warnings: opened Monday 12:00; their first response warns Tuesday 10:24 (due
  12:00), a warning that is sent.

Synthetic pending timers due next year fill the table up to `--pending` rows.
At Tuesday 10:30 exactly 2 x cases timers are due: `cases` breaches and
`cases` warnings.

Timed:
* sweep: claim (one indexed UPDATE … RETURNING per batch) and fire every due
  timer through the engine: events, clock state, notifications, commits;
* claim: the time spent in the claim statements of that sweep;
* empty sweep: the same sweep again with nothing due;
* baseline: the same claim statement run with the plain driver (sqlite3 /
  psycopg) on a copy of the database before the sweep (the floor of the claim).

With ``TIERFLOW_DATABASE_URL`` naming a PostgreSQL database the same figures
are printed for it after SQLite's; there each run builds its databases afresh
(schemas it creates and drops) instead of copying a file.

    [TIERFLOW_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test] \
    python benchmarks/timer_sweep.py [--cases 5000] [--escalated 0.5] [--pending 1000000]
                                     [--batch 2000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import Database, at_least_one, backends, database, label, machine
from states.commands import Act, OpenCase
from states.engine import Engine
from states.process import load_process
from states.sweep import sweep

BRUSSELS = ZoneInfo("Europe/Brussels")
OPENED = datetime(2026, 11, 2, 10, tzinfo=BRUSSELS)
ESCALATED = datetime(2026, 11, 2, 13, tzinfo=BRUSSELS)
WARNED = datetime(2026, 11, 2, 16, 30, tzinfo=BRUSSELS)  # the earlier sweep
OPENED_LATER = datetime(2026, 11, 2, 12, tzinfo=BRUSSELS)
SWEEP_AT = datetime(2026, 11, 3, 10, 30, tzinfo=BRUSSELS)


def _time(db: Database, value: datetime) -> Any:
    """A time as the driver stores it: UTC text on SQLite, an aware datetime on PostgreSQL."""
    utc = value.astimezone(UTC)
    return utc.isoformat(timespec="microseconds") if db.path is not None else utc


def _mark(db: Database) -> str:
    return "?" if db.path is not None else "%s"


def build(target: Database, cases: int, escalated: float, pending: int) -> int:
    db = target.engine()
    engine = Engine(db, load_process())
    for start in range(0, cases, 1000):
        numbers = range(start, min(start + 1000, cases))
        opened = engine.apply_many(
            [OpenCase(customer_id=f"C{n}", subject="breach") for n in numbers], OPENED
        )
        chosen = [
            result.case_id
            for n, result in enumerate(opened, start)
            if int((n + 1) * escalated) > int(n * escalated)  # evenly spread, `escalated` of all
        ]
        if chosen:
            engine.apply_many(
                [
                    Act(
                        case_id=case_id,
                        trigger="escalate",
                        actor="agent",
                        reason="refund above authority",
                        notice="Our specialist team takes over",
                    )
                    for case_id in chosen
                ],
                ESCALATED,
            )
    sweep(engine, WARNED, worker="setup")
    for start in range(0, cases, 1000):
        engine.apply_many(
            [
                OpenCase(customer_id=f"W{n}", subject="warning")
                for n in range(start, min(start + 1000, cases))
            ],
            OPENED_LATER,
        )
    db.dispose()
    conn = target.raw()
    cursor = conn.cursor()
    cursor.execute("SELECT count(*) FROM timer WHERE status = 'pending'")
    filler = max(pending - cursor.fetchone()[0], 0)
    created = _time(target, datetime(2026, 11, 2, 9, tzinfo=UTC))
    due_at = [_time(target, datetime(2027, 1 + m, 15, 9, tzinfo=UTC)) for m in range(12)]
    rows = (
        (1 + n % cases, "resolution", "breach", 1000 + n, due_at[n % 12], "pending", created)
        for n in range(filler)
    )
    columns = "case_id, clock, kind, generation, due_at, status, created_at"
    if target.path is not None:
        cursor.executemany(f"INSERT INTO timer ({columns}) VALUES ({', '.join('?' * 7)})", rows)
    else:
        with cursor.copy(f"COPY timer ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    conn.commit()
    if target.path is None:
        cursor.execute("ANALYZE")
    mark = _mark(target)
    cursor.execute(
        f"SELECT count(*) FROM timer WHERE status = 'pending' AND due_at <= {mark}",
        (_time(target, SWEEP_AT),),
    )
    due = cursor.fetchone()[0]
    conn.commit()
    conn.close()
    return due


def transitions_fired(db: Database) -> int:
    """Escalations the sweep made (the breach point's transitions), counted after it."""
    conn = db.raw()
    cursor = conn.cursor()
    cursor.execute(
        "SELECT count(*) FROM case_event WHERE type = 'escalate' AND actor = 'system:sla'"
    )
    count = cursor.fetchone()[0]
    conn.close()
    return count


def baseline_claim(db: Database, batch: int) -> tuple[float, int]:
    """The claim statement alone, through the plain driver, until nothing is due."""
    conn = db.raw()
    cursor = conn.cursor()
    now, mark = _time(db, SWEEP_AT), _mark(db)
    lock = "" if db.path is not None else " FOR UPDATE SKIP LOCKED"
    sql = (
        f"UPDATE timer SET status = 'claimed', claimed_by = 'base', claimed_at = {mark} "
        f"WHERE id IN (SELECT id FROM timer WHERE status = 'pending' AND due_at <= {mark} "
        f"ORDER BY due_at LIMIT {mark}{lock}) "
        "RETURNING id, case_id, clock, kind, generation, due_at"
    )
    began = time.perf_counter()
    claimed = 0
    while True:
        if db.path is not None:
            conn.execute("BEGIN IMMEDIATE")
        cursor.execute(sql, (now, now, batch))
        rows = cursor.fetchall()
        conn.commit()
        claimed += len(rows)
        if not rows:
            break
    elapsed = time.perf_counter() - began
    conn.close()
    return elapsed, claimed


@contextmanager
def copies(backend: str, args: argparse.Namespace) -> Iterator[Any]:
    """Yields a context manager factory giving a database as built, removed after use
    (SQLite: a copy of one built file; PostgreSQL: a schema built afresh), and a function
    telling how many timers were due."""
    due = 0

    @contextmanager
    def fresh() -> Iterator[Database]:
        nonlocal due
        with database(backend) as db:
            if built is not None:
                shutil.copy(built.path, db.path)  # type: ignore[arg-type]
            else:
                due = build(db, args.cases, args.escalated, args.pending)
            yield db

    with ExitStack() as stack:
        built = stack.enter_context(database("sqlite")) if backend == "sqlite" else None
        if built is not None:
            due = build(built, args.cases, args.escalated, args.pending)
        yield fresh, lambda: due


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=at_least_one, default=5000)
    parser.add_argument(
        "--escalated", type=float, default=0.5, help="share of cases escalated to L2 (0 to 1)"
    )
    parser.add_argument("--pending", type=at_least_one, default=1_000_000)
    parser.add_argument("--batch", type=at_least_one, default=2000)
    parser.add_argument(
        "--repeat",
        type=at_least_one,
        default=3,
        help="sweeps of fresh copies; the median is reported",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [measure(backend, args) for backend in backends()]
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0]))
        return
    for figures in results:
        report(figures, args.batch)


def measure(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    started = time.perf_counter()
    with copies(backend, args) as (fresh, due_count):
        for _ in range(args.repeat):  # each run on fresh copies of the same database
            with fresh() as base_db:
                base_s, base_claimed = baseline_claim(base_db, args.batch)
            with fresh() as sweep_db:
                db = sweep_db.engine()
                engine = Engine(db, load_process())
                done = sweep(engine, SWEEP_AT, worker="bench", batch=args.batch)
                empty = sweep(engine, SWEEP_AT, worker="bench", batch=args.batch)
                db.dispose()
                transitions = transitions_fired(sweep_db)
            whole_s = done.claim_seconds + done.fire_seconds
            runs.append((whole_s, done, empty, base_s, base_claimed, transitions))
        due = due_count()
    setup_s = time.perf_counter() - started - sum(run[0] for run in runs)
    runs.sort(key=lambda run: run[0])
    whole, done, empty, base_s, base_claimed, transitions = runs[len(runs) // 2]
    figures = {
        "pending": args.pending,
        "due": due,
        "claimed": done.claimed,
        "fired": done.fired,
        "transitions": transitions,
        "events": done.events,
        "notifications": done.notifications,
        "batches": done.batches,
        "claim_s": round(done.claim_seconds, 4),
        "sweep_s": round(whole, 3),
        "sweep_runs_s": [round(run[0], 3) for run in runs],
        "empty_sweep_s": round(empty.claim_seconds, 4),
        "baseline_claim_s": round(base_s, 4),
        "baseline_claimed": base_claimed,
        "claim_ratio": round(done.claim_seconds / base_s, 2) if base_s else None,
        "setup_s": round(setup_s, 1),
        "backend": label(backend),
        "machine": machine(),
    }
    return figures


def report(figures: dict[str, Any], batch: int) -> None:
    whole, due = figures["sweep_s"], figures["due"]
    claim_s, base_s = figures["claim_s"], figures["baseline_claim_s"]
    print(f"{figures['backend']} ({figures['machine']})")
    print(f"pending timers      : {figures['pending']:,} ({due:,} due at {SWEEP_AT:%a %H:%M %Z})")
    print(
        f"whole sweep (median): {whole:.3f} s for {figures['claimed']:,} claimed, "
        f"{figures['fired']:,} fired, {figures['transitions']:,} escalations, "
        f"{figures['events']:,} events, {figures['notifications']:,} notifications "
        f"({figures['batches']} batches; all runs: "
        f"{', '.join(str(r) for r in figures['sweep_runs_s'])} s)  target < 2 s"
    )
    print(
        f"claim statements    : {claim_s * 1000:.1f} ms in all "
        f"({claim_s * 1000 / max(figures['batches'], 1):.1f} ms per batch of "
        f"{batch:,})  target < 100 ms"
    )
    print(f"empty sweep         : {figures['empty_sweep_s'] * 1000:.2f} ms")
    print(
        f"baseline raw claim  : {base_s * 1000:.1f} ms for {figures['baseline_claimed']:,} "
        f"(plain driver, same statement); engine claim / baseline = {figures['claim_ratio']}"
    )


if __name__ == "__main__":
    main()
