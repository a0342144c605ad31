"""The dashboard's reads at scale: a million cases, ten million events, on SQLite.

    python benchmarks/dashboard_queries.py /tmp/tf-1m.db [--repeat 5] [--json]

The database is made by ``benchmarks/generate_cases.py`` when the path does not exist
(minutes). Read through the dashboard's own read-only engine
(:func:`states.readonly.make_readonly_engine`), calling the functions its pages call:

* Pipeline: every query of ``dashboard/pages/pipeline.py`` (``states.pipeline_view``:
  positions, flows, waiting times, deadlines within a day, escalations, activity,
  breaches) with the default filter (the last 30 days), and with a filter of each kind
  (team, priority, channel, assignee, and two at once); target < 300 ms in all;
* Cases: the aging table's first page (``states.aging.aging``, 50 rows) and its total,
  in the page's default order (age) and most urgent first (next deadline); < 200 ms;
* one case's replay (``states.audit.replay``, and ``states.asof.case_at`` when that
  module is there), over cases drawn at random; target < 50 ms.

Each is printed beside a bare ``SELECT count(*)`` over the table it reads, timed in the
same run (the ratio says how many full counts the page costs). Every figure is the
median of `--repeat` runs after one warm-up run (the first run, from a cold page cache
after generation, is printed too).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Connection, func, select, text

from benchmarks._common import at_least_one
from benchmarks.generate_cases import generate
from states import aging, pipeline_view
from states.audit import replay
from states.policy import Policy, load_policy
from states.process import ProcessDefinition, load_process
from states.readonly import make_readonly_engine
from states.store import CASE
from states.view_filter import ViewFilter

TARGETS_MS = {"pipeline": 300, "cases": 200, "replay": 50}


def pipeline(
    conn: Connection, where: ViewFilter, policy: Policy, now: datetime, process: ProcessDefinition
) -> dict[str, Timing]:
    """The Pipeline page's queries, in its order; seconds each."""
    since = where.since(now)
    calls: dict[str, Callable[[], Any]] = {
        "positions": lambda: pipeline_view.positions(conn, where, policy, now, process),
        "flows": lambda: pipeline_view.flows(conn, where, since, now, process),
        "waiting_times": lambda: pipeline_view.waiting_times(conn, where, policy, now),
        "deadlines": lambda: pipeline_view.deadlines(conn, where, now, timedelta(days=1)),
        "escalations": lambda: pipeline_view.escalations(conn, where, since, now),
        "activity": lambda: pipeline_view.activity(conn, where, since, now),
        "breaches": lambda: pipeline_view.breaches(conn, where, since, now),
    }
    return {name: _seconds(call) for name, call in calls.items()}


def cases_page(
    conn: Connection, where: ViewFilter, policy: Policy, now: datetime, sort: str
) -> Timing:
    query = aging.AgingQuery(sort=sort)
    return _seconds(lambda: aging.aging(conn, where, query, policy, now))


def replays(conn: Connection, case_ids: list[int]) -> list[Timing]:
    return [_seconds(lambda c=case_id: replay(conn, c)) for case_id in case_ids]


def case_at_times(
    conn: Connection, case_ids: list[int], now: datetime, policy: Policy
) -> list[Timing] | None:
    """``states.asof.case_at`` (the Audit page's case at an instant: now, so every event
    is folded), when that module is there."""
    try:
        from states import asof
    except ImportError:
        return None
    return [
        _seconds(lambda c=case_id: asof.case_at(conn, c, now, policy=policy))
        for case_id in case_ids
    ]


Timing = tuple[float, float]


def _seconds(call: Callable[[], Any]) -> Timing:
    """Wall-clock and processor seconds of `call`: on a machine shared with other work the
    wall clock also counts the waits for a core; the processor time does not (nor I/O)."""
    started, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - started, time.process_time() - cpu


def count(conn: Connection, table: str) -> Timing:
    return _seconds(lambda: conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())


def measure(path: Path, repeat: int, seed: int) -> dict[str, Any]:
    """Every figure, `repeat` times after a warm-up; medians and the cold first run."""
    engine = make_readonly_engine(f"sqlite:///{path}")
    process = load_process()
    policy = load_policy(None, process)
    now = datetime.now(UTC)
    runs: list[dict[str, Any]] = []
    with engine.connect() as conn:
        total = conn.execute(select(func.max(CASE.c.id))).scalar_one()
        filters = _filters(conn)
        rng = random.Random(seed)
        for _ in range(repeat + 1):
            case_ids = [rng.randrange(1, total + 1) for _ in range(20)]
            run: dict[str, Any] = {
                "count_case": count(conn, "case"),
                "count_case_event": count(conn, "case_event"),
            }
            for name, where in filters.items():
                run[f"pipeline {name}"] = pipeline(conn, where, policy, now, process)
                run[f"pipeline() {name}"] = _seconds(  # the page's one call
                    lambda w=where: pipeline_view.pipeline(
                        conn, w, policy, now, timedelta(days=1), process
                    )
                )
                for sort in ("age", "next_deadline"):  # the page's default, the urgent first
                    run[f"cases {name} by {sort}"] = cases_page(conn, where, policy, now, sort)
            run["replay"] = replays(conn, case_ids)
            run["case_at"] = case_at_times(conn, case_ids, now, policy)
            runs.append(run)
    engine.dispose()
    return _summary(runs, total)


def _filters(conn: Connection) -> dict[str, ViewFilter]:
    """No filter, then one of each kind (the largest team, a priority, a channel, the
    first assigned case's assignee) and two at once (read once, untimed)."""
    team = conn.execute(
        select(CASE.c.team).group_by(CASE.c.team).order_by(func.count().desc()).limit(1)
    ).scalar_one()
    assignee = (
        conn.execute(
            select(CASE.c.assignee).where(CASE.c.assignee.is_not(None)).order_by(CASE.c.id)
        )
        .scalars()
        .first()
    )
    return {
        "all": ViewFilter(),
        f"team={team}": ViewFilter(team=team),
        "priority=high": ViewFilter(priority="high"),
        "channel=email": ViewFilter(channel="email"),
        f"assignee={assignee}": ViewFilter(assignee=assignee),
        f"team={team} priority=high": ViewFilter(team=team, priority="high"),
    }


def _summary(runs: list[dict[str, Any]], cases: int) -> dict[str, Any]:
    """Milliseconds, wall clock and processor: the median of the runs after the first, and
    the first (cold) run."""

    def ms(values: list[Timing]) -> tuple[float, float]:
        return tuple(round(statistics.median(v[i] for v in values) * 1000, 1) for i in (0, 1))

    def total(timings: dict[str, Timing]) -> Timing:
        return sum(t[0] for t in timings.values()), sum(t[1] for t in timings.values())

    warm = runs[1:] or runs
    out: dict[str, Any] = {"case_rows": cases, "runs": len(warm)}
    for key in runs[0]:
        first = runs[0][key]
        if first is None:
            continue
        if isinstance(first, dict):
            out[key] = {
                "total_ms": ms([total(r[key]) for r in warm]),
                "cold_total_ms": ms([total(first)]),
                "each_ms": {q: ms([r[key][q] for r in warm]) for q in first},
            }
        elif isinstance(first, list):
            every = [t for r in warm for t in r[key]]
            out[key] = {"median_ms": ms(every), "max_ms": round(max(t[0] for t in every) * 1000, 1)}
        else:
            out[key] = {"ms": ms([r[key] for r in warm]), "cold_ms": ms([first])}
    return out


def _pair(figure: tuple[float, float]) -> str:
    return f"{figure[0]:8.1f} ms ({figure[1]:7.1f} cpu)"


def report(result: dict[str, Any]) -> str:
    """The figures, each beside the bare count of the table it reads (wall clock ratio)."""
    case_n = result["count_case"]["ms"]
    event_n = result["count_case_event"]["ms"]
    lines = [
        f"{result['case_rows']:,} cases; median of {result['runs']} runs after a cold one;"
        " wall clock (processor time)",
        f"  bare SELECT count(*) FROM case          {_pair(case_n)}",
        f"  bare SELECT count(*) FROM case_event    {_pair(event_n)}",
    ]
    for key, figure in result.items():
        if key.startswith("pipeline()"):
            lines.append(
                f"  {key + ' (the page, one call)':<36}{_pair(figure['ms'])} cold "
                f"{figure['cold_ms'][0]:.1f}; target < {TARGETS_MS['pipeline']}; "
                f"{figure['ms'][0] / event_n[0]:.2f} x count(case_event)"
            )
        elif key.startswith("pipeline"):
            lines.append(
                f"  {key:<36}{_pair(figure['total_ms'])} cold {figure['cold_total_ms'][0]:.1f};"
                f" target < {TARGETS_MS['pipeline']}; "
                f"{figure['total_ms'][0] / event_n[0]:.2f} x count(case_event)"
            )
            for query, each in figure["each_ms"].items():
                lines.append(f"      {query:<32}{_pair(each)}")
        elif key.startswith("cases"):
            lines.append(
                f"  {key + ' first page':<36}{_pair(figure['ms'])} cold {figure['cold_ms'][0]:.1f};"
                f" target < {TARGETS_MS['cases']}; {figure['ms'][0] / case_n[0]:.2f} x count(case)"
            )
        elif key in ("replay", "case_at"):
            lines.append(
                f"  {'one case ' + key:<36}{_pair(figure['median_ms'])} max {figure['max_ms']:.1f};"
                f" target < {TARGETS_MS['replay']}; "
                f"{figure['median_ms'][0] / event_n[0]:.4f} x count(case_event)"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="SQLite file (generated when missing)")
    parser.add_argument("--repeat", type=at_least_one, default=5)
    parser.add_argument("--cases", type=at_least_one, default=1_000_000, help="when generating")
    parser.add_argument("--events", type=at_least_one, default=10_000_000, help="when generating")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.path.exists():
        print(f"generating {args.path} ...", file=sys.stderr)
        print(json.dumps(generate(args.path, args.cases, args.events, 730, args.seed)))
    result = measure(args.path, args.repeat, args.seed)
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
