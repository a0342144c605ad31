"""Case life cycles per second: tierflow against SpiffWorkflow, one commit per step.

Both sides run the same life cycle (open → assign → escalate → acknowledge →
resolve → follow_up), one step at a time, each step committed to SQLite with the same settings
(tierflow's ``states.store.SQLITE_PRAGMAS``: WAL, ``synchronous=NORMAL``, a
checkpoint every 10,000 pages, the same cache):

* SpiffWorkflow (pure-Python BPMN, a benchmark-only dependency: the ``bench``
  extra): a BPMN process of six user tasks; each step completes the ready
  task, runs the engine steps, serialises the whole workflow with its JSON
  serializer and writes it to the case's row (INSERT on open, UPDATE after),
  one commit per step;
* tierflow: one `Engine.apply` per step (events with their hash chain, the
  case projection, and with the SLA policy clocks, timers, ledger rows and
  notices), one commit per step; ``process`` runs without the SLA policy
  (benchmarks/policies/no_sla.toml), ``sla`` with the shipped one.

Both sides fold their write-ahead log into the file the same way: by default
from a background thread (tierflow's ``states.wal_checkpoints``, which the engine
uses as shipped; SpiffWorkflow's connection is given the same one), with
``--inline-checkpoints`` in the commit that crosses SQLite's mark, on both sides.
Each side's time includes its checkpoint thread's work in flight at the end of each of
its turns, and closing it (the final fold of the log).

The runs are interleaved in chunks (SpiffWorkflow, tierflow process, tierflow
sla, and again) so that a busy spell of the machine falls on all three.
Targets: tierflow >= 2x SpiffWorkflow without the SLA policy, >= 1.5x with it.

    pip install -e '.[bench]'
    python benchmarks/peer_spiffworkflow.py [--cycles 2000] [--chunk 250]
        [--inline-checkpoints] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import at_least_one, database, machine, make_tierflow, run_life_cycles
from states.store import SQLITE_PRAGMAS
from states.wal_checkpoints import WalCheckpoints

STEPS = ("open", "assign", "escalate", "acknowledge", "resolve", "follow_up")
TARGETS = {"process": 2.0, "sla": 1.5}


def end_turn(checkpoints: WalCheckpoints | None) -> None:
    """Wait for the checkpoint in flight, if any (the next waking starts a new thread)."""
    if checkpoints is not None:
        checkpoints.close()


def bpmn() -> str:
    """A BPMN process: start, six user tasks in sequence, end."""
    tasks = "".join(f'<bpmn:userTask id="{step}" name="{step}"/>' for step in STEPS)
    nodes = ["start", *STEPS, "end"]
    flows = "".join(
        f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>'
        for i, (a, b) in enumerate(itertools.pairwise(nodes))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'id="defs" targetNamespace="http://bpmn.io/schema/bpmn">'
        '<bpmn:process id="case_life_cycle" isExecutable="true">'
        f'<bpmn:startEvent id="start"/>{tasks}<bpmn:endEvent id="end"/>{flows}'
        "</bpmn:process></bpmn:definitions>"
    )


class Spiff:
    """SpiffWorkflow's side: the parsed spec, the serializer and a SQLite table of workflows."""

    def __init__(self, path: Path, background_checkpoints: bool) -> None:
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
        from SpiffWorkflow.util.task import TaskState

        source = path.with_suffix(".bpmn")
        source.write_text(bpmn())
        parser = BpmnParser()
        parser.add_bpmn_file(str(source))
        self.spec = parser.get_spec("case_life_cycle")
        self.serializer = BpmnWorkflowSerializer()
        self.ready = TaskState.READY
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:  # tierflow's own settings, for a like-for-like run
            self.db.execute(pragma)
        self.db.execute(
            "CREATE TABLE workflow (id INTEGER PRIMARY KEY, step TEXT NOT NULL, "
            "state TEXT NOT NULL, updated_at REAL NOT NULL)"
        )
        #: the engine's background checkpoints, given to this connection too (or none)
        self.checkpoints = WalCheckpoints(str(path)) if background_checkpoints else None

    def close(self) -> None:
        end_turn(self.checkpoints)
        self.db.close()

    def life_cycles(self, first: int, count: int) -> None:
        from SpiffWorkflow.bpmn import BpmnWorkflow

        for n in range(first, first + count):
            workflow = BpmnWorkflow(self.spec)
            workflow.do_engine_steps()
            for index, step in enumerate(STEPS):
                task = workflow.get_next_task(state=self.ready, manual=True)
                task.data.update({f"{step}_by": "ana", f"{step}_note": f"case {n} {step}"})
                task.run()
                workflow.do_engine_steps()
                state = self.serializer.serialize_json(workflow)
                self.db.execute("BEGIN IMMEDIATE")
                if index == 0:
                    self.db.execute(
                        "INSERT INTO workflow (id, step, state, updated_at) VALUES (?, ?, ?, ?)",
                        (n + 1, step, state, time.time()),
                    )
                else:
                    self.db.execute(
                        "UPDATE workflow SET step = ?, state = ?, updated_at = ? WHERE id = ?",
                        (step, state, time.time(), n + 1),
                    )
                self.db.execute("COMMIT")
                if self.checkpoints is not None:
                    self.checkpoints.committed(1)
            assert workflow.is_completed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=at_least_one, default=2000)
    parser.add_argument(
        "--chunk", type=at_least_one, default=250, help="life cycles per interleaved turn"
    )
    parser.add_argument(
        "--inline-checkpoints",
        action="store_true",
        help="fold the log in the commits on both sides, not from a background thread",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    background = not args.inline_checkpoints
    seconds = {"spiff": 0.0, "process": 0.0, "sla": 0.0}
    with tempfile.TemporaryDirectory() as tmp, database("sqlite") as a, database("sqlite") as b:
        spiff = Spiff(Path(tmp) / "spiff.db", background)
        engines = {"process": make_tierflow(a.engine(), "process", background)}
        engines["sla"] = make_tierflow(b.engine(), "sla", background)
        for first in range(0, args.cycles, args.chunk):
            count = min(args.chunk, args.cycles - first)
            # Each turn ends when its side's checkpoint thread has finished (closing it
            # waits for the checkpoint in flight; the next turn starts another): no side's
            # checkpoint runs on into the other sides' turns, uncounted.
            began = time.perf_counter()
            spiff.life_cycles(first, count)
            end_turn(spiff.checkpoints)
            seconds["spiff"] += time.perf_counter() - began
            for config, engine in engines.items():
                began = time.perf_counter()
                run_life_cycles(engine, first, count)
                end_turn(engine.checkpoints)
                seconds[config] += time.perf_counter() - began
        began = time.perf_counter()
        spiff.close()
        seconds["spiff"] += time.perf_counter() - began
        for config, engine in engines.items():
            began = time.perf_counter()
            engine.close()
            engine.db.dispose()
            seconds[config] += time.perf_counter() - began
    rates = {name: args.cycles / spent for name, spent in seconds.items()}
    results = {
        "machine": machine(),
        "cycles": args.cycles,
        "checkpoints": "background" if background else "inline",
        "spiffworkflow_per_s": round(rates["spiff"], 1),
        "tierflow_process_per_s": round(rates["process"], 1),
        "tierflow_sla_per_s": round(rates["sla"], 1),
        "ratio_process": round(rates["process"] / rates["spiff"], 2),
        "ratio_sla": round(rates["sla"] / rates["spiff"], 2),
    }
    if args.json:
        print(json.dumps(results))
        return
    print(
        f"{args.cycles:,} life cycles of 6 steps, one commit per step, SQLite WAL "
        "synchronous=NORMAL wal_autocheckpoint=10000 on both sides, "
        f"checkpoints {results['checkpoints']}, interleaved in turns of {args.chunk} "
        f"({machine()})"
    )
    print(f"SpiffWorkflow (BPMN, JSON serializer)  : {results['spiffworkflow_per_s']:>7} /s")
    for config, name in (("process", "without SLA policy"), ("sla", "with SLA policy   ")):
        print(
            f"tierflow {name}        : {results[f'tierflow_{config}_per_s']:>7} /s  "
            f"{results[f'ratio_{config}']}x SpiffWorkflow (target >= {TARGETS[config]}x)"
        )


if __name__ == "__main__":
    main()
