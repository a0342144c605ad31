"""Tamper evidence: rows of ``case_event`` altered by UPDATE, DELETE or INSERT are each
reported as the first broken event, with the case, the event number, what the chain
expected there and what is stored."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import delete, update

from states.audit import verify_case
from states.events import Event
from states.store import EVENT, load_events, read_connection


@pytest.fixture
def case(history) -> int:
    """A case of six events: opened, assigned, escalated, acknowledged, resolved."""
    return history[1]


def events_of(db, case_id: int) -> list[Event]:
    with read_connection(db) as conn:
        return load_events(conn, case_id)


def first_broken(db, case_id: int):
    with read_connection(db) as conn:
        check = verify_case(conn, case_id)
    assert not check.ok
    return check.first_broken


def insert(db, event: Event) -> None:
    with db.begin() as conn:
        conn.execute(
            EVENT.insert().values(
                **{
                    column.name: getattr(event, column.name)
                    for column in EVENT.columns
                    if column.name != "id"
                },
            )
        )


def test_an_untouched_case_has_no_broken_event(db, case):
    with read_connection(db) as conn:
        check = verify_case(conn, case)
    assert check.ok and check.first_broken is None


def test_an_updated_event_is_the_first_broken_with_its_seal_and_its_content_hash(db, case):
    sealed = events_of(db, case)[2]
    with db.begin() as conn:
        conn.execute(
            update(EVENT).where(EVENT.c.case_id == case, EVENT.c.seq == 3).values(actor="mallory")
        )
    broken = first_broken(db, case)
    content = replace(sealed, actor="mallory").compute_hash()
    assert (broken.case_id, broken.seq) == (case, 3)
    assert broken.expected == f"content sealed as {sealed.hash}"
    assert broken.found == f"content hashing to {content}"
    assert str(broken).startswith(f"case {case}: first broken event #3: expected content sealed")


def test_a_deleted_event_is_the_first_broken_where_it_is_missing(db, case):
    events = events_of(db, case)
    with db.begin() as conn:
        conn.execute(delete(EVENT).where(EVENT.c.case_id == case, EVENT.c.seq == 4))
    broken = first_broken(db, case)
    assert (broken.seq, broken.expected) == (4, f"event #4 linked to {events[2].hash}")
    assert broken.found.startswith("event #5 (") and "deleted" in broken.found


def test_the_last_event_deleted_breaks_the_chain_against_the_case_head(db, case):
    events = events_of(db, case)
    last = events[-1]
    with db.begin() as conn:
        conn.execute(delete(EVENT).where(EVENT.c.case_id == case, EVENT.c.seq == last.seq))
    broken = first_broken(db, case)
    assert broken.seq == last.seq
    assert broken.expected == f"events up to #{last.seq}, the last sealed as {last.hash}"
    assert broken.found == f"the chain ends at #{last.seq - 1}: events were deleted"


def test_an_inserted_event_that_does_not_link_is_the_first_broken(db, case):
    last = events_of(db, case)[-1]
    forged = replace(last, seq=last.seq + 1, prev_hash="f" * 64, idempotency_key=None)
    forged.hash = forged.compute_hash()
    insert(db, forged)
    broken = first_broken(db, case)
    assert (broken.seq, broken.expected, broken.found) == (
        last.seq + 1,
        f"a link to {last.hash}",
        f"a link to {'f' * 64}",
    )


def test_an_inserted_event_sealed_into_the_chain_is_caught_by_the_case_head(db, case):
    """A forger who computes a valid hash for an appended event: the chain alone verifies,
    the case row's head does not end there."""
    last = events_of(db, case)[-1]
    forged = replace(
        last, seq=last.seq + 1, prev_hash=last.hash, idempotency_key=None, command_id="x"
    )
    forged.hash = forged.compute_hash()
    insert(db, forged)
    broken = first_broken(db, case)
    assert broken.seq == last.seq + 1
    assert broken.expected == f"no event after #{last.seq}, sealed as {last.hash}"
    assert broken.found == f"events #{last.seq + 1} to #{last.seq + 1}: events were inserted"


def test_an_event_inserted_with_a_number_already_passed_is_the_first_broken(db, case):
    events = events_of(db, case)
    forged = replace(events[0], seq=0, idempotency_key=None, command_id="x")
    insert(db, forged)
    broken = first_broken(db, case)
    assert (broken.seq, broken.expected) == (1, f"event #1 linked to {'0' * 64}")
    assert broken.found == "event #0 (opened): an event was inserted out of sequence"
