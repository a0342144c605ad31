"""Business-calendar deadlines: microseconds per `BusinessCalendar.add`, against a 24/7
calendar (plain datetime addition plus the same validation) in the same run.

Each call starts at a different instant (so the memo of repeated sums never
answers), over the shipped `support_eu` calendar (Europe/Brussels, Mon-Fri
09:00-17:00, Belgian holidays), for targets of the shipped policy: PT4H,
PT40H, and P30D (720 business hours: about four and a half months of
working days, stepped day by day).

    python benchmarks/calendar_add.py [--calls 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import at_least_one
from states.policy import load_policy

TARGETS = {"PT4H": timedelta(hours=4), "PT40H": timedelta(hours=40), "P30D": timedelta(days=30)}


def per_call(calendar, starts: list[datetime], duration: timedelta) -> float:
    began = time.perf_counter()
    for start in starts:
        calendar.add(start, duration)
    return (time.perf_counter() - began) / len(starts) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=at_least_one, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    policy = load_policy()
    office, always = policy.calendar("support_eu"), policy.calendar("always")
    origin = datetime(2026, 1, 5, 8, tzinfo=UTC)
    starts = [origin + timedelta(minutes=37 * n, seconds=n % 60) for n in range(args.calls)]
    office.add(starts[0], timedelta(days=31))  # warm the day cache, as a running engine has
    results = {}
    for text, duration in TARGETS.items():
        business = per_call(office, starts, duration)
        baseline = per_call(always, starts, duration)
        results[text] = {"office_us": round(business, 2), "always_us": round(baseline, 2),
                         "ratio": round(business / baseline, 1)}  # fmt: skip
    machine = f"{platform.node()} {platform.machine()} python {platform.python_version()}"
    if args.json:
        print(json.dumps({"machine": machine, "calls": args.calls, "results": results}))
        return
    print(f"{args.calls:,} deadlines per target, distinct start instants ({machine})")
    for text, r in results.items():
        print(
            f"{text:6}: support_eu {r['office_us']:7.2f} us/call   24/7 baseline "
            f"{r['always_us']:5.2f} us/call   ratio {r['ratio']}"
        )


if __name__ == "__main__":
    main()
