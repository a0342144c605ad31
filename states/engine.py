"""The engine: the one way cases change.

``apply(command)`` and ``apply_many(commands)`` validate, run the process
machine, fold the new events into the case projection and write both in one
transaction. Guarantees callers rely on:

* all or nothing: a batch that fails anywhere writes nothing
  (:class:`BatchFailed` names the command);
* optimistic concurrency: the case row is updated only if its version is the
  one read; a command with ``expected_version`` fails with
  :class:`ConcurrencyConflict` on mismatch, one without is retried on a
  fresh read, so two writers never both win;
* idempotency: a command whose ``idempotency_key`` was applied before returns
  the first result (``replayed=True``) and writes nothing;
* history never runs backwards: a command dated earlier than its case's last
  event is refused (:class:`OutOfOrder`; a batch, whole); a timer fired by a
  sweep behind the case's last event is dated at that event;
* every event carries when it happened (``occurred_at``: the time given, else
  the engine's clock) and when it was recorded (``recorded_at``: the clock,
  read once per transaction), both to the whole second and sealed into its hash.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy import Engine as SAEngine
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from states.batch import UPDATE_COLUMNS, Retry, Work, first_case, new_command_id, survey
from states.bulk import BulkStatements
from states.cache import SnapshotCache
from states.case import CaseSnapshot
from states.commands import Command, OpenCase, Update, fingerprint
from states.decide import Decider
from states.decision import Decision
from states.dimensions import stamp
from states.errors import (
    BatchFailed,
    CaseNotFound,
    CommandError,
    ConcurrencyConflict,
    ConnectionLost,
    InvalidInput,
    OutOfOrder,
    StoreError,
)
from states.events import GENESIS, evolve, new_snapshot, seal
from states.firing import TimerFiring
from states.instants import as_utc
from states.machine import ProcessMachine
from states.outbox import NOTIFICATION, notification_row
from states.policy import Policy, load_policy
from states.process import ProcessDefinition
from states.results import Result, as_replay, earlier_results
from states.store import (
    CASE,
    HeldConnections,
    register_versions,
    write_transaction,
)
from states.wal_checkpoints import wal_checkpoints


def utcnow() -> datetime:
    return datetime.now(UTC)


class Engine(TimerFiring):
    def __init__(
        self,
        db: SAEngine,
        definition: ProcessDefinition,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = utcnow,
        max_retries: int = 5,
        cache_size: int = 20_000,
        background_checkpoints: bool = True,
    ) -> None:
        self.db = db
        self.definition = definition
        self.machine = ProcessMachine(definition)
        self.policy = policy or load_policy(None, definition)
        self.decider = Decider(self.machine, self.policy)
        self.clock = clock
        self.max_retries = max_retries
        self._bulk = BulkStatements(db.dialect, UPDATE_COLUMNS)
        self._registered = False
        self._cache = SnapshotCache(cache_size)
        self._one_writer = db.dialect.name == "sqlite"
        #: the connection each thread's write transactions run on (SQLite; see HeldConnections)
        self.connections = HeldConnections(db)
        #: the thread that folds a SQLite file's log in (states.wal_checkpoints), if any
        self.checkpoints = wal_checkpoints(db) if background_checkpoints else None

    def close(self) -> None:
        """Stop the checkpoint thread and release the connections this engine keeps
        (it starts and opens them again if used again)."""
        if self.checkpoints is not None:
            self.checkpoints.close()
        self.connections.close()

    def apply(self, command: Command, now: datetime | None = None) -> Result:
        """`apply_many` of one command (without its copy of the batch: the hot path)."""
        at = self._now(now)
        return self._timed([command], [at], None if now else at)[0]

    def apply_many(self, commands: Sequence[Command], now: datetime | None = None) -> list[Result]:
        """Apply `commands` in order, in one transaction; returns one Result per command.

        `now` is when they happened (default: the clock, which is then also when
        they were recorded); it may not be earlier than a case's last event."""
        at = self._now(now)
        batch = list(commands)
        return self._timed(batch, [at] * len(batch), None if now else at)

    def apply_timed(self, items: Sequence[tuple[Command, datetime]]) -> list[Result]:
        """Like `apply_many`, each command with its own time (imports, demo data, timers)."""
        return self._timed(
            [command for command, _ in items], [self._now(at) for _, at in items], None
        )

    def _timed(
        self, commands: list[Command], times: list[datetime], recorded_at: datetime | None
    ) -> list[Result]:
        """Apply `commands`, the i-th at `times[i]`, in one transaction (retried)."""
        if not commands:
            return []
        case_ids, pinned, keyed = survey(commands)
        trust = self._one_writer and not pinned
        return self._transaction(
            lambda conn: self._apply_batch(
                conn, commands, times, recorded_at, case_ids, keyed, trust
            ),
            pinned,
            commands,
        )

    def _transaction(
        self,
        body: Callable[[Connection], tuple[Any, Work]],
        pinned: bool,
        commands: Sequence[Command],
    ) -> Any:
        """Run `body` in a write transaction, retrying lost optimistic races (and, once, a
        transaction whose connection was found dead before its commit). A conflict names
        the first case `commands` act on (looked up only then)."""
        lost = False
        for attempt in range(self.max_retries + 1):
            try:
                with write_transaction(self.db, self.connections) as conn:
                    outcome, work = body(conn)
                self._registered = True
                self._cache.put_all(work.snapshots.values())
                if self.checkpoints is not None:
                    self.checkpoints.committed(len(work.events) or 1)
                return outcome
            except Retry:
                if pinned or attempt == self.max_retries:
                    raise ConcurrencyConflict(first_case(commands), None, None) from None
            except SAIntegrityError as exc:
                if attempt == self.max_retries:
                    raise StoreError(f"write refused by the database: {exc.orig}") from None
            except ConnectionLost:
                if lost:  # once: a second loss in a row is an outage, not a stale connection
                    raise
                lost = True
        raise AssertionError("unreachable")

    def _now(self, now: datetime | None) -> datetime:
        """`now` (else the clock) in UTC, to the whole second: SLA clocks count whole
        seconds (their states, deadlines and timers are kept to the second), so the
        instants they are measured from are too; a deadline, a breach and the event
        that met or missed it then agree exactly, as an auditor reads them."""
        at = as_utc("now", self.clock() if now is None else now)
        return at.replace(microsecond=0) if at.microsecond else at

    def _apply_batch(
        self,
        conn: Connection,
        commands: list[Command],
        times: list[datetime],
        recorded_at: datetime | None,
        case_ids: set[int],
        keyed: bool,
        trust: bool = False,
    ) -> tuple[list[Result], Work]:
        """`commands` in one transaction (`case_ids` and `keyed`: `states.batch.survey`)."""
        if not self._registered:
            self._register(conn, times[0])
        work = Work(recorded_at or self._now(None))
        work.snapshots = self._load(conn, case_ids, work, trust)
        # after the case locks, see _load
        earlier = earlier_results(conn, commands) if keyed else {}
        work.remember_read(self._bulk.values_of)
        results: list[Result] = []
        seen_keys: dict[str, Result] = {}
        for index, command in enumerate(commands):
            key = command.idempotency_key
            if key is not None and (key in earlier or key in seen_keys):
                results.append(earlier.get(key) or as_replay(seen_keys[key]))
                continue
            try:
                result = self._apply_one(conn, work, command, times[index])
            except CommandError as exc:
                if work.unchecked and self._stale(conn, work):
                    raise Retry() from None  # decided on an old snapshot: again, on a fresh one
                if len(commands) == 1:
                    raise
                raise BatchFailed(index, exc) from exc
            if key is not None:
                seen_keys[key] = result
            results.append(result)
        self._write(conn, work)
        return results, work

    def _apply_one(self, conn: Connection, work: Work, command: Command, now: datetime) -> Result:
        if isinstance(command, OpenCase):
            if command.external_ref is not None:
                self._check_reference_is_free(conn, command.external_ref)
            decision = self.decider.open(command, now, self._recent_cases(conn, command, now))
            snap = decision.opened or new_snapshot(decision.events[0])
            snap.version, snap.last_seq, snap.last_hash = 0, 0, GENESIS
            snap.id = self._bulk.insert_case(conn, snap)
            work.snapshots[snap.id] = snap
            work.read_version[snap.id] = 0
            work.read_values[snap.id] = self._bulk.values_of(snap)
        else:
            snap = work.snapshots.get(command.case_id)
            if snap is None:
                raise CaseNotFound(command.case_id)
            if command.expected_version is not None and command.expected_version != snap.version:
                raise ConcurrencyConflict(command.case_id, command.expected_version, snap.version)
            if now < snap.updated_at:  # the time of the case's last event
                # `now` is the clock's when the batch is recorded at it (the same instant)
                raise OutOfOrder(command.case_id, now, snap.updated_at, now is work.recorded_at)
            if isinstance(command, Update):
                decision = self.decider.update(snap, command, now, None)
            else:
                decision = self.decider.act(snap, command, now)
        command_hash = fingerprint(command) if command.idempotency_key else None
        self._record(work, snap, decision, now, command_hash, command.idempotency_key)
        return Result(snap.id, snap.version, snap.state, snap.level, decision.events)  # type: ignore[arg-type]

    def _record(
        self,
        work: Work,
        snap: CaseSnapshot,
        decision: Decision,
        now: datetime,
        command_hash: str | None = None,
        key: str | None = None,
    ) -> None:
        """Seal `decision`'s events onto `snap`'s chain, fold them in, queue their writes."""
        events = decision.events
        command_id = new_command_id()
        recorded_at = work.recorded_at
        for event in events:
            event.command_id = command_id
            event.command_hash = command_hash
            event.recorded_at = recorded_at
        first = events[0]
        first.idempotency_key = key
        seal(events, snap.id, snap.last_seq, snap.last_hash)  # type: ignore[arg-type]
        timers = work.timers
        folded = events
        if first.type == "opened":  # the snapshot was built from the opened event already
            snap.last_seq, snap.last_hash = first.seq, first.hash
            timers.record(first, {}, now)
            stamp(first, snap)
            folded = events[1:]
        for event in folded:
            evolve(snap, event, timers.record(event, snap.clocks, now))
            stamp(event, snap)
        snap.version += 1
        work.events.extend(events)
        for notice in decision.notifications:
            work.notifications.append(
                notice if notice.case_id else replace(notice, case_id=snap.id)
            )

    def _check_reference_is_free(self, conn: Connection, reference: str) -> None:
        """A case's reference elsewhere names one case (the column is unique too)."""
        holder = conn.execute(
            select(CASE.c.id).where(CASE.c.external_ref == reference)
        ).scalar_one_or_none()
        if holder is not None:
            raise InvalidInput(
                "external_ref", reference, f"a reference no other case has (case {holder} has it)"
            )

    def _recent_cases(self, conn: Connection, command: OpenCase, now: datetime) -> int | None:
        """This customer's cases opened within the repeat-customer window, this one included."""
        point = self.policy.points.repeat_customer
        if not point.enabled:
            return None
        customer = command.customer_id.strip()
        return self._bulk.count_opened(conn, customer, now - point.within, now) + 1

    def _load(
        self, conn: Connection, case_ids: set[int], work: Work, trust: bool = False
    ) -> dict[int, CaseSnapshot]:
        """Snapshots of `case_ids`: cached ones whose version is still current, others read.

        With `trust` (SQLite, whose ``BEGIN IMMEDIATE`` admits one writer at a time, and
        no expected version to compare), cached snapshots are taken without reading their
        version: a snapshot another process has since moved on fails the write (its next
        sequence number is taken, its version no longer matches) or, refused, is checked
        before the refusal is reported (:meth:`_stale`); the retry reads the case afresh.
        The read it saves was a tenth of a command's time."""
        if not case_ids:
            return {}
        if trust:
            found = self._cache.take(case_ids)
            work.unchecked = set(found)
            wanted: Collection[int] = case_ids
        else:
            current = self._bulk.versions(conn, case_ids)
            found = self._cache.take_current(current)
            wanted = current  # the cases that exist
        if len(found) < len(wanted):  # not all cached
            missing = [cid for cid in wanted if cid not in found]
            found.update(self._bulk.load_cases(conn, missing))
        return found

    def _stale(self, conn: Connection, work: Work) -> bool:
        """Whether a case taken unchecked from the cache has a newer version stored."""
        stored = self._bulk.versions(conn, work.unchecked)
        return any(stored.get(cid) != work.read_version[cid] for cid in work.unchecked)

    def _write(self, conn: Connection, work: Work) -> None:
        if work.events:
            self._bulk.insert_events(conn, work.events)
        read_version, read_values = work.read_version, work.read_values
        touched: list[CaseSnapshot] = []
        versions: list[int] = []
        before: list[tuple[Any, ...]] = []
        for case_id, snap in work.snapshots.items():
            version = read_version[case_id]
            if snap.version != version:
                touched.append(snap)
                versions.append(version)
                before.append(read_values[case_id])
        if not touched:
            return
        if self._bulk.update_cases(conn, touched, versions, before) != len(touched):
            raise Retry()
        work.timers.write(conn, self._bulk)
        if work.notifications:
            rows = [notification_row(notice, work.recorded_at) for notice in work.notifications]
            self._bulk.insert_rows(conn, NOTIFICATION, rows, unless_exists="dedupe_key")

    def _register(self, conn: Connection, now: datetime) -> None:
        register_versions(conn, self.definition, self.policy, now)
