"""History is append-only and hash-chained; replay rebuilds the projection and
verification reports any alteration of events or of the case row."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from states.audit import replay, verify_all, verify_case
from states.commands import Act, OpenCase
from states.engine import Engine
from states.errors import CaseNotFound
from states.events import GENESIS, Event
from states.store import CASE, read_connection
from tests.conftest import MONDAY


@pytest.fixture
def history(db, definition) -> tuple[Engine, int]:
    eng = Engine(db, definition, clock=lambda: MONDAY)
    case_id = eng.apply(OpenCase(customer_id="C1", subject="refund", amount_claimed="800")).case_id
    for trigger, fields in [
        ("assign", {"assignee": "ana"}),
        ("escalate", {"reason": "refund above authority", "notice": "L2 takes over"}),
        ("acknowledge", {}),
        ("resolve", {"note": "refunded"}),
    ]:
        eng.apply(Act(case_id=case_id, trigger=trigger, actor="ana", **fields))
    return eng, case_id


def test_replay_rebuilds_exactly_the_stored_projection(db, history):
    _, case_id = history
    with read_connection(db) as conn:
        rebuilt, events = replay(conn, case_id)
        check = verify_case(conn, case_id)
    assert check.ok, check.problems
    assert (rebuilt.state, rebuilt.version, len(events)) == ("resolved", 5, 6)


def test_events_chain_each_hash_to_the_one_before(db, history):
    _, case_id = history
    with read_connection(db) as conn:
        _, events = replay(conn, case_id)
    assert events[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    assert all(event.compute_hash() == event.hash for event in events)


def tamper(db, sql: str) -> None:
    with db.begin() as conn:
        conn.execute(text(sql))


def test_an_edited_event_payload_is_detected(db, history):
    _, case_id = history
    tamper(
        db,
        'UPDATE case_event SET payload = \'{"reason": "customer asked", '
        f'"notice": "x"}}\' WHERE case_id = {case_id} AND seq = 4',
    )
    with read_connection(db) as conn:
        problems = verify_case(conn, case_id).problems
    assert any("event #4 (escalate) was altered" in p for p in problems)


def test_a_deleted_event_is_detected(db, history):
    _, case_id = history
    tamper(db, f"DELETE FROM case_event WHERE case_id = {case_id} AND seq = 5")
    with read_connection(db) as conn:
        problems = verify_case(conn, case_id).problems
    assert any("event #5 is missing" in p for p in problems)


def test_a_deleted_event_is_reported_once_not_for_every_event_after_it(db, history):
    _, case_id = history
    tamper(db, f"DELETE FROM case_event WHERE case_id = {case_id} AND seq IN (3, 4)")
    with read_connection(db) as conn:
        problems = verify_case(conn, case_id).problems
    assert [p for p in problems if "missing" in p] == ["event #3 to #4 is missing"]
    assert "event #5 does not link to the event before it" in problems
    assert not any("#6" in p for p in problems)


def test_a_changed_clock_state_names_the_clock_and_key_not_the_whole_document(db, history):
    _, case_id = history
    with read_connection(db) as conn:
        clocks = conn.execute(select(CASE.c.clocks).where(CASE.c.id == case_id)).scalar_one()
    clocks["resolution"] = {**clocks["resolution"], "target": "PT80H"}
    with db.begin() as conn:
        conn.execute(CASE.update().where(CASE.c.id == case_id).values(clocks=clocks))
    with read_connection(db) as conn:
        problems = verify_case(conn, case_id).problems
    assert problems == ["field clocks: resolution.target stored 'PT80H', replayed 'PT40H'"]


def test_a_rewritten_actor_is_detected(db, history):
    _, case_id = history
    tamper(db, f"UPDATE case_event SET actor = 'mallory' WHERE case_id = {case_id} AND seq = 5")
    with read_connection(db) as conn:
        assert not verify_case(conn, case_id).ok


def test_a_projection_changed_behind_the_engine_is_detected(db, history):
    _, case_id = history
    tamper(db, f"UPDATE \"case\" SET level = 'board', state = 'escalated' WHERE id = {case_id}")
    with read_connection(db) as conn:
        problems = verify_case(conn, case_id).problems
    assert "field state: stored 'escalated', replayed 'resolved'" in problems


def test_verify_all_reports_only_the_altered_case(db, definition, history):
    eng, case_id = history
    other = eng.apply(OpenCase(customer_id="C2", subject="s")).case_id
    tamper(db, f"UPDATE case_event SET occurred_at = occurred_at WHERE case_id = {other}")
    tamper(db, f"UPDATE \"case\" SET assignee = 'x' WHERE id = {case_id}")
    bad = [check.case_id for check in verify_all(db) if not check.ok]
    assert bad == [case_id]


def test_replaying_an_unknown_case_is_reported(db, history):
    with read_connection(db) as conn, pytest.raises(CaseNotFound):
        replay(conn, 12345)


_TEXT = st.text(max_size=20)
_MAYBE_TEXT = st.none() | _TEXT


@settings(max_examples=300, deadline=None)
@given(
    case_id=st.integers(1, 2**40),
    seq=st.integers(1, 10_000),
    kind=_TEXT,
    actor=_TEXT,
    states=st.tuples(_MAYBE_TEXT, _TEXT, _MAYBE_TEXT, _MAYBE_TEXT),
    payload=st.dictionaries(_TEXT, st.none() | st.booleans() | st.integers() | _TEXT, max_size=5),
    command_id=_MAYBE_TEXT,
)
def test_the_hashed_bytes_are_the_documented_json_array(
    case_id, seq, kind, actor, states, payload, command_id
):
    """Format 1 is a stored format: whatever the encoder does inside, the bytes hashed are
    exactly the JSON array the Event.canonical docstring names (keys sorted, compact,
    ASCII-escaped), so histories written by any earlier build still verify."""
    event = Event(kind, MONDAY, actor, *states, payload, case_id=case_id, seq=seq)
    event.command_id, event.prev_hash = command_id, GENESIS
    documented = json.dumps(
        [1, case_id, seq, kind, MONDAY.isoformat(), actor, *states, payload, command_id, GENESIS],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    assert event.canonical() == documented.encode()
