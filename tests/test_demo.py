"""The demo data `make run` loads: coherent histories a manager can believe, the same
for the same seed, and every case verifies."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
from sqlalchemy import func, select

from states.audit import verify_all
from states.demo import generate_demo
from states.demo_shares import BPIC_2013, WINDOW, share
from states.engine import Engine
from states.store import CASE, EVENT, read_connection
from tests.conftest import MONDAY, sqlite_db

_SCRIPT = Path(__file__).parents[1] / "benchmarks" / "bpic_shares.py"
_spec = importlib.util.spec_from_file_location("bpic_shares", _SCRIPT)
bpic_shares = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bpic_shares)

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


# -- the demo's shares are a real desk's (states.demo_shares, from BPIC 2013) -----------

DEMO_CASES = 200


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory, definition) -> Engine:
    """One demo of DEMO_CASES cases under the shipped policy, read by the tests below."""
    engine = Engine(sqlite_db(tmp_path_factory.mktemp("demo")), definition, clock=lambda: MONDAY)
    generate_demo(engine, cases=DEMO_CASES, seed=2013, now=MONDAY)
    return engine


def _tolerance(p: float, n: int) -> float:
    """Four standard deviations of a share `p` observed over `n` draws."""
    return 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.slow
def test_demo_shares_are_those_the_bpic_log_holds():
    if not bpic_shares.DATA.exists():
        pytest.skip(f"the BPIC 2013 log is not at {bpic_shares.DATA}")
    assert bpic_shares.shares(bpic_shares.DATA) == BPIC_2013


@pytest.mark.slow
def test_most_demo_cases_never_leave_the_first_level(demo_db: Engine):
    expected = share("top_level", "first_level")
    with read_connection(demo_db.db) as conn:
        never = conn.execute(
            select(func.count()).select_from(CASE).where(CASE.c.escalation_count == 0)
        ).scalar_one()
    # cases planned to escalate but opened too recently to have done so add to `never`
    assert abs(never / DEMO_CASES - expected) <= _tolerance(expected, DEMO_CASES) + 0.05
    assert never / DEMO_CASES > 0.5


@pytest.mark.slow
def test_a_handful_of_demo_cases_sit_at_the_board(demo_db: Engine):
    with read_connection(demo_db.db) as conn:
        at_board = conn.execute(
            select(func.count())
            .select_from(CASE)
            .where(CASE.c.state == "escalated", CASE.c.level == "board")
        ).scalar_one()
        ever = conn.execute(
            select(func.count(func.distinct(EVENT.c.case_id))).where(EVENT.c.to_level == "board")
        ).scalar_one()
    planned = share("top_level", "board")
    # the planned few, and cases that missed two acknowledgements in a row (at most one in
    # four escalations is acknowledged later than the L2 target in the log: 0.25 * 0.25)
    assert ever / DEMO_CASES <= planned + 0.0625 * (1 - share("top_level", "first_level"))
    assert at_board <= ever


@pytest.mark.slow
def test_demo_escalations_are_mostly_acknowledged(demo_db: Engine):
    with read_connection(demo_db.db) as conn:
        kinds = dict(
            conn.execute(
                select(EVENT.c.type, func.count())
                .where(EVENT.c.type.in_(["escalate", "acknowledge"]))
                .group_by(EVENT.c.type)
            ).all()
        )
    # the log acknowledged 95 %; some are overtaken (resolved or moved up first)
    assert kinds["acknowledge"] / kinds["escalate"] >= share("acknowledged") - 0.3


@pytest.mark.slow
def test_some_demo_cases_breach_not_most(demo_db: Engine):
    with read_connection(demo_db.db) as conn:
        breached = conn.execute(
            select(func.count(func.distinct(EVENT.c.case_id))).where(EVENT.c.type == "sla_breached")
        ).scalar_one()
    assert 0 < breached < DEMO_CASES / 2


@pytest.mark.slow
def test_open_demo_cases_are_recent_and_few(demo_db: Engine):
    with read_connection(demo_db.db) as conn:
        opened = sorted(
            conn.execute(
                select(CASE.c.opened_at).where(
                    CASE.c.state.in_(["open", "first_level", "escalated"])
                )
            ).scalars()
        )
    ages = sorted(MONDAY - at for at in opened)
    # cases arrive evenly over WINDOW; in the log nine in ten are resolved within a month
    assert 0 < len(ages) < DEMO_CASES * 0.3
    assert ages[len(ages) // 2] < WINDOW / 2
    assert ages[-1] <= WINDOW


def test_the_same_seed_gives_the_same_demo(tmp_path, definition):
    def cases(name: str, seed: int) -> list[tuple]:
        engine = Engine(sqlite_db(tmp_path / name), definition, clock=lambda: MONDAY)
        generate_demo(engine, cases=12, seed=seed, now=MONDAY)
        with read_connection(engine.db) as conn:
            return conn.execute(
                select(CASE.c.state, CASE.c.level, CASE.c.opened_at, CASE.c.last_seq).order_by(
                    CASE.c.id
                )
            ).all()

    first = cases("a", 5)
    assert cases("b", 5) == first
    assert cases("c", 6) != first
