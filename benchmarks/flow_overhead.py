"""What running the sweep as a Prefect flow costs over calling the service directly.

Set-up (not timed): a SQLite database with `--cases` cases opened ten days
ago and never taken, so their first-response and resolution timers are all
due now (about four per case: a warning and a breach each). Each repetition
copies it twice:

* direct: ``states.sweep.sweep(engine, now)`` on one copy (the baseline);
* flow: the ``sweep_timers`` Prefect flow on the other, against a Prefect
  server started once (``prefect_test_harness``): flow and task runs created
  through the API, the run-log row, the logger.

Both fire the same timers; the figure is the flow's wall time minus the
direct call's (target: the flow adds < 1 s for 10,000 due timers). The flow
is timed twice: with Prefect's default settings, and with its flow-run
heartbeat off. Prefect 3.8.8 starts a heartbeat thread for every flow run
that sleeps in one-second steps; its synchronous flow engine waits for that
thread when a run ends (up to a second, idle), its async engine does not.
tierflow's flows are async for that reason: both figures should agree.

    python benchmarks/flow_overhead.py [--cases 2500] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from benchmarks._common import at_least_one
from flows.runtime import Runtime
from flows.sweep_timers import sweep_timers
from states.commands import OpenCase
from states.sweep import sweep
from states.timers import count_due


def build(home: Path, cases: int) -> int:
    """The template database; returns how many timers are due now."""
    os.environ["TIERFLOW_HOME"] = str(home)
    runtime = Runtime.from_env()
    runtime.init()
    opened = datetime.now(UTC) - timedelta(days=10)
    commands = [(OpenCase(customer_id=f"C-{n}", subject="Refund"), opened) for n in range(cases)]
    for start in range(0, cases, 1000):
        runtime.engine.apply_timed(commands[start : start + 1000])
    due = count_due(runtime.db, now=datetime.now(UTC))
    runtime.db.dispose()
    return due


def copy(template: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(template, target)
    return target


def direct(home: Path) -> tuple[float, int]:
    os.environ["TIERFLOW_HOME"] = str(home)
    runtime = Runtime.from_env()
    started = time.perf_counter()
    report = sweep(runtime.engine, datetime.now(UTC))
    elapsed = time.perf_counter() - started
    runtime.db.dispose()
    return elapsed, report.claimed


def as_flow(home: Path, heartbeat: bool = True) -> tuple[float, int]:
    os.environ["TIERFLOW_HOME"] = str(home)
    updates = {} if heartbeat else {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    with temporary_settings(updates=updates):
        started = time.perf_counter()
        counts = asyncio.run(sweep_timers())
        return time.perf_counter() - started, int(counts["claimed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=at_least_one, default=2500)
    parser.add_argument("--repeat", type=at_least_one, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for name in ("TIERFLOW_DATABASE_URL", "TIERFLOW_SCHEDULES_FILE", "PREFECT_API_URL"):
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory() as scratch, prefect_test_harness(server_startup_timeout=90):
        root = Path(scratch)
        due = build(root / "template", args.cases)
        sweep_timers.fn  # noqa: B018 - the flow is imported and built before timing
        direct_times, flow_times, bare_times = [], [], []
        for repetition in range(args.repeat + 1):  # the first round warms both paths up
            seconds, fired_direct = direct(copy(root / "template", root / "direct"))
            flow_seconds, fired_flow = as_flow(copy(root / "template", root / "flow"))
            bare_seconds, fired_bare = as_flow(copy(root / "template", root / "bare"), False)
            assert fired_direct == fired_flow == fired_bare == due, (fired_direct, fired_flow, due)
            if repetition:
                direct_times.append(seconds)
                flow_times.append(flow_seconds)
                bare_times.append(bare_seconds)
    result = {
        "machine": f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "due_timers": due,
        "direct_s": round(statistics.median(direct_times), 3),
        "flow_s": round(statistics.median(flow_times), 3),
        "flow_without_heartbeat_s": round(statistics.median(bare_times), 3),
        "runs": {"direct": direct_times, "flow": flow_times, "flow_without_heartbeat": bare_times},
    }
    result["added_s"] = round(
        statistics.median(f - d for f, d in zip(flow_times, direct_times, strict=True)), 3
    )
    result["added_without_heartbeat_s"] = round(
        statistics.median(f - d for f, d in zip(bare_times, direct_times, strict=True)), 3
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"machine: {result['machine']}")
    print(f"due timers: {due} (median of {args.repeat})")
    print(f"direct sweep(): {result['direct_s']:.3f} s")
    print(f"sweep_timers flow, Prefect's defaults: {result['flow_s']:.3f} s")
    print(f"sweep_timers flow, heartbeat off: {result['flow_without_heartbeat_s']:.3f} s")
    print(f"the flow adds: {result['added_s']:.3f} s with Prefect's heartbeat, ", end="")
    print(f"{result['added_without_heartbeat_s']:.3f} s without (target < 1 s)")


if __name__ == "__main__":
    main()
