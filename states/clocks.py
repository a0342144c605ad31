"""SLA clocks: when each clock starts, pauses, resumes and stops, in business time.

A clock's whole state lives in the case projection (``case.clocks[name]``)
as plain JSON, and every change is written *into the event that caused it*
(``payload["clocks"]``: the whole state when a clock starts, then the fields
that moved): replay needs no policy, and an auditor reads in the
history itself each deadline, the target and calendar it came from, and the
intervals behind it. The engine turns the changes into durable timers and
clock-ledger rows in the same transaction.

Clocks (keys of the policy's ``[targets]``):

=============== ============================== =====================================
clock           runs                           stops
=============== ============================== =====================================
first_response  from opening                   assign, escalate, resolve
resolution      from opening                   resolve; reopen continues or restarts
acknowledge     from each escalation, per level acknowledge, next escalation, resolve
escalation      from the first escalation      resolve, de_escalate
follow_up       from resolution (working days) follow_up, reopen
=============== ============================== =====================================

A first response given by resolving (first-contact resolution) and an
acknowledgement a level never gave because it resolved the case read ``met by
resolution``; a follow-up carried out after its due date reads ``done late``.

While the case waits on its customer, the clocks the policy lists in
``[wait_on_customer] pauses`` (by default resolution and escalation) stop
counting, and their deadlines move by exactly the paused business time. A
deadline is the first instant the target is reached, so a wait cannot move a
deadline already reached: a clock that has used up its target (it is *spent*)
keeps its deadline and its pending breach through the pause, and its breach
fires on time while the case waits. A spent clock that stops keeps the deadline it
reached too: a reopen that continues the resolution clock (``[reopen] clocks =
"continue"``) finds it there, and arms nothing new for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from states.case import CaseSnapshot
from states.clock_effects import outcome
from states.clock_state import (
    MISSING,
    Arming,
    describe,
    is_spent,
    keep_deadline,
    left_to_arm,
    recorded_change,
)
from states.events import Event
from states.policy import Policy, Target
from states.time_texts import utc_seconds_text

CLOCKS: tuple[str, ...] = ("first_response", "acknowledge", "resolution", "escalation", "follow_up")
#: The clocks with a target to meet, the ones breached or at risk: the follow-up is a task
#: falling due (its timer reminds, it never breaches), not a target to miss.
TARGET_CLOCKS: tuple[str, ...] = tuple(clock for clock in CLOCKS if clock != "follow_up")
ACTIVE = ("running", "paused")
_TARGETS_KEPT = 4096

_STOPS = {
    "assign": ("first_response",),
    "escalate": ("first_response", "acknowledge"),
    "acknowledge": ("acknowledge",),
    "de_escalate": ("acknowledge", "escalation"),
    "resolve": ("first_response", "acknowledge", "resolution", "escalation"),
    "follow_up": ("follow_up",),
    "reopen": ("follow_up",),
}
_MOVING = ("opened", "escalate", "resolve", "reopen", "wait_on_customer", "customer_replied")
"""Events that start, pause or resume clocks (besides the ones they stop: `_STOPS`)."""


def iso(at: datetime) -> str:
    """`at` to the second in ISO 8601, as clock states, ledger rows and timers store it.

    ``isoformat`` takes some 12,000 instructions (its generic formatting): a UTC
    datetime, what the engine and the calendars hand over, is put together from its
    date's ISO text and two-digit fields instead (:func:`utc_seconds_text`), the same
    text for a third of the cost. Nothing is remembered: `ClockPlanner.changes` writes
    a command's own time once, and the deadlines it writes are new instants, whose
    hash alone (for a memo) costs most of what their text does."""
    if at.__class__ is datetime and at.tzinfo is UTC:
        return utc_seconds_text(at)
    return at.isoformat(timespec="seconds")


def is_active(state: dict[str, Any] | None) -> bool:
    return state is not None and state["status"] in ACTIVE


class ClockPlanner:
    """Computes clock changes for events, given the policy the case runs under."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.timed = bool(policy.targets) or policy.follow_up_days is not None
        # The policy never changes: its answer for a kind of case is looked up once,
        # with what a starting clock's state says of it (see `states.clock_state.describe`).
        self._targets: dict[tuple[str | None, ...], _Found | None] = {}

    def changes(
        self, case: CaseSnapshot, event: Event, seq: int, now: datetime
    ) -> list[dict[str, Any]]:
        """The clock changes `event` (about to become event number `seq`) causes on `case`.

        `case` is the snapshot *before* the event, except for ``opened``,
        where it is the new case.
        """
        clocks = case.clocks
        if not clocks and not self.timed:
            return []  # a policy without targets: no clock ever starts
        kind = event.type
        stopping = [name for name in _STOPS.get(kind, ()) if is_active(clocks.get(name))]
        if not stopping and kind not in _MOVING:
            return []
        # every change of the event writes its time: its text is written once, here
        at, reason = iso(now), _reason(event)
        out = [self._stop(name, clocks[name], now, at, reason, event) for name in stopping]
        if kind == "opened":
            out += self._start_all(case, _OPENING, None, seq, now, at, reason)
        elif kind == "escalate":
            starting = ("acknowledge",) if is_active(clocks.get("escalation")) else _ESCALATING
            out += self._start_all(case, starting, event.to_level, seq, now, at, reason)
        elif kind == "resolve":
            out += self._start_all(case, ("follow_up",), None, seq, now, at, reason)
        elif kind == "reopen":
            out += self._reopen(case, seq, now, at, reason)
        elif kind == "wait_on_customer":
            out += [
                self._pause(n, s, now, at, reason)
                for n, s in clocks.items()
                if n in self.policy.paused_while_waiting and s["status"] == "running"
            ]
        elif kind == "customer_replied":
            out += [
                self._resume(n, s, seq, now, at, reason)
                for n, s in clocks.items()
                if s["status"] == "paused"
            ]
        return out

    def mark(self, name: str, state: dict[str, Any], op: str, now: datetime) -> dict[str, Any]:
        """A ``warn``, ``breach`` or ``due`` change: the timer fired; deadlines stay as they are.

        ``due`` is a task falling due (the follow-up), not a missed target: it
        sets ``due_reached``, never ``breached``, so breach counts stay true.
        """
        marked = {
            "warn": {"warned": True, "warn_at": None},
            "breach": {"breached": True, "breached_at": iso(now)},
            "due": {"due_reached": True, "due_reached_at": iso(now)},
        }[op]
        moved = {key: value for key, value in marked.items() if state.get(key, MISSING) != value}
        return {"clock": name, "op": op, "state": moved}  # recorded_change, without diffing

    # -- the operations ------------------------------------------------------------

    def _start_all(
        self,
        case: CaseSnapshot,
        names: tuple[str, ...],
        level: str | None,
        seq: int,
        now: datetime,
        at: str,
        reason: str,
    ) -> list[dict[str, Any]]:
        out = []
        arming: list[tuple[dict[str, Any], Arming]] = []
        for name in names:
            found = self._target(case, name, level)
            if found is None:
                continue
            target, described, sums = found
            previous = case.clocks.get(name)
            # unset fields are left out: the state is stored on every case update
            state: dict[str, Any] = {
                "gen": (previous["gen"] + 1) if previous else 1,
                "status": "running",
                **described,
                "consumed_s": 0,
                "started_at": at,
                "since": at,
                "since_reason": reason,
                "warned": False,
                "breached": False,
            }
            if name == "follow_up":
                state["deadline"] = iso(target.due_at(now))
                state["armed_seq"] = seq
            elif case.waiting and name in self.policy.paused_while_waiting:
                state["status"] = "paused"  # not armed: no deadline, warning or armed_seq
            else:
                arming.append((state, sums))  # nothing consumed or warned yet
            out.append({"clock": name, "op": "start", "state": state})
        if arming:
            self._arm_all(arming, now, seq)
            for state, _ in arming:
                if state["warn_at"] is None:
                    del state["warn_at"]
        return out

    def _target(self, case: CaseSnapshot, name: str, level: str | None) -> _Found | None:
        """`Policy.target` of clock `name` for `case`, its description and the sums that
        arm it at its start, memoised (a refusal is not)."""
        key = (name, case.priority, level, case.customer_tier, case.team, case.channel)
        if key in self._targets:
            return self._targets[key]
        target = self.policy.target(
            name,
            priority=case.priority,
            level=level,
            tier=case.customer_tier,
            team=case.team,
            channel=case.channel,
        )
        if len(self._targets) >= _TARGETS_KEPT:  # teams are free text: keep it bounded
            self._targets.clear()
        if target is None:
            found = None
        else:
            described = describe(target, level)
            sums = left_to_arm(described) if "target_s" in described else None
            found = (target, described, sums)
        self._targets[key] = found
        return found

    def _arm(self, state: dict[str, Any], now: datetime, seq: int) -> None:
        """Deadline (and warning) of a running clock: the remaining target from `now`."""
        self._arm_all([(state, left_to_arm(state))], now, seq)

    def _arm_all(
        self, arming: list[tuple[dict[str, Any], Arming]], now: datetime, seq: int
    ) -> None:
        """Set each state's deadline (and warning): its `left_to_arm` sums added to `now`.

        The clocks an event arms share `now` (and most a calendar), so each calendar
        adds all their sums in one walk over its days (`BusinessCalendar.add_all`).
        """
        wanted: dict[str, list[timedelta]] = {}
        for state, sums in arming:
            wanted.setdefault(state["calendar"], []).extend(sums)
        due = {
            name: self.policy.calendar(name).add_all(now, durations)
            for name, durations in wanted.items()
        }
        for state, sums in arming:
            dues = due[state["calendar"]]
            state["deadline"] = iso(dues[sums[0]])
            state["warn_at"] = iso(dues[sums[1]]) if len(sums) > 1 else None
            state["armed_seq"] = seq

    def _close(
        self, name: str, state: dict[str, Any], now: datetime, at: str, reason: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """End the current interval: the fields that end it (`at`, the text of `now`), in
        the order a copy of `state` would take them, and the ledger segment it leaves."""
        since = datetime.fromisoformat(state["since"])
        counted = 0
        if now > since:
            calendar = self.policy.calendar(state["calendar"])
            counted = int(calendar.elapsed(since, now).total_seconds())
        closed = {  # a literal, not update(**fields): half the instructions
            "consumed_s": state["consumed_s"] + counted,
            "since": at,
            "since_reason": reason,
            "deadline": None,
            "warn_at": None,
            "armed_seq": None,
        }
        if state["status"] != "running":
            del closed["consumed_s"]  # only a running clock consumes its target
        segment = {
            "clock": name,
            "generation": state["gen"],
            "status": state["status"],
            "started_at": state["since"],
            "ended_at": at,
            "business_seconds": counted,
            "calendar": state["calendar"],
            "began_because": state["since_reason"],
            "ended_because": reason,
        }
        return closed, segment

    def _stop(
        self, name: str, state: dict[str, Any], now: datetime, at: str, reason: str, event: Event
    ) -> dict[str, Any]:
        fields, segment = self._close(name, state, now, at, reason)
        consumed = fields["consumed_s"] if "consumed_s" in fields else state["consumed_s"]
        fields["status"] = "stopped"
        fields["outcome"] = outcome(name, state, consumed, event)
        fields["stopped_at"] = at
        if state.get("deadline") and is_spent({**state, **fields}):
            del fields["deadline"]  # the deadline it reached: a reopen that continues keeps it
        return recorded_change(name, "stop", state, fields, segment)

    def _pause(
        self, name: str, state: dict[str, Any], now: datetime, at: str, reason: str
    ) -> dict[str, Any]:
        fields, segment = self._close(name, state, now, at, reason)
        new = {**state, **fields, "status": "paused"}
        if is_spent(new):
            keep_deadline(new, state)
        return recorded_change(name, "pause", state, new, segment)

    def _resume(
        self, name: str, state: dict[str, Any], seq: int, now: datetime, at: str, reason: str
    ) -> dict[str, Any]:
        fields, segment = self._close(name, state, now, at, reason)
        new = {**state, **fields, "status": "running"}
        if is_spent(new) and state.get("deadline"):
            keep_deadline(new, state)
        else:
            self._arm(new, now, seq)
        return recorded_change(name, "resume", state, new, segment)

    def _reopen(
        self, case: CaseSnapshot, seq: int, now: datetime, at: str, reason: str
    ) -> list[dict[str, Any]]:
        state = case.clocks.get("resolution")
        if state is None or self.policy.reopen_clocks == "restart":
            return self._start_all(case, ("resolution",), None, seq, now, at, reason)
        new = dict(state, status="running", since=at, since_reason=reason, outcome=None)
        if not (is_spent(new) and new.get("deadline")):
            self._arm(new, now, seq)
        elif not new["breached"]:
            # Spent: its deadline was reached for good, but no breach was recorded (the
            # case was resolved before a sweep fired it). Running again past that
            # deadline, it is in breach: arm the breach at the deadline it reached, so
            # the next sweep records it (a timer due in the past fires at once).
            new["armed_seq"] = seq
        return [recorded_change("resolution", "resume", state, new)]


_OPENING = ("first_response", "resolution")
_ESCALATING = ("acknowledge", "escalation")

_Found = tuple[Target, dict[str, Any], Arming | None]
"""A clock's target for a kind of case, its description, and the sums that arm its start."""


def _reason(event: Event) -> str:
    note = event.payload.get("note") or event.payload.get("reason") or event.payload.get("point")
    return f"{event.type} by {event.actor}" + (f": {note}" if note else "")
