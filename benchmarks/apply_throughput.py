"""Transitions per second through `Engine.apply_many`, against a raw DB-API floor.

Both sides write the same rows to the same schema (tables created by
tierflow's `init_schema`) with the same settings and batch size, on SQLite
and, when ``TIERFLOW_DATABASE_URL`` names one, on PostgreSQL too (each run in
a schema it creates and drops; the floor then uses plain `psycopg`):

* engine: N trigger commands (assign, wait/reply, escalate, acknowledge,
  de_escalate, resolve, reopen ... round-robin over N/10 cases) through
  `apply_many`, i.e. validation, the `transitions` machine, guards, event
  hashing, the optimistic update and the event insert;
* floor: the very same event rows and case updates, precomputed, written with
  the plain driver's `executemany` (one UPDATE + one INSERT per transition).

Two configurations, each against its own floor:

* ``process``: a policy with no SLA targets and no escalation points
  (benchmarks/policies/no_sla.toml): the transition engine alone;
* ``sla``: the shipped policy: every transition also moves SLA clocks in
  business time, arms and cancels durable timers and writes clock-ledger
  rows and customer notices. Those extra rows are not in the floor, which
  writes only the case updates and the (larger) event rows.

Prints the rates and ratios. Usage:

    [TIERFLOW_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test] \
    python benchmarks/apply_throughput.py [--transitions 100000] [--batch 1000]
                                          [--config process|sla|both]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    Database,
    at_least_one,
    database,
    each_configuration,
    label,
    make_tierflow,
    print_results,
)
from states.commands import Act, OpenCase

TARGETS = {"process": 0.5, "sla": 0.35}

CYCLE = [
    ("wait_on_customer", {"note": "asked for the receipt"}),
    ("customer_replied", {"note": "receipt received"}),
    ("escalate", {"reason": "needs a specialist", "notice": "Our specialists take over."}),
    ("acknowledge", {"assignee": "l2-team"}),
    ("de_escalate", {"note": "handed back with instructions"}),
    ("escalate", {"reason": "customer insists", "notice": "Our specialists take over."}),
    ("acknowledge", {"assignee": "l2-team"}),
    ("resolve", {"note": "refund issued"}),
    ("reopen", {"note": "customer says it is not fixed"}),
]


def commands(cases: list[int], total: int) -> list[Act]:
    """`total` valid commands, round-robin over `cases` (assign first, then the cycle)."""
    out: list[Act] = []
    step = 0
    while len(out) < total:
        for case_id in cases:
            if step == 0:
                out.append(Act(case_id=case_id, trigger="assign", actor="ana", assignee="ana"))
            else:
                trigger, fields = CYCLE[(step - 1) % len(CYCLE)]
                out.append(Act(case_id=case_id, trigger=trigger, actor="ana", **fields))
            if len(out) == total:
                break
        step += 1
    return out


def run_engine(db: Database, total: int, batch: int, config: str) -> tuple[float, list[int]]:
    sa = db.engine()
    engine = make_tierflow(sa, config)
    start_at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    opened = engine.apply_many(
        [OpenCase(customer_id=f"C{n}", subject="benchmark") for n in range(max(total // 10, 1))],
        start_at,
    )
    case_ids = [r.case_id for r in opened]
    todo = commands(case_ids, total)
    now = start_at + timedelta(hours=1)
    began = time.perf_counter()
    for offset in range(0, total, batch):
        engine.apply_many(todo[offset : offset + batch], now)
    elapsed = time.perf_counter() - began
    sa.dispose()
    return elapsed, case_ids


def _columns(conn: Any, table: str) -> list[str]:
    cursor = conn.cursor()
    cursor.execute(f'SELECT * FROM "{table}" WHERE 1 = 0')
    return [d[0] for d in cursor.description if d[0] != "id"]


def _stored(value: Any) -> Any:
    """A value as the driver writes it back (psycopg hands JSON columns out decoded)."""
    return json.dumps(value) if isinstance(value, dict | list) else value


def _fetch(conn: Any, sql: str) -> list[tuple]:
    cursor = conn.cursor()
    cursor.execute(sql)
    return [tuple(_stored(v) for v in row) for row in cursor.fetchall()]


def floor_rows(db: Database) -> dict[str, Any]:
    """The rows the engine wrote: the cases and opened events as they were before the
    timed transitions, then each transition's event row and matching case update."""
    conn = db.raw()
    event_cols, case_cols = _columns(conn, "case_event"), _columns(conn, "case")
    events = _fetch(
        conn,
        f"SELECT {', '.join(event_cols)} FROM case_event WHERE type != 'opened' ORDER BY id",
    )
    opened = _fetch(
        conn, f"SELECT {', '.join(event_cols)} FROM case_event WHERE type = 'opened' ORDER BY id"
    )
    case_rows = _fetch(conn, f'SELECT id, {", ".join(case_cols)} FROM "case" ORDER BY id')
    conn.close()
    cases = {row[0]: list(row[1:]) for row in case_rows}
    updates = []
    at = {name: i for i, name in enumerate(case_cols)}
    ev = {name: i for i, name in enumerate(event_cols)}
    for event in events:
        row = list(cases[event[ev["case_id"]]])
        row[at["state"]] = event[ev["to_state"]]
        row[at["level"]] = event[ev["to_level"]]
        row[at["last_seq"]] = event[ev["seq"]]
        row[at["last_hash"]] = event[ev["hash"]]
        version = event[ev["seq"]]
        updates.append(
            (
                *row[: at["version"]],
                version,
                *row[at["version"] + 1 :],
                event[ev["case_id"]],
                version - 1,
            )
        )
    return {
        "events": events,
        "updates": updates,
        "opened": opened,
        "cases": case_rows,
        "event_cols": event_cols,
        "case_cols": case_cols,
    }


def run_floor(db: Database, rows: dict[str, Any], batch: int) -> float:
    mark = "?" if db.path is not None else "%s"
    event_cols, case_cols = rows["event_cols"], rows["case_cols"]
    conn = db.raw()
    cursor = conn.cursor()
    sqlite = db.path is not None
    if sqlite:
        conn.execute("BEGIN")
    cursor.executemany(
        f'INSERT INTO "case" (id, {", ".join(case_cols)}) '
        f"VALUES ({', '.join([mark] * (len(case_cols) + 1))})",
        rows["cases"],
    )
    insert = (
        f"INSERT INTO case_event ({', '.join(event_cols)}) "
        f"VALUES ({', '.join([mark] * len(event_cols))})"
    )
    cursor.executemany(insert, rows["opened"])
    cursor.execute('UPDATE "case" SET version = 1, last_seq = 1')
    conn.commit()
    update = (
        f'UPDATE "case" SET {", ".join(f"{c} = {mark}" for c in case_cols)} '
        f"WHERE id = {mark} AND version = {mark}"
    )
    events, updates = rows["events"], rows["updates"]
    began = time.perf_counter()
    for offset in range(0, len(events), batch):
        if sqlite:
            conn.execute("BEGIN IMMEDIATE")
        cursor.executemany(update, updates[offset : offset + batch])
        cursor.executemany(insert, events[offset : offset + batch])
        conn.commit()
    elapsed = time.perf_counter() - began
    conn.close()
    return elapsed


def measure(backend: str, config: str, transitions: int, batch: int) -> dict[str, float]:
    with database(backend) as engine_db, database(backend) as floor_db:
        engine_s, _ = run_engine(engine_db, transitions, batch, config)
        floor_s = run_floor(floor_db, floor_rows(engine_db), batch)
    return {"engine_s": engine_s, "floor_s": floor_s, "ratio": floor_s / engine_s}


def summarise(
    backend: str, config: str, runs: list[dict[str, float]], transitions: int
) -> dict[str, object]:
    """The run with the median ratio: engine and floor from the same run, never mixed."""
    median = sorted(runs, key=lambda run: run["ratio"])[len(runs) // 2]
    return {
        "backend": label(backend),
        "config": config,
        "runs": len(runs),
        "ratios": [round(run["ratio"], 3) for run in runs],
        "engine_s": round(median["engine_s"], 3),
        "floor_s": round(median["floor_s"], 3),
        "engine_per_s": round(transitions / median["engine_s"]),
        "floor_per_s": round(transitions / median["floor_s"]),
        "ratio": round(median["ratio"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=at_least_one, default=100_000)
    parser.add_argument("--batch", type=at_least_one, default=1000)
    parser.add_argument("--config", choices=("process", "sla", "both"), default="both")
    parser.add_argument(
        "--repeat",
        type=at_least_one,
        default=3,
        help="runs per configuration; the median ratio is reported",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    def runs(backend: str, config: str) -> dict[str, object]:
        measured = [
            measure(backend, config, args.transitions, args.batch) for _ in range(args.repeat)
        ]
        return summarise(backend, config, measured, args.transitions)

    results = each_configuration(args.config, runs)
    print_results(
        results,
        args.json,
        f"{args.transitions:,} transitions, batches of {args.batch:,}, "
        f"median of {args.repeat} runs",
        lambda r, config: (
            f"engine {r['engine_per_s']:>8,}/s ({r['engine_s']} s)  "
            f"raw floor {r['floor_per_s']:>8,}/s ({r['floor_s']} s)  "
            f"ratio {r['ratio']:.3f} (runs: {', '.join(map(str, r['ratios']))})  "
            f"target >= {TARGETS[config]}"
        ),
    )


if __name__ == "__main__":
    main()
