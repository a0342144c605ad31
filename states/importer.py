"""Importing external event logs (XES, CSV) as tierflow cases: ``tierflow audit import``.

Each case of the log becomes one tierflow case, found again by its id in the
log (``external_ref``, e.g. BPIC 2013's SR number). Its history is, in the
case's hash chain like any other, with the log's own timestamps:

* one ``opened`` event at the time of the case's first event (state: the
  process's initial state; channel ``import``; priority from the mapping;
  ``payload["import"]``: the file's name and SHA-256, the mapping's
  version id and the trace attributes);
* one ``imported`` event per source event, in time order (ties: file order),
  whatever the file's order.

The shape of an ``imported`` event, for whoever replays it (the policy
backtest, conformance, exports):

* ``occurred_at``: the source timestamp, in UTC; ``recorded_at``: when the
  import wrote it; ``actor``: the source resource (``import`` when none);
* ``from_state``/``to_state``, ``from_level``/``to_level``: where the case
  stood before and after (levels are ladder names, None at first level and
  in states that carry no level, as for native events);
* ``payload["effects"]``: the triggers the event stands for, in order
  (``reopen``, ``escalate``, ``de_escalate``, ``assign``, ``acknowledge``,
  ``wait_on_customer``, ``customer_replied``, ``resolve``, ``follow_up``);
  absent when the event changed no state. Waiting on the customer starts at
  ``wait_on_customer`` and ends at ``customer_replied`` or ``resolve``;
  resolution is the ``resolve`` effect (``payload["resolved_level"]`` says at
  which level); ``follow_up`` is the closure;
* ``payload["deviations"]``: every step the process would not have allowed,
  as :func:`states.deviations.deviation` writes them (kind, trigger,
  from_state, from_level, detail); the event happened anyway;
* ``payload["set"]``: plain fields it changed (assignee, team, priority);
* ``payload["annotation"]`` True: it changed nothing (kept as a note);
  ``payload["unmapped"]`` True: no rule with conditions matched its values;
* ``payload["activity"]``, ``payload["position"]`` (in the file, within the
  case) and ``payload["attributes"]`` (the source attributes but the time).

Imported events carry no clock changes and arm no timers: a backtest
computes clocks from the times above under the policy it tries. Replay folds
them with :func:`states.import_fold.fold_imported`, so the stored case row
is exactly the replay (``tierflow replay --verify`` passes).

Nothing is sent: each escalation's notice to the level taking over is stored
with status ``suppressed`` (due when it would have gone out). Every event
has an idempotency key made of the file's digest, the case id and the
event's position, so importing the same file again writes nothing; a case
id already held by a case from another source is reported, not overwritten.
The log is read as it is written: a batch of cases is read, planned, sealed
and written in one transaction (a batch is written whole or not at all, with
the driver's executemany), then the next, so memory holds one batch whatever
the log's size (a CSV file, whose rows may come in any order, is grouped whole
first). A case id that comes again in a later trace of the same file is merged
with the first while that one is still in the batch being read, and else left
out and counted (``rejected``).
"""

from __future__ import annotations

import gc
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy import Engine as SAEngine
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from states.bulk import BulkStatements, run_rows
from states.case import CASE_COLUMNS, CaseSnapshot
from states.errors import InvalidInput, StoreError
from states.import_aside import ReaderAside
from states.import_plan import CasePlan, Planner, Source, Tally
from states.import_read import LogReader, SourceCase, csv_header, detect_format, file_digest
from states.import_rows import EventRows
from states.mapping import Mapping
from states.outbox import NOTIFICATION, notification_row
from states.policy import Policy
from states.process import ProcessDefinition
from states.store import CASE, EVENT, register_versions, write_transaction

BATCH_CASES = 1000
ASIDE_BYTES = 1 << 20  # a second process costs ~0.1 s CPU to start
SUPPRESSED = "suppressed"
REPEATED = "case id repeated later in the file"


@dataclass(slots=True)
class ImportReport:
    file: str
    digest: str
    mapping: str
    cases: int = 0  # cases in the file
    imported: int = 0  # cases written now
    unchanged: int = 0  # cases this file had already imported
    conflicts: dict[str, int] = field(default_factory=dict)  # ref -> case holding it
    source_events: int = 0  # events in the file
    events: int = 0  # imported events written now (opened events not counted)
    annotations: int = 0
    deviations: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    unmapped: Counter[str] = field(default_factory=Counter)
    unmapped_values: Counter[str] = field(default_factory=Counter)
    suppressed: int = 0  # notifications recorded as suppressed
    read_seconds: float = 0.0
    write_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            name: dict(value.most_common()) if isinstance(value, Counter) else value
            for name in self.__dataclass_fields__
            if (value := getattr(self, name)) is not None
        }


@dataclass(frozen=True, slots=True)
class LogFile:
    """A log to import: where it is, its format, its size as stored and its identity
    (the digest); nothing of it is parsed yet."""

    path: Path
    format: str
    size: int
    source: Source


def open_log(path: str | Path, mapping: Mapping) -> LogFile:
    """The log at `path` (its format from the mapping or the file name), digested."""
    path = Path(path)
    fmt = detect_format(path, mapping.format)
    digest = file_digest(path)
    if fmt == "csv":
        _check_columns(path, mapping)
    return LogFile(path, fmt, path.stat().st_size, Source(path.name, digest, mapping))


def _check_columns(path: Path, mapping: Mapping) -> None:
    """Every column the mapping names is in the CSV file's header: one it lacks read as
    absent on every row (a customer `unknown`, every priority the default), silently."""
    header = set(csv_header(path, mapping.delimiter))
    named = {
        "source.case_id": mapping.case_id,
        **{f"source.activity[{i}]": name for i, name in enumerate(mapping.activity)},
        "source.timestamp": mapping.timestamp,
        "source.resource": mapping.resource,
        "source.team": mapping.team,
        "source.customer_id": mapping.customer_id,
        "source.subject": mapping.subject,
        "source.priority": mapping.priority,
    }
    missing = [f"{key} = {name!r}" for key, name in named.items() if name and name not in header]
    if missing:
        found = ", ".join(sorted(header)) or "no header"
        raise InvalidInput("mapping", "; ".join(missing), f"columns of the CSV file ({found})")


def write_log(
    db: SAEngine,
    log: LogFile,
    definition: ProcessDefinition,
    policy: Policy,
    progress: Callable[[int], None] | None = None,
    batch_cases: int = BATCH_CASES,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    aside: bool | None = None,
) -> ImportReport:
    """Read and write `log`'s cases, a batch of `batch_cases` per transaction; `progress`
    is told how many bytes of the file (as stored) each batch took. `aside`: read the
    log in a second process (:mod:`states.import_aside`); by default when the machine
    has more than one CPU and the file is large enough (`ASIDE_BYTES`) to be worth one."""
    source = log.source
    report = ImportReport(log.path.name, source.digest, source.mapping.version_id)
    writer = _Writer(db, definition, policy, Planner(definition, policy, source))
    if aside is None:
        aside = (os.cpu_count() or 1) > 1 and log.size >= ASIDE_BYTES
    reader = (ReaderAside if aside else LogReader)(
        log.path, log.format, source.mapping.case_id, source.mapping.delimiter
    )
    started = time.perf_counter()
    done = 0
    with _no_cycle_collection():
        for batch in _batches(reader, batch_cases, report):
            # recorded to the whole second, as the engine records its events
            writer.write_batch(batch, report, now().replace(microsecond=0))
            if progress is not None:
                progress(reader.position - done)
                done = reader.position
    report.write_seconds = time.perf_counter() - started - report.read_seconds
    return report


def import_log(
    db: SAEngine,
    path: str | Path,
    mapping: Mapping,
    definition: ProcessDefinition,
    policy: Policy,
    batch_cases: int = BATCH_CASES,
) -> ImportReport:
    """Read and write the log at `path` with `mapping`; see the module docstring."""
    return write_log(db, open_log(path, mapping), definition, policy, batch_cases=batch_cases)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while a log is imported, as it was before after.

    An import makes some ten container objects an event (the source attributes, the
    event, its payload, the rows), all freed by reference counting when their batch
    is written: there is no cycle to find. But the collector counts them, and every
    few batches scans the whole heap for cycles (a tenth of the import's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _batches(reader: LogReader, size: int, report: ImportReport) -> Iterator[list[SourceCase]]:
    """The reader's cases, `size` at a time, counted in `report` (with the time reading
    took); a case id seen again is merged or left out (see the module docstring)."""
    batch: dict[str, SourceCase] = {}
    written: set[str] = set()
    cases = iter(reader)
    while True:
        started = time.perf_counter()
        case = next(cases, None)
        report.read_seconds += time.perf_counter() - started
        if case is not None:
            report.source_events += len(case.events)
            held = batch.get(case.ref)
            if held is not None:
                held.events.extend(case.events)
            elif case.ref in written:
                report.rejected[REPEATED] += len(case.events)
            else:
                batch[case.ref] = case
                report.cases += 1
        if batch and (case is None or len(batch) >= size):
            yield list(batch.values())
            written.update(batch)
            batch = {}
        if case is None:
            return


class _Writer:
    def __init__(
        self, db: SAEngine, definition: ProcessDefinition, policy: Policy, planner: Planner
    ) -> None:
        self.db = db
        self.definition = definition
        self.policy = policy
        self.planner = planner
        columns = tuple(name for name in CASE_COLUMNS if name != "id")
        self.bulk = BulkStatements(db.dialect, columns)
        self.events = EventRows(db.dialect)
        self.registered = False

    def write_batch(self, batch: list[SourceCase], report: ImportReport, at: datetime) -> None:
        """Plan and write `batch` in one transaction (all of it or none)."""
        tally = ImportReport(report.file, report.digest, report.mapping)
        try:
            self._write(batch, tally, at)
        except SAIntegrityError as exc:
            raise StoreError(
                f"write refused by the database: {' '.join(str(exc.orig).split())} "
                "(a database from an older release? `tierflow init` upgrades it)"
            ) from None
        _add(report, tally)

    def _write(self, batch: list[SourceCase], tally: ImportReport, at: datetime) -> None:
        with write_transaction(self.db) as conn:
            fresh = self._fresh(conn, batch, tally)
            planned = Tally()
            plans = [p for case in fresh if (p := self.planner.plan(case, planned, at)) is not None]
            # the versions the cases run under, with the first of them: an import that
            # writes no case (all refused, or imported before) writes nothing at all
            registering = bool(plans) and not self.registered
            if registering:
                register_versions(conn, self.definition, self.policy, at)
            ids = _allocate_ids(conn, len(plans))
            cases, events, notices = [], [], []
            for case_id, plan in zip(ids, plans, strict=True):
                events.extend(self.events.sealed(plan, case_id, at))
                cases.append(_case_row(_sealed(plan, case_id)))
                notices.extend(replace(n, case_id=case_id) for n in plan.notices)
            self.bulk.insert_rows(conn, CASE, cases)
            if events:
                run_rows(conn, self.events.sql, events)
            rows = [notification_row(n, at) | {"status": SUPPRESSED} for n in notices]
            self.bulk.insert_rows(conn, NOTIFICATION, rows, unless_exists="dedupe_key")
        self.registered = self.registered or registering
        tally.imported = len(plans)
        tally.suppressed = len(notices)
        tally.events, tally.annotations = planned.events, planned.annotations
        for name in ("deviations", "rejected", "unmapped", "unmapped_values"):
            getattr(tally, name).update(getattr(planned, name))

    def _fresh(
        self, conn: Connection, batch: list[SourceCase], tally: ImportReport
    ) -> list[SourceCase]:
        """The cases of `batch` not imported yet; those this file imported before count as
        unchanged, those whose id another case holds as conflicts."""
        source = self.planner.source
        fresh = []
        named = [case for case in batch if case.ref]
        tally.rejected["case without an id"] += len(batch) - len(named)
        held = dict(
            conn.execute(
                select(CASE.c.external_ref, CASE.c.id).where(
                    CASE.c.external_ref.in_([case.ref for case in named])
                )
            ).all()
        )
        keys = {source.key(case.ref, "case") for case in named if case.ref in held}
        mine = (
            set(
                conn.execute(
                    select(EVENT.c.idempotency_key).where(EVENT.c.idempotency_key.in_(keys))
                ).scalars()
            )
            if keys
            else set()
        )
        for case in named:
            if case.ref not in held:
                fresh.append(case)
            elif source.key(case.ref, "case") in mine:
                tally.unchanged += 1
            else:
                tally.conflicts[case.ref] = held[case.ref]
        if not tally.rejected["case without an id"]:
            del tally.rejected["case without an id"]
        return fresh


def _sealed(plan: CasePlan, case_id: int) -> CaseSnapshot:
    """The planner's fold of the case, with what sealing decided: the case id, the chain's
    head and the version (one command per event: the count of events, as `fold` says)."""
    snap = plan.snapshot
    assert snap is not None
    last = plan.events[-1]
    snap.id, snap.last_seq, snap.last_hash = case_id, last.seq, last.hash
    snap.version = len(plan.events)
    return snap


def _case_row(snap: Any) -> dict[str, Any]:
    return {name: getattr(snap, name) for name in CASE_COLUMNS}


def _allocate_ids(conn: Connection, count: int) -> list[int]:
    """`count` new case ids, taken inside the write transaction: on SQLite the write lock
    is held (BEGIN IMMEDIATE), so the next ids are free; on PostgreSQL from the sequence."""
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        sql = text(
            "SELECT nextval(pg_get_serial_sequence('\"case\"', 'id')) FROM generate_series(1, :n)"
        )
        return [int(v) for v in conn.execute(sql, {"n": count}).scalars()]
    top = conn.execute(select(CASE.c.id).order_by(CASE.c.id.desc()).limit(1)).scalar()
    start = (top or 0) + 1
    return list(range(start, start + count))


def _add(report: ImportReport, tally: ImportReport) -> None:
    report.imported += tally.imported
    report.unchanged += tally.unchanged
    report.conflicts.update(tally.conflicts)
    report.events += tally.events
    report.annotations += tally.annotations
    report.suppressed += tally.suppressed
    for name in ("deviations", "rejected", "unmapped", "unmapped_values"):
        getattr(report, name).update(getattr(tally, name))
