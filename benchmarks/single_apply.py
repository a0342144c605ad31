"""Single-command throughput: `Engine.apply`, one commit per command, against a raw floor.

Each run drives `--cases` whole case life cycles (open → assign → escalate →
acknowledge → resolve → follow_up: six commands, six commits) through
`Engine.apply` on an empty database. The floor writes the SAME rows the
engine wrote (events, case insert and updates, timers armed and cancelled,
clock-ledger rows, notices): the engine's write statements are recorded in an
untimed run and replayed through the bare driver (`sqlite3` / `psycopg`), one
commit per command, on a fresh schema from tierflow's `init_schema` (same
tables, columns, indexes) with the same SQLite pragmas (WAL,
synchronous=NORMAL) and, like the engine, its log folded in by a background
checkpoint thread (states.wal_checkpoints), stopped within the timed run on
both sides; the ratio against plain sqlite3, whose commits fold the log in, is
printed beside it for reading. See benchmarks/_common.py.

Configurations: ``process`` (benchmarks/policies/no_sla.toml: no clocks, no
points) and ``sla`` (the shipped policy). Backends: SQLite, and PostgreSQL
when ``TIERFLOW_DATABASE_URL`` names one (each run in a schema it creates and
drops). Engine and floor runs alternate; the run with the median ratio is
reported. Target: ratio >= 0.5 everywhere.

    TIERFLOW_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python benchmarks/single_apply.py [--cases 300] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    Stopwatch,
    WriteRecorder,
    at_least_one,
    database,
    each_configuration,
    label,
    make_tierflow,
    print_results,
    replay,
    run_life_cycles,
)

TARGET = 0.5


def recorded_writes(backend: str, config: str, cases: int) -> list:
    """The engine's write transactions for `cases` life cycles (an untimed run)."""
    with database(backend) as db:
        sa = db.engine()
        recorder = WriteRecorder(sa)
        run_life_cycles(make_tierflow(sa, config), 0, cases, recorder)
        recorder.close()
        sa.dispose()
        return recorder.transactions


def engine_time(backend: str, config: str, cases: int) -> tuple[Stopwatch, int]:
    with database(backend) as db:
        sa = db.engine()
        engine = make_tierflow(sa, config)
        with Stopwatch() as watch:
            commands = run_life_cycles(engine, 0, cases)
            engine.close()  # the checkpoint thread's last work counts too
        sa.dispose()
        return watch, commands


def floor_time(backend: str, transactions: list, background_checkpoints: bool = True) -> Stopwatch:
    with database(backend) as db:
        return replay(db, transactions, background_checkpoints)


def measure(backend: str, config: str, cases: int, repeat: int) -> dict[str, object]:
    transactions = recorded_writes(backend, config, cases)
    runs = []
    plain: list[float] = []  # against a floor that checkpoints in its commits (SQLite)
    for _ in range(repeat):  # interleaved: engine, floor, engine, floor ...
        engine, commands = engine_time(backend, config, cases)
        floor = floor_time(backend, transactions)
        runs.append((floor.wall / engine.wall, engine.wall, floor.wall, floor.cpu / engine.cpu))
        if backend == "sqlite":
            plain.append(floor_time(backend, transactions, False).wall / engine.wall)
    ratio, engine_s, floor_s, _ = sorted(runs)[len(runs) // 2]
    cpu_ratios = sorted(run[3] for run in runs)
    statements = sum(len(t) for t in transactions)
    return {
        "backend": label(backend),
        "config": config,
        "commands": commands,
        "commits": len(transactions),
        "write_statements_per_command": round(statements / commands, 2),
        "engine_per_s": round(commands / engine_s),
        "floor_per_s": round(commands / floor_s),
        "ratio": round(ratio, 3),
        "ratios": [round(run[0], 3) for run in runs],
        # SQLite only: the server's work is not in this process's CPU time.
        "cpu_ratio": round(cpu_ratios[len(runs) // 2], 3) if backend == "sqlite" else None,
        # For reading only (the target is the ratio above, like for like): the same engine
        # against plain sqlite3, which folds its log in the commit that crosses the mark.
        "ratio_plain_floor": round(sorted(plain)[len(plain) // 2], 3) if plain else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", type=at_least_one, default=300, help="life cycles (6 commands each)"
    )
    parser.add_argument(
        "--repeat", type=at_least_one, default=3, help="runs; the median ratio is reported"
    )
    parser.add_argument("--config", choices=("process", "sla", "both"), default="both")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = each_configuration(
        args.config, lambda backend, config: measure(backend, config, args.cases, args.repeat)
    )
    print_results(
        results,
        args.json,
        f"{args.cases:,} life cycles x 6 commands, one Engine.apply and one commit each, "
        f"median of {args.repeat} interleaved runs",
        lambda r, _config: (
            f"engine {r['engine_per_s']:>6,}/s  raw floor (same rows, "
            f"{r['write_statements_per_command']} writes/command) {r['floor_per_s']:>6,}/s  "
            f"ratio {r['ratio']:.3f} (runs: {', '.join(map(str, r['ratios']))})  "
            f"target >= {TARGET}"
            + (f"  (CPU time ratio {r['cpu_ratio']:.3f})" if r["cpu_ratio"] else "")
            + (
                f"  (against a floor checkpointing in its commits: {r['ratio_plain_floor']:.3f})"
                if r["ratio_plain_floor"]
                else ""
            )
        ),
    )


if __name__ == "__main__":
    main()
