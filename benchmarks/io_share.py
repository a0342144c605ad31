"""How much of a life cycle's wall time is the write-ahead log's system calls, per engine.

SQLite writes each page a transaction dirtied to its log at the commit (a frame: two
``pwrite`` calls), and a checkpoint syncs the log before copying it into the file
(``fdatasync``): both grow with the pages each commit writes, not with the Python
around them. This script times those calls where they happen: a small C library,
compiled here with the machine's ``cc`` and preloaded (``LD_PRELOAD``) into a child
process, wraps ``pwrite64`` and ``fdatasync``/``fsync`` with a clock; the child reads
its counts before and after the life cycles (not the set-up, nor the checkpoint that
closing the database makes). The child runs the same life cycles as
`peer_spiffworkflow.py` (one commit a step, the same SQLite settings) for one engine:
SpiffWorkflow, tierflow without the SLA policy, or with it. A count of calls and their
share of the run's wall time; the seconds move with the machine's disk. Checkpoints run
in the commits on both sides (``--inline-checkpoints`` of the peer benchmark): the calls
timed are then all the measured thread's.

    python benchmarks/io_share.py [--cycles 2000] [--json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import at_least_one

_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
static double sync_s, write_s; static long syncs, writes;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9; }
#define TIMED(total, count, call) do { double began = now(); call; \
  total += now() - began; count++; } while (0)
int fdatasync(int fd) { static int (*real)(int); int r;
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  TIMED(sync_s, syncs, r = real(fd)); return r; }
int fsync(int fd) { static int (*real)(int); int r;
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  TIMED(sync_s, syncs, r = real(fd)); return r; }
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t at) {
  static ssize_t (*real)(int, const void *, size_t, off_t); ssize_t r;
  if (!real) real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
  TIMED(write_s, writes, r = real(fd, buf, n, at)); return r; }
void io_share_counts(long *w, double *ws, long *s, double *ss) {
  *w = writes; *ws = write_s; *s = syncs; *ss = sync_s; }
"""

ENGINES = {
    "spiff": "SpiffWorkflow (BPMN, JSON serializer)",
    "process": "tierflow without SLA policy",
    "sla": "tierflow with SLA policy",
}


def child(engine: str, cycles: int) -> None:
    """The measured run, in the preloaded child: `cycles` life cycles of one engine; prints
    their wall seconds and the calls made during them."""
    from benchmarks._common import database, make_tierflow, run_life_cycles
    from benchmarks.peer_spiffworkflow import Spiff

    counts = ctypes.CDLL(None).io_share_counts  # the preloaded library's

    def calls() -> tuple[float, ...]:
        writes, syncs = ctypes.c_long(), ctypes.c_long()
        write_s, sync_s = ctypes.c_double(), ctypes.c_double()
        counts(*(ctypes.byref(v) for v in (writes, write_s, syncs, sync_s)))
        return (time.perf_counter(), writes.value, write_s.value, syncs.value, sync_s.value)

    with database("sqlite") as db:
        if engine == "spiff":
            spiff = Spiff(db.path.with_name("spiff.db"), False)  # type: ignore[union-attr]
            before = calls()
            spiff.life_cycles(0, cycles)
            after = calls()
            spiff.close()
        else:
            sa = db.engine()
            tierflow = make_tierflow(sa, engine, background_checkpoints=False)
            before = calls()
            run_life_cycles(tierflow, 0, cycles)
            after = calls()
            tierflow.close()
            sa.dispose()
    print(" ".join(str(b - a) for a, b in zip(before, after, strict=True)))


def measure(shim: Path, engine: str, cycles: int) -> dict[str, Any]:
    """One engine's run in a child process with the timing library preloaded."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", engine, str(cycles)],
        env={**os.environ, "LD_PRELOAD": str(shim)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"error: the {engine} run failed: {done.stderr.strip()[-300:]}")
    wall, writes, write_s, syncs, sync_s = (float(v) for v in done.stdout.split()[-5:])
    return {
        "engine": engine,
        "wall_s": round(wall, 3),
        "pwrite_per_commit": round(writes / (cycles * 6), 1),
        "pwrite_s": round(write_s, 3),
        "sync_calls": int(syncs),
        "sync_s": round(sync_s, 3),
        "io_share": round((write_s + sync_s) / wall, 3),
    }


def build_shim(directory: Path) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit("error: no C compiler (cc or gcc) to build the timing library")
    source, shim = directory / "io_shim.c", directory / "io_shim.so"
    source.write_text(_SHIM)
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", shim, source, "-ldl"], check=True)
    return shim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=at_least_one, default=2000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "CYCLES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        shim = build_shim(Path(tmp))
        results = [measure(shim, engine, args.cycles) for engine in ENGINES]
    if args.json:
        print(json.dumps({"cycles": args.cycles, "results": results}))
        return
    print(
        f"{args.cycles:,} life cycles of 6 steps, one commit a step, SQLite WAL "
        "synchronous=NORMAL wal_autocheckpoint=10000; log writes (pwrite) and syncs timed"
    )
    for result in results:
        print(
            f"{ENGINES[result['engine']]:38}: {result['wall_s']:6.2f} s, "
            f"{result['pwrite_per_commit']:5} pwrite a commit ({result['pwrite_s']:.2f} s), "
            f"{result['sync_calls']} syncs ({result['sync_s']:.2f} s): "
            f"{result['io_share'] * 100:.0f} % of the time"
        )


if __name__ == "__main__":
    main()
