"""Policy backtest over a stored database, beside the plain replay of the same histories.

Timed, on the database named by ``--database-url`` (e.g. a BPIC 2013 import:
``tierflow audit import bpic2013_incidents.xes.gz --mapping bpic2013``):

* backtest: :func:`states.backtest_report.backtest`, every case replayed under
  the shipped policy and under ``--new`` (default: the shipped one with L2 to
  acknowledge in PT2H, SCENARIOS 15), timers fired up to ``--until``;
* baseline: the same histories read on one connection and folded into cases
  (:func:`states.events.fold`, what ``replay --verify`` folds), no clocks.

The ratio says what recomputing clocks under two policies costs over reading
and folding the history once. Wall and CPU seconds are both printed: on a
loaded machine the CPU figure is the steadier one.

    python benchmarks/backtest.py --database-url sqlite:////path/tierflow.db
                                  [--new NEW.toml] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import at_least_one
from states.backtest_report import backtest, histories
from states.events import fold
from states.policy import load_policy, parse_policy
from states.process import load_process
from states.store import make_engine, read_connection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--new", help="policy to try (default: L2 acknowledges in PT2H)")
    parser.add_argument("--until", default="2026-11-30T00:00:00+00:00")
    parser.add_argument("--repeat", type=at_least_one, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    process = load_process()
    current = load_policy(None, process)
    new = (
        load_policy(args.new, process)
        if args.new
        else parse_policy(
            current.source_text.replace('L2 = "PT4H"', 'L2 = "PT2H"'), "l2-2h.toml", process
        )
    )
    until = datetime.fromisoformat(args.until).astimezone(UTC)
    db = make_engine(args.database_url, create=False)

    def baseline() -> tuple[int, int]:
        with read_connection(db) as conn:
            cases = events = 0
            for history in histories(conn, None, None):
                fold(history)
                cases, events = cases + 1, events + len(history)
        return cases, events

    def run_backtest() -> tuple[int, int]:
        with read_connection(db) as conn:
            report = backtest(conn, process, current, new, until=until)
        return report.cases, report.events

    runs = []
    for _ in range(args.repeat):
        base = _timed(baseline)
        tried = _timed(run_backtest)
        runs.append(
            {
                "cases": tried["cases"],
                "events": tried["events"],
                "backtest_s": tried["wall"],
                "backtest_cpu_s": tried["cpu"],
                "baseline_s": base["wall"],
                "baseline_cpu_s": base["cpu"],
                "ratio_cpu": round(tried["cpu"] / base["cpu"], 2) if base["cpu"] else None,
            }
        )
    if args.json:
        print(json.dumps(runs, indent=2))
        return
    for number, run in enumerate(runs, 1):
        print(
            f"run {number}: {run['cases']:,} cases, {run['events']:,} events: backtest "
            f"{run['backtest_s']:.1f} s wall, {run['backtest_cpu_s']:.1f} s CPU "
            f"({run['events'] / run['backtest_cpu_s']:,.0f} events/CPU-s, both policies); "
            f"baseline read+fold {run['baseline_s']:.1f} s wall, {run['baseline_cpu_s']:.1f} s "
            f"CPU; ratio (CPU) {run['ratio_cpu']}"
        )


def _timed(work: Callable[[], tuple[int, int]]) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    cases, events = work()
    return {
        "cases": cases,
        "events": events,
        "wall": round(time.perf_counter() - wall, 2),
        "cpu": round(time.process_time() - cpu, 2),
    }


if __name__ == "__main__":
    main()
