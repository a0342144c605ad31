"""Play a planned case through tierflow's own decisions, without a database: the rows the
engine and the timer sweep would have written for it.

Each command goes through :class:`states.decide.Decider` (the engine's pure decision:
guards, escalation points, clock changes, notices), its events are sealed by
:func:`states.events.seal` (hash chain, current format) and folded by
:func:`states.events.evolve` into the case, exactly as the engine does; so the case
row is the fold of its events and ``tierflow audit verify`` passes on it. The clock
changes each event carries arm and cancel timers (:func:`states.clock_effects.timers_for`, as
:class:`states.timers.TimerWrites` records them) and close clock-ledger segments; a
timer due before the case's next step fires through ``Decider.timer`` a few seconds
after it is due, as a sweep running every minute fires it (warnings, breaches, missed
acknowledgements moving the case up). Whoever holds an escalated case acknowledges it
after a delay drawn from the log (:meth:`benchmarks.fixture_plan.Desk.acknowledgement`).

Not written: notifications (the outbox), flow-run log rows. Timer ids are
``case id * 128 + n`` (the events that fired them name them), so they are unique but
follow the cases, not the order timers were armed in.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from benchmarks.fixture_plan import CasePlan, Desk, Step, act, person
from states.case import CASE_COLUMNS, FIELD_NAMES, CaseSnapshot
from states.clock_effects import replaces_timers, timers_for
from states.commands import Update
from states.decide import Decider
from states.decision import Decision, DueTimer
from states.dimensions import COLUMNS, derived
from states.errors import CommandError
from states.events import GENESIS, Event, apply_change, evolve, new_snapshot, seal
from states.machine import ProcessMachine
from states.policy import Policy
from states.process import ProcessDefinition

TIMERS_PER_CASE = 128
SWEEPER = "sweep-fixture"
EVENT_COLUMNS = (
    "occurred_at",  # first: the writer sorts events by it
    "case_id",
    "seq",
    "type",
    "recorded_at",
    "actor",
    "from_state",
    "to_state",
    "from_level",
    "to_level",
    "payload",
    "command_id",
    "idempotency_key",
    "command_hash",
    "format",
    "prev_hash",
    "hash",
    *COLUMNS,
)
TIMER_COLUMNS = (
    "id",
    "case_id",
    "clock",
    "kind",
    "generation",
    "due_at",
    "status",
    "claimed_by",
    "claimed_at",
    "fired_at",
    "created_at",
)
SEGMENT_COLUMNS = (
    "case_id",
    "clock",
    "generation",
    "status",
    "started_at",
    "ended_at",
    "business_seconds",
    "calendar",
    "began_because",
    "ended_because",
    "seq",
)
_STAMPED = frozenset(n for n in FIELD_NAMES if n.endswith("_at"))
_DOCUMENTS = frozenset(("flags", "clocks", "extra"))


def stamp(at: datetime) -> str:
    """An instant as tierflow stores it on SQLite (states.tables.UTCDateTime)."""
    return at.isoformat(timespec="microseconds")


def stamp_seconds(text: str) -> str:
    """A clock's instant (``…T09:00:00+00:00``, see states.clocks.iso) as stored."""
    return f"{text[:19]}.000000{text[19:]}"


@dataclass(slots=True)
class Rows:
    """Rows for the case, case_event, timer and clock_segment tables (their columns:
    CASE_COLUMNS, EVENT_COLUMNS, TIMER_COLUMNS, SEGMENT_COLUMNS)."""

    cases: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    timers: list[list[Any]] = field(default_factory=list)
    segments: list[tuple[Any, ...]] = field(default_factory=list)
    # For a case played as a template (benchmarks.fixture_clone): when each timer was
    # cancelled, and after each command (its instant, the last seq) the case row.
    cancelled: dict[int, str] = field(default_factory=dict)
    marks: list[tuple[str, int, tuple[Any, ...]]] | None = None


class Player:
    """Plays cases up to `now`, appending their rows to `rows`."""

    def __init__(
        self, process: ProcessDefinition, policy: Policy, now: datetime, rng: random.Random
    ) -> None:
        self.decider = Decider(ProcessMachine(process), policy)
        self.now, self.rng = now, rng

    def play(self, case_id: int, plan: CasePlan, desk: Desk, rows: Rows) -> int:
        """Play one case up to now; returns how many events it has."""
        game = _Game(self, case_id, desk, rows)
        game.run(plan)
        return game.snap.last_seq


def _overtaken(snap: CaseSnapshot, step: Step) -> bool:
    """Whether the case moved past the level that planned `step` (as states.demo skips
    such steps): an escalation or acknowledgement planned for a level it has left, a
    first-level escalation of a case an intake point or a timer already escalated."""
    if isinstance(step.act, Update):
        return False  # a customer writes whatever happened
    trigger = step.act.trigger
    if trigger == "acknowledge":
        return snap.level != step.planner or snap.acknowledged is not False
    if trigger != "escalate":
        return False
    if step.planner is None:
        return snap.state == "escalated"
    return snap.level != step.planner


class _Game:
    """One case being played: its snapshot, its planned steps and armed timers, its rows."""

    def __init__(self, player: Player, case_id: int, desk: Desk, rows: Rows) -> None:
        self.player, self.decider, self.case_id = player, player.decider, case_id
        self.desk, self.rows = desk, rows
        self.snap: CaseSnapshot = None  # type: ignore[assignment]  # set by the opening
        self.commands = 0
        self.last_at: datetime = datetime.min.replace(tzinfo=UTC)
        self.order = 0  # ties in the queue: the step planned first goes first
        self.queue: list[tuple[datetime, int, Step]] = []
        self.pending: list[tuple[datetime, int, str, str, int]] = []  # due, id, clock, kind, gen
        self.timers: dict[int, list[Any]] = {}

    def run(self, plan: CasePlan) -> None:
        """Steps and due timers in time order, up to now; then the case row."""
        now = self.player.now
        self.queue = [(step.at, n, step) for n, step in enumerate(plan.steps)]
        self.order = len(self.queue)
        self.decide(lambda: self.decider.open(plan.intake, plan.opened_at, 0), plan.opened_at)
        while True:
            step_at = self.queue[0][0] if self.queue else None
            timer_at = self._next_fire() if self.pending else None
            if timer_at is not None and timer_at <= now and (step_at is None or timer_at < step_at):
                self._fire(timer_at)
            elif step_at is not None and step_at <= now:
                _, _, step = heapq.heappop(self.queue)
                if not _overtaken(self.snap, step):
                    self.decide(lambda s=step: self._command(s), step.at)
            else:
                break
        self.finish()

    def decide(self, decision: Any, at: datetime) -> None:
        """Apply one decision (a thunk: it may be refused); a case that reached a new
        level waits for that level's acknowledgement."""
        level = self.snap.level if self.snap else None
        try:
            events = decision().events
        except CommandError:
            return  # a step the case moved past (a reopen out of its window)
        self.commit(events, at)
        snap = self.snap
        if snap.level != level and snap.state == "escalated" and snap.acknowledged is False:
            later = self.queue[0][0] if self.queue else None
            when = self.desk.acknowledgement(at, later)
            if when is not None:
                holder = person(snap.level, self.desk.rng)
                step = Step(when, act("acknowledge", holder, assignee=holder), snap.level)
                self.order += 1
                heapq.heappush(self.queue, (when, self.order, step))

    def _command(self, step: Step) -> Decision:
        if isinstance(step.act, Update):
            return self.decider.update(self.snap, step.act, step.at, 0)
        return self.decider.act(self.snap, step.act, step.at)

    def _next_fire(self) -> datetime:
        due, timer_id = self.pending[0][:2]
        return max(due + timedelta(seconds=5 + timer_id % 55), self.last_at)

    def _fire(self, at: datetime) -> None:
        """The sweep fires the next due timer (a minute's sweep: seconds after it is due)."""
        due, timer_id, clock, kind, generation = heapq.heappop(self.pending)
        self.timers[timer_id][6:10] = ["fired", SWEEPER, stamp(at), stamp(at)]
        timer = DueTimer(timer_id, self.case_id, clock, kind, generation, due)
        self.decide(lambda: self.decider.timer(self.snap, timer, at), at)

    def commit(self, events: list[Event], at: datetime) -> None:
        """One command's events: sealed, folded into the case, their clock changes turned
        into timers and ledger segments."""
        if not events:
            return
        self.commands += 1
        command_id = f"{int(at.timestamp() * 1e9):016x}{self.player.rng.getrandbits(64):016x}"
        when = stamp(at)
        for event in events:
            event.command_id, event.recorded_at = command_id, at
        snap = self.snap
        seal(
            events, self.case_id, snap.last_seq if snap else 0, snap.last_hash if snap else GENESIS
        )
        for event in events:
            clocks = snap.clocks if snap else {}
            if snap is None:
                snap = self.snap = new_snapshot(event)
            else:
                evolve(snap, event)
            self._timers(event, clocks, when)
            self.rows.events.append(
                (
                    when,
                    self.case_id,
                    event.seq,
                    event.type,
                    when,
                    event.actor,
                    event.from_state,
                    event.to_state,
                    event.from_level,
                    event.to_level,
                    event.payload_text,
                    command_id,
                    None,
                    None,
                    event.format,
                    event.prev_hash,
                    event.hash,
                    *derived(event, snap),
                )
            )
        self.last_at = at
        if self.rows.marks is not None:
            self.rows.marks.append((when, snap.last_seq, self._row()))

    def _timers(self, event: Event, clocks: dict[str, Any], when: str) -> None:
        current = clocks
        for change in event.payload.get("clocks") or ():
            name = change["clock"]
            state = apply_change(current, change)
            current = {**current, name: state}
            if replaces_timers(change):
                self._cancel(name, when)
            for kind, due in timers_for(change, state):
                self._arm(name, kind, event.seq, due, when)
            segment = change.get("segment")
            if segment:
                self.rows.segments.append(
                    (
                        self.case_id,
                        name,
                        segment["generation"],
                        segment["status"],
                        stamp_seconds(segment["started_at"]),
                        stamp_seconds(segment["ended_at"]),
                        segment["business_seconds"],
                        segment["calendar"],
                        segment["began_because"],
                        segment["ended_because"],
                        event.seq,
                    )
                )

    def _arm(self, clock: str, kind: str, generation: int, due: str, when: str) -> None:
        number = len(self.timers)
        if number >= TIMERS_PER_CASE:
            raise RuntimeError(f"case {self.case_id}: more than {TIMERS_PER_CASE} timers")
        timer_id = self.case_id * TIMERS_PER_CASE + number
        row = [timer_id, self.case_id, clock, kind, generation, stamp_seconds(due), "pending"]
        self.timers[timer_id] = [*row, None, None, None, when]
        entry = (datetime.fromisoformat(due), timer_id, clock, kind, generation)
        heapq.heappush(self.pending, entry)

    def _cancel(self, clock: str, when: str) -> None:
        kept = []
        for entry in self.pending:
            if entry[2] == clock:
                self.timers[entry[1]][6] = "cancelled"
                self.rows.cancelled[entry[1]] = when
            else:
                kept.append(entry)
        if len(kept) != len(self.pending):
            heapq.heapify(kept)
            self.pending = kept

    def finish(self) -> None:
        """The case row as its events leave it, and its timers."""
        self.rows.cases.append(self._row())
        self.rows.timers.extend(self.timers.values())

    def _row(self) -> tuple[Any, ...]:
        snap = self.snap
        snap.version = self.commands
        return tuple(_stored(name, getattr(snap, name)) for name in CASE_COLUMNS)


def _stored(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _STAMPED:
        return stamp(value)
    if name in _DOCUMENTS:
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return int(value)
    return value
