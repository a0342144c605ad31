"""Transitions per second through `Engine.apply_many`, against a raw sqlite3 floor.

Both sides write the same rows to the same schema (tables created by
tierflow's `init_schema`) on SQLite with the same pragmas and batch size:

* engine: N trigger commands (assign, wait/reply, escalate, acknowledge,
  de_escalate, resolve, reopen ... round-robin over N/10 cases) through
  `apply_many`, i.e. validation, the `transitions` machine, guards, event
  hashing, the optimistic update and the event insert;
* floor: the very same event rows and case updates, precomputed, written with
  plain `sqlite3` `executemany` (one UPDATE + one INSERT per transition).

Two configurations, each against its own floor:

* ``process``: a policy with no SLA targets and no escalation points
  (benchmarks/policies/no_sla.toml): the transition engine alone;
* ``sla``: the shipped policy: every transition also moves SLA clocks in
  business time, arms and cancels durable timers and writes clock-ledger
  rows and customer notices. Those extra rows are not in the floor, which
  writes only the case updates and the (larger) event rows.

Prints the rates and ratios. Usage:

    python benchmarks/apply_throughput.py [--transitions 100000] [--batch 1000]
                                          [--config process|sla|both]
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from states.commands import Act, OpenCase
from states.engine import Engine
from states.policy import load_policy
from states.process import load_process
from states.store import init_schema, make_engine

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


NO_SLA = Path(__file__).with_name("policies") / "no_sla.toml"


def run_engine(path: Path, total: int, batch: int, config: str) -> tuple[float, list[int]]:
    db = make_engine(f"sqlite:///{path}")
    init_schema(db)
    process = load_process()
    policy = load_policy(NO_SLA if config == "process" else None, process)
    engine = Engine(db, process, policy)
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
    db.dispose()
    return elapsed, case_ids


def floor_rows(path: Path) -> tuple[list[tuple], list[tuple], list[str], list[str]]:
    """The event rows and the matching case updates the engine wrote, in order."""
    conn = sqlite3.connect(path)
    event_cols = [r[1] for r in conn.execute("PRAGMA table_info(case_event)") if r[1] != "id"]
    case_cols = [r[1] for r in conn.execute('PRAGMA table_info("case")') if r[1] != "id"]
    events = conn.execute(
        f"SELECT {', '.join(event_cols)} FROM case_event WHERE type != 'opened' ORDER BY id"
    ).fetchall()
    cases = {
        row[0]: list(row[1:])
        for row in conn.execute(f'SELECT id, {", ".join(case_cols)} FROM "case"')
    }
    conn.close()
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
    return events, updates, event_cols, case_cols


def run_floor(engine_db: Path, floor_db: Path, batch: int, case_ids: list[int]) -> float:
    events, updates, event_cols, case_cols = floor_rows(engine_db)
    db = make_engine(f"sqlite:///{floor_db}")
    init_schema(db)
    db.dispose()
    conn = sqlite3.connect(floor_db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    source = sqlite3.connect(engine_db)
    cols = ", ".join(case_cols)
    rows = source.execute(f'SELECT id, {cols} FROM "case"').fetchall()
    opened = source.execute("SELECT * FROM case_event WHERE type = 'opened'").fetchall()
    conn.execute("BEGIN")
    conn.executemany(
        f'INSERT INTO "case" (id, {cols}) VALUES ({", ".join("?" * (len(rows[0])))})', rows
    )
    conn.executemany(f"INSERT INTO case_event VALUES ({', '.join('?' * len(opened[0]))})", opened)
    conn.execute('UPDATE "case" SET version = 1, last_seq = 1')
    conn.execute("COMMIT")
    insert = (
        f"INSERT INTO case_event ({', '.join(event_cols)}) "
        f"VALUES ({', '.join('?' * len(event_cols))})"
    )
    update = (
        f'UPDATE "case" SET {", ".join(f"{c} = ?" for c in case_cols)} WHERE id = ? AND version = ?'
    )
    began = time.perf_counter()
    for offset in range(0, len(events), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(update, updates[offset : offset + batch])
        conn.executemany(insert, events[offset : offset + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - began
    conn.close()
    return elapsed


def measure(config: str, transitions: int, batch: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        engine_db, floor_db = Path(tmp) / "engine.db", Path(tmp) / "floor.db"
        engine_s, case_ids = run_engine(engine_db, transitions, batch, config)
        floor_s = run_floor(engine_db, floor_db, batch, case_ids)
    return {"engine_s": engine_s, "floor_s": floor_s, "ratio": floor_s / engine_s}


def summarise(config: str, runs: list[dict[str, float]], transitions: int) -> dict[str, object]:
    """The run with the median ratio: engine and floor from the same run, never mixed."""
    median = sorted(runs, key=lambda run: run["ratio"])[len(runs) // 2]
    return {
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
    parser.add_argument("--transitions", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--config", choices=("process", "sla", "both"), default="both")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per configuration; the median ratio is reported"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    configs = ("process", "sla") if args.config == "both" else (args.config,)
    results = [
        summarise(
            config,
            [measure(config, args.transitions, args.batch) for _ in range(args.repeat)],
            args.transitions,
        )
        for config in configs
    ]
    machine = f"{platform.node()} {platform.machine()} python {platform.python_version()}"
    if args.json:
        print(json.dumps({"machine": machine, "results": results}))
        return
    print(
        f"{args.transitions:,} transitions, batches of {args.batch:,}, SQLite WAL, "
        f"median of {args.repeat} runs ({machine})"
    )
    for r in results:
        label = {"process": "process only", "sla": "with SLA policy"}[str(r["config"])]
        print(
            f"{label:16}: engine {r['engine_per_s']:>8,}/s ({r['engine_s']} s)  "
            f"raw sqlite3 floor {r['floor_per_s']:>8,}/s ({r['floor_s']} s)  "
            f"ratio {r['ratio']:.3f} (runs: {', '.join(map(str, r['ratios']))})"
            + ("  target >= 0.5" if r["config"] == "process" else "")
        )


if __name__ == "__main__":
    main()
