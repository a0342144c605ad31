"""The pipeline as it stood (`states.asof.pipeline_at`, a fold of the events) against the
same figures read from the live case rows (`pipeline_live`, the baseline), in one run.

Set-up (not timed): `--cases` demo cases (every state, level and age; about 12 events
each) on a SQLite file. Timed, `--repeat` times each, the median printed:

* live: `pipeline_live` at now, from the case rows (the floor: one row per case);
* as of now: `pipeline_at` at now, every event folded;
* as of the middle: `pipeline_at` halfway through the history.

    python benchmarks/asof.py [--cases 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from benchmarks._common import at_least_one
from benchmarks.report import timed
from states.asof import pipeline_at, pipeline_live
from states.demo import generate_demo
from states.engine import Engine
from states.process import load_process
from states.store import EVENT, init_schema, make_engine, read_connection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=at_least_one, default=5000)
    parser.add_argument("--repeat", type=at_least_one, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = make_engine(f"sqlite:///{Path(tmp) / 'tierflow.db'}")
        init_schema(db)
        now = datetime.now(UTC)
        generate_demo(Engine(db, load_process()), args.cases, 2013, now)
        with read_connection(db) as conn:
            events, first = conn.execute(select(func.count(), func.min(EVENT.c.occurred_at))).one()
        middle = first + (now - first) / 2

        def read(call: Callable[[Any], Any]) -> Callable[[], Any]:
            def run() -> Any:
                with read_connection(db) as conn, conn.begin():
                    return call(conn)

            return run

        live_s, live = timed(read(lambda c: pipeline_live(c, now)), args.repeat)
        now_s, at_now = timed(read(lambda c: pipeline_at(c, now)), args.repeat)
        mid_s, at_mid = timed(read(lambda c: pipeline_at(c, middle)), args.repeat)
        assert at_now.as_dict() == live.as_dict()
    print(f"{args.cases} cases, {events} events, SQLite, median of {args.repeat}")
    print(f"  live (case rows, baseline): {live_s:8.3f} s")
    print(f"  as of now (events):         {now_s:8.3f} s  x{now_s / live_s:.1f} the baseline")
    print(
        f"  as of the middle:           {mid_s:8.3f} s  x{mid_s / live_s:.1f} the baseline "
        f"({at_mid.cases} cases then)"
    )
    print(f"  events folded per second:   {events / now_s:,.0f}")


if __name__ == "__main__":
    main()
