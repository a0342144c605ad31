"""Events per second through `tierflow audit import`, beside `apply_many` in the same run.

Both sides write to a fresh tierflow database (SQLite, and PostgreSQL too when
``TIERFLOW_DATABASE_URL`` names one) under the shipped process and policy:

* import: the log (default: BPIC 2013, 65,533 events) digested, read through
  defusedxml, grouped by case, planned, hash-chained and written a batch of cases
  per transaction (`states.importer`: reading and writing interleave, a batch at
  a time); reported whole, with the wall-clock share of the reading;
* baseline: as many trigger commands as the log has events, through
  `Engine.apply_many` in batches of 1,000 (round-robin over a tenth as many
  cases, as `benchmarks/apply_throughput.py` does), cases opened beforehand.

Wall-clock and CPU time (this process) are both printed: the machine is shared,
and CPU time says what the code costs when the wall clock says what the load
allowed. Usage:

    [TIERFLOW_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test] \
    python benchmarks/import.py [--log FILE] [--mapping NAME_OR_FILE] [--repeat 1]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import Stopwatch, backends, database, label, machine, make_tierflow
from benchmarks.apply_throughput import commands
from states.commands import OpenCase
from states.importer import open_log, write_log
from states.mapping import load_mapping
from states.policy import load_policy
from states.process import load_process

BPIC = Path("/work/shared/data/bpic2013_incidents.xes.gz")


def measure_import(backend: str, log_path: Path, mapping_name: str) -> dict[str, float]:
    process = load_process()
    policy = load_policy(None, process)
    mapping = load_mapping(mapping_name, process)
    with database(backend) as db:
        sa = db.engine()
        with Stopwatch() as clock:
            report = write_log(sa, open_log(log_path, mapping), process, policy)
        sa.dispose()
    assert report.events == report.source_events, (report.events, report.source_events)
    return {"events": report.events, "clock": clock, "read": report.read_seconds}  # type: ignore[dict-item]


def measure_apply_many(backend: str, total: int, batch: int = 1000) -> Stopwatch:
    with database(backend) as db:
        sa = db.engine()
        engine = make_tierflow(sa, "sla")
        start_at = datetime(2026, 11, 2, 9, tzinfo=UTC)
        opened = engine.apply_many(
            [OpenCase(customer_id=f"C{n}", subject="benchmark") for n in range(total // 10)],
            start_at,
        )
        todo = commands([r.case_id for r in opened], total)
        now = start_at + timedelta(hours=1)
        with Stopwatch() as clock:
            for offset in range(0, total, batch):
                engine.apply_many(todo[offset : offset + batch], now)
        sa.dispose()
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=BPIC)
    parser.add_argument("--mapping", default="bpic2013")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {machine()}; log: {args.log.name}")
    for backend in backends():
        for run in range(1, args.repeat + 1):
            found = measure_import(backend, args.log, args.mapping)
            n = int(found["events"])
            clock: Stopwatch = found["clock"]  # type: ignore[assignment]
            base = measure_apply_many(backend, n)
            print(f"{label(backend)}, run {run}: {n:,} events")
            for name, watch in (("import", clock), ("apply_many", base)):
                print(
                    f"  {name:<11} {watch.wall:7.2f} s wall {n / watch.wall:>9,.0f}/s   "
                    f"{watch.cpu:7.2f} s CPU {n / watch.cpu:>9,.0f}/s"
                )
            print(f"  import: reading took {found['read'] / clock.wall:.0%} of the wall clock")
            print(
                f"  import / apply_many: {base.wall / clock.wall:.1f}x (wall), "
                f"{base.cpu / clock.cpu:.1f}x (CPU)"
            )


if __name__ == "__main__":
    main()
