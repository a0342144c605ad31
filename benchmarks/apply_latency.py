"""How long one command waits: `Engine.apply` latency, with the log folded in by the
engine's checkpoint thread (as shipped) and by the commits (SQLite's own way), on SQLite.

An agent's click, a CLI call and an intake row each wait for one `apply`. With the
checkpoint in the commits, the command that finds the write-ahead log past 10,000 pages
copies the log into the file and syncs both before it returns: one in some 500 waits
tens of milliseconds. Each run drives `--cycles` life cycles (six commands each, one
commit each) on an empty database and times every `apply`; the two ways alternate,
`--repeat` times each. Printed: the median, 99th and 99.9th percentiles and the longest
wait of all the commands of each way, and their rate (commands a second, closing
included).

    python benchmarks/apply_latency.py [--cycles 2000] [--repeat 2] [--config sla] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    START,
    at_least_one,
    database,
    life_cycle,
    machine,
    make_tierflow,
    open_case,
)

WAYS = {"thread": True, "commits": False}


def run(config: str, cycles: int, background: bool) -> tuple[list[float], float]:
    """Each command's seconds, and the whole run's (closing the engine included)."""
    waits: list[float] = []
    clock = time.perf_counter
    with database("sqlite") as db:
        sa = db.engine()
        engine = make_tierflow(sa, config, background)
        began = clock()
        for n in range(cycles):
            at = START + timedelta(minutes=n)
            t = clock()
            case_id = engine.apply(open_case(n), at).case_id
            waits.append(clock() - t)
            for step, command in enumerate(life_cycle(case_id), 1):
                t = clock()
                engine.apply(command, at + timedelta(seconds=step))
                waits.append(clock() - t)
        engine.close()
        whole = clock() - began
        sa.dispose()
    return waits, whole


def summary(waits: list[float], whole: float) -> dict[str, Any]:
    ordered = sorted(waits)
    cuts = statistics.quantiles(ordered, n=1000, method="inclusive")
    return {
        "commands": len(ordered),
        "per_s": round(len(ordered) / whole),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(cuts[989] * 1000, 3),
        "p999_ms": round(cuts[998] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=at_least_one, default=2000)
    parser.add_argument("--repeat", type=at_least_one, default=2)
    parser.add_argument("--config", choices=("process", "sla"), default="sla")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    waits: dict[str, list[float]] = {way: [] for way in WAYS}
    whole = dict.fromkeys(WAYS, 0.0)
    for _ in range(args.repeat):
        for way, background in WAYS.items():
            run_waits, run_whole = run(args.config, args.cycles, background)
            waits[way] += run_waits
            whole[way] += run_whole
    results = {way: summary(waits[way], whole[way]) for way in WAYS}
    if args.json:
        print(json.dumps({"machine": machine(), "config": args.config, "results": results}))
        return
    print(
        f"{args.repeat} x {args.cycles:,} life cycles ({args.config}), one apply and one commit "
        f"a command, SQLite ({machine()})"
    )
    for way, r in results.items():
        print(
            f"checkpoints in the {way:8}: {r['per_s']:>6,} commands/s  median {r['p50_ms']} ms  "
            f"p99 {r['p99_ms']} ms  p99.9 {r['p999_ms']} ms  longest {r['max_ms']} ms"
        )


if __name__ == "__main__":
    main()
