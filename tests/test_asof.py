"""A case and the pipeline as they stood at a past instant, folded from the events alone:
what an auditor reads for a day long gone must not move when the case moves on, nor
when the case row is written behind the engine's back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from states.asof import case_at, pipeline_at, pipeline_live
from states.commands import Act, OpenCase
from states.engine import Engine
from states.errors import CaseNotFound, InvalidInput
from states.ledger import clock_views
from states.queries import get_case
from states.store import CASE, read_connection
from states.sweep import sweep
from tests.conftest import MONDAY

NOTICE = "Our specialist team takes over."


class Desk:
    """One engine with the clock in the test's hands."""

    def __init__(self, db, definition) -> None:
        self.db = db
        self.now = MONDAY
        self.engine = Engine(self.db, definition, clock=lambda: self.now)

    def open(self, **fields) -> int:
        fields.setdefault("customer_id", "CUST-1")
        fields.setdefault("subject", "A complaint")
        return self.engine.apply(OpenCase(**fields)).case_id

    def act(self, case_id: int, trigger: str, **fields) -> None:
        self.engine.apply(Act(case_id=case_id, trigger=trigger, actor="ana", **fields))

    def later(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def desk(db, definition) -> Desk:
    """On SQLite and on PostgreSQL."""
    return Desk(db, definition)


def test_a_case_reads_as_it_stood_before_and_after_each_step(desk: Desk) -> None:
    case = desk.open(priority="high")
    opened = desk.now
    assigned = desk.later(hours=1)
    desk.act(case, "assign", assignee="bob")
    waiting = desk.later(hours=1)
    desk.act(case, "wait_on_customer", note="order number?")
    escalated = desk.later(hours=1)
    desk.act(case, "customer_replied")
    desk.act(case, "escalate", reason="legal risk", notice=NOTICE)
    with read_connection(desk.db) as conn:
        seen = {at: case_at(conn, case, at) for at in (opened, assigned, waiting, escalated)}
        between = case_at(conn, case, assigned - timedelta(seconds=1))
    assert (seen[opened].state, seen[opened].assignee, seen[opened].events) == ("open", None, 1)
    assert between.state == "open" and between.total == seen[escalated].total
    assert (seen[assigned].state, seen[assigned].assignee) == ("first_level", "bob")
    assert seen[waiting].waiting and not seen[escalated].waiting
    assert (seen[escalated].state, seen[escalated].level) == ("escalated", "L2")
    by_clock = {v.clock: v for v in seen[assigned].clocks}
    assert by_clock["first_response"].status == "stopped"
    assert by_clock["resolution"].status == "running"
    assert {v.clock: v.status for v in seen[waiting].clocks}["resolution"] == "paused"


def test_the_case_at_now_matches_the_live_case_and_its_ledger(desk: Desk, definition) -> None:
    case = desk.open(priority="urgent")
    desk.later(hours=2)
    desk.act(case, "wait_on_customer", note="which order?")
    desk.later(days=1)
    desk.act(case, "customer_replied")
    desk.later(days=5)
    sweep(desk.engine, desk.now, worker="test")
    with read_connection(desk.db) as conn:
        live, events = get_case(conn, case)
        then = case_at(conn, case, desk.now, policy=desk.engine.policy)
        ledger = clock_views(conn, live, desk.engine.policy, desk.now, events)
    assert then.case == live
    assert then.clocks == ledger
    assert any(v.intervals and v.intervals[0].ended_at for v in then.clocks)


def test_a_case_before_it_was_opened_or_unknown_is_refused(desk: Desk) -> None:
    case = desk.open()
    with read_connection(desk.db) as conn:
        with pytest.raises(InvalidInput, match="was opened at"):
            case_at(conn, case, MONDAY - timedelta(seconds=1))
        with pytest.raises(CaseNotFound):
            case_at(conn, 999, MONDAY)


def test_a_past_view_ignores_a_case_row_written_behind_the_engine(desk: Desk) -> None:
    case = desk.open()
    with desk.db.begin() as conn:
        conn.execute(update(CASE).values(state="resolved", assignee="mallory"))
    with read_connection(desk.db) as conn:
        then = case_at(conn, case, desk.now)
        pipeline = pipeline_at(conn, desk.now)
    assert (then.state, then.assignee) == ("open", None)
    assert pipeline.counts == {("open", None): 1}


def test_the_pipeline_counts_states_and_levels_as_they_stood(desk: Desk) -> None:
    first, second, third = (desk.open(priority="normal") for _ in range(3))
    before = desk.later(minutes=30)
    desk.later(minutes=30)
    desk.act(first, "assign", assignee="bob")
    desk.act(second, "escalate", reason="legal risk", notice=NOTICE)
    desk.act(third, "resolve", note="fixed on the phone")
    with read_connection(desk.db) as conn:
        then = pipeline_at(conn, before)
        now = pipeline_at(conn, desk.now)
        ahead_of_all = pipeline_at(conn, MONDAY - timedelta(days=1))
    assert then.counts == {("open", None): 3}
    assert now.counts == {("escalated", "L2"): 1, ("first_level", None): 1, ("resolved", None): 1}
    assert now.by_state == {"escalated": 1, "first_level": 1, "resolved": 1}
    assert ahead_of_all.cases == 0


def test_deadlines_read_at_risk_then_breached_as_time_passes(desk: Desk) -> None:
    case = desk.open(priority="urgent")
    with read_connection(desk.db) as conn:
        opened = case_at(conn, case, desk.now)
    first = min((v for v in opened.clocks if v.deadline), key=lambda v: v.deadline)
    assert first.deadline is not None
    horizon = timedelta(hours=1)
    with read_connection(desk.db) as conn:
        early = pipeline_at(conn, first.deadline - 2 * horizon, horizon=horizon)
        close = pipeline_at(conn, first.deadline - horizon / 2, horizon=horizon)
        missed = pipeline_at(conn, first.deadline, horizon=horizon)
    assert first.clock not in {d.clock for d in early.at_risk + early.breached}
    assert (first.clock, case) in {(d.clock, d.case_id) for d in close.at_risk}
    assert (first.clock, case) in {(d.clock, d.case_id) for d in missed.breached}
    assert first.clock not in {d.clock for d in missed.at_risk}


def test_a_swept_breach_stays_breached_and_a_resolved_case_has_none(desk: Desk) -> None:
    breached, resolved = desk.open(priority="urgent"), desk.open(priority="urgent")
    desk.later(minutes=5)
    desk.act(resolved, "resolve", note="done")
    desk.later(days=40)
    sweep(desk.engine, desk.now, worker="test")
    with read_connection(desk.db) as conn:
        then = pipeline_at(conn, desk.now)
        live = pipeline_live(conn, desk.now)
    assert {d.case_id for d in then.breached} == {breached}
    assert then.as_dict() == live.as_dict()


def test_the_pipeline_of_one_team_counts_only_its_cases(desk: Desk) -> None:
    for number, team in enumerate(("billing", "returns", "billing")):
        desk.open(team=team, customer_id=f"CUST-{number}")
    with read_connection(desk.db) as conn:
        billing = pipeline_at(conn, desk.now, team="billing")
        live = pipeline_live(conn, desk.now, team="billing")
    assert billing.cases == 2 and billing.as_dict() == live.as_dict()


def test_a_negative_horizon_is_refused(desk: Desk) -> None:
    with read_connection(desk.db) as conn, pytest.raises(InvalidInput, match="horizon"):
        pipeline_at(conn, datetime.now(UTC), horizon=timedelta(hours=-1))
