"""Events per second through `tierflow audit import`, beside `apply_many` in the same run.

Both sides write to a fresh tierflow database (SQLite, and PostgreSQL too when
``TIERFLOW_DATABASE_URL`` names one) under the shipped process and policy:

* import: the log (default: BPIC 2013, 65,533 events) digested, read through
  defusedxml, grouped by case, planned, hash-chained and written a batch of cases
  per transaction (`states.importer`: reading and writing interleave, a batch at
  a time); twice: in one process, and with the reading in a second process (the
  default on a machine with two CPUs or more, `states.import_aside`), whose CPU
  time is measured and added;
* baseline: as many trigger commands as the log has events, through
  `Engine.apply_many` in batches of 1,000 (round-robin over a tenth as many
  cases, as `benchmarks/apply_throughput.py` does), cases opened beforehand.

Wall-clock and CPU time (this process, and the reader process's) are both
printed: the machine is shared, and CPU time says what the code costs when the
wall clock says what the load allowed. Usage:

    [TIERFLOW_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test] \
    python benchmarks/import.py [--log FILE] [--mapping NAME_OR_FILE] [--repeat 1]
"""

from __future__ import annotations

import argparse
import resource
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    Stopwatch,
    at_least_one,
    backends,
    database,
    label,
    machine,
    make_tierflow,
)
from benchmarks.apply_throughput import commands
from states.commands import OpenCase
from states.importer import open_log, write_log
from states.mapping import load_mapping
from states.policy import load_policy
from states.process import load_process

BPIC = Path("/work/shared/data/bpic2013_incidents.xes.gz")


def measure_import(
    backend: str, log_path: Path, mapping_name: str, aside: bool
) -> tuple[int, Stopwatch, float]:
    """Events imported, the stopwatch of this process, and the CPU seconds of the reader
    process (0 in one process)."""
    process = load_process()
    policy = load_policy(None, process)
    mapping = load_mapping(mapping_name, process)
    with database(backend) as db:
        sa = db.engine()
        children = _children_cpu()
        with Stopwatch() as clock:
            report = write_log(sa, open_log(log_path, mapping), process, policy, aside=aside)
        reader_cpu = _children_cpu() - children
        sa.dispose()
    assert report.events == report.source_events, (report.events, report.source_events)
    return report.events, clock, reader_cpu


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the reader, once it has ended)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


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
    parser.add_argument("--repeat", type=at_least_one, default=1)
    args = parser.parse_args()
    print(f"machine: {machine()}; log: {args.log.name}")
    for backend in backends():
        for run in range(1, args.repeat + 1):
            n, one, _ = measure_import(backend, args.log, args.mapping, aside=False)
            _, two, reader_cpu = measure_import(backend, args.log, args.mapping, aside=True)
            base = measure_apply_many(backend, n)
            print(f"{label(backend)}, run {run}: {n:,} events")
            for name, wall, cpu in (
                ("import, one process", one.wall, one.cpu),
                ("import, reader aside", two.wall, two.cpu + reader_cpu),
                ("apply_many", base.wall, base.cpu),
            ):
                print(
                    f"  {name:<21} {wall:6.2f} s wall {n / wall:>8,.0f}/s  "
                    f"{cpu:6.2f} s CPU {n / cpu:>8,.0f}/s"
                )
            print(
                f"  reader aside: CPU {two.cpu:.2f} s in the importer "
                f"({n / two.cpu:,.0f}/s), {reader_cpu:.2f} s in the reader process"
            )
            print(
                f"  import / apply_many: one process {base.wall / one.wall:.1f}x (wall), "
                f"{base.cpu / one.cpu:.1f}x (CPU); reader aside {base.wall / two.wall:.1f}x "
                f"(wall), {base.cpu / (two.cpu + reader_cpu):.1f}x (CPU, both processes)"
            )


if __name__ == "__main__":
    main()
