"""Event-log export (XES, CSV, OCEL): throughput and memory as the log grows.

Set-up (not timed): demo histories (`--seed-cases` cases through the engine, with
warnings, breaches, escalations and reopens), copied by SQL (new case ids, the same
events) until the database holds each size asked for (default 10,000 and 100,000
events; `--sizes 10000,100000,1000000` for a million).

Timed, per size:
* baseline: a bare read of the same rows: the export's event query (case and
  sequence order) through the plain driver (sqlite3 / psycopg, a server-side cursor
  there), fetching 2,000 rows at a time and doing nothing with them;
* read_log: the export's own reading (``states.eventlog.read_log``: rows decoded,
  payloads parsed, cases merged), nothing written;
* xes, csv, ocel (``--formats``): ``states.logexport.export_log`` to a file
  (events/s, and the ratio to the bare read);
* peak: the largest Python heap (``tracemalloc``) during a second XES export of the
  same size: flat as the log grows when the export streams (``--memory-only``: this
  alone, e.g. up to a million events without the timed runs).

    [TIERFLOW_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test] \\
    python benchmarks/export.py [--sizes 10000,100000] [--formats xes,csv,ocel] [--seed-cases 60]
                                [--repeat 2] [--memory-only] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine as SAEngine
from sqlalchemy import func, select, text

from benchmarks._common import START, Database, at_least_one, backends, database, label, machine
from states.demo import generate_demo
from states.engine import Engine
from states.eventlog import LogFilter, read_log
from states.logexport import FORMATS, export_log, snapshot
from states.process import ProcessDefinition, load_process
from states.store import CASE, EVENT

BARE_QUERY = (
    "SELECT case_id, seq, type, occurred_at, recorded_at, actor, from_state, to_state, "
    "from_level, to_level, payload FROM case_event ORDER BY case_id, seq"
)
_CASE_COLUMNS = [c.name for c in CASE.columns]
_EVENT_COLUMNS = [c.name for c in EVENT.columns if c.name != "id"]


def grow(db: SAEngine, events: int, seed_cases: int) -> int:
    """Copy the first `seed_cases` cases (new ids, same events) until the database holds
    at least `events` events; returns how many it holds."""
    with db.begin() as conn:
        seed_events = conn.execute(
            select(func.count()).where(EVENT.c.case_id <= seed_cases)
        ).scalar_one()
        have = conn.execute(select(func.count()).select_from(EVENT)).scalar_one()
        top = conn.execute(select(func.max(CASE.c.id))).scalar_one()
        while have < events:
            conn.execute(text(_copy("case", _CASE_COLUMNS, "id", top, seed_cases)))
            conn.execute(text(_copy("case_event", _EVENT_COLUMNS, "case_id", top, seed_cases)))
            top += seed_cases
            have += seed_events
    return have


def _copy(table: str, columns: list[str], key: str, offset: int, seed_cases: int) -> str:
    """INSERT … SELECT of the seed cases' rows of `table` with `key` moved by `offset`
    (unique columns made unique again: external_ref suffixed, idempotency keys dropped)."""
    chosen = []
    for column in columns:
        if column == key:
            chosen.append(f"{column} + {offset}")
        elif column == "external_ref":
            chosen.append(f"external_ref || '-{offset}'")
        else:
            chosen.append("NULL" if column == "idempotency_key" else f'"{column}"')
    names = ", ".join(f'"{c}"' for c in columns)
    return (
        f'INSERT INTO "{table}" ({names}) SELECT {", ".join(chosen)} '
        f'FROM "{table}" WHERE {key} <= {seed_cases}'
    )


def bare_read(db: Database) -> int:
    conn = db.raw()
    try:
        cursor = conn.cursor(name="bare") if db.path is None else conn.cursor()
        cursor.execute(BARE_QUERY)
        rows = 0
        while batch := cursor.fetchmany(2000):
            rows += len(batch)
        return rows
    finally:
        conn.close()


def read_only(engine: SAEngine) -> int:
    """The export's reading alone: every case and event as the writers get them."""
    with snapshot(engine) as conn:
        return sum(len(events) for _, events in read_log(conn, LogFilter()))


def export(engine: SAEngine, definition: ProcessDefinition, fmt: str, out: Path) -> int:
    with snapshot(engine) as conn:
        return export_log(conn, definition, LogFilter(), fmt, out).events


def timed(run: Any, repeat: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeat):
        began = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - began)
    return best, count


def measure(
    backend: str, sizes: list[int], seed_cases: int, repeat: int, formats: list[str]
) -> list[dict[str, Any]]:
    """Each size's figures; with no `formats`, the heap peak only (no timed runs)."""
    definition = load_process()
    results = []
    with database(backend) as db, tempfile.TemporaryDirectory() as tmp:
        engine = db.engine()
        generate_demo(Engine(engine, definition, clock=lambda: START), seed_cases, 2013, START)
        for size in sizes:
            events = grow(engine, size, seed_cases)
            row: dict[str, Any] = {"backend": label(backend), "events": events}
            if formats:
                row["bare_read_s"], rows = timed(lambda: bare_read(db), repeat)
                assert rows == events
                row["read_log_s"], rows = timed(lambda: read_only(engine), repeat)
                assert rows == events
            for fmt in formats:
                out = Path(tmp) / f"log.{fmt}"
                seconds, written = timed(
                    lambda f=fmt, o=out: export(engine, definition, f, o), repeat
                )
                assert written == events
                row[f"{fmt}_s"] = seconds
                row[f"{fmt}_mb"] = out.stat().st_size / 1e6
            tracemalloc.start()
            export(engine, definition, "xes", Path(tmp) / "peak.xes")
            row["xes_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            results.append(row)
            print(_line(row), file=sys.stderr, flush=True)
        engine.dispose()
    return results


def _line(row: dict[str, Any]) -> str:
    n = row["events"]
    if "bare_read_s" not in row:
        return f"{row['backend']:10} {n:>9,} events: xes heap peak {row['xes_peak_mb']:.1f} MB"
    base = n / row["bare_read_s"]
    parts = [f"{row['backend']:10} {n:>9,} events: bare read {base:>9,.0f}/s"]
    parts.append(f"read_log {n / row['read_log_s']:>7,.0f}/s")
    for fmt in [f for f in FORMATS if f"{f}_s" in row]:
        rate = n / row[f"{fmt}_s"]
        parts.append(
            f"{fmt} {rate:>7,.0f}/s ({rate / base:.2f} of bare, {row[f'{fmt}_mb']:.0f} MB)"
        )
    parts.append(f"xes heap peak {row['xes_peak_mb']:.1f} MB")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--seed-cases", type=at_least_one, default=60)
    parser.add_argument("--repeat", type=at_least_one, default=2)
    parser.add_argument("--formats", default=",".join(FORMATS), help="e.g. xes")
    parser.add_argument("--memory-only", action="store_true", help="the heap peaks only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    formats = [] if args.memory_only else args.formats.split(",")
    results = [
        r for b in backends() for r in measure(b, sizes, args.seed_cases, args.repeat, formats)
    ]
    if args.json:
        print(json.dumps({"machine": machine(), "results": results}))
        return
    what = "heap peaks" if args.memory_only else f"best of {args.repeat}"
    print(f"event-log export, {what} ({machine()})")
    for row in results:
        print(_line(row))


if __name__ == "__main__":
    main()
