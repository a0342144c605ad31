"""What the dashboard's indexes cost the write path: the same life cycles through
``Engine.apply`` (shipped SLA policy, one commit per command) on a fresh SQLite file with
every index, and on one with the dashboard's indexes dropped, alternating; processor
time per command (wall clock beside it), median of the rounds.

    python benchmarks/index_write_cost.py [--cases 150] [--rounds 4] [--indexes NAME ...]

`--indexes`: the indexes dropped on the other side (default: the dashboard's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from benchmarks._common import at_least_one, make_tierflow, run_life_cycles
from states.store import init_schema, make_engine
from states.tables import DEADLINE_CLOCKS

DASHBOARD_INDEXES = [f"ix_case_deadline_{clock}" for clock in DEADLINE_CLOCKS] + [
    "ix_case_state_level_entered",
    "ix_case_open_state_entered",
    "ix_case_event_type_occurred",
    "ix_case_event_moves",
]


def one_run(cases: int, with_indexes: bool, indexes: list[str]) -> tuple[float, float]:
    """Processor and wall milliseconds per command."""
    path = Path(tempfile.mkdtemp()) / "tierflow.db"
    db = make_engine(f"sqlite:///{path}")
    init_schema(db)
    if not with_indexes:
        with db.begin() as conn:
            for name in indexes:
                conn.execute(text(f"DROP INDEX {name}"))
    engine = make_tierflow(db, "sla")
    run_life_cycles(engine, 1, 20)  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    commands = run_life_cycles(engine, 100, cases)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    db.dispose()
    return cpu / commands * 1000, wall / commands * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=at_least_one, default=150)
    parser.add_argument("--rounds", type=at_least_one, default=4)
    parser.add_argument("--indexes", nargs="+", default=DASHBOARD_INDEXES)
    args = parser.parse_args()
    runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for r in range(args.rounds):
        for side in (r % 2 == 0, r % 2 != 0):
            runs[side].append(one_run(args.cases, side, args.indexes))
    for side, figures in runs.items():
        cpu = statistics.median(f[0] for f in figures)
        wall = statistics.median(f[1] for f in figures)
        name = "with the indexes   " if side else "without the indexes"
        print(
            f"{name}: {cpu:.3f} ms processor, {wall:.3f} ms wall per command "
            f"(runs: {', '.join(f'{f[0]:.3f}' for f in figures)})"
        )
    ratio = statistics.median(f[0] for f in runs[True]) / statistics.median(
        f[0] for f in runs[False]
    )
    print(f"processor time with / without: {ratio:.3f}")


if __name__ == "__main__":
    main()
