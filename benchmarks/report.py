"""A quarter's review report over ~100,000 events, against reading those events once.

The desk is the demo's (states/demo.py, through the engine, with the timer
sweep every six hours: warnings, breaches, escalations as they happen), played
over the fourth quarter of 2026 on SQLite. Then, in the same run, median of
`--repeat`:

* review: `states.report.review` for 2026-Q4 (Europe/Brussels), which reads the
  history of every case held in the quarter (one streamed query) and folds it,
  business-time calendars included;
* baseline: ``SELECT count(*)`` of the quarter's events, then a fetch of all
  those rows through SQLAlchemy Core, with the columns the review reads, decoded
  the same way (payload JSON by orjson): the cost of reading the data once.

Prints both, the ratio and the machine. Usage:

    python benchmarks/report.py [--cases 11000] [--db PATH] [--repeat 3]

With `--db` an existing database from an earlier run is reused (its demo is
not generated again).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from benchmarks._common import at_least_one
from states.demo import generate_demo
from states.engine import Engine
from states.policy import load_policy
from states.process import load_process
from states.report import HISTORY_COLUMNS, decode_json, desk_timezone, quarter_period, review
from states.store import EVENT, init_schema, make_engine, read_connection


def baseline(db, start: datetime, end: datetime) -> int:
    """Count the quarter's events, then fetch every one of them."""
    in_period = (EVENT.c.occurred_at >= start) & (EVENT.c.occurred_at < end)
    with read_connection(db) as conn, conn.begin():
        count = conn.execute(select(func.count()).select_from(EVENT).where(in_period)).scalar_one()
        rows = conn.execute(select(*HISTORY_COLUMNS).where(in_period))
        fetched = sum(1 for *_, payload in rows if decode_json(payload) is not None)
    assert fetched == count
    return count


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=at_least_one, default=11_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--repeat", type=at_least_one, default=3)
    args = parser.parse_args()
    definition = load_process()
    policy = load_policy(None, definition)
    period = quarter_period(date(2027, 1, 4), desk_timezone(policy))
    path = args.db or Path(tempfile.mkdtemp()) / "report.db"
    db = make_engine(f"sqlite:///{path}")
    init_schema(db)
    generated = 0.0
    with read_connection(db) as conn:
        existing = conn.execute(select(func.count()).select_from(EVENT)).scalar_one()
    if not existing:
        started = time.perf_counter()
        # cases opened over the demo's window (states.demo_shares.WINDOW) before the
        # quarter's end: all inside it
        now = period.end.astimezone(ZoneInfo("UTC"))
        engine = Engine(db, definition, policy, clock=lambda: now)
        generate_demo(engine, args.cases, 2013, now)
        generated = time.perf_counter() - started
    base_s, in_period = timed(lambda: baseline(db, period.start, period.end), args.repeat)
    review_s, report = timed(
        lambda: review(db, policy, definition, period.start, period.end, label=period.label),
        args.repeat,
    )
    print(
        json.dumps(
            {
                "machine": f"{platform.node()} {platform.machine()} python "
                f"{platform.python_version()}",
                "database": str(path),
                "demo_generated_s": round(generated, 1),
                "period": period.label,
                "events_in_period": in_period,
                "events_read_by_review": report.events_read,
                "cases_opened_in_period": report.desk.opened,
                "review_s": round(review_s, 3),
                "baseline_count_and_fetch_s": round(base_s, 3),
                "ratio_review_to_baseline": round(review_s / base_s, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
