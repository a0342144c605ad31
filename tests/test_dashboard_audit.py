"""The dashboard's Audit page: a case replayed step by step, the pipeline as it stood at
a past instant, the hash chain's verdict (a tampered case shows as broken), the last
nightly verification, and the history as CSV; and the replay steps behind them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select, update
from streamlit.testing.v1 import AppTest

from flows.runtime import Runtime
from states.anchor import write_anchor
from states.audit_key import load_key
from states.demo import generate_demo
from states.events import fold
from states.replay_steps import CSV_COLUMNS, replay_steps, steps_csv
from states.runlog import RunStart, finish_run
from states.store import EVENT, load_events, read_connection, write_transaction
from tests.conftest import sqlite_db
from tests.drivers import StoredDriver
from tests.forge import reseal

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOTICE = "Our specialist team takes over."
KEY = "k" * 40

pytestmark = pytest.mark.xdist_group("dashboard")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TIERFLOW_HOME", str(home))
    for name in (
        "TIERFLOW_DATABASE_URL",
        "TIERFLOW_SCHEDULES_FILE",
        "TIERFLOW_AUDIT_KEY",
        "PREFECT_API_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def world(home: Path, definition) -> StoredDriver:
    """Case 1 (billing) goes the whole way: opened, assigned, escalated, acknowledged,
    resolved; case 2 (returns) is opened a day later and assigned; case 3 (returns) only
    opened, on Wednesday. Three customers: no repeat-customer routing."""
    world = StoredDriver(sqlite_db(home), definition, MONDAY)
    first = world.open(priority="high", team="billing")
    world.advance(timedelta(hours=1))
    world.act(first, "assign", assignee="ana")
    world.advance(timedelta(hours=2))
    world.act(first, "escalate", reason="needs a specialist", notice=NOTICE)
    world.advance(timedelta(hours=1))
    world.act(first, "acknowledge", actor="lee")
    world.advance(timedelta(hours=20))
    second = world.open(team="returns", customer_id="CUST-2")
    world.advance(timedelta(hours=1))
    world.act(second, "assign", assignee="bo")
    world.advance(timedelta(hours=3))
    world.act(first, "resolve", note="refunded", actor="lee")
    world.advance(timedelta(days=1))
    world.open(team="returns", customer_id="CUST-3")
    return world


def audit_page(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(params)
    at.run()
    return at.switch_page("pages/audit.py").run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_stepper_shows_the_case_as_it_stood_after_each_event(world: StoredDriver) -> None:
    with read_connection(world.db) as conn:
        events = load_events(conn, 1)
    at = audit_page(case="1")
    assert not at.exception and not at.error
    slider = at.slider[0]
    assert (slider.min, slider.max) == (1, len(events))
    seen = []
    for number in range(1, len(events) + 1):
        at.slider[0].set_value(number).run()
        expected = fold(events[:number])  # what the events say after `number` of them
        shown = (metric(at, "State"), metric(at, "Level"), metric(at, "Assignee"))
        assert shown == (expected.state, expected.level or "-", expected.assignee or "-")
        seen.append(shown[0])
    assert list(dict.fromkeys(seen)) == ["open", "first_level", "escalated", "resolved"]


def test_the_stepper_shows_each_clock_and_its_deadline_then(world: StoredDriver) -> None:
    at = audit_page(case="1")
    at.slider[0].set_value(1).run()
    clocks = next(f.value for f in at.dataframe if "clock" in f.value.columns)
    with read_connection(world.db) as conn:
        opened = fold(load_events(conn, 1)[:1])
    assert set(clocks["clock"]) == set(opened.clocks)
    for row in clocks.to_dict("records"):
        state = opened.clocks[row["clock"]]
        assert row["status"] == state["status"]
        if state.get("deadline"):
            assert row["deadline (UTC)"] == datetime.fromisoformat(state["deadline"])
        else:
            assert pd.isna(row["deadline (UTC)"])


def test_a_tampered_case_shows_as_broken_and_an_intact_one_as_verified(
    world: StoredDriver,
) -> None:
    at = audit_page(case="2")
    assert any("Verified" in s.value for s in at.success)
    with write_transaction(world.db) as conn:
        conn.execute(
            update(EVENT)
            .where(EVENT.c.case_id == 2, EVENT.c.seq == 2)
            .values(actor="mallory")  # the hash no longer matches
        )
    at = audit_page(case="2")
    (broken,) = [e.value for e in at.error if "Does not verify" in e.value]
    assert "event #2" in broken and "altered" in broken


def test_the_last_nightly_verification_is_shown_with_its_failing_cases(
    world: StoredDriver,
) -> None:
    run = RunStart("nightly-1", "verify_audit", "w1", MONDAY, "verify_audit")
    counts = {"cases": 3, "events": 12, "failed": 1, "failing_cases": [2]}
    finish_run(world.db, run, "failed", MONDAY + timedelta(seconds=3), counts, "1 of 3 cases")
    at = audit_page(case="1")
    (shown,) = [e.value for e in at.error if "failed at" in e.value]
    assert "3 cases, 12 events, 1 failing" in shown and "1 of 3 cases" in shown


def test_the_pipeline_as_it_stood_equals_what_the_events_say(world: StoredDriver) -> None:
    at = audit_page()
    at.date_input(key="then_day").set_value((MONDAY + timedelta(days=1)).date())
    at.time_input(key="then_time").set_value(time(12, 0))
    at.button(key="then_show").click().run()
    assert not at.exception
    counts = next(f.value for f in at.dataframe if "cases" in f.value.columns)
    # Tuesday noon: case 1 escalated at L2 and acknowledged, case 2 assigned; case 3
    # was not opened yet and case 1's resolution was still three hours away.
    assert sorted(map(tuple, counts.values.tolist())) == [
        ("escalated", "L2", 1),
        ("first_level", "", 1),
    ]
    assert "2 cases on 2026-11-03 12:00 UTC" in [h.value for h in at.subheader]
    then = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    with read_connection(world.db) as conn:
        histories = [[e for e in load_events(conn, i) if e.occurred_at <= then] for i in (1, 2, 3)]
    billing = sum(1 for events in histories if events and fold(events).team == "billing")
    at.sidebar.selectbox(key="f_team").set_value("billing").run()
    assert f"{billing} cases on 2026-11-03 12:00 UTC" in [h.value for h in at.subheader]
    assert billing == 1  # the filter changed the figure


def test_the_history_csv_has_one_row_per_event_with_the_case_after_it(
    world: StoredDriver,
) -> None:
    with read_connection(world.db) as conn:
        steps = replay_steps(conn, 1)
        events = load_events(conn, 1)
    rows = list(csv.DictReader(io.StringIO(steps_csv(1, steps))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [int(row["seq"]) for row in rows] == [event.seq for event in events]
    assert [row["activity"] for row in rows] == [event.type for event in events]
    assert [row["resource"] for row in rows][:2] == [events[0].actor, "ana"]
    assert rows[-1]["state"] == "resolved" and rows[-1]["hash"] == events[-1].hash
    assert all(row["timestamp"].endswith("+00:00") for row in rows)


def test_each_step_is_the_fold_of_the_events_up_to_it(world: StoredDriver) -> None:
    with read_connection(world.db) as conn:
        events = load_events(conn, 1)
        steps = replay_steps(conn, 1)
    for number, step in enumerate(steps, start=1):
        snap = fold(events[:number])
        assert (step.state, step.level, step.assignee, step.waiting, list(step.flags)) == (
            snap.state,
            snap.level,
            snap.assignee,
            snap.waiting,
            snap.flags,
        )
        assert {c.name: c.status for c in step.clocks} == {
            name: state["status"] for name, state in snap.clocks.items()
        }


def test_an_unreachable_database_is_one_message_on_the_audit_page(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERFLOW_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    at = audit_page(case="1")
    assert not at.exception
    assert len(at.error) == 1 and "connection" in at.error[0].value


def test_a_case_that_does_not_exist_is_one_message(world: StoredDriver) -> None:
    at = audit_page(case="99")
    assert not at.exception
    assert [e.value for e in at.error] == ["case 99 not found"]


def test_an_instant_in_the_future_is_refused(world: StoredDriver) -> None:
    now = datetime.now(UTC)
    if now.time() >= time(23, 45):
        pytest.skip("no later instant today to choose (the date stops at today)")
    at = audit_page()
    at.date_input(key="then_day").set_value(now.date())
    at.time_input(key="then_time").set_value(time(23, 45))
    at.button(key="then_show").click().run()
    assert not at.exception
    assert any("is in the future" in e.value for e in at.error)


@pytest.mark.slow
def test_the_audit_and_ops_pages_render_every_step_on_the_demo_database(
    home: Path, definition
) -> None:
    runtime = Runtime.from_env(home=home)
    runtime.init()
    generate_demo(runtime.engine, cases=30, seed=2013, now=datetime.now(UTC))
    with read_connection(runtime.db) as conn:
        longest, events = conn.execute(
            select(EVENT.c.case_id, func.count())
            .group_by(EVENT.c.case_id)
            .order_by(func.count().desc(), EVENT.c.case_id)
            .limit(1)
        ).one()
    at = audit_page(case=str(longest))
    assert not at.exception and not at.error
    for number in range(1, events + 1):
        at.slider[0].set_value(number).run()
        assert not at.exception and f"step {number} of {events}" in at.subheader[0].value
    at.button(key="then_show").click().run()
    assert not at.exception and not at.error
    at.switch_page("pages/ops.py").run()
    assert not at.exception and not at.error


def test_a_history_resealed_after_the_anchor_verifies_alone_but_not_against_it(
    world: StoredDriver, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERFLOW_AUDIT_KEY", KEY)
    with read_connection(world.db) as conn:
        write_anchor(conn, load_key(KEY, home / "none"), home / "anchors.jsonl", datetime.now(UTC))
    at = audit_page(case="2")
    assert any("Unchanged since the anchor" in s.value for s in at.success)
    reseal(world.db, 2, 2, actor="mallory")  # edited, then the chain sealed again
    at = audit_page(case="2")
    assert any("Verified" in s.value for s in at.success)  # the chain alone cannot tell
    (against,) = [e.value for e in at.error if "Against the anchors" in e.value]
    assert "case 2" in against and "changed after the anchor" in against


def test_without_an_audit_key_the_page_says_anchors_are_not_checked(world: StoredDriver) -> None:
    at = audit_page(case="1")
    assert not at.exception and not at.error
    assert any("Anchors not checked" in c.value for c in at.caption)


@pytest.mark.parametrize("given", ["abc", "0", str(2**40)])
def test_a_bad_case_number_in_the_url_is_one_message(world: StoredDriver, given: str) -> None:
    at = audit_page(case=given)
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"invalid case {given!r} in the URL; allowed: a case number from 1 to {2**31 - 1}"
    ]
