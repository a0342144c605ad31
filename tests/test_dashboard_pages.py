"""The manager pages (Pipeline, Cases, Case) show what the database holds, and their
queries (states.pipeline_view, states.aging, states.case_view) agree with the same
figures computed case by case in Python."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import func, select

from dashboard.diagram import process_dot
from states import pipeline_view
from states.aging import AgingQuery, aging, sla_status
from states.clocks import TARGET_CLOCKS
from states.demo import generate_demo
from states.engine import Engine
from states.pipeline_view import WAIT_EDGES_H, deadlines, escalations, positions, waiting_times
from states.policy import Policy, load_policy
from states.process import ProcessDefinition, load_process, parse_process
from states.queries import get_case
from states.store import CASE, EVENT, read_connection, write_transaction
from states.sweep import sweep
from states.tables import Notification
from states.view_filter import ViewFilter
from tests.conftest import sqlite_db
from tests.drivers import StoredDriver
from tests.test_dashboard import app

pytestmark = pytest.mark.slow  # AppTest imports the domain per run; the demo takes seconds

NOTICE = "Our specialist team takes over: they can decide on refunds directly."


@pytest.fixture
def world(tmp_path: Path, definition: ProcessDefinition) -> dict[str, int]:
    """Four cases over the last six days, swept to now: one open, one with an agent, one
    escalated, one resolved; their ids by name."""
    now = datetime.now(UTC).replace(microsecond=0)
    driver = StoredDriver(sqlite_db(tmp_path), definition, now - timedelta(days=6))
    ids = {"waiting": driver.open(priority="low", channel="chat", customer_id="C1")}
    driver.advance(timedelta(hours=5))
    ids["assigned"] = driver.open(priority="high", channel="email", team="alpha", customer_id="C2")
    driver.act(ids["assigned"], "assign", assignee="ana")
    driver.advance(timedelta(days=1))
    ids["escalated"] = driver.open(
        priority="normal", channel="phone", team="beta", customer_id="C3"
    )
    driver.act(ids["escalated"], "escalate", reason="needs a specialist", notice=NOTICE)
    driver.advance(timedelta(days=1))
    ids["resolved"] = driver.open(priority="normal", channel="email", customer_id="C4")
    driver.act(ids["resolved"], "assign", assignee="ben")
    driver.act(ids["resolved"], "resolve", note="refunded")
    driver.now = now
    sweep(driver.engine, now)
    driver.db.dispose()
    return ids


def _count(home: Path, *where: object, table: object = CASE) -> int:
    db = sqlite_db(home)
    with read_connection(db) as conn:
        found = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
    db.dispose()
    return found


def _metric(at: object, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)  # type: ignore[attr-defined]


# --- Pipeline -------------------------------------------------------------------------


def test_pipeline_shows_the_cases_the_database_holds_and_filters_change_them(
    world: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch)
    assert not at.exception and not at.error
    assert _metric(at, "Cases") == str(_count(tmp_path)) == "4"
    table = at.dataframe[0].value
    assert dict(zip(table["state"], table["cases"], strict=True)) == {
        "open": 1,
        "first_level": 1,
        "escalated": 1,
        "resolved": 1,
    }
    escalated = _count(tmp_path, EVENT.c.type == "escalate", table=EVENT)
    breached = _count(tmp_path, EVENT.c.type == "sla_breached", table=EVENT)
    assert _metric(at, "Escalations in period") == str(escalated)
    assert escalated >= 1  # by hand; the sweep may have climbed a missed acknowledgement
    assert _metric(at, "Breaches in period") == str(breached)
    assert breached > 0  # the open chat case missed its first response long ago

    at.sidebar.selectbox(key="f_priority").set_value("high").run()
    assert _metric(at, "Cases") == "1"
    assert _metric(at, "Escalations in period") == "0"
    at.sidebar.selectbox(key="f_team").set_value("beta").run()  # high and beta: nothing
    assert _metric(at, "Cases") == "0"
    assert not at.exception


def test_pipeline_renders_an_empty_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_db(tmp_path).dispose()
    at = app(tmp_path, monkeypatch)
    assert not at.exception and not at.error
    assert _metric(at, "Cases") == "0"
    assert any("No open cases" in i.value for i in at.info)


def test_pipeline_renders_one_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, definition: ProcessDefinition
) -> None:
    driver = StoredDriver(sqlite_db(tmp_path), definition, datetime.now(UTC))
    driver.open()
    at = app(tmp_path, monkeypatch)
    assert not at.exception and not at.error
    assert _metric(at, "Cases") == "1"


def test_the_diagram_is_drawn_from_the_process_so_a_changed_process_draws_itself() -> None:
    shipped = load_process()
    dot = process_dot(shipped, [], [])
    for spec in shipped.states:
        assert f'"{spec.name}' in dot
    for level in shipped.ladder:
        assert f'"escalated__{level.name}"' in dot
    renamed = parse_process(
        shipped.source_text.replace('title = "Followed up"', 'title = "Called back"')
    )
    assert "Called back" in process_dot(renamed, [], []) and "Called back" not in dot


# --- Cases ----------------------------------------------------------------------------


def test_cases_lists_every_open_case_and_the_filters_narrow_it(
    world: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path, monkeypatch)
    at.switch_page("pages/cases.py").run()
    assert not at.exception and not at.error
    open_cases = _count(tmp_path, CASE.c.resolved_at.is_(None))
    assert at.caption[0].value.startswith(f"{open_cases} open cases")
    table = at.dataframe[0].value
    assert set(table["case"]) == {world["waiting"], world["assigned"], world["escalated"]}
    assert table.set_index("case").loc[world["waiting"], "SLA"] == "breached"

    at.sidebar.selectbox(key="f_assignee").set_value("ana").run()
    assert list(at.dataframe[0].value["case"]) == [world["assigned"]]
    at.selectbox(key="cases_state").set_value("escalated").run()  # ana has none escalated
    assert at.dataframe[0].value.empty
    assert at.caption[0].value.startswith("0 open cases")


# --- Case -----------------------------------------------------------------------------


def test_case_shows_its_timeline_clocks_and_notifications(
    world: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = world["escalated"]
    at = app(tmp_path, monkeypatch)
    at.query_params["case"] = str(case_id)
    at.switch_page("pages/case.py").run()
    assert not at.exception and not at.error
    assert at.subheader[0].value.startswith(f"#{case_id} ")
    db = sqlite_db(tmp_path)
    with read_connection(db) as conn:
        level = get_case(conn, case_id)[0].level
    db.dispose()
    assert _metric(at, "State") == f"escalated ({level})"
    timeline, *_ledger, notices = (d.value for d in at.dataframe)
    events = _count(tmp_path, EVENT.c.case_id == case_id, table=EVENT)
    assert list(timeline["#"]) == list(range(1, events + 1))
    assert list(timeline["what"][:2]) == ["opened", "escalate"]
    assert "needs a specialist" in timeline["why / details"][1]
    sent = Notification.__table__
    assert len(notices) == _count(tmp_path, sent.c.case_id == case_id, table=sent) > 0
    assert any(e.label.startswith("acknowledge #1, L2") for e in at.expander)


@pytest.mark.parametrize(("param", "message"), [("999", "999"), ("x1", "invalid case 'x1'")])
def test_case_that_does_not_exist_is_one_message(
    world: dict[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    param: str,
    message: str,
) -> None:
    at = app(tmp_path, monkeypatch)
    at.query_params["case"] = param
    at.switch_page("pages/case.py").run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value


# --- the queries against a demo, case by case -----------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[SAEngine, Policy, datetime]:
    db = sqlite_db(tmp_path_factory.mktemp("demo"))
    definition = load_process()
    policy = load_policy(None, definition)
    now = datetime.now(UTC)
    generate_demo(Engine(db, definition, policy), cases=25, seed=7, now=now)
    return db, policy, now


def _all_cases(db: SAEngine) -> list:
    with read_connection(db) as conn:
        return [get_case(conn, i)[0] for i in conn.execute(select(CASE.c.id)).scalars()]


def test_waiting_times_put_each_open_case_in_the_bucket_of_its_business_wait(demo) -> None:
    db, policy, now = demo
    calendar = policy.calendar(policy.default_calendar)
    expected: dict[str, Counter[int]] = {}
    for case in _all_cases(db):
        if case.resolved_at is None:
            waited = calendar.elapsed(case.state_entered_at, now)
            index = next(
                (i for i, h in enumerate(WAIT_EDGES_H) if waited < timedelta(hours=h)),
                len(WAIT_EDGES_H),
            )
            expected.setdefault(case.state, Counter())[index] += 1
    with read_connection(db) as conn:
        found = waiting_times(conn, ViewFilter(), policy, now)
    assert {s: Counter({i: n for i, n in enumerate(c) if n}) for s, c in found.items()} == expected


def test_positions_count_and_take_the_median_entry_of_each_state(demo) -> None:
    db, policy, now = demo
    groups: dict[tuple[str, str | None], list[datetime]] = {}
    for case in _all_cases(db):
        groups.setdefault((case.state, case.level), []).append(case.state_entered_at)
    with read_connection(db) as conn:
        found = positions(conn, ViewFilter(), policy, now)
    assert {(p.state, p.level): p.cases for p in found} == {k: len(v) for k, v in groups.items()}
    for p in found:
        entries = sorted(groups[(p.state, p.level)])
        assert p.median_entered_at == entries[len(entries) // 2]


def test_deadlines_are_every_running_target_breached_or_due_within_the_horizon(demo) -> None:
    """A follow-up falls due, it is not a target: never breached nor at risk."""
    db, _policy, now = demo
    horizon = timedelta(days=3)
    expected = set()
    for case in _all_cases(db):
        for clock in TARGET_CLOCKS:
            state = case.clocks.get(clock) or {}
            due = state.get("deadline")
            if (
                state.get("status") in ("running", "paused")  # paused: spent, if it has one
                and due
                and datetime.fromisoformat(due) <= now + horizon
            ):
                expected.add((case.id, clock))
    with read_connection(db) as conn:
        rows, counts = deadlines(conn, ViewFilter(), now, horizon, limit=10_000)
    assert {(d.case_id, d.clock) for d in rows} == expected
    assert counts["breached"] + counts["at risk"] == len(expected)
    assert [d.deadline for d in rows] == sorted(d.deadline for d in rows)


def test_aging_pages_cover_every_open_case_once_in_deadline_order(demo) -> None:
    db, policy, now = demo
    open_cases = {c.id: c for c in _all_cases(db) if c.resolved_at is None}
    seen = []
    with read_connection(db) as conn:
        for offset in range(0, len(open_cases) + 7, 7):
            query = AgingQuery(sort="next_deadline", limit=7, offset=offset)
            rows, total = aging(conn, ViewFilter(), query, policy, now)
            assert total == len(open_cases)
            seen += rows
    assert sorted(r.case_id for r in seen) == sorted(open_cases)
    soonest = [r.next_deadline or datetime.max.replace(tzinfo=UTC) for r in seen]
    assert soonest == sorted(soonest)
    for row in seen:
        case = open_cases[row.case_id]
        assert row.status == sla_status(case.clocks, case.waiting, now)
        assert row.age == policy.calendar(policy.default_calendar).elapsed(case.opened_at, now)


def test_escalations_count_by_point_and_reason(demo) -> None:
    db, _policy, now = demo
    with read_connection(db) as conn:
        events = conn.execute(
            select(EVENT.c.payload).where(
                EVENT.c.type == "escalate", EVENT.c.occurred_at >= now - timedelta(days=365)
            )
        ).scalars()
        expected = Counter((p.get("point") or "by hand", p.get("reason") or "-") for p in events)
        found = escalations(conn, ViewFilter(period_days=365), now - timedelta(days=365), now)
    assert {(p, r): n for p, r, n in found} == expected


def test_the_page_queries_read_the_same_history_on_sqlite_and_postgresql(
    db: SAEngine, definition: ProcessDefinition
) -> None:
    """JSON paths, LEAST/MIN and the day buckets are written per dialect: each reads
    the history the engine wrote."""
    now = datetime.now(UTC).replace(microsecond=0)
    driver = StoredDriver(db, definition, now - timedelta(days=4))
    first = driver.open(priority="high", channel="chat")
    second = driver.open(priority="low")
    driver.act(second, "assign", assignee="ana")
    driver.advance(timedelta(days=1))
    driver.act(second, "escalate", reason="needs a specialist", notice=NOTICE)
    driver.now = now
    sweep(driver.engine, now)
    policy = load_policy(None, definition)
    where, since = ViewFilter(period_days=7), now - timedelta(days=7)
    with read_connection(db) as conn:
        rows, total = aging(conn, where, AgingQuery(), policy, now)
        urgent, counts = deadlines(conn, where, now, timedelta(days=1))
        moves = pipeline_view.flows(conn, where, since, now, definition)
        days = pipeline_view.activity(conn, where, since, now)
        missed = pipeline_view.breaches(conn, where, since, now)
        reasons = escalations(conn, where, since, now)
    assert total == 2 and {r.case_id for r in rows} == {first, second}
    chat = next(r for r in rows if r.case_id == first)
    assert (chat.status, chat.next_clock) == ("breached", "first_response")  # 15 min, days ago
    assert (first, "first_response", True) in [(d.case_id, d.clock, d.breached) for d in urgent]
    assert counts["breached"] >= 1
    assert ("first_level", None, "escalated", "L2") in [
        (m.from_state, m.from_level, m.to_state, m.to_level) for m in moves
    ]
    assert sum(n for _day, kind, n in days if kind == "opened") == 2
    assert (
        next(day for day, kind, _n in days if kind == "escalated")
        == (now - timedelta(days=3)).date()
    )
    assert missed["first_response"] >= 1
    assert ("by hand", "needs a specialist", 1) in reasons


def test_pages_render_while_a_writer_holds_the_database(
    world: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep writing (SQLite's write lock held, rows not yet committed) does not stop a
    page: the dashboard reads the last committed state."""
    writer = sqlite_db(tmp_path)
    with pytest.raises(_Abort), write_transaction(writer) as conn:
        conn.execute(CASE.update().where(CASE.c.id == world["waiting"]).values(priority="urgent"))
        at = app(tmp_path, monkeypatch)
        assert not at.exception and not at.error
        assert _metric(at, "Cases") == "4"
        at.sidebar.selectbox(key="f_priority").set_value("urgent").run()
        assert _metric(at, "Cases") == "0"  # the uncommitted change is not seen
        at.switch_page("pages/cases.py").run()
        assert not at.exception and not at.error
        raise _Abort  # the writer gives up: nothing it wrote stays
    writer.dispose()
    assert _count(tmp_path, CASE.c.priority == "urgent") == 0


class _Abort(Exception):
    pass
