"""The demo data `make run` loads: coherent histories a manager can believe, the same
for the same seed, and every case verifies."""

from __future__ import annotations

from sqlalchemy import select

from states.audit import verify_all
from states.demo import generate_demo
from states.engine import Engine
from states.store import CASE, EVENT, read_connection
from tests.conftest import MONDAY

SPECIALISTS = {"L2": "l2-team", "manager": "maria.manager", "board": "board-secretary"}


def test_demo_acknowledgements_come_from_the_level_that_holds_the_case(engine: Engine):
    summary = generate_demo(engine, cases=80, seed=7, now=MONDAY)
    with read_connection(engine.db) as conn:
        acks = conn.execute(
            select(EVENT.c.to_level, EVENT.c.payload).where(EVENT.c.type == "acknowledge")
        ).all()
    assert acks, "the demo acknowledges some escalations"
    assert all(payload["assignee"] == SPECIALISTS[level] for level, payload in acks)
    assert summary["cases"] == 80
    assert all(check.ok for check in verify_all(engine.db))


def test_loading_the_demo_twice_adds_nothing(engine: Engine):
    generate_demo(engine, cases=20, seed=3, now=MONDAY)
    again = generate_demo(engine, cases=20, seed=3, now=MONDAY)
    with read_connection(engine.db) as conn:
        count = len(conn.execute(select(CASE.c.id)).all())
    assert (again["already_loaded"], count) == (20, 20)
