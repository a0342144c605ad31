"""The dashboard's reads at scale: deadlines and the aging table come from the clock
indexes and say exactly what every case's clocks say; new indexes reach old databases."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import attrgetter
from typing import Any

import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import event, func, select, text

from benchmarks.generate_cases import generate
from states import aging, pipeline_view
from states.audit import verify_all
from states.case import CaseSnapshot
from states.clock_sql import NO_DEADLINE
from states.clocks import CLOCKS, TARGET_CLOCKS, iso
from states.dimensions import DIMENSIONS
from states.events import Event, fold
from states.policy import load_policy
from states.process import load_process
from states.store import CASE, EVENT, init_schema, make_engine, read_connection, row_to_event
from states.timers import TIMER
from states.view_filter import ViewFilter

NEW_INDEXES = (
    "ix_case_deadline_resolution",
    "ix_case_deadline_follow_up",
    "ix_case_state_level_entered",
    "ix_case_open_state_entered",
    "ix_case_event_type_occurred",
    "ix_case_event_moves",
)


@pytest.fixture(scope="module", params=[3000, 1000], ids=["played", "cloned"])
def desk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SAEngine, datetime]:
    """3,000 generated cases over 90 days: a few hundred open, with running clocks; every
    case played through the engine, or cloned from 1,000 played ones (as the million is)."""
    path = tmp_path_factory.mktemp("scale") / "desk.db"
    generate(path, 3000, 30000, 90, 4, workers=1, templates=request.param, now=NOW)
    return make_engine(f"sqlite:///{path}"), NOW


#: The desk's present: fixed, so that it is the same desk on every run (cut at another
#: instant, the same seed gives 28,200 to 30,600 events: cases open in other hours).
NOW = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


def _clocks(db: SAEngine, where: ViewFilter, open_only: bool) -> list[tuple[int, dict[str, Any]]]:
    conditions = where.case_conditions()
    if open_only:
        conditions.append(CASE.c.resolved_at.is_(None))
    with read_connection(db) as conn:
        return list(conn.execute(select(CASE.c.id, CASE.c.clocks).where(*conditions)).all())


def _running(clocks: dict[str, Any]) -> list[tuple[str, str]]:
    """Each clock's deadline in force: running, or paused after it was reached (spent)."""
    return [
        (name, state["deadline"])
        for name, state in clocks.items()
        if name in CLOCKS and state.get("status") in ("running", "paused") and state.get("deadline")
    ]


FILTERS = [ViewFilter(), ViewFilter(team="billing"), ViewFilter(priority="low", channel="email")]


@pytest.mark.slow
@pytest.mark.parametrize("where", FILTERS, ids=["all", "team", "priority+channel"])
def test_positions_count_every_case_and_give_closed_ones_no_wait(desk, where):
    """Followed-up cases (closed: only a reopen leaves the state) are counted, without a filter as
    every case less the others, and have no median wait; every other place has its
    median entry."""
    db, now = desk
    process = load_process()
    groups: dict[tuple[str, str | None], list[datetime]] = {}
    columns = (CASE.c.state, CASE.c.level, CASE.c.state_entered_at)
    with read_connection(db) as conn:
        for state, level, entered in conn.execute(select(*columns).where(*where.case_conditions())):
            groups.setdefault((state, level), []).append(entered)
        found = pipeline_view.positions(conn, where, load_policy(None, process), now, process)
    assert {(p.state, p.level): p.cases for p in found} == {k: len(v) for k, v in groups.items()}
    medians = {(p.state, p.level): p.median_entered_at for p in found}
    expected = {k: sorted(v)[len(v) // 2] for k, v in groups.items() if k[0] != "followed_up"}
    assert medians == {**expected, ("followed_up", None): None}


@pytest.mark.slow
@pytest.mark.parametrize("where", FILTERS, ids=["all", "team", "priority+channel"])
def test_flows_and_activity_count_every_event_of_the_period(desk, where):
    """Moves counted per pair of the process's places, and opened, resolved, escalated per
    day from index ranges, are what the events of the period say, one by one, each kept
    or not by the case as its history says it stood once the event applied."""
    db, now = desk
    since = where.since(now)
    wanted = {name: getattr(where, name) for name in DIMENSIONS if getattr(where, name)}
    events: list[Event] = []

    def keep(event: Event, snap: CaseSnapshot) -> None:
        if all(getattr(snap, name) == value for name, value in wanted.items()):
            events.append(event)

    with read_connection(db) as conn:
        rows = conn.execute(select(EVENT).order_by(EVENT.c.case_id, EVENT.c.seq))
        for _, history in groupby(rows, key=attrgetter("case_id")):
            fold([row_to_event(row) for row in history], keep)
        flows = pipeline_view.flows(conn, where, since, now, load_process())
        activity = pipeline_view.activity(conn, where, since, now)
    period = [e for e in events if since <= e.occurred_at <= now]
    moves = Counter(
        (e.from_state, e.from_level, e.to_state, e.to_level)
        for e in period
        if e.from_state is not None and (e.from_state, e.from_level) != (e.to_state, e.to_level)
    )
    days = Counter(
        (e.occurred_at.date(), pipeline_view.ACTIVITY[e.type])
        for e in period
        if e.type in pipeline_view.ACTIVITY
    )
    assert {(f.from_state, f.from_level, f.to_state, f.to_level): f.count for f in flows} == moves
    assert activity == sorted((day, kind, n) for (day, kind), n in days.items())
    assert moves and days


@pytest.mark.slow
@pytest.mark.parametrize("where", FILTERS, ids=["all", "team", "priority+channel"])
@pytest.mark.parametrize("hours", [1, 24, 24 * 30])
def test_deadlines_are_every_running_target_clocks_deadlines(desk, where, hours):
    db, now = desk
    until, at = iso(now + timedelta(hours=hours)), iso(now)
    due = sorted(
        (deadline, case_id, clock)
        for case_id, clocks in _clocks(db, where, open_only=False)
        for clock, deadline in _running(clocks)
        if clock in TARGET_CLOCKS and deadline <= until
    )
    with read_connection(db) as conn:
        rows, counts = pipeline_view.deadlines(conn, where, now, timedelta(hours=hours))
    assert counts == {
        "breached": sum(d <= at for d, _, _ in due),
        "at risk": sum(d > at for d, _, _ in due),
    }
    assert [(r.case_id, r.clock) for r in rows] == [(c, k) for _, c, k in due[:50]]
    assert counts["breached"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("where", FILTERS, ids=["all", "team", "priority+channel"])
@pytest.mark.parametrize("offset", [0, 50, 400])
def test_the_aging_page_by_next_deadline_is_every_open_cases_soonest(desk, where, offset):
    db, now = desk
    soonest = sorted(
        (min((d for _, d in _running(clocks)), default=NO_DEADLINE), case_id)
        for case_id, clocks in _clocks(db, where, open_only=True)
    )
    policy = load_policy(None, load_process())
    query = aging.AgingQuery(sort="next_deadline", limit=50, offset=offset)
    with read_connection(db) as conn:
        rows, total = aging.aging(conn, where, query, policy, now)
    assert total == len(soonest)
    assert [r.case_id for r in rows] == [case_id for _, case_id in soonest[offset : offset + 50]]


@pytest.mark.slow
def test_the_aging_page_by_next_deadline_reads_the_clock_indexes(desk):
    db, now = desk
    statements: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    policy = load_policy(None, load_process())
    event.listen(db, "before_cursor_execute", record)
    try:
        with read_connection(db) as conn:
            aging.aging(conn, ViewFilter(), aging.AgingQuery(sort="next_deadline"), policy, now)
    finally:
        event.remove(db, "before_cursor_execute", record)
    with read_connection(db) as conn:
        plans = [
            " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {s}", p))
            for s, p in statements
            if "deadline_" in s
        ]
    used = {clock for plan in plans for clock in CLOCKS if f"ix_case_deadline_{clock}" in plan}
    assert used == set(CLOCKS)


def _plans(db: SAEngine, read: Any) -> list[str]:
    """SQLite's plan of each statement `read(conn)` runs."""
    statements: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    event.listen(db, "before_cursor_execute", record)
    try:
        with read_connection(db) as conn:
            read(conn)
    finally:
        event.remove(db, "before_cursor_execute", record)
    with read_connection(db) as conn:
        return [
            " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {s}", p))
            for s, p in statements
        ]


@pytest.mark.parametrize("kind", ["team", "priority+channel", "assignee"])
def test_a_filtered_pipeline_reads_no_case_row_for_a_count_and_no_table_whole(desk, kind):
    """The filters are the last columns of the indexes the counts read: a filtered count
    reads the unfiltered one's range and compares them there (no row looked up per
    entry, no table read whole; the scans are of narrow or partial indexes: how many
    cases the filter keeps, the open cases' waiting times). The page's only row reads
    are the deadlines shown. An assignee, the first column of an index of its own, does
    not draw the deadlines away from theirs (SQLite has no statistics to weigh them)."""
    db, now = desk
    with read_connection(db) as conn:
        agent = conn.execute(select(func.min(CASE.c.assignee))).scalar_one()
    where = {"team": FILTERS[1], "priority+channel": FILTERS[2]}.get(kind)
    where = where or ViewFilter(assignee=agent)
    process, policy = load_process(), load_policy(None, load_process())
    plans = _plans(
        db,
        lambda conn: pipeline_view.pipeline(conn, where, policy, now, timedelta(days=1), process),
    )
    scans = [p for p in plans if re.search(r"\bSCAN (case|case_event)\b", p)]
    allowed = ("ix_case_open_state_entered", "ix_case_assignee")
    assert plans and all(
        any(f"SCAN case USING COVERING INDEX {name}" in p for name in allowed) for p in scans
    )
    counts = [p for p in plans if "ix_case_deadline" not in p and "deadline_" not in p]
    assert counts and all("USING INTEGER PRIMARY KEY" not in p for p in counts)
    deadlines = [p for p in plans if "deadline_" in p or "ix_case_deadline" in p]
    assert deadlines and all("ix_case_assignee" not in p for p in deadlines)


def _index_names(db: SAEngine) -> set[str]:
    with read_connection(db) as conn:
        if db.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'index'"
        else:
            query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        return set(conn.execute(text(query)).scalars())


def test_init_schema_adds_new_indexes_to_an_existing_database(db: SAEngine):
    with db.begin() as conn:
        for name in NEW_INDEXES:
            conn.execute(text(f"DROP INDEX {name}"))
    assert not set(NEW_INDEXES) & _index_names(db)
    init_schema(db)
    assert set(NEW_INDEXES) <= _index_names(db)


@pytest.mark.slow
def test_the_load_fixture_holds_what_it_was_asked_for(desk):
    db, _ = desk
    with read_connection(db) as conn:
        cases = conn.execute(text('SELECT count(*) FROM "case"')).scalar_one()
        events = conn.execute(text("SELECT count(*) FROM case_event")).scalar_one()
        order = conn.execute(
            text(
                "SELECT count(*) FROM case_event a JOIN case_event b ON b.id = a.id + 1 "
                "WHERE b.occurred_at < a.occurred_at"
            )
        ).scalar_one()
    assert cases == 3000
    assert abs(events - 30000) < 30000 * 0.05
    assert order < events * 0.01  # interleaved by time, as the engine stores them


@pytest.mark.slow
def test_every_generated_case_verifies(desk):
    """Chains in the current format, case rows the fold of their events, the process and
    policy they name stored: what ``tierflow audit verify`` checks."""
    db, _ = desk
    results = verify_all(db)
    assert len(results) == 3000
    assert [(r.case_id, r.problems, r.first_broken) for r in results if not r.ok] == []


@pytest.mark.slow
def test_cloned_cases_are_cases_of_their_own(desk):
    """A clone has its own chain and customer, and timer ids that name it (the sweep's
    events cite them)."""
    db, _ = desk
    with read_connection(db) as conn:
        heads = conn.execute(select(CASE.c.last_hash, CASE.c.customer_id)).all()
        timers = conn.execute(select(TIMER.c.id, TIMER.c.case_id)).all()
    assert len({head for head, _ in heads}) == 3000
    assert len({customer for _, customer in heads}) > 2500
    assert all(timer_id // 128 == case_id for timer_id, case_id in timers)


@pytest.mark.slow
def test_the_load_fixture_has_the_schema_init_schema_makes(desk, tmp_path):
    db, _ = desk
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    init_schema(fresh)
    query = text("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
    schemas = []
    for engine in (db, fresh):
        with read_connection(engine) as conn:
            schemas.append(conn.execute(query).all())
    fresh.dispose()
    assert schemas[0] == schemas[1]


@pytest.mark.slow
def test_every_running_deadline_ahead_has_its_pending_timer(desk):
    """The sweep finds what the clocks say is due: a pending breach (or follow-up due)
    timer of the clock's round at each deadline not yet reached, and none for a clock
    that stopped or breached."""
    db, now = desk
    at = iso(now)
    running = {
        (case_id, clock, "due" if clock == "follow_up" else "breach", state["armed_seq"]): state
        for case_id, clocks in _clocks(db, ViewFilter(), open_only=False)
        for clock, state in clocks.items()
        if state.get("status") == "running" and not state["breached"]
    }
    ahead = {key for key, state in running.items() if state["deadline"] > at}
    with read_connection(db) as conn:
        pending = set(
            conn.execute(
                select(TIMER.c.case_id, TIMER.c.clock, TIMER.c.kind, TIMER.c.generation).where(
                    TIMER.c.status == "pending", TIMER.c.kind != "warning"
                )
            ).all()
        )
    assert ahead
    assert ahead <= pending <= set(running)  # a deadline just passed: its sweep is due
