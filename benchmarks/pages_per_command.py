"""Pages each command writes to SQLite's write-ahead log, and which table or index each is.

Every page a transaction dirties is written to the log at its commit (a 4 KiB
frame, two ``pwrite`` calls); on this machine that was a quarter of a command's
time. The script runs whole life cycles (`benchmarks/_common.run_life_cycles`,
one `Engine.apply` and one commit each) with the checkpoint off, then reads the
log's frame headers and names each page's owner through SQLite's ``dbstat``
table. It counts, it does not time: the figures are the same on a busy machine.

    python benchmarks/pages_per_command.py [--cases 100] [--config both] [--json]
"""

from __future__ import annotations

import argparse
import collections
import json
import sqlite3
import struct
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event

from benchmarks._common import (
    CONFIG_NAMES,
    at_least_one,
    database,
    machine,
    make_tierflow,
    run_life_cycles,
)

_WAL_HEADER, _FRAME_HEADER = 32, 24


def measure(config: str, cases: int) -> dict[str, Any]:
    """Pages per command, in all and by table or index, for `cases` life cycles."""
    with database("sqlite") as db:
        sa = db.engine()

        @event.listens_for(sa, "connect")
        def _no_checkpoint(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

        # no checkpoint thread either: its checkpoints would restart the log under the
        # frames still in it, and the count would take those stale frames for new ones
        engine = make_tierflow(sa, config, background_checkpoints=False)
        run_life_cycles(engine, 0, 3 * cases)  # tables and indexes of some size first
        with sa.connect() as conn:
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        if busy:  # the log not emptied: its frames would be counted with the commands'
            raise SystemExit("error: the write-ahead log could not be emptied before the run")
        commands = run_life_cycles(engine, 10 * cases, cases)
        pages = _logged_pages(Path(f"{db.path}-wal"))
        owners = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True)
        try:
            pages_of = owners.execute("SELECT name, pageno FROM dbstat")
            owner = {page: name for name, page in pages_of}
        finally:
            owners.close()
        engine.close()
        sa.dispose()
    by_owner = collections.Counter(owner.get(page, "(free list)") for page in pages)
    return {
        "config": config,
        "commands": commands,
        "pages_per_command": round(len(pages) / commands, 2),
        "by_owner": {name: round(n / commands, 2) for name, n in by_owner.most_common()},
    }


def _logged_pages(wal: Path) -> list[int]:
    """The page number of every frame of the write-ahead log `wal`'s current generation.

    A log that restarted keeps the older frames after the new ones; they carry the
    salts of their own generation, not the header's, and the count stops at the first."""
    data = wal.read_bytes()
    (page_size,) = struct.unpack(">I", data[8:12])
    salts = data[16:24]
    pages, offset = [], _WAL_HEADER
    while offset + _FRAME_HEADER <= len(data) and data[offset + 8 : offset + 16] == salts:
        pages.append(struct.unpack(">I", data[offset : offset + 4])[0])
        offset += _FRAME_HEADER + page_size
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", type=at_least_one, default=100, help="life cycles (6 commands each)"
    )
    parser.add_argument("--config", choices=("process", "sla", "both"), default="both")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configs = ("process", "sla") if args.config == "both" else (args.config,)
    results = [measure(config, args.cases) for config in configs]
    if args.json:
        print(json.dumps({"machine": machine(), "results": results}))
        return
    print(f"pages written to SQLite's log per command, {args.cases} life cycles ({machine()})")
    for result in results:
        name = CONFIG_NAMES[result["config"]]
        print(f"{name}: {result['pages_per_command']} pages a command")
        for owner, n in result["by_owner"].items():
            print(f"  {owner:40} {n}")


if __name__ == "__main__":
    main()
