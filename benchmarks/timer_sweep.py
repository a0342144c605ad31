"""Sweeping due timers among a million pending ones, on SQLite.

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
* baseline: the same claim statement run with plain sqlite3 on a copy of the
  database before the sweep (the floor of the claim).

    python benchmarks/timer_sweep.py [--cases 5000] [--escalated 0.5] [--pending 1000000]
                                     [--batch 2000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from states.commands import Act, OpenCase
from states.engine import Engine
from states.process import load_process
from states.store import init_schema, make_engine
from states.sweep import sweep

BRUSSELS = ZoneInfo("Europe/Brussels")
OPENED = datetime(2026, 11, 2, 10, tzinfo=BRUSSELS)
ESCALATED = datetime(2026, 11, 2, 13, tzinfo=BRUSSELS)
WARNED = datetime(2026, 11, 2, 16, 30, tzinfo=BRUSSELS)  # the earlier sweep
OPENED_LATER = datetime(2026, 11, 2, 12, tzinfo=BRUSSELS)
SWEEP_AT = datetime(2026, 11, 3, 10, 30, tzinfo=BRUSSELS)


def build(path: Path, cases: int, escalated: float, pending: int) -> int:
    db = make_engine(f"sqlite:///{path}")
    init_schema(db)
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
    conn = sqlite3.connect(path)
    have = conn.execute("SELECT count(*) FROM timer WHERE status = 'pending'").fetchone()[0]
    filler = max(pending - have, 0)
    rows = (
        (
            1 + n % cases,
            "resolution",
            "breach",
            1000 + n,
            f"2027-{1 + n % 12:02d}-15T09:00:00.000000+00:00",
            "pending",
            "2026-11-02T09:00:00.000000+00:00",
        )
        for n in range(filler)
    )
    conn.executemany(
        "INSERT INTO timer (case_id, clock, kind, generation, due_at, status, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    due = conn.execute(
        "SELECT count(*) FROM timer WHERE status = 'pending' AND due_at <= ?",
        (SWEEP_AT.astimezone(ZoneInfo("UTC")).isoformat(timespec="microseconds"),),
    ).fetchone()[0]
    conn.close()
    return due


def transitions_fired(path: Path) -> int:
    """Escalations the sweep made (the breach point's transitions), counted after it."""
    conn = sqlite3.connect(path)
    count = conn.execute(
        "SELECT count(*) FROM case_event WHERE type = 'escalate' AND actor = 'system:sla'"
    ).fetchone()[0]
    conn.close()
    return count


def baseline_claim(path: Path, batch: int) -> tuple[float, int]:
    """The claim statement alone, through plain sqlite3, until nothing is due."""
    conn = sqlite3.connect(path, isolation_level=None)
    now = SWEEP_AT.astimezone(ZoneInfo("UTC")).isoformat(timespec="microseconds")
    sql = (
        "UPDATE timer SET status = 'claimed', claimed_by = 'base', claimed_at = ? "
        "WHERE id IN (SELECT id FROM timer WHERE status = 'pending' AND due_at <= ? "
        "ORDER BY due_at LIMIT ?) RETURNING id, case_id, clock, kind, generation, due_at"
    )
    began = time.perf_counter()
    claimed = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(sql, (now, now, batch)).fetchall()
        conn.execute("COMMIT")
        claimed += len(rows)
        if not rows:
            break
    elapsed = time.perf_counter() - began
    conn.close()
    return elapsed, claimed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument(
        "--escalated", type=float, default=0.5, help="share of cases escalated to L2 (0 to 1)"
    )
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="sweeps of fresh copies; the median is reported"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / "built.db"
        started = time.perf_counter()
        due = build(built, args.cases, args.escalated, args.pending)
        setup_s = time.perf_counter() - started
        runs = []
        for run in range(args.repeat):  # each run on a fresh copy of the same database
            path, copy = Path(tmp) / f"sweep{run}.db", Path(tmp) / f"baseline{run}.db"
            shutil.copy(built, path)
            shutil.copy(built, copy)
            base_s, base_claimed = baseline_claim(copy, args.batch)
            db = make_engine(f"sqlite:///{path}")
            engine = Engine(db, load_process())
            report = sweep(engine, SWEEP_AT, worker="bench", batch=args.batch)
            empty = sweep(engine, SWEEP_AT, worker="bench", batch=args.batch)
            db.dispose()
            transitions = transitions_fired(path)
            path.unlink()
            copy.unlink()
            whole_s = report.claim_seconds + report.fire_seconds
            runs.append((whole_s, report, empty, base_s, base_claimed, transitions))
    runs.sort(key=lambda run: run[0])
    whole, report, empty, base_s, base_claimed, transitions = runs[len(runs) // 2]
    figures = {
        "pending": args.pending,
        "due": due,
        "claimed": report.claimed,
        "fired": report.fired,
        "transitions": transitions,
        "events": report.events,
        "notifications": report.notifications,
        "batches": report.batches,
        "claim_s": round(report.claim_seconds, 4),
        "sweep_s": round(whole, 3),
        "sweep_runs_s": [round(run[0], 3) for run in runs],
        "empty_sweep_s": round(empty.claim_seconds, 4),
        "baseline_claim_s": round(base_s, 4),
        "baseline_claimed": base_claimed,
        "claim_ratio": round(report.claim_seconds / base_s, 2) if base_s else None,
        "setup_s": round(setup_s, 1),
        "machine": f"{platform.node()} {platform.machine()} python {platform.python_version()}",
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"pending timers      : {args.pending:,} ({due:,} due at {SWEEP_AT:%a %H:%M %Z})")
    print(
        f"whole sweep (median): {whole:.3f} s for {report.claimed:,} claimed, "
        f"{report.fired:,} fired, {transitions:,} escalations, {report.events:,} events, "
        f"{report.notifications:,} notifications ({report.batches} batches; all runs: "
        f"{', '.join(str(r) for r in figures['sweep_runs_s'])} s)  target < 2 s"
    )
    print(
        f"claim statements    : {report.claim_seconds * 1000:.1f} ms in all "
        f"({report.claim_seconds * 1000 / max(report.batches, 1):.1f} ms per batch of "
        f"{args.batch:,})  target < 100 ms"
    )
    print(f"empty sweep         : {empty.claim_seconds * 1000:.2f} ms")
    print(
        f"baseline raw claim  : {base_s * 1000:.1f} ms for {base_claimed:,} "
        f"(sqlite3, same statement); engine claim / baseline = {figures['claim_ratio']}"
    )


if __name__ == "__main__":
    main()
