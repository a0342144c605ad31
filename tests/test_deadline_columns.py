"""Each SLA clock's running deadline is a column of the case row (schema 6).

The dashboard finds deadlines through an index on each column; the columns are
derived from the clock states (`states.case.DEADLINE_COLUMNS`), so they must say
exactly what the states say after any history (waits, spent clocks, reopens,
escalations), the audit must notice an edited one, and an older database must
come out of ``init`` with them filled and the dashboard answering as before.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import inspect, literal_column, select, text, update

from states.aging import AgingQuery, aging
from states.audit import verify_case
from states.case import DEADLINE_CLOCKS, DEADLINE_COLUMNS
from states.commands import Act, OpenCase
from states.demo import generate_demo
from states.engine import Engine
from states.json_sql import clock_value, running
from states.pipeline_view import deadlines
from states.policy import load_policy
from states.store import CASE, SCHEMA_VERSION, init_schema, read_connection
from states.view_filter import ViewFilter

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def demo_db(db: SAEngine, definition) -> SAEngine:
    """Demo cases played up to NOW (reopens, breaches, escalations, follow-ups), and two
    cases waiting on their customer at NOW: one paused in time, one whose resolution
    target was used up before the wait (its deadline stays, but the clock is paused)."""
    engine = Engine(db, definition, load_policy(None, definition))
    generate_demo(engine, 60, seed=5, now=NOW)
    for opened in (NOW - timedelta(days=2), NOW - timedelta(days=30)):
        case_id = engine.apply(
            OpenCase(customer_id="W1", subject="Receipt", channel="email"), opened
        ).case_id
        assign = Act(case_id=case_id, trigger="assign", actor="lead", assignee="ana")
        engine.apply(assign, opened + timedelta(minutes=5))
        wait = Act(case_id=case_id, trigger="wait_on_customer", actor="ana", note="receipt?")
        engine.apply(wait, NOW - timedelta(hours=1))
    engine.close()
    return db


def _expected(clocks: dict) -> dict[str, str | None]:
    """What the columns must hold: each clock's deadline while it runs or is paused with
    one (spent: breached through the wait), else nothing."""
    found = {}
    for clock, name in zip(DEADLINE_CLOCKS, DEADLINE_COLUMNS, strict=True):
        state = clocks.get(clock)
        active = state and state["status"] in ("running", "paused")
        found[name] = state.get("deadline") if active else None
    return found


def _rows(db: SAEngine) -> list:
    with read_connection(db) as conn:
        return conn.execute(select(CASE).order_by(CASE.c.id)).all()


def test_each_case_row_holds_the_deadlines_in_force_of_its_clocks(demo_db):
    """Running clocks' deadlines, and a spent clock's through a wait (the dashboard read
    it as neither breached nor at risk, while the audit snapshot counted it breached);
    a clock paused in time holds none."""
    rows = _rows(demo_db)
    held = spent = in_time = 0
    for row in rows:
        clocks = row.clocks if isinstance(row.clocks, dict) else json.loads(row.clocks)
        assert {name: row._mapping[name] for name in DEADLINE_COLUMNS} == _expected(clocks)
        held += sum(row._mapping[name] is not None for name in DEADLINE_COLUMNS)
        paused = [state for state in clocks.values() if state["status"] == "paused"]
        spent += sum(bool(state.get("deadline")) for state in paused)
        in_time += sum(not state.get("deadline") for state in paused)
    assert held > 0 and spent > 0 and in_time > 0  # running clocks, and both kinds of wait


def test_the_audit_reports_an_edited_deadline_column(demo_db):
    row = next(r for r in _rows(demo_db) if r.deadline_resolution is not None)
    with demo_db.begin() as conn:
        conn.execute(
            update(CASE)
            .where(CASE.c.id == row.id)
            .values(deadline_resolution="2000-01-01T00:00:00+00:00")
        )
    with read_connection(demo_db) as conn:
        problems = verify_case(conn, row.id).problems
    assert problems == [
        f"field deadline_resolution: stored '2000-01-01T00:00:00+00:00', "
        f"replayed {row.deadline_resolution!r}"
    ]


def _dashboard(db: SAEngine) -> tuple:
    """What the dashboard reads through the deadline indexes, at NOW."""
    policy = load_policy()
    with read_connection(db) as conn:
        found, counts = deadlines(conn, ViewFilter(), NOW, timedelta(days=2), limit=500)
        page, total = aging(
            conn, ViewFilter(), AgingQuery(sort="next_deadline", limit=20), policy, NOW
        )
    return found, counts, [(r.case_id, r.next_deadline) for r in page], total


def _downgrade_to_schema_5(db: SAEngine) -> None:
    """Give `db` schema 5's shape: no deadline columns, indexes on the clocks JSON."""
    clocks = literal_column("clocks")  # unqualified, as an index expression must be
    with db.begin() as conn:
        for clock, name in zip(DEADLINE_CLOCKS, DEADLINE_COLUMNS, strict=True):
            conn.execute(text(f"DROP INDEX ix_case_deadline_{clock}"))
            conn.execute(text(f'ALTER TABLE "case" DROP COLUMN {name}'))
        for clock in DEADLINE_CLOCKS:  # as schema 5 made them (not added to the model)
            key, where = (
                str(expression.compile(dialect=db.dialect))
                for expression in (clock_value(clocks, clock, "deadline"), running(clocks, clock))
            )
            conn.execute(
                text(
                    f'CREATE INDEX ix_case_deadline_{clock} ON "case" '
                    f"({key}, team, priority, channel, assignee) WHERE {where}"
                )
            )
        conn.execute(text("UPDATE schema_info SET schema_version = 5"))


def test_init_moves_a_schema_5_databases_deadlines_into_columns(demo_db):
    before = _dashboard(demo_db)
    rows = _rows(demo_db)
    _downgrade_to_schema_5(demo_db)
    assert not set(DEADLINE_COLUMNS) & {c["name"] for c in inspect(demo_db).get_columns("case")}
    init_schema(demo_db)
    assert _rows(demo_db) == rows
    assert _dashboard(demo_db) == before
    with read_connection(demo_db) as conn:
        version = conn.execute(text("SELECT schema_version FROM schema_info")).scalar_one()
        assert all(verify_case(conn, row.id).ok for row in rows)
    assert version == SCHEMA_VERSION == 7
    indexes = {i["name"]: i["column_names"] for i in inspect(demo_db).get_indexes("case")}
    for clock, name in zip(DEADLINE_CLOCKS, DEADLINE_COLUMNS, strict=True):
        assert indexes[f"ix_case_deadline_{clock}"][0] == name


def test_cases_written_after_the_migration_keep_their_columns(demo_db, definition):
    _downgrade_to_schema_5(demo_db)
    init_schema(demo_db)
    engine = Engine(demo_db, definition, load_policy(None, definition))
    at = NOW + timedelta(days=1)
    case_id = engine.apply(OpenCase(customer_id="C1", subject="Refund", channel="chat"), at).case_id
    for step, act in enumerate(
        [
            Act(case_id=case_id, trigger="assign", actor="lead", assignee="ana"),
            Act(case_id=case_id, trigger="wait_on_customer", actor="ana", note="receipt?"),
            Act(case_id=case_id, trigger="customer_replied", actor="ana"),
            Act(
                case_id=case_id,
                trigger="escalate",
                actor="ana",
                reason="needs a specialist",
                notice="A specialist takes over.",
            ),
        ],
        start=1,
    ):
        engine.apply(act, at + step * timedelta(hours=1))
    engine.close()
    for row in _rows(demo_db):
        clocks = row.clocks if isinstance(row.clocks, dict) else json.loads(row.clocks)
        assert {name: row._mapping[name] for name in DEADLINE_COLUMNS} == _expected(clocks)
