"""Random command sequences against the real engine and database keep the
invariants that matter more than any example: states stay defined, versions
strictly increase, replay equals the projection and the hash chain verifies, the
case and the pipeline folded from the events up to now equal the live ones;
commands dated in order (some logged later than they happened) are applied on
their own times, and a command dated before its case's last event is always
refused, alone or in a batch, writing nothing."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)
from sqlalchemy import text

from states.asof import case_at, pipeline_at, pipeline_live
from states.audit import verify_case
from states.commands import Act, OpenCase, Update
from states.engine import Engine
from states.errors import BatchFailed, CommandError, OutOfOrder
from states.ledger import clock_views
from states.process import TRIGGERS, load_process
from states.queries import get_case
from states.store import read_connection
from states.sweep import sweep
from tests.conftest import MONDAY, sqlite_db

DEFINITION = load_process()
maybe_text = st.one_of(st.none(), st.sampled_from(["", "  ", "a note", "refund above authority"]))
# How long after the case's last event a command happened (None: now, the engine's clock).
later_by = st.one_of(st.none(), st.integers(0, 3 * 24 * 3600))


class CaseLifecycle(RuleBasedStateMachine):
    cases = Bundle("cases")

    @initialize()
    def setup(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.db = sqlite_db(Path(self.tmp.name))
        self.now = MONDAY
        self.engine = Engine(self.db, DEFINITION, clock=lambda: self.now)
        self.versions: dict[int, int] = {}

    def teardown(self) -> None:
        self.db.dispose()
        self.tmp.cleanup()

    @rule(
        target=cases,
        amount=st.one_of(st.none(), st.integers(0, 9000)),
        priority=st.sampled_from(["low", "normal", "high", "urgent"]),
    )
    def open_case(self, amount: int | None, priority: str) -> int:
        result = self.engine.apply(
            OpenCase(customer_id="C", subject="s", priority=priority, amount_claimed=amount),
            self.now,
        )  # type: ignore[arg-type]
        assert result.version == 1
        self.versions[result.case_id] = 1
        return result.case_id

    @rule(
        case_id=cases,
        trigger=st.sampled_from(TRIGGERS),
        assignee=maybe_text,
        reason=maybe_text,
        notice=maybe_text,
        note=maybe_text,
        to_level=st.one_of(st.none(), st.sampled_from(DEFINITION.level_names)),
        satisfaction=st.one_of(st.none(), st.integers(1, 5)),
        later=later_by,
    )
    def act(self, case_id: int, trigger: str, later: int | None, **fields: object) -> None:
        at = self._happened(case_id, later)
        try:
            result = self.engine.apply(
                Act(case_id=case_id, trigger=trigger, actor="p", **fields),  # type: ignore[arg-type]
                at,
            )
        except CommandError:
            with read_connection(self.db) as conn:
                assert get_case(conn, case_id)[0].version == self.versions[case_id]
            return
        assert result.version == self.versions[case_id] + 1
        self.versions[case_id] = result.version

    @rule(
        case_id=cases,
        message=st.one_of(st.none(), st.sampled_from(["thanks", "I will sue you", "court!"])),
        amount=st.one_of(st.none(), st.integers(0, 9000)),
        priority=st.one_of(st.none(), st.sampled_from(["low", "urgent"])),
        later=later_by,
    )
    def update(
        self,
        case_id: int,
        message: str | None,
        amount: int | None,
        priority: str | None,
        later: int | None,
    ) -> None:
        """New facts re-run the escalation points, which may escalate the case."""
        try:
            result = self.engine.apply(
                Update(
                    case_id=case_id,
                    actor="p",
                    message=message,
                    amount_claimed=amount,  # type: ignore[arg-type]
                    priority=priority,
                ),
                self._happened(case_id, later),
            )
        except CommandError:
            return
        assert result.version == self.versions[case_id] + 1
        self.versions[case_id] = result.version

    def _happened(self, case_id: int, later: int | None) -> datetime | None:
        """When a command happened: `later` seconds after the case's last event (the clock
        moves there if it was behind: what happened was recorded after it), or None."""
        if later is None:
            return None
        at = self._last_event(case_id) + timedelta(seconds=later)
        self.now = max(self.now, at)
        return at

    def _last_event(self, case_id: int) -> datetime:
        with read_connection(self.db) as conn:
            return get_case(conn, case_id)[0].updated_at

    def _rows(self) -> tuple[int, ...]:
        with read_connection(self.db) as conn:
            return tuple(
                conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("case_event", "timer", "notification", "clock_segment")
            ) + tuple(get_case(conn, case_id)[0].version for case_id in sorted(self.versions))

    @rule(
        case_id=cases,
        trigger=st.sampled_from(TRIGGERS),
        earlier=st.integers(1, 400 * 24 * 3600),
        batched=st.booleans(),
    )
    def act_out_of_order(self, case_id: int, trigger: str, earlier: int, batched: bool) -> None:
        """Dated before the case's last event: refused whatever the trigger, alone or after a
        valid command in one batch, and nothing is written."""
        at = self._last_event(case_id) - timedelta(seconds=earlier)
        command = Act(case_id=case_id, trigger=trigger, actor="p", note="n", assignee="a")
        before = self._rows()
        if batched:
            fine = Update(case_id=case_id, actor="p", message="hello")
            with pytest.raises(BatchFailed) as failed:
                self.engine.apply_timed([(fine, self._last_event(case_id)), (command, at)])
            assert isinstance(failed.value.cause, OutOfOrder)
        else:
            with pytest.raises(OutOfOrder):
                self.engine.apply(command, at)
        assert self._rows() == before

    @rule(hours=st.integers(1, 24 * 40))
    def time_passes(self, hours: int) -> None:
        """Time passes and the sweeper fires what fell due (warnings, breaches, escalations)."""
        self.now += timedelta(hours=hours)
        sweep(self.engine, self.now, worker="property")
        with read_connection(self.db) as conn:
            for case_id in self.versions:
                self.versions[case_id] = get_case(conn, case_id)[0].version
            fired = conn.execute(
                text(
                    "SELECT count(*) FROM timer WHERE status IN ('pending', 'claimed') "
                    "AND due_at <= :now"
                ),
                {"now": self.now.isoformat(timespec="microseconds")},
            ).scalar_one()
        assert fired == 0  # nothing due is left behind
        with read_connection(self.db) as conn:
            twice = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT json_extract(payload, '$.timer_id') AS t "
                    "FROM case_event WHERE t IS NOT NULL GROUP BY t HAVING count(*) > 1)"
                )
            ).scalar_one()
        assert twice == 0  # no timer fired twice

    @rule(horizon_hours=st.integers(0, 24 * 10))
    def as_of_now_agrees_with_the_live_projection(self, horizon_hours: int) -> None:
        """The case and the pipeline folded from the events up to now are the live ones:
        the same fields, clocks and ledger intervals, counts, waits and deadlines."""
        horizon = timedelta(hours=horizon_hours)
        policy = self.engine.policy
        with read_connection(self.db) as conn:
            then = pipeline_at(conn, self.now, horizon=horizon)
            assert then.as_dict() == pipeline_live(conn, self.now, horizon=horizon).as_dict()
            assert then.cases == len(self.versions)
            for case_id in self.versions:
                live, events = get_case(conn, case_id)
                past = case_at(conn, case_id, self.now, policy=policy)
                assert past.case == live
                assert past.clocks == clock_views(conn, live, policy, self.now, events)

    @invariant()
    def history_verifies_and_states_are_defined(self) -> None:
        if not hasattr(self, "db"):
            return
        with read_connection(self.db) as conn:
            for case_id, version in self.versions.items():
                check = verify_case(conn, case_id)
                assert check.ok, check.problems
                case = get_case(conn, case_id)[0]
                assert case.state in DEFINITION.state_names
                assert case.version == version
                assert (case.level is None) == (not DEFINITION.state(case.state).carries_level)
                _, events = get_case(conn, case_id)
                happened = [event.occurred_at for event in events]
                assert happened == sorted(happened)  # history never runs backwards


CaseLifecycle.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCaseLifecycle = CaseLifecycle.TestCase
