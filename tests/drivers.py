"""Two ways to drive cases, for testing every transition twice.

`DirectDriver` runs the pure domain (decide + evolve) in memory;
`StoredDriver` goes through the engine and reads the case back from the
database, so a test passing with both proves the transition and its
save-and-reload round trip (SpiffWorkflow's habit).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine as SAEngine

from states.case import CaseSnapshot
from states.commands import Act, OpenCase
from states.decide import Decider
from states.engine import Engine
from states.events import GENESIS, Event, evolve, new_snapshot, seal
from states.machine import ProcessMachine
from states.policy import Policy, load_policy
from states.process import ProcessDefinition
from states.queries import get_case
from states.store import read_connection


class DirectDriver:
    def __init__(
        self, definition: ProcessDefinition, now: datetime, policy: Policy | None = None
    ) -> None:
        policy = policy or load_policy(None, definition)
        self.decider = Decider(ProcessMachine(definition), policy)
        self.now = now
        self.cases: dict[int, CaseSnapshot] = {}
        self.events: dict[int, list[Event]] = {}

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    def open(self, **fields: Any) -> int:
        fields.setdefault("customer_id", "CUST-1")
        fields.setdefault("subject", "A complaint")
        events = self.decider.open(OpenCase(**fields), self.now, None).events
        case_id = len(self.cases) + 1
        for event in events:
            event.command_id = f"c{case_id}-1"
        seal(events, case_id, 0, GENESIS)
        snap = new_snapshot(events[0])
        for event in events[1:]:
            evolve(snap, event)
        self.cases[case_id] = snap
        self.events[case_id] = events
        return case_id

    def act(self, case_id: int, trigger: str, actor: str = "ana", **fields: Any) -> CaseSnapshot:
        snap = self.cases[case_id].copy()
        command = Act(case_id=case_id, trigger=trigger, actor=actor, **fields)
        events = self.decider.act(snap, command, self.now).events
        seal(events, case_id, snap.last_seq, snap.last_hash)
        for event in events:
            event.command_id = f"c{case_id}-{snap.version + 1}"
            evolve(snap, event)
        snap.version += 1
        self.cases[case_id] = snap
        self.events[case_id].extend(events)
        return snap

    def case(self, case_id: int) -> CaseSnapshot:
        return self.cases[case_id]


class StoredDriver:
    def __init__(self, db: SAEngine, definition: ProcessDefinition, now: datetime) -> None:
        self.db = db
        self.now = now
        self.engine = Engine(db, definition, clock=lambda: self.now)

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    def open(self, **fields: Any) -> int:
        fields.setdefault("customer_id", "CUST-1")
        fields.setdefault("subject", "A complaint")
        return self.engine.apply(OpenCase(**fields)).case_id

    def act(self, case_id: int, trigger: str, actor: str = "ana", **fields: Any) -> CaseSnapshot:
        self.engine.apply(Act(case_id=case_id, trigger=trigger, actor=actor, **fields))
        return self.case(case_id)

    def case(self, case_id: int) -> CaseSnapshot:
        with read_connection(self.db) as conn:
            return get_case(conn, case_id)[0]
