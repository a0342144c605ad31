"""When things happened and when they were recorded: every event carries both, history
never runs backwards (a command dated before the case's last event is refused, on
every path into the engine), and both times are covered by the hash chain."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from states.audit import verify_case
from states.commands import Act, OpenCase, Update
from states.engine import Engine
from states.errors import BatchFailed, CommandError, OutOfOrder
from states.events import _isoformat
from states.process import TRIGGERS
from states.queries import get_case
from states.store import EVENT, read_connection
from states.sweep import sweep
from states.timers import TIMER
from tests.conftest import MONDAY, sqlite_db

RECORDED = MONDAY + timedelta(days=3)  # the engine's clock: when events are written down


@pytest.fixture
def eng(db, definition) -> Engine:
    return Engine(db, definition, clock=lambda: RECORDED)


def opened(eng: Engine, at: datetime = MONDAY) -> int:
    return eng.apply(OpenCase(customer_id="C1", subject="refund"), at).case_id


def rows(db) -> tuple[int, int]:
    with read_connection(db) as conn:
        events = conn.execute(select(func.count()).select_from(EVENT)).scalar_one()
        timers = conn.execute(select(func.count()).select_from(TIMER)).scalar_one()
    return events, timers


def assign(case_id: int, **fields: object) -> Act:
    return Act(case_id=case_id, trigger="assign", actor="ana", assignee="ana", **fields)  # type: ignore[arg-type]


def test_a_command_dated_before_the_case_was_opened_is_refused_naming_the_earliest_time(eng, db):
    case_id = opened(eng)
    before = rows(db)
    with pytest.raises(OutOfOrder) as refused:
        eng.apply(assign(case_id), MONDAY - timedelta(days=3))
    assert refused.value.field == "at" and refused.value.earliest == MONDAY
    assert MONDAY.isoformat() in str(refused.value) and "earliest allowed" in str(refused.value)
    assert rows(db) == before


def test_a_resolve_dated_before_the_last_event_is_refused(eng, db):
    case_id = opened(eng)
    eng.apply(assign(case_id), MONDAY + timedelta(hours=2))
    with pytest.raises(OutOfOrder):
        eng.apply(
            Act(case_id=case_id, trigger="resolve", actor="ana", note="done"),
            MONDAY - timedelta(days=5),
        )
    with read_connection(db) as conn:
        case, _ = get_case(conn, case_id)
    assert (case.state, case.version) == ("first_level", 2)


def test_a_command_at_the_same_instant_as_the_last_event_is_accepted(eng):
    case_id = opened(eng)
    assert eng.apply(assign(case_id), MONDAY).state == "first_level"


def test_a_batch_with_one_command_out_of_order_writes_nothing(eng, db):
    case_id = opened(eng)
    before = rows(db)
    items = [
        (assign(case_id), MONDAY + timedelta(hours=3)),
        (
            Act(case_id=case_id, trigger="wait_on_customer", actor="ana", note="receipt?"),
            MONDAY + timedelta(hours=1),
        ),
    ]
    with pytest.raises(BatchFailed) as failed:
        eng.apply_timed(items)
    assert failed.value.index == 1 and isinstance(failed.value.cause, OutOfOrder)
    assert rows(db) == before


def test_apply_many_refuses_a_batch_dated_before_the_case_history(eng, db):
    case_id = opened(eng, MONDAY + timedelta(days=1))
    before = rows(db)
    with pytest.raises(OutOfOrder):
        eng.apply_many([assign(case_id)], MONDAY)
    assert rows(db) == before


def test_an_idempotent_retry_with_its_first_time_replays_instead_of_being_refused(eng):
    case_id = opened(eng)
    first = eng.apply(assign(case_id, idempotency_key="k-1"), MONDAY + timedelta(hours=1))
    eng.apply(
        Act(case_id=case_id, trigger="wait_on_customer", actor="ana"), MONDAY + timedelta(hours=2)
    )
    again = eng.apply(assign(case_id, idempotency_key="k-1"), MONDAY + timedelta(hours=1))
    assert again.replayed and again.version == first.version


def test_a_sweep_behind_the_case_history_records_its_events_no_earlier_than_the_last(eng, db):
    """A sweeper whose clock lags (or a caller sweeping an earlier instant) must not write
    a history that runs backwards: the timer's events take the case's last event time."""
    case_id = opened(eng)
    later = MONDAY + timedelta(days=10)
    eng.apply(Update(case_id=case_id, actor="ana", message="any news?"), later)
    # still open: the first-response clock runs and its timers stay armed
    sweep(eng, MONDAY + timedelta(days=2), worker="lagging")
    with read_connection(db) as conn:
        _, events = get_case(conn, case_id)
        check = verify_case(conn, case_id)
    assert check.ok, check.problems
    assert len(events) > 2  # the sweep fired something
    times = [event.occurred_at for event in events]
    assert times == sorted(times) and times[-1] == later


def test_every_event_carries_when_it_happened_and_when_it_was_recorded(eng, db):
    case_id = opened(eng)
    eng.apply(assign(case_id), MONDAY + timedelta(minutes=10))
    with read_connection(db) as conn:
        _, events = get_case(conn, case_id)
    assert [e.occurred_at for e in events] == [MONDAY, MONDAY + timedelta(minutes=10)]
    assert [e.recorded_at for e in events] == [RECORDED, RECORDED]


def test_without_a_time_an_event_happened_when_it_was_recorded(db, definition):
    ticks = iter(MONDAY + timedelta(seconds=n) for n in range(100))
    eng = Engine(db, definition, clock=lambda: next(ticks))
    case_id = eng.apply(OpenCase(customer_id="C1", subject="s")).case_id
    eng.apply(assign(case_id))
    with read_connection(db) as conn:
        _, events = get_case(conn, case_id)
    assert all(e.occurred_at == e.recorded_at for e in events)
    assert events[0].recorded_at.tzinfo is not None
    assert events[0].recorded_at < events[1].recorded_at
    assert datetime(2026, 1, 1, tzinfo=UTC) < events[0].recorded_at


def test_instants_are_kept_to_the_second_so_deadlines_and_outcomes_agree_exactly(db, definition):
    """A clock keeps its deadline to the second: an open at 09:00:00.7 measured from
    09:00:00.7 had its one-hour deadline cut to 10:00:00, so a sweep at 10:00:00.3 fired a
    breach 0.4 s before the hour, and an assign then was late after 59 min 59.6 s.
    Instants are kept to the second, so the history shows exactly what was measured: an
    assign in the second before the deadline's is met, one in the deadline's own second
    is late (the first instant the target is reached, when its breach is due)."""
    now = [MONDAY.replace(microsecond=700_000)]
    eng = Engine(db, definition, clock=lambda: now[0])
    case_id = eng.apply(OpenCase(customer_id="C1", subject="s", channel="chat")).case_id
    with read_connection(db) as conn:
        case, events = get_case(conn, case_id)
    assert events[0].occurred_at == events[0].recorded_at == MONDAY  # cut, not rounded
    deadline = datetime.fromisoformat(case.clocks["first_response"]["deadline"])
    assert deadline == MONDAY + timedelta(hours=1)  # chat: PT1H, Monday 10:00-11:00 open
    eng.apply(assign(case_id), deadline - timedelta(seconds=0.6))  # the second before it
    with read_connection(db) as conn:
        case, _ = get_case(conn, case_id)
    assert case.clocks["first_response"]["outcome"] == "met"
    assert case.clocks["first_response"]["consumed_s"] == 3599
    now[0] = MONDAY.replace(microsecond=700_000)
    late_id = eng.apply(OpenCase(customer_id="C2", subject="s", channel="chat")).case_id
    eng.apply(assign(late_id), deadline + timedelta(seconds=0.4))  # the deadline's own second
    with read_connection(db) as conn:
        case, _ = get_case(conn, late_id)
    assert case.clocks["first_response"]["outcome"] == "late"
    assert case.clocks["first_response"]["consumed_s"] == 3600


COMMANDS = st.one_of(
    st.builds(
        lambda trigger: (
            lambda case_id: Act(case_id=case_id, trigger=trigger, actor="p", assignee="a", note="n")
        ),
        st.sampled_from(TRIGGERS),
    ),
    st.just(lambda case_id: Update(case_id=case_id, actor="p", message="I will sue")),
)


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory):
    """One SQLite database for every example (a case each): a fresh file per example
    would spend the test's time creating schemas."""
    db = sqlite_db(tmp_path_factory.mktemp("out_of_order"))
    yield db
    db.dispose()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.tuples(COMMANDS, st.integers(0, 5 * 24 * 3600)), max_size=6),
    make=COMMANDS,
    earlier=st.integers(1, 10**9),
    batched=st.booleans(),
)
def test_any_command_dated_before_the_last_event_is_refused_and_writes_nothing(
    shared_db, definition, steps, make, earlier, batched
):
    """Whatever the history and the command, an instant before the case's last event is
    refused, alone or inside a batch with a valid command before it, and writes nothing."""
    db = shared_db
    eng = Engine(db, definition, clock=lambda: RECORDED)
    case_id = opened(eng)
    at = MONDAY
    for step, gap in steps:  # a history in order; refused steps are simply not there
        at += timedelta(seconds=gap)
        with contextlib.suppress(CommandError):
            eng.apply(step(case_id), at)
    with read_connection(db) as conn:
        last = get_case(conn, case_id)[0].updated_at
    before = rows(db)
    command, when = make(case_id), last - timedelta(microseconds=earlier)
    if batched:
        fine = Update(case_id=case_id, actor="p", message="hello")
        with pytest.raises(BatchFailed) as failed:
            eng.apply_timed([(fine, last), (command, when)])
        assert isinstance(failed.value.cause, OutOfOrder)
    else:
        with pytest.raises(OutOfOrder):
            eng.apply(command, when)
    assert rows(db) == before


@given(
    at=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(0))]),
    )
)
def test_an_event_time_is_hashed_as_isoformat_writes_it(at):
    """The hand-built text of a UTC instant is isoformat's, byte for byte (the hash covers
    it); an instant in another zone keeps isoformat's text in that zone."""
    assert _isoformat(at) == at.isoformat()
    assert _isoformat(at.astimezone(UTC)) == at.astimezone(UTC).isoformat()
