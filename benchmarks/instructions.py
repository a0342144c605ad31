"""Machine instructions per case life cycle through `Engine.apply`, counted by callgrind.

Wall-clock figures on a shared 2-core machine move by 30 % and more from run to run;
an instruction count does not (valgrind's callgrind counts what the CPU executes, the
same whatever else the machine does), so it tells whether a change to the engine's
path made it cheaper, by how much, and where (`callgrind_annotate` on a kept output).

Each figure is (instructions of a run of 50 + N life cycles - those of a run of 50) / N:
imports, schema creation and the warm-up cancel out. Life cycles as in
`single_apply.py` (open → assign → escalate → acknowledge → resolve → follow_up, one
`apply` and one commit each) on a SQLite file; ``PYTHONHASHSEED=0`` so that hashing
(and with it dict and set layouts) is the same in every run. Needs valgrind.
Life cycle n opens n minutes after Monday 09:00 UTC: by default all of them in the
shipped calendar's hours; ``--first 1000`` runs them at night, where a command's clocks
start from the next opening (`peer_spiffworkflow.py`'s 2,000 span both).

    python benchmarks/instructions.py [--config sla|process|both] [--cycles 200]
                                      [--first 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import at_least_one, zero_or_more

ROOT = Path(__file__).resolve().parents[1]

WARM_UP = 50


def run_cycles(config: str, cycles: int, first: int = 0) -> None:
    """The measured body: `cycles` life cycles on a fresh SQLite database, the first
    numbered `first` (life cycle n opens n minutes after Monday 09:00 UTC). Checkpoints
    run in the commits, not in a thread of their own: one thread, counted the same way
    each time (50 life cycles never reach a checkpoint either way)."""
    from benchmarks._common import database, make_tierflow, run_life_cycles

    with database("sqlite") as db:
        sa = db.engine()
        run_life_cycles(make_tierflow(sa, config, background_checkpoints=False), first, cycles)
        sa.dispose()


def instructions(config: str, cycles: int, first: int = 0) -> int:
    """Instructions callgrind counts for a whole process running `cycles` life cycles."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--run",
            config,
            str(cycles),
            str(first),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"error: callgrind printed no count: {done.stderr[-300:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=("process", "sla", "both"), default="both")
    parser.add_argument("--cycles", type=at_least_one, default=200, help="life cycles measured")
    parser.add_argument(
        "--first",
        type=zero_or_more,
        default=0,
        help="number of the first life cycle: n opens n minutes after Monday 09:00 UTC, so "
        "the default runs in the shipped calendar's hours, 1000 at night (Brussels)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--run", nargs=3, metavar=("CONFIG", "CYCLES", "FIRST"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.run:
        run_cycles(args.run[0], int(args.run[1]), int(args.run[2]))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("error: valgrind is not installed (Debian: apt-get install valgrind)")
    results = []
    for config in ("process", "sla") if args.config == "both" else (args.config,):
        base = instructions(config, WARM_UP, args.first)
        total = instructions(config, WARM_UP + args.cycles, args.first)
        results.append({"config": config, "per_life_cycle": (total - base) // args.cycles})
    if args.json:
        print(json.dumps({"cycles": args.cycles, "first": args.first, "results": results}))
        return
    for result in results:
        print(
            f"{result['config']:8} {result['per_life_cycle']:>12,} instructions per life cycle "
            f"(6 commands; {args.cycles} life cycles after {WARM_UP}, from number {args.first})"
        )


if __name__ == "__main__":
    main()
