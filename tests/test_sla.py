"""SLA clocks, deadlines in business time, escalation points and the
acknowledgement ladder, with the clock as a parameter (no sleeping).

Calendars of the shipped policy: support_eu is Europe/Brussels, Mon-Fri
09:00-17:00 with Belgian public holidays; `always` is 24/7.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from states.aging import AgingQuery, aging
from states.asof import pipeline_at
from states.clocks import iso
from states.commands import Act, OpenCase, Update
from states.engine import Engine
from states.ledger import MISSED, clock_views, deadline_summary
from states.outbox import NOTIFICATION
from states.pipeline_view import deadlines
from states.policy import load_policy, parse_policy
from states.queries import CaseFilter, get_case, list_cases
from states.store import EVENT, read_connection
from states.sweep import sweep
from states.timers import TIMER, count_due
from states.view_filter import ViewFilter
from tests.conftest import sqlite_db
from tests.counters import DAYS, MinuteCounter
from tests.drivers import DirectDriver

BRUSSELS = ZoneInfo("Europe/Brussels")
NOTICE = "Our specialist team takes over."


def local(*args: int) -> datetime:
    """A Brussels wall-clock time, as an aware datetime."""
    return datetime(*args, tzinfo=BRUSSELS)  # type: ignore[misc]


class World:
    """A small world: one engine on SQLite, the clock set by the test."""

    def __init__(self, tmp_path: Path, definition, policy=None) -> None:
        self.db = sqlite_db(tmp_path)
        self.now = local(2026, 11, 2, 10)  # a Monday
        self.engine = Engine(self.db, definition, policy, clock=lambda: self.now)

    def at(self, when: datetime) -> World:
        self.now = when
        return self

    def open(self, **fields) -> int:
        fields.setdefault("customer_id", "CUST-1")
        fields.setdefault("subject", "A complaint")
        return self.engine.apply(OpenCase(**fields)).case_id

    def act(self, case_id: int, trigger: str, actor: str = "ana", **fields):
        return self.engine.apply(Act(case_id=case_id, trigger=trigger, actor=actor, **fields))

    def case(self, case_id: int):
        with read_connection(self.db) as conn:
            return get_case(conn, case_id)

    def clock(self, case_id: int, name: str) -> dict:
        return self.case(case_id)[0].clocks[name]

    def deadline(self, case_id: int, name: str) -> datetime:
        return datetime.fromisoformat(self.clock(case_id, name)["deadline"])

    def sweep(self, when: datetime):
        self.now = when
        return sweep(self.engine, when, worker="test")

    def events(self, case_id: int) -> list[tuple[str, str | None]]:
        return [(e.type, e.to_level) for e in self.case(case_id)[1]]

    def notifications(self, case_id: int) -> list[tuple[str, str]]:
        with read_connection(self.db) as conn:
            rows = conn.execute(
                select(NOTIFICATION.c.kind, NOTIFICATION.c.recipient)
                .where(NOTIFICATION.c.case_id == case_id)
                .order_by(NOTIFICATION.c.id)
            )
            return [tuple(row) for row in rows]


@pytest.fixture
def world(tmp_path: Path, definition) -> World:
    return World(tmp_path, definition)


def escalated(world: World, **fields) -> int:
    case_id = world.open(**fields)
    world.act(case_id, "assign", assignee="ana")
    world.act(case_id, "escalate", reason="needs a specialist", notice=NOTICE)
    return case_id


# --- deadlines in business time ------------------------------------------------------


def test_first_response_deadline_skips_the_weekend(world):
    case_id = world.at(local(2026, 11, 6, 16)).open(priority="high")  # Friday 16:00, PT4H
    assert world.deadline(case_id, "first_response") == local(2026, 11, 9, 12)


def test_deadline_skips_public_holidays(world):
    # Thursday 24 Dec 16:00 + 4 business hours: 25 Dec is a Belgian holiday, then a weekend
    case_id = world.at(local(2026, 12, 24, 16)).open(priority="high")
    assert world.deadline(case_id, "first_response") == local(2026, 12, 28, 12)


def test_deadline_across_the_autumn_dst_change_counts_business_hours(world):
    # Friday 23 Oct 16:00 CEST + 4h: Monday 26 Oct 12:00 CET (clocks went back on Sunday)
    case_id = world.at(local(2026, 10, 23, 16)).open(priority="high")
    deadline = world.deadline(case_id, "first_response")
    assert deadline == local(2026, 10, 26, 12)
    assert deadline.astimezone(UTC).hour == 11


def test_deadline_across_the_spring_dst_change_counts_business_hours(world):
    case_id = world.at(local(2026, 3, 27, 15)).open(priority="high")  # Friday 15:00 CET
    assert world.deadline(case_id, "first_response") == local(2026, 3, 30, 11)
    assert world.deadline(case_id, "first_response").astimezone(UTC).hour == 9


def test_opening_outside_hours_starts_counting_at_the_next_opening(world):
    case_id = world.at(local(2026, 11, 7, 23)).open(priority="high")  # Saturday night, PT4H
    assert world.deadline(case_id, "first_response") == local(2026, 11, 9, 13)


def test_board_acknowledgement_counts_48_calendar_hours_over_a_weekend(world):
    """Scenario 3: the board acknowledges within 48 hours, calendar not business."""
    case_id = world.at(local(2026, 11, 6, 18)).open()  # Friday evening
    world.act(case_id, "assign", assignee="ana")
    world.act(case_id, "escalate", reason="Stage Two", notice=NOTICE, to_level="board")
    assert world.deadline(case_id, "acknowledge") == local(2026, 11, 8, 18)
    clock = world.clock(case_id, "acknowledge")
    assert (clock["calendar"], clock["source"]) == ("always", "targets.acknowledge.board")


def test_vip_customers_get_their_tier_targets(world):
    case_id = world.open(priority="normal", customer_tier="vip")
    clock = world.clock(case_id, "first_response")
    assert (clock["target"], clock["source"]) == ("PT2H", "targets.first_response.vip.normal")


# --- the clocks stop and start -----------------------------------------------------


def test_waiting_on_the_customer_moves_the_deadline_by_exactly_the_paused_business_time(world):
    """Scenario 5: two days waiting for a receipt; the ledger shows both intervals."""
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    before = world.deadline(case_id, "resolution")
    world.at(local(2026, 11, 2, 11)).act(case_id, "wait_on_customer", note="receipt please")
    assert world.clock(case_id, "resolution")["status"] == "paused"
    world.at(local(2026, 11, 4, 11)).act(case_id, "customer_replied", note="receipt received")
    after = world.deadline(case_id, "resolution")
    calendar = world.engine.policy.calendar("support_eu")
    assert calendar.elapsed(before, after) == timedelta(hours=16)  # two business days
    with read_connection(world.db) as conn:
        case = get_case(conn, case_id)[0]
        view = next(
            v
            for v in clock_views(conn, case, world.engine.policy, world.now)
            if v.clock == "resolution"
        )
    assert [(i.status, i.business) for i in view.intervals] == [
        ("running", timedelta(hours=1)),
        ("paused", timedelta(hours=16)),
        ("running", timedelta(0)),
    ]
    assert view.paused_for == timedelta(hours=16)
    assert "moved by 16h 00m paused" in view.explain(world.now)


def policy_with(definition, old: str, new: str):
    text = load_policy(None, definition).source_text
    assert old in text
    return parse_policy(text.replace(old, new), "ops.toml", definition)


def test_a_chat_case_gets_the_chat_first_response_target(world):
    case_id = world.open(channel="chat")  # Monday 10:00, PT1H for a chat
    assert world.deadline(case_id, "first_response") == local(2026, 11, 2, 11)
    assert world.clock(case_id, "first_response")["source"] == "targets.first_response.chat.normal"
    email = world.open(customer_id="CUST-2")
    assert world.deadline(email, "first_response") == local(2026, 11, 3, 10)  # PT8H


def statuses_while_waiting_a_day(world: World, case_id: int) -> dict[str, str]:
    """Wait on the customer from Monday 11:00 to Tuesday 11:00; each clock's status during."""
    world.at(local(2026, 11, 2, 11)).act(case_id, "wait_on_customer", note="order number?")
    during = {name: state["status"] for name, state in world.case(case_id)[0].clocks.items()}
    world.at(local(2026, 11, 3, 11)).act(case_id, "customer_replied")
    return during


def test_clocks_the_policy_does_not_pause_keep_running_while_waiting(tmp_path, definition):
    policy = policy_with(
        definition, 'pauses = ["resolution", "escalation"]', 'pauses = ["acknowledge"]'
    )
    world = World(tmp_path, definition, policy)
    case_id = escalated(world)
    assert statuses_while_waiting_a_day(world, case_id) == {
        "first_response": "stopped",
        "acknowledge": "paused",
        "resolution": "running",
        "escalation": "running",
    }
    # 1 business hour of the 4 was used before the pause: 3 left from Tuesday 11:00
    assert world.deadline(case_id, "acknowledge") == local(2026, 11, 3, 14)


def test_a_clock_starting_while_the_case_waits_starts_paused(tmp_path, definition):
    policy = policy_with(
        definition, 'pauses = ["resolution", "escalation"]', 'pauses = ["acknowledge"]'
    )
    world = World(tmp_path, definition, policy)
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    world.act(case_id, "wait_on_customer", note="receipt please")
    world.act(case_id, "escalate", reason="needs a specialist", notice=NOTICE)
    assert world.clock(case_id, "acknowledge")["status"] == "paused"
    assert "deadline" not in world.clock(case_id, "acknowledge")


def one_day_resolution(tmp_path, definition) -> World:
    """The issue's minimal world: support_eu, resolution PT8H at normal priority."""
    policy = policy_with(
        definition, 'normal = "PT40H"                  # five', 'normal = "PT8H"  # one'
    )
    return World(tmp_path, definition, policy)


def ledger_view(world: World, case_id: int, clock: str):
    with read_connection(world.db) as conn:
        case, events = get_case(conn, case_id)
        views = clock_views(conn, case, world.engine.policy, world.now, events)
    return next(v for v in views if v.clock == clock)


MONDAY_DEADLINE = datetime(2026, 11, 2, 16, tzinfo=UTC)  # Monday 17:00 in Brussels


def test_a_wait_that_begins_at_the_deadline_does_not_move_it(tmp_path, definition):
    world = one_day_resolution(tmp_path, definition)
    case_id = world.at(local(2026, 11, 2, 9)).open()
    world.act(case_id, "assign", assignee="ana")
    assert world.deadline(case_id, "resolution") == MONDAY_DEADLINE
    world.at(local(2026, 11, 2, 17)).act(case_id, "wait_on_customer", note="order number?")
    world.at(local(2026, 11, 3, 10)).act(case_id, "customer_replied")
    assert world.deadline(case_id, "resolution") == MONDAY_DEADLINE


def test_a_clock_past_its_deadline_breaches_on_time_while_the_case_waits(tmp_path, definition):
    world = one_day_resolution(tmp_path, definition)
    case_id = world.at(local(2026, 11, 2, 9)).open()
    world.act(case_id, "assign", assignee="ana")
    world.at(local(2026, 11, 2, 17)).act(case_id, "wait_on_customer", note="order number?")
    assert "a wait does not move a deadline already reached" in ledger_view(
        world, case_id, "resolution"
    ).explain(world.now)
    assert world.sweep(local(2026, 11, 2, 17, 5)).fired >= 1
    case, events = world.case(case_id)
    breach = next(e for e in events if e.type == "sla_breached")
    assert case.waiting and breach.payload["clock"] == "resolution"
    assert breach.payload["deadline"] == MONDAY_DEADLINE.isoformat()
    world.at(local(2026, 11, 3, 10)).act(case_id, "customer_replied")
    world.at(local(2026, 11, 3, 11)).act(case_id, "resolve", note="fixed")
    view = ledger_view(world, case_id, "resolution")
    assert (view.outcome, view.breached, view.last_deadline) == ("late", True, MONDAY_DEADLINE)
    assert "deadline was 2026-11-02 16:00 UTC" in view.explain(world.now)
    assert [e.type for e in world.case(case_id)[1]].count("sla_breached") == 1


def test_resolving_while_waiting_after_the_deadline_is_late_and_the_breach_recorded(
    tmp_path, definition
):
    world = one_day_resolution(tmp_path, definition)
    case_id = world.at(local(2026, 11, 2, 9)).open()
    world.act(case_id, "assign", assignee="ana")
    world.at(local(2026, 11, 2, 16)).act(case_id, "wait_on_customer", note="order number?")
    world.at(local(2026, 11, 2, 17, 30)).act(case_id, "resolve", note="sorted by phone")
    assert world.clock(case_id, "resolution")["outcome"] == "met"  # paused before the deadline
    late = world.at(local(2026, 11, 3, 9)).open(customer_id="CUST-2")
    world.act(late, "assign", assignee="ana")
    world.at(local(2026, 11, 3, 17, 30)).act(late, "wait_on_customer", note="receipt?")
    world.sweep(local(2026, 11, 4, 9, 30))
    world.at(local(2026, 11, 4, 10)).act(late, "resolve", note="refunded")
    assert world.clock(late, "resolution")["outcome"] == "late"
    assert "sla_breached" in [e.type for e in world.case(late)[1]]


def test_stopping_after_a_deadline_that_fell_on_a_closing_time_is_late(tmp_path, definition):
    """The deadline is 17:00; resolving at 17:30 spends no business time past it, but it
    is after the deadline, swept or not."""
    world = one_day_resolution(tmp_path, definition)
    case_id = world.at(local(2026, 11, 2, 9)).open()
    world.act(case_id, "assign", assignee="ana")
    world.at(local(2026, 11, 2, 17, 30)).act(case_id, "resolve", note="fixed")
    assert world.clock(case_id, "resolution")["outcome"] == "late"


@functools.cache
def resolution_policy(definition, target: str):
    return policy_with(
        definition, 'normal = "PT40H"                  # five', f'normal = "{target}"  #'
    )


SUPPORT_EU = MinuteCounter("Europe/Brussels", {day: ["09:00-17:00"] for day in DAYS[:5]}, "BE")
TARGET_MINUTES = {"PT30M": 30, "PT2H": 120, "PT8H": 480}


@settings(max_examples=120, deadline=None)
@given(
    opened_at=st.datetimes(datetime(2026, 10, 20), datetime(2027, 4, 10), timezones=st.just(UTC)),
    target=st.sampled_from(sorted(TARGET_MINUTES)),
    waits=st.lists(st.tuples(st.integers(0, 2_000), st.integers(0, 3_000)), max_size=3),
)
def test_the_deadline_is_the_first_instant_a_minute_counter_reaches_the_target(
    definition, opened_at, target, waits
):
    """Open, then waits and replies at drawn gaps (minutes): the resolution deadline is
    where an independent counter of working minutes outside the waits reaches the target,
    whether each wait began before the deadline or after it."""
    opened_at = opened_at.replace(second=0, microsecond=0)
    driver = DirectDriver(definition, opened_at, resolution_policy(definition, target))
    case_id = driver.open()
    driver.act(case_id, "assign", assignee="ana")
    paused = []
    for gap, length in waits:
        driver.advance(timedelta(minutes=gap))
        since = driver.now
        driver.act(case_id, "wait_on_customer", note="a question")
        driver.advance(timedelta(minutes=length))
        driver.act(case_id, "customer_replied")
        paused.append((since, driver.now))
    deadline = datetime.fromisoformat(driver.case(case_id).clocks["resolution"]["deadline"])
    assert deadline == SUPPORT_EU.reach(opened_at, TARGET_MINUTES[target], paused)


def test_a_pause_across_the_night_counts_only_business_hours(world):
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    world.at(local(2026, 11, 2, 16)).act(case_id, "wait_on_customer")
    world.at(local(2026, 11, 3, 10)).act(case_id, "customer_replied")
    with read_connection(world.db) as conn:
        case = get_case(conn, case_id)[0]
        view = next(
            v
            for v in clock_views(conn, case, world.engine.policy, world.now)
            if v.clock == "resolution"
        )
    assert view.paused_for == timedelta(hours=2)
    assert view.consumed == timedelta(hours=6)  # 10:00-16:00 on Monday


def test_first_response_stops_when_an_agent_takes_the_case(world):
    case_id = world.open()
    world.at(local(2026, 11, 2, 12)).act(case_id, "assign", assignee="ana")
    clock = world.clock(case_id, "first_response")
    assert (clock["status"], clock["outcome"], clock["consumed_s"]) == ("stopped", "met", 7200)


def test_late_first_response_is_recorded_as_late(world):
    case_id = world.open(priority="high")  # PT4H from 10:00
    world.at(local(2026, 11, 2, 15)).act(case_id, "assign", assignee="ana")
    assert world.clock(case_id, "first_response")["outcome"] == "late"


def test_resolution_clock_restarts_on_reopen_by_default(world):
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    world.at(local(2026, 11, 3, 10)).act(case_id, "resolve", note="fixed")
    assert world.clock(case_id, "follow_up")["status"] == "running"
    world.at(local(2026, 11, 4, 10)).act(case_id, "reopen", note="still broken")
    clock = world.clock(case_id, "resolution")
    assert (clock["gen"], clock["consumed_s"], clock["status"]) == (2, 0, "running")
    assert world.clock(case_id, "follow_up")["status"] == "stopped"


def test_resolution_clock_continues_on_reopen_when_the_policy_says_so(tmp_path, definition):
    policy = load_policy(None, definition)
    text = policy.source_text.replace('clocks = "restart"', 'clocks = "continue"')
    world = World(tmp_path, definition, parse_policy(text, "continue.toml", definition))
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    world.at(local(2026, 11, 2, 15)).act(case_id, "resolve", note="fixed")
    world.at(local(2026, 11, 4, 10)).act(case_id, "reopen", note="still broken")
    clock = world.clock(case_id, "resolution")
    assert (clock["gen"], clock["consumed_s"]) == (1, 5 * 3600)
    # 35 business hours left from Wednesday 10:00: Wed 7 + Thu 8 + Fri 8 + Mon 8 + Tue 4
    assert world.deadline(case_id, "resolution") == local(2026, 11, 10, 13)


@pytest.mark.parametrize("swept", [False, True])
def test_a_reopen_that_continues_a_spent_clock_keeps_the_deadline_it_reached(
    tmp_path, definition, swept: bool
):
    """Resolved after 41 business hours of a 40-hour target, then reopened with
    ``continue``: the deadline stays the first instant the target was reached (Monday
    09:00 + 40 h = Friday 17:00); the reopen armed a new deadline two days later instead."""
    policy = load_policy(None, definition)
    text = policy.source_text.replace('clocks = "restart"', 'clocks = "continue"')
    world = World(tmp_path, definition, parse_policy(text, "continue.toml", definition))
    world.at(local(2026, 11, 2, 9))
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    reached = local(2026, 11, 6, 17)
    if swept:
        sweep(world.engine, reached.astimezone(UTC) + timedelta(minutes=1), worker="w")
    world.at(local(2026, 11, 9, 10)).act(case_id, "resolve", note="fixed")
    assert world.clock(case_id, "resolution")["outcome"] == "late"
    world.at(local(2026, 11, 11, 10)).act(case_id, "reopen", note="still broken")
    clock = world.clock(case_id, "resolution")
    assert (clock["status"], clock["consumed_s"]) == ("running", 41 * 3600)
    assert world.deadline(case_id, "resolution") == reached
    with read_connection(world.db) as conn:
        pending = conn.execute(
            select(func.count())
            .select_from(TIMER)
            .where(
                TIMER.c.case_id == case_id,
                TIMER.c.clock == "resolution",
                TIMER.c.status == "pending",
            )
        ).scalar_one()
    # a breach already recorded is not armed again; one the resolve came before is armed
    # at the deadline it reached, and the next sweep records it
    assert pending == (0 if swept else 1)
    if not swept:
        sweep(world.engine, local(2026, 11, 11, 10, 5).astimezone(UTC), worker="w")
        clock = world.clock(case_id, "resolution")
        assert clock["breached"] and world.deadline(case_id, "resolution") == reached
    world.at(local(2026, 11, 11, 11)).act(case_id, "resolve", note="fixed again")
    assert world.clock(case_id, "resolution")["outcome"] == "late"


# --- escalation points -----------------------------------------------------------------


def test_legal_risk_phrase_at_intake_goes_straight_to_manager_recording_the_phrase(world):
    """Scenario 2."""
    case_id = world.open(description="If this is not fixed I will take you to court.")
    case, events = world.case(case_id)
    assert (case.state, case.level, case.flags) == ("escalated", "manager", ["legal_risk"])
    escalation = next(e for e in events if e.type == "escalate")
    assert escalation.payload["point"] == "legal_risk"
    assert escalation.payload["evidence"] == 'phrase "court" in description'
    assert escalation.actor == "system:points" and escalation.payload["notice"]
    assert ("customer_notice", "customer:CUST-1") in world.notifications(case_id)
    # nobody gave a first response: the manager's acknowledgement clock took over
    assert world.clock(case_id, "first_response")["outcome"] == "cancelled"


def test_courtesy_is_not_court(world):
    case_id = world.open(description="Thank you for your courtesy.")
    assert world.case(case_id)[0].state == "open"


def test_urgent_priority_goes_straight_to_l2(world):
    case_id = world.open(priority="urgent")
    case, events = world.case(case_id)
    assert (case.state, case.level) == ("escalated", "L2")
    assert events[-1].payload["point"] == "priority"


def test_third_case_within_90_days_marks_a_repeat_customer_and_routes_it(world):
    """Scenario 4."""
    first = world.at(local(2026, 9, 1, 10)).open(customer_id="C-42")
    second = world.at(local(2026, 10, 1, 10)).open(customer_id="C-42")
    third = world.at(local(2026, 11, 2, 10)).open(customer_id="C-42")
    assert [world.case(c)[0].flags for c in (first, second)] == [[], []]
    case, events = world.case(third)
    assert (case.flags, case.team) == (["repeat_customer"], "senior")
    assert events[1].payload["evidence"] == "3 cases in 90 days"


def test_cases_older_than_the_window_do_not_make_a_repeat_customer(world):
    world.at(local(2026, 6, 1, 10)).open(customer_id="C-7")
    world.at(local(2026, 10, 1, 10)).open(customer_id="C-7")
    case_id = world.at(local(2026, 11, 2, 10)).open(customer_id="C-7")
    assert world.case(case_id)[0].flags == []


def test_amount_above_authority_is_flagged_at_intake_and_cited_when_escalating(world):
    """Scenario 1: the point flags; the agent is refused at resolve and escalates by hand."""
    case_id = world.open(amount_claimed="800")
    case, events = world.case(case_id)
    assert (case.state, case.flags) == ("open", ["authority"])
    assert events[1].payload["evidence"] == "EUR 800.00 > EUR 200.00 (first_level)"
    world.act(case_id, "assign", assignee="ana")
    world.act(
        case_id, "escalate", point="authority", reason="refund above authority", notice=NOTICE
    )
    assert world.clock(case_id, "acknowledge")["target"] == "PT4H"


def test_legal_words_in_a_later_message_escalate_on_update(world):
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    result = world.engine.apply(
        Update(case_id=case_id, actor="ana", message="My lawyer will contact you.")
    )
    assert (result.state, result.level) == ("escalated", "manager")
    assert [t for t, _ in world.events(case_id)][-3:] == ["updated", "flagged", "escalate"]


def test_an_update_raising_the_amount_flags_authority_once(world):
    case_id = world.open()
    world.engine.apply(Update(case_id=case_id, actor="ana", amount_claimed="900"))
    world.engine.apply(Update(case_id=case_id, actor="ana", amount_claimed="950"))
    case, events = world.case(case_id)
    assert case.amount_claimed_minor == 95000
    assert [e.type for e in events].count("flagged") == 1


# --- timers: warnings, breaches, the ladder --------------------------------------------


def test_warning_fires_at_80_percent_then_the_breach(world):
    case_id = world.open(priority="high")  # PT4H from Monday 10:00: warning 13:12, breach 14:00
    report = world.sweep(local(2026, 11, 2, 13, 30))
    assert (report.fired, world.events(case_id)[-1]) == (1, ("sla_warning", None))
    assert world.sweep(local(2026, 11, 2, 13, 59)).claimed == 0
    world.sweep(local(2026, 11, 2, 14, 1))
    _, events = world.case(case_id)
    breach = events[-1]
    assert (breach.type, breach.payload["clock"], breach.payload["action"]) == (
        "sla_breached",
        "first_response",
        "notify",
    )
    assert world.clock(case_id, "first_response")["breached"] is True
    assert ("sla_breach", "support-team-lead") in world.notifications(case_id)


def test_a_late_sweep_records_the_overtaken_warning_but_sends_only_the_breach(world):
    case_id = world.open(priority="high")  # warning 13:12, breach 14:00; nobody swept
    world.sweep(local(2026, 11, 2, 14, 30))
    _, events = world.case(case_id)
    warning, breach = events[-2:]
    assert (warning.type, warning.payload.get("late"), breach.type) == (
        "sla_warning",
        True,
        "sla_breached",
    )
    kinds = {kind for kind, _ in world.notifications(case_id)}
    assert "sla_breach" in kinds and "sla_warning" not in kinds


def test_a_warning_passed_before_a_wait_and_not_yet_sent_is_sent_when_the_clock_runs_again(
    world,
):
    """The wait began after the resolution clock's 80 % and before a sweep fired the
    warning: the wait cancelled it, and on the reply it was not armed again (the clock
    had passed its point), so it was never sent; the breach alone came."""
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    warn_at = datetime.fromisoformat(world.clock(case_id, "resolution")["warn_at"])
    world.at(warn_at + timedelta(minutes=5)).act(case_id, "wait_on_customer", note="logs?")
    replied = local(2026, 11, 10, 10)
    world.at(replied).act(case_id, "customer_replied", note="here")
    clock = world.clock(case_id, "resolution")
    assert (clock["warned"], datetime.fromisoformat(clock["warn_at"])) == (False, replied)
    world.sweep(replied + timedelta(minutes=1))
    assert world.events(case_id)[-1] == ("sla_warning", None)
    assert ("sla_warning", "support-team-lead") in world.notifications(case_id)
    assert world.deadline(case_id, "resolution") > replied  # the breach still to come


def test_acknowledging_in_time_cancels_the_timers(world):
    case_id = escalated(world)
    world.at(local(2026, 11, 2, 11)).act(case_id, "acknowledge")
    world.sweep(local(2026, 11, 20, 10))
    _, events = world.case(case_id)
    assert [e.type for e in events if e.payload.get("clock") == "acknowledge"] == []
    assert any(e.payload.get("clock") == "resolution" for e in events)  # others still fire


def test_missed_acknowledgements_climb_the_ladder_to_the_board_and_then_notify_the_gmd(world):
    """Each level must acknowledge within its target or the case moves up; at the board the
    next person on the list (the group managing director) is told and the miss recorded."""
    case_id = escalated(world)  # L2 at Monday 10:00, ack PT4H business -> 14:00
    world.sweep(local(2026, 11, 2, 14, 30))
    assert world.case(case_id)[0].level == "manager"
    world.sweep(local(2026, 11, 3, 15))  # manager PT8H business from 14:30 -> Tue 14:30
    assert world.case(case_id)[0].level == "board"
    world.sweep(local(2026, 11, 5, 15, 1))  # board: 48 calendar hours
    case, events = world.case(case_id)
    assert case.level == "board"
    misses = [e for e in events if e.type == "sla_breached"]
    assert [(e.payload["level"], e.payload["action"]) for e in misses] == [
        ("L2", "escalate"),
        ("manager", "escalate"),
        ("board", "notify"),
    ]
    assert [e.payload.get("point") for e in events if e.type == "escalate"] == [
        None,
        "breach",
        "breach",
    ]
    notified = world.notifications(case_id)
    assert ("ack_missed", "maria.manager") in notified
    assert ("ack_missed", "group-managing-director") in notified


def test_an_escalation_open_30_days_warns_at_80_percent_then_moves_up(world):
    """Scenario 6."""
    case_id = escalated(world)
    world.at(local(2026, 11, 2, 11)).act(case_id, "acknowledge")
    world.sweep(local(2026, 11, 26, 11))  # day 24: 80 % of 30 days
    assert world.events(case_id)[-1] == ("sla_warning", "L2")
    world.sweep(local(2026, 12, 2, 10, 1))
    case, events = world.case(case_id)
    breach = next(
        e for e in events if e.type == "sla_breached" and e.payload["clock"] == "escalation"
    )
    assert (breach.payload["action"], case.level) == ("escalate", "manager")
    assert ("sla_breach", "maria.manager") in world.notifications(case_id)


def test_follow_up_is_due_two_business_days_after_resolution(world):
    """Scenario 7."""
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    world.at(local(2026, 11, 6, 15)).act(case_id, "resolve", note="fixed")  # Friday
    assert world.deadline(case_id, "follow_up") == local(2026, 11, 10, 15)
    assert world.sweep(local(2026, 11, 10, 14)).fired == 0
    report = world.sweep(local(2026, 11, 10, 15, 1))
    assert (report.claimed, report.fired, report.stale) == (1, 1, 0)  # arms nothing new
    assert world.events(case_id)[-1] == ("follow_up_due", None)
    assert ("follow_up_due", "ana") in world.notifications(case_id)
    world.act(case_id, "follow_up", satisfaction=5, comment="thanks")
    clock = world.clock(case_id, "follow_up")
    # a follow-up falls due, it is not missed: done after the reminder is not a breach,
    # but it was carried out after its due date
    assert (clock["outcome"], clock["breached"], clock["due_reached"]) == (
        "done late",
        False,
        True,
    )


@pytest.mark.parametrize("swept", [False, True])
def test_a_response_in_the_deadlines_own_second_is_late_whether_or_not_a_sweep_came_first(
    world, swept
):
    """The deadline is the first instant the target is reached and the breach is due
    then: a sweep in that second fires it, and an assign in the same second reads late
    either way (it read met when no sweep had come first, late after one). A second
    earlier it is met, swept or not."""
    case_id = world.at(local(2026, 11, 2, 9)).open(priority="high")  # first response PT4H
    deadline = world.deadline(case_id, "first_response")
    assert deadline == local(2026, 11, 2, 13)
    earlier = world.at(local(2026, 11, 2, 9)).open(customer_id="CUST-2", priority="high")
    if swept:  # the warnings, no breach yet
        assert "first_response breach" not in world.sweep(deadline - timedelta(seconds=1)).by_kind
    world.at(deadline - timedelta(seconds=1)).act(earlier, "assign", assignee="ana")
    if swept:  # the other case's breach, on time
        assert world.sweep(deadline).by_kind == {"first_response breach": 1}
    world.at(deadline).act(case_id, "assign", assignee="ana")
    assert world.clock(earlier, "first_response")["outcome"] == "met"
    clock = world.clock(case_id, "first_response")
    assert (clock["outcome"], clock["consumed_s"], clock["breached"]) == ("late", 4 * 3600, swept)


def followed_up_at(world: World, when: datetime) -> int:
    """A case resolved on Friday 6 November 15:00 (follow-up due Tuesday 15:00), followed
    up at `when`."""
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    world.at(local(2026, 11, 6, 15)).act(case_id, "resolve", note="fixed")
    world.at(when).act(case_id, "follow_up", satisfaction=4)
    return case_id


def test_a_follow_up_carried_out_by_its_due_date_is_done(world):
    case_id = followed_up_at(world, local(2026, 11, 10, 15))
    assert world.clock(case_id, "follow_up")["outcome"] == "done"


def test_a_follow_up_carried_out_after_its_due_date_is_done_late_swept_or_not(world):
    case_id = followed_up_at(world, local(2026, 12, 8, 10))
    assert world.clock(case_id, "follow_up")["outcome"] == "done late"
    view = ledger_view(world, case_id, "follow_up")
    assert deadline_summary([view], world.now) == {"done late": 1}
    assert view.verdict(world.now) in MISSED


def test_a_follow_up_is_overdue_only_after_its_due_instant_and_never_a_breached_deadline(world):
    """Carried out at its due instant a follow-up is done, so the ledger reads it running
    until that instant has passed, then overdue; and neither pipeline (the live one, the
    audit snapshot) counts it as a deadline breached or at risk: it falls due, it is not
    a target to miss."""
    open_id = world.open(customer_id="CUST-2")
    world.act(open_id, "assign", assignee="ana")
    world.at(local(2026, 11, 6, 15)).act(open_id, "resolve", note="fixed")
    world.at(local(2026, 11, 2, 10))
    case_id = followed_up_at(world, local(2026, 11, 10, 15))  # followed up at its due instant
    assert world.clock(case_id, "follow_up")["outcome"] == "done"
    due = world.deadline(open_id, "follow_up")
    assert due == local(2026, 11, 10, 15)
    view = ledger_view(world, open_id, "follow_up")
    assert (view.verdict(due), view.verdict(due + timedelta(seconds=1))) == ("running", "overdue")
    later = due + timedelta(days=2)
    with read_connection(world.db) as conn:
        _, counts = deadlines(conn, ViewFilter(), later, timedelta(hours=4))
        then = pipeline_at(conn, later, horizon=timedelta(hours=4))
    assert counts == {"breached": 0, "at risk": 0}
    assert (then.breached, then.at_risk) == ([], [])


def test_a_clock_paused_after_its_deadline_is_breached_on_every_view(world):
    """A clock that used up its target stays breached through a wait: the audit snapshot
    counted it so, while the Pipeline page (its deadline column was empty while paused)
    and the Cases page's status (paused) did not."""
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    deadline = world.deadline(case_id, "resolution")
    world.at(deadline + timedelta(days=1)).act(case_id, "wait_on_customer", note="receipt?")
    clock = world.clock(case_id, "resolution")
    assert (clock["status"], clock["deadline"]) == ("paused", iso(deadline))  # spent: kept
    later = deadline + timedelta(days=2)
    with read_connection(world.db) as conn:
        _, counts = deadlines(conn, ViewFilter(), later, timedelta(hours=4))
        then = pipeline_at(conn, later, horizon=timedelta(hours=4))
        rows, _ = aging(conn, ViewFilter(), AgingQuery(), world.engine.policy, later)
    assert counts == {"breached": 1, "at risk": 0}
    assert [(d.clock, d.breached) for d in then.breached] == [("resolution", True)]
    assert [(r.status, r.next_clock, r.next_deadline) for r in rows] == [
        ("breached", "resolution", deadline)
    ]


def test_a_deadline_at_the_horizons_end_is_at_risk_in_both_pipelines(world):
    """At risk: due within the horizon, its end included, on the live Pipeline page as
    in the audit snapshot (the live page left out a deadline at the end)."""
    case_id = world.at(local(2026, 11, 2, 9)).open(priority="high")
    deadline = world.deadline(case_id, "first_response")
    assert deadline == local(2026, 11, 2, 13)
    horizon = timedelta(hours=3)
    for now, expected in ((deadline - horizon - timedelta(seconds=1), 0), (deadline - horizon, 1)):
        with read_connection(world.db) as conn:
            _, counts = deadlines(conn, ViewFilter(), now, horizon)
            then = pipeline_at(conn, now, horizon=horizon)
        assert counts["at risk"] == len(then.at_risk) == expected


def test_a_reopen_before_the_follow_up_cancels_it(world):
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    world.at(local(2026, 11, 3, 10)).act(case_id, "resolve", note="fixed")
    world.at(local(2026, 11, 4, 10)).act(case_id, "reopen", note="still broken")
    assert world.clock(case_id, "follow_up")["outcome"] == "cancelled"


# --- first contact, and asking the customer before anyone takes the case ----------------


def test_first_contact_resolution_meets_the_first_response_and_the_follow_up_is_due_after(
    world,
):
    """Scenario 11: the agent fixes a double charge on the call and resolves the case
    without taking it first; the follow-up is due two working days later."""
    case_id = world.at(local(2026, 11, 6, 10)).open(subject="Double charge")  # a Friday
    world.at(local(2026, 11, 6, 10, 20)).act(
        case_id, "resolve", actor="ana", note="duplicate refunded"
    )
    case = world.case(case_id)[0]
    assert (case.state, case.assignee) == ("resolved", "ana")
    first_response = world.clock(case_id, "first_response")
    assert (first_response["outcome"], first_response["consumed_s"]) == ("met by resolution", 1200)
    assert world.clock(case_id, "resolution")["outcome"] == "met"
    assert world.deadline(case_id, "follow_up") == local(2026, 11, 10, 10, 20)
    view = ledger_view(world, case_id, "first_response")
    assert "stopped, met by resolution" in view.explain(world.now)
    world.sweep(local(2026, 11, 10, 10, 21))
    assert ("follow_up_due", "ana") in world.notifications(case_id)


def test_first_contact_resolution_after_the_first_response_target_is_late(world):
    case_id = world.open(priority="high")  # PT4H from Monday 10:00
    world.at(local(2026, 11, 2, 15)).act(case_id, "resolve", actor="ana", note="fixed")
    assert world.clock(case_id, "first_response")["outcome"] == "late"


def test_an_acknowledgement_closed_by_resolving_without_acknowledging_is_met_by_resolution(
    world,
):
    case_id = escalated(world)
    world.at(local(2026, 11, 2, 11)).act(case_id, "resolve", actor="l2-bob", note="refunded")
    assert world.clock(case_id, "acknowledge")["outcome"] == "met by resolution"
    acknowledged = escalated(world)
    world.act(acknowledged, "acknowledge", assignee="l2-bob")
    world.act(acknowledged, "resolve", actor="l2-bob", note="refunded")
    assert world.clock(acknowledged, "acknowledge")["outcome"] == "met"


def test_the_ledger_summary_counts_the_new_outcomes_by_name(world):
    case_id = world.open()
    world.at(local(2026, 11, 2, 10, 30)).act(case_id, "resolve", actor="ana", note="fixed")
    with read_connection(world.db) as conn:
        case, events = get_case(conn, case_id)
        views = clock_views(conn, case, world.engine.policy, world.now, events)
    assert deadline_summary(views, world.now) == {"met by resolution": 1, "met": 1, "running": 1}


def test_waiting_before_assignment_pauses_the_clocks_the_policy_lists(world):
    """By default the resolution clock pauses while the customer finds an order number,
    but the first response runs on: asking is not taking the case in hand."""
    case_id = world.open()
    assert statuses_while_waiting_a_day(world, case_id) == {
        "first_response": "running",
        "resolution": "paused",
    }
    # 1 business hour of PT40H used before the wait: 39 left from Tuesday 11:00
    assert world.deadline(case_id, "resolution") == local(2026, 11, 10, 10)


def test_a_policy_may_pause_the_first_response_while_an_open_case_waits(tmp_path, definition):
    policy = policy_with(
        definition,
        'pauses = ["resolution", "escalation"]',
        'pauses = ["first_response", "resolution"]',
    )
    world = World(tmp_path, definition, policy)
    case_id = world.open()  # first response PT8H from Monday 10:00
    world.at(local(2026, 11, 2, 12)).act(case_id, "wait_on_customer", note="order number?")
    assert world.clock(case_id, "first_response")["status"] == "paused"
    world.at(local(2026, 11, 4, 12)).act(case_id, "customer_replied")
    assert world.deadline(case_id, "first_response") == local(2026, 11, 5, 10)


# --- a breach that escalates is visible to filters ---------------------------------------


def test_a_breach_that_escalates_flags_the_case_so_filters_find_it(world):
    case_id = escalated(world)  # L2 must acknowledge by 14:00; on_breach escalates
    notified = world.open(customer_id="CUST-2", priority="high")  # first response: notify
    world.sweep(local(2026, 11, 2, 14, 30))
    case, events = world.case(case_id)
    assert (case.level, case.flags) == ("manager", ["breach"])
    flagged = next(e for e in events if e.type == "flagged")
    assert (flagged.payload["point"], flagged.payload["action"]) == ("breach", "escalate")
    assert [e.type for e in events][-3:] == ["sla_breached", "flagged", "escalate"]
    assert world.case(notified)[0].flags == []  # a breach that only notifies flags nothing
    with read_connection(world.db) as conn:
        found, total = list_cases(conn, CaseFilter(flag="breach"))
    assert ([c.id for c in found], total) == ([case_id], 1)


# --- who hears of an escalation, and who owns the case after it -------------------------


def notices(world: World, case_id: int, kind: str) -> list[tuple[str, str, str]]:
    with read_connection(world.db) as conn:
        rows = conn.execute(
            select(NOTIFICATION.c.recipient, NOTIFICATION.c.subject, NOTIFICATION.c.body)
            .where(NOTIFICATION.c.case_id == case_id, NOTIFICATION.c.kind == kind)
            .order_by(NOTIFICATION.c.id)
        )
        return [tuple(row) for row in rows]


def test_an_escalation_tells_the_level_taking_over_who_sent_it_and_why(world):
    case_id = escalated(world)
    [(recipient, subject, body)] = notices(world, case_id, "escalated")
    assert recipient == "l2-team-lead"
    assert subject == f"Case {case_id} escalated to L2: needs a specialist"
    assert "Escalated from first_level by ana: needs a specialist" in body
    assert "State: escalated / L2" in body


def test_an_escalation_citing_a_point_tells_the_level_the_point_not_none(world):
    case_id = world.open(amount_claimed="800")
    world.act(case_id, "assign", assignee="ana")
    world.act(case_id, "escalate", point="authority", notice=NOTICE)
    [(_, subject, body)] = notices(world, case_id, "escalated")
    assert subject == f"Case {case_id} escalated to L2: point authority"
    assert "Escalated from first_level by ana: point authority\n" in body


def test_an_escalation_at_intake_tells_the_level_with_the_point_and_its_evidence(world):
    """Scenario 2: the manager hears of the court threat the moment the case arrives."""
    case_id = world.open(description="If this is not fixed I will take you to court.")
    [(recipient, subject, body)] = notices(world, case_id, "escalated")
    assert recipient == "maria.manager"
    assert subject.startswith("New case escalated to manager")
    assert "Escalated from open by system:points" in body
    assert 'point legal_risk: phrase "court" in description' in body


def test_an_escalated_case_waits_in_the_levels_queue_until_someone_acknowledges(world):
    case_id = escalated(world)
    assert world.case(case_id)[0].assignee is None
    world.at(local(2026, 11, 2, 13, 30)).sweep(local(2026, 11, 2, 13, 30))  # L2 ack warning
    assert ("sla_warning", "ana") not in world.notifications(case_id)  # ana handed it over
    world.act(case_id, "acknowledge", assignee="l2-bob")
    assert world.case(case_id)[0].assignee == "l2-bob"
    world.act(case_id, "de_escalate", note="back to you", assignee="ana")
    assert world.case(case_id)[0].assignee == "ana"


def test_escalating_past_a_level_before_it_acknowledges_cancels_its_target(world):
    case_id = escalated(world)
    world.at(local(2026, 11, 2, 11)).act(
        case_id, "escalate", reason="needs a manager", notice=NOTICE
    )
    _, events = world.case(case_id)
    stop = next(
        c
        for e in events
        for c in e.payload.get("clocks", ())
        if c["clock"] == "acknowledge" and c["op"] == "stop"
    )
    assert stop["state"]["outcome"] == "cancelled"


def test_a_breach_that_moves_the_case_up_tells_everyone_once_as_it_now_stands(world):
    case_id = escalated(world)  # L2 must acknowledge by 14:00
    world.sweep(local(2026, 11, 2, 14, 30))
    missed = notices(world, case_id, "ack_missed")
    assert [r for r, _, _ in missed] == ["l2-team-lead", "maria.manager"]
    _, subject, body = missed[-1]
    assert subject.endswith("at L2; now with manager")
    assert "State: escalated / manager" in body
    assert [r for r, _, _ in notices(world, case_id, "escalated")] == ["l2-team-lead"]  # by hand


def test_a_notify_breach_tells_the_level_the_next_on_its_list_and_the_owner(world):
    case_id = world.open()
    world.act(case_id, "assign", assignee="ana")
    world.act(case_id, "escalate", reason="board review", notice=NOTICE, to_level="board")
    world.at(local(2026, 11, 2, 10, 30)).act(case_id, "acknowledge", assignee="board-sec")
    world.sweep(local(2026, 11, 9, 18))  # resolution PT40H from Monday 10:00 has passed
    recipients = [r for r, _, _ in notices(world, case_id, "sla_breach")]
    assert recipients == ["board-secretary", "group-managing-director", "board-sec"]
    breach = next(e for e in world.case(case_id)[1] if e.type == "sla_breached")
    assert breach.payload["recipients"] == recipients


def test_a_sweep_with_nothing_due_writes_nothing(world):
    world.open()
    with read_connection(world.db) as conn:
        before = conn.execute(select(EVENT.c.id)).all()
    assert world.sweep(local(2026, 11, 2, 10, 30)).claimed == 0
    with read_connection(world.db) as conn:
        assert conn.execute(select(EVENT.c.id)).all() == before


def test_a_sweep_counts_what_is_due_first_and_reports_each_batch(world):
    for _ in range(3):
        world.open(priority="high")  # first response PT4H: warning 13:12, breach 14:00
    at = local(2026, 11, 2, 14, 30)
    assert count_due(world.db, now=at) == 6
    steps: list[int] = []
    report = sweep(world.engine, at, worker="test", batch=4, on_batch=steps.append)
    assert (steps, report.claimed, report.fired) == ([4, 2], 6, 6)
    assert count_due(world.db, now=at) == 0


@given(st.datetimes(datetime(2, 1, 1), datetime(9998, 12, 31), timezones=st.just(UTC)))
def test_stored_instants_read_as_isoformat_to_the_second_in_any_zone(at):
    for zone in (UTC, ZoneInfo("Europe/Brussels"), ZoneInfo("Asia/Kolkata")):
        local = at.astimezone(zone)  # the same instant: each zone reads it its own way
        assert iso(local) == local.isoformat(timespec="seconds")


def test_a_clock_change_records_only_moved_fields_even_with_unhashable_values() -> None:
    """`recorded_change` finds unmoved fields with a set operation; a value that cannot be
    hashed falls back to comparing field by field, with the same answer (True == 1 unmoved)."""
    from states.clock_state import recorded_change

    old, written = {"a": 1, "b": [1], "c": True}, {"a": 1, "b": [1], "c": 1, "d": 2}
    change = recorded_change("x", "stop", old, written)
    assert change["state"] == {"d": 2}
    change = recorded_change("x", "stop", {"a": 1, "c": "s"}, {"a": 2, "c": "s", "d": None})
    assert change["state"] == {"a": 2, "d": None}
