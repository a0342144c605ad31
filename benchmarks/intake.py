"""Cases opened per second from a JSONL file through the `intake` flow (or, with
`--through service`, `process_folder` alone), against `Engine.apply_many` of the
very same commands, prebuilt, in the same run.

Both sides open the same N cases on a fresh SQLite database each (WAL, the
shipped process and SLA policy, batches of 1,000):

* intake: `flows.sources.process_folder` on a folder holding one N-row JSONL
  file: reading and parsing the file, validating each row, its idempotency
  key, the check for rows applied before, the batches, moving it to done/;
* flow (the default): the same through the `intake` Prefect flow, run against a
  Prefect server started once (`prefect_test_harness`): the flow and task runs,
  the run-log row, the runtime built from the settings;
* baseline: the commands intake built from that file, built before the clock
  starts, applied with `Engine.apply_many` in batches of the same size.

The rows: unique customers, one in 20 urgent (straight to L2 at intake), one
in 10 with an amount, one in 50 with a legal phrase (straight to manager).
The issue's target is a ratio of at least 0.8. Each run prints wall-clock
seconds and the process's CPU seconds (steadier on a shared machine: SQLite
runs in-process, so CPU time covers all but waiting for the disk). Usage:

    python benchmarks/intake.py [--rows 100000] [--batch 1000] [--runs 1]
                                [--through flow|service]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from prefect.testing.utilities import prefect_test_harness

from benchmarks._common import at_least_one
from flows.intake import intake
from flows.runtime import Runtime
from flows.sources import process_folder, read_folder_file
from states.engine import Engine
from states.intake import Record
from states.process import load_process
from states.store import init_schema, make_engine

NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)


def row(n: int) -> dict[str, str]:
    fields = {
        "customer_id": f"CUST-{n:07d}",
        "subject": f"Order {n} arrived damaged",
        "description": "The parcel was crushed and the kettle inside does not switch on.",
        "priority": "urgent" if n % 20 == 0 else "normal",
        "channel": "web",
    }
    if n % 10 == 3:
        fields["amount"] = f"{(n % 900) + 50}.00"
    if n % 50 == 7:
        fields["description"] = "Fix this or my lawyer will be in touch."
    return fields


def write_file(folder: Path, rows: int) -> Path:
    folder.mkdir()
    path = folder / "tickets.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for n in range(1, rows + 1):
            out.write(json.dumps(row(n)) + "\n")
    return path


def fresh_engine(path: Path) -> Engine:
    db = make_engine(f"sqlite:///{path}")
    init_schema(db)
    return Engine(db, load_process())


def run_intake(tmp: Path, rows: int, batch: int) -> tuple[float, float, int]:
    write_file(tmp / "inbox", rows)
    engine = fresh_engine(tmp / "intake.db")
    began, began_cpu = time.perf_counter(), time.process_time()
    report = process_folder(engine, tmp / "inbox", NOW, batch)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    engine.db.dispose()
    assert not report.total.rejected, report.total.rejected[:3]
    return elapsed, cpu, report.total.opened


def run_flow(tmp: Path, rows: int, batch: int) -> tuple[float, float, int]:
    home = tmp / "home"
    home.mkdir()
    write_file(home / "inbox", rows)
    os.environ["TIERFLOW_HOME"] = str(home)
    Runtime.from_env().init()
    began, began_cpu = time.perf_counter(), time.process_time()
    counts = asyncio.run(intake())
    elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    assert counts["rejected"] == 0, counts
    return elapsed, cpu, counts["opened"]


def run_baseline(tmp: Path, rows: int, batch: int) -> tuple[float, float, int]:
    path = write_file(tmp / "source", rows)
    commands = [item.command for item in read_folder_file(path) if isinstance(item, Record)]
    engine = fresh_engine(tmp / "baseline.db")
    began, began_cpu = time.perf_counter(), time.process_time()
    opened = 0
    for offset in range(0, len(commands), batch):
        opened += len(engine.apply_many(commands[offset : offset + batch], NOW))
    elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    engine.db.dispose()
    return elapsed, cpu, opened


def measure(rows: int, batch: int, intake_first: bool, through: str) -> dict[str, float]:
    run_intake_side = run_flow if through == "flow" else run_intake
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if intake_first:
            intake_s, intake_cpu, opened = run_intake_side(tmp, rows, batch)
            baseline_s, baseline_cpu, baseline_opened = run_baseline(tmp, rows, batch)
        else:
            baseline_s, baseline_cpu, baseline_opened = run_baseline(tmp, rows, batch)
            intake_s, intake_cpu, opened = run_intake_side(tmp, rows, batch)
    assert opened == baseline_opened == rows, (opened, baseline_opened)
    return {
        "intake_s": intake_s,
        "baseline_s": baseline_s,
        "ratio": baseline_s / intake_s,
        "intake_cpu_s": intake_cpu,
        "baseline_cpu_s": baseline_cpu,
        "cpu_ratio": baseline_cpu / intake_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=at_least_one, default=100_000)
    parser.add_argument("--batch", type=at_least_one, default=1000)
    parser.add_argument("--runs", type=at_least_one, default=1)
    parser.add_argument("--through", choices=("flow", "service"), default="flow")
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} Python {platform.python_version()}")
    with ExitStack() as stack:
        if args.through == "flow":
            for name in ("TIERFLOW_DATABASE_URL", "TIERFLOW_SCHEDULES_FILE", "PREFECT_API_URL"):
                os.environ.pop(name, None)
            stack.enter_context(prefect_test_harness(server_startup_timeout=90))
        for run in range(args.runs):
            report(args, measure(args.rows, args.batch, run % 2 == 1, args.through))


def report(args: argparse.Namespace, result: dict[str, float]) -> None:
    print(
        json.dumps(
            {
                "through": args.through,
                "rows": args.rows,
                "batch": args.batch,
                "intake_s": round(result["intake_s"], 3),
                "baseline_s": round(result["baseline_s"], 3),
                "intake_cases_per_s": round(args.rows / result["intake_s"]),
                "baseline_cases_per_s": round(args.rows / result["baseline_s"]),
                "ratio": round(result["ratio"], 3),
                "intake_cpu_s": round(result["intake_cpu_s"], 3),
                "baseline_cpu_s": round(result["baseline_cpu_s"], 3),
                "cpu_ratio": round(result["cpu_ratio"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
