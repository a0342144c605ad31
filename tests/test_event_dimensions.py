"""A period's counts are filtered by the case as it stood when each event happened: every
event carries the case's team, priority, channel and assignee once it applied, written
with it, checked by the audit, and filled in for older databases by `tierflow init`."""

from __future__ import annotations

import warnings
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import SAWarning

from states import pipeline_view
from states.audit import verify_case
from states.case import FIELD_NAMES, CaseSnapshot
from states.commands import Act, OpenCase, Update
from states.dimensions import COLUMNS, DIMENSIONS, derived, stamp
from states.engine import Engine
from states.events import Event
from states.policy import load_policy
from states.process import load_process
from states.store import EVENT, SCHEMA_VERSION, init_schema, read_connection
from states.tables import CaseEvent
from states.view_filter import ViewFilter
from tests.conftest import MONDAY

HOUR = timedelta(hours=1)


def _handed_over(db: SAEngine, definition) -> int:
    """A case opened for team alpha (normal priority), taken by ana, raised to high
    priority, handed to bob of team beta, who resolves it."""
    eng = Engine(db, definition)
    case_id = eng.apply(
        OpenCase(customer_id="C1", subject="Refund", channel="chat", team="alpha"), MONDAY
    ).case_id
    eng.apply(Act(case_id=case_id, trigger="assign", actor="lead", assignee="ana"), MONDAY + HOUR)
    eng.apply(Update(case_id=case_id, actor="ana", priority="high"), MONDAY + 2 * HOUR)
    handover = Act(case_id=case_id, trigger="assign", actor="lead", assignee="bob", team="beta")
    eng.apply(handover, MONDAY + 3 * HOUR)
    eng.apply(Act(case_id=case_id, trigger="resolve", actor="bob", note="done"), MONDAY + 4 * HOUR)
    eng.close()
    return case_id


def _period(db: SAEngine, where: ViewFilter) -> tuple[dict, list, list]:
    since, until = MONDAY - timedelta(days=1), MONDAY + timedelta(days=1)
    with read_connection(db) as conn:
        flows = pipeline_view.flows(conn, where, since, until, load_process())
        activity = pipeline_view.activity(conn, where, since, until)
        positions = pipeline_view.positions(conn, where, _policy(), until, load_process())
    moves = {(f.from_state, f.to_state): f.count for f in flows}
    return moves, [kind for _, kind, _ in activity], [(p.state, p.cases) for p in positions]


def _policy():
    return load_policy()


@pytest.mark.parametrize(
    ("where", "moves", "activity"),
    [
        (ViewFilter(team="alpha"), {("open", "first_level"): 1}, ["opened"]),
        (ViewFilter(team="beta"), {("first_level", "resolved"): 1}, ["resolved"]),
        (ViewFilter(priority="normal"), {("open", "first_level"): 1}, ["opened"]),
        (ViewFilter(priority="high"), {("first_level", "resolved"): 1}, ["resolved"]),
        (ViewFilter(assignee="ana"), {("open", "first_level"): 1}, []),
        (ViewFilter(assignee="bob"), {("first_level", "resolved"): 1}, ["resolved"]),
        (ViewFilter(team="alpha", assignee="bob"), {}, []),
        (ViewFilter(channel="chat"), {("open", "first_level"): 1, ("first_level", "resolved"): 1},
         ["opened", "resolved"]),
    ],
    ids=["alpha", "beta", "normal", "high", "ana", "bob", "alpha+bob", "chat"],
)  # fmt: skip
def test_a_period_counts_each_event_under_the_case_as_it_stood_then(
    db, definition, where, moves, activity
):
    """The move into first level happened under alpha, ana and normal priority; the
    resolution under beta, bob and high. Where the case sits now is by what it is now."""
    _handed_over(db, definition)
    found_moves, found_activity, positions = _period(db, where)
    assert (found_moves, found_activity) == (moves, activity)
    now_matches = where.team in (None, "beta") and where.priority in (None, "high")
    now_matches = now_matches and where.assignee in (None, "bob")
    assert positions == ([("resolved", 1)] if now_matches else [])


def test_each_event_stores_the_case_once_it_applied(db, definition):
    case_id = _handed_over(db, definition)
    with read_connection(db) as conn:
        rows = conn.execute(
            select(EVENT.c.type, *(EVENT.c[name] for name in DIMENSIONS))
            .where(EVENT.c.case_id == case_id)
            .order_by(EVENT.c.seq)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("opened", "alpha", "normal", "chat", None),
        ("assign", "alpha", "normal", "chat", "ana"),
        ("updated", "alpha", "high", "chat", "ana"),
        ("assign", "beta", "high", "chat", "bob"),
        ("resolve", "beta", "high", "chat", "bob"),
    ]


@pytest.mark.parametrize("name", COLUMNS)
def test_the_audit_reports_an_edited_event_filter_value(db, definition, name):
    """Not hashed (derived from the history), but checked against the history's fold."""
    case_id = _handed_over(db, definition)
    with db.begin() as conn:
        conn.execute(
            EVENT.update()
            .where(EVENT.c.case_id == case_id, EVENT.c.seq == 2)
            .values({name: "forged"})
        )
    with read_connection(db) as conn:
        check = verify_case(conn, case_id)
    assert not check.ok and check.first_broken is None  # the chain itself holds
    assert any(f"event #2 (assign): field {name} is 'forged'" in p for p in check.problems)


def test_escalations_are_grouped_by_the_point_and_reason_copied_from_their_payload(db, definition):
    eng = Engine(db, definition)
    case = OpenCase(customer_id="C1", subject="Refund", amount_claimed=Decimal(800))
    case_id = eng.apply(case, MONDAY).case_id  # flagged: above first level's authority
    escalate = Act(case_id=case_id, trigger="escalate", actor="ana", reason="large refund")
    notice = "Our specialists take over."
    eng.apply(replace(escalate, point="authority", notice=notice), MONDAY + HOUR / 2)
    eng.close()
    with read_connection(db) as conn:
        stored = conn.execute(
            select(EVENT.c.payload, EVENT.c.point, EVENT.c.reason, EVENT.c.clock).where(
                EVENT.c.type == "escalate"
            )
        ).one()
        found = pipeline_view.escalations(conn, ViewFilter(), MONDAY, MONDAY + HOUR)
    payload = stored.payload
    assert tuple(stored)[1:] == (payload["point"], payload["reason"], None)
    assert found == [("authority", "large refund", 1)]


#: Schema 4's definitions of the indexes schema 5 ends with the filters.
_SCHEMA_4_INDEXES = {
    "ix_case_state_level_entered": '"case" (state, level, state_entered_at)',
    "ix_case_open_state_entered": '"case" (state, state_entered_at) WHERE resolved_at IS NULL',
    "ix_case_event_type_occurred": "case_event (type, occurred_at)",
}


def _downgrade_to_schema_4(db: SAEngine) -> None:
    """Give `db` schema 4's shape: events without the filters, indexes without them."""
    moves = next(i for i in CaseEvent.__table__.indexes if i.name == "ix_case_event_moves")
    with db.begin() as conn:
        for name in (*_SCHEMA_4_INDEXES, "ix_case_event_moves"):
            conn.execute(text(f"DROP INDEX {name}"))
        for name in COLUMNS:
            conn.execute(text(f"ALTER TABLE case_event DROP COLUMN {name}"))
        for name, target in _SCHEMA_4_INDEXES.items():
            conn.execute(text(f"CREATE INDEX {name} ON {target}"))
        where = moves.dialect_options[db.dialect.name]["where"]
        where_sql = where.compile(dialect=db.dialect, compile_kwargs={"literal_binds": True})
        conn.execute(
            text(
                "CREATE INDEX ix_case_event_moves ON case_event "
                f"(from_state, from_level, to_state, to_level, occurred_at) WHERE {where_sql}"
            )
        )
        conn.execute(text("UPDATE schema_info SET schema_version = 4"))


def test_init_fills_in_the_filters_of_a_schema_4_databases_events(db, definition):
    case_id = _handed_over(db, definition)
    with read_connection(db) as conn:
        stamped = conn.execute(select(EVENT).order_by(EVENT.c.id)).all()
    _downgrade_to_schema_4(db)
    assert not set(COLUMNS) & {c["name"] for c in inspect(db).get_columns("case_event")}
    init_schema(db)
    with read_connection(db) as conn:
        assert conn.execute(select(EVENT).order_by(EVENT.c.id)).all() == stamped
        version = conn.execute(text("SELECT schema_version FROM schema_info")).scalar_one()
        assert verify_case(conn, case_id).ok
    assert version == SCHEMA_VERSION == 7
    with warnings.catch_warnings():  # reflection skips the expression indexes, saying so
        warnings.simplefilter("ignore", SAWarning)
        indexes = {
            index["name"]: index["column_names"]
            for table in ("case", "case_event")
            for index in inspect(db).get_indexes(table)
        }
    for name in (*_SCHEMA_4_INDEXES, "ix_case_event_moves"):
        assert set(DIMENSIONS) <= set(indexes[name]), name
    assert _period(db, ViewFilter(team="alpha"))[0] == {("open", "first_level"): 1}


class _Text(str):
    """Text of a subclass of str: a cause still, as `derived` sees it."""


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"point": "legal_risk", "reason": "lawyer", "clock": "resolve"},
        {"point": 3},
        {"point": None, "reason": ["a", "list"], "clock": {"a": "dict"}},
        {"reason": _Text("a str subclass"), "clock": b"bytes"},
    ],
)
def test_stamp_gives_each_event_what_derived_says(payload):
    """`stamp` names the columns one by one (it runs on every event written): it must
    set each to the value `derived` (what the audit checks) gives."""
    case = {"team": "beta", "priority": "high", "channel": "chat", "assignee": "ana"}
    snap = CaseSnapshot(**{**dict.fromkeys(FIELD_NAMES), **case})
    event = Event("escalate", MONDAY, "ana", "open", "open", None, "manager", payload)
    stamp(event, snap)
    assert tuple(getattr(event, name) for name in COLUMNS) == derived(event, snap)
    assert tuple(getattr(event, name) for name in DIMENSIONS) == tuple(case.values())
