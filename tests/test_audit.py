"""History is append-only and hash-chained; replay rebuilds the projection and
verification reports any alteration of events or of the case row."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from states.audit import replay, verify_all, verify_case
from states.commands import Act, OpenCase
from states.engine import Engine
from states.errors import CaseNotFound, UnreadableValue
from states.events import GENESIS, Event, seal
from states.store import CASE, EVENT, read_connection
from states.tables import PolicyVersion, ProcessVersion
from tests.conftest import MONDAY, sqlite_db

PROCESS = ProcessVersion.__table__
POLICY = PolicyVersion.__table__


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


def problems_of(db, case_id: int) -> list[str]:
    with read_connection(db) as conn:
        return verify_case(conn, case_id).problems


def test_an_edited_event_payload_is_detected(db, history):
    _, case_id = history
    tamper(
        db,
        'UPDATE case_event SET payload = \'{"reason": "customer asked", '
        f'"notice": "x"}}\' WHERE case_id = {case_id} AND seq = 4',
    )
    problems = problems_of(db, case_id)
    assert any("event #4 (escalate) was altered" in p for p in problems)


def test_a_deleted_event_is_detected(db, history):
    _, case_id = history
    tamper(db, f"DELETE FROM case_event WHERE case_id = {case_id} AND seq = 5")
    problems = problems_of(db, case_id)
    assert any("event #5 is missing" in p for p in problems)


def test_a_deleted_event_is_reported_once_not_for_every_event_after_it(db, history):
    _, case_id = history
    tamper(db, f"DELETE FROM case_event WHERE case_id = {case_id} AND seq IN (3, 4)")
    problems = problems_of(db, case_id)
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
    problems = problems_of(db, case_id)
    assert problems == ["field clocks: resolution.target stored 'PT80H', replayed 'PT40H'"]


def test_a_rewritten_actor_is_detected(db, history):
    _, case_id = history
    tamper(db, f"UPDATE case_event SET actor = 'mallory' WHERE case_id = {case_id} AND seq = 5")
    with read_connection(db) as conn:
        assert not verify_case(conn, case_id).ok


def test_a_projection_changed_behind_the_engine_is_detected(db, history):
    _, case_id = history
    tamper(db, f"UPDATE \"case\" SET level = 'board', state = 'escalated' WHERE id = {case_id}")
    problems = problems_of(db, case_id)
    assert "field state: stored 'escalated', replayed 'resolved'" in problems


def test_verify_all_reports_only_the_altered_case(db, definition, history):
    eng, case_id = history
    other = eng.apply(OpenCase(customer_id="C2", subject="s")).case_id
    tamper(db, f"UPDATE case_event SET occurred_at = occurred_at WHERE case_id = {other}")
    tamper(db, f"UPDATE \"case\" SET assignee = 'x' WHERE id = {case_id}")
    bad = [check.case_id for check in verify_all(db) if not check.ok]
    assert bad == [case_id]


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        ("UPDATE case_event SET occurred_at = 'garbage' WHERE case_id = {id} AND seq = 2",
         "stored time 'garbage' is not an ISO 8601 instant"),
        ("UPDATE case_event SET payload = 'not json' WHERE case_id = {id} AND seq = 2",
         "stored JSON 'not json' does not decode"),
        ('UPDATE "case" SET clocks = \'{{\' WHERE id = {id}', "stored JSON '{' does not decode"),
        ("UPDATE case_event SET seq = 'x' WHERE case_id = {id} AND seq = 2", "TypeError"),
        ('UPDATE "case" SET updated_at = 42 WHERE id = {id}', "stored time '42'"),
    ],
)  # fmt: skip
def test_a_value_no_tierflow_writes_fails_its_case_and_the_others_are_still_checked(
    tmp_path, definition, edit: str, said: str
):
    """SQLite keeps any value in any column: an edit that leaves text no tierflow writes
    made verification stop at that case with a traceback, the later cases unchecked; and
    every other read of the case raised from deep inside the driver's types."""
    db = sqlite_db(tmp_path)
    eng = Engine(db, definition, clock=lambda: MONDAY)
    ids = [eng.apply(OpenCase(customer_id=f"C{n}", subject="s", priority="urgent")).case_id
           for n in range(3)]  # fmt: skip
    tamper(db, edit.format(id=ids[1]))
    checks = verify_all(db)
    assert [check.case_id for check in checks] == ids
    assert [check.ok for check in checks] == [True, False, True]
    assert said in checks[1].problems[0]
    if "case_event" in edit and said.startswith("stored"):  # any other read: one error
        with read_connection(db) as conn, pytest.raises(UnreadableValue, match=said):
            replay(conn, ids[1])


def test_replaying_an_unknown_case_is_reported(db, history):
    with read_connection(db) as conn, pytest.raises(CaseNotFound):
        replay(conn, 12345)


_TEXT = st.text(max_size=20)
_MAYBE_TEXT = st.none() | _TEXT
_EVENT_FIELDS = {
    "case_id": st.integers(1, 2**40),
    "seq": st.integers(1, 10_000),
    "kind": _TEXT,
    "actor": _TEXT,
    "states": st.tuples(_MAYBE_TEXT, _TEXT, _MAYBE_TEXT, _MAYBE_TEXT),
    "payload": st.dictionaries(
        _TEXT, st.none() | st.booleans() | st.integers() | _TEXT, max_size=5
    ),
    "command_id": _MAYBE_TEXT,
}


def documented_bytes(array: list) -> bytes:
    """The canonical JSON the Event.canonical docstring names, written by the standard encoder."""
    return json.dumps(array, sort_keys=True, separators=(",", ":"), default=str).encode()


@settings(max_examples=300, deadline=None)
@given(**_EVENT_FIELDS)
def test_the_hashed_bytes_are_the_documented_json_array(
    case_id, seq, kind, actor, states, payload, command_id
):
    """Format 1 is a stored format: whatever the encoder does inside, the bytes hashed are
    exactly the JSON array the Event.canonical docstring names (keys sorted, compact,
    ASCII-escaped), so histories written by any earlier build still verify."""
    event = Event(kind, MONDAY, actor, *states, payload, case_id=case_id, seq=seq, format=1)
    event.command_id, event.prev_hash = command_id, GENESIS
    documented = documented_bytes(
        [1, case_id, seq, kind, MONDAY.isoformat(), actor, *states, payload, command_id, GENESIS]
    )
    assert event.canonical() == documented


#: What formats 2 to 5 seal besides format 1's fields: the key and both times (and from
#: format 4 on, the command's digest).
_SEALED_FIELDS = {
    **_EVENT_FIELDS,
    "key": _MAYBE_TEXT,
    "digest": _MAYBE_TEXT,
    "occurred": st.datetimes(timezones=st.just(UTC)),
    "recorded": st.none() | st.datetimes(timezones=st.just(UTC)),
}


@settings(max_examples=300, deadline=None)
@given(**_SEALED_FIELDS)
def test_the_format_2_and_3_hashed_bytes_are_the_documented_json_array(
    case_id, seq, kind, actor, states, payload, command_id, key, digest, occurred, recorded
):
    """Formats 2 and 3 (stored by earlier releases) seal when the event happened, when it
    was recorded and its idempotency key, in the order the Event.canonical docstring
    names, format 3 written by orjson; neither seals the command's digest."""
    for fmt in (2, 3):
        event = Event(kind, occurred, actor, *states, payload, case_id=case_id, seq=seq)
        event.format, event.command_id, event.prev_hash = fmt, command_id, GENESIS
        event.idempotency_key, event.command_hash, event.recorded_at = key, digest, recorded
        array = _documented_fields(fmt, case_id, seq, event, occurred, recorded, states, payload)
        if fmt == 2:
            assert event.canonical() == documented_bytes(array)
        elif _orjson_writes(payload):
            assert event.canonical() == orjson.dumps(array, option=orjson.OPT_SORT_KEYS)


def _orjson_writes(payload: dict) -> bool:
    return not any(isinstance(v, int) and not -(2**63) <= v < 2**64 for v in payload.values())


def _documented_fields(fmt, case_id, seq, event, occurred, recorded, states, payload) -> list:
    """The fields formats 2 to 5 hash, in their documented order."""
    digest = [event.command_hash] if fmt >= 4 else []
    return [
        fmt,
        case_id,
        seq,
        event.type,
        occurred.isoformat(),
        None if recorded is None else recorded.isoformat(),
        event.actor,
        *states,
        payload,
        event.idempotency_key,
        *digest,
        event.command_id,
        GENESIS,
    ]


@settings(max_examples=300, deadline=None)
@given(**_SEALED_FIELDS)
def test_new_events_are_sealed_in_format_4_or_5_with_the_command_digest(
    case_id, seq, kind, actor, states, payload, command_id, key, digest, occurred, recorded
):
    """Format 4 hashes format 3's fields and the command's digest after the key, as orjson
    writes them (keys sorted); a payload orjson refuses (here: integers beyond 64 bits) is
    sealed in format 5, the same array written as format 2 is. Either way the stored
    payload, read back, hashes to the same bytes."""
    event = Event(kind, occurred, actor, *states, payload, idempotency_key=key)
    event.command_id, event.recorded_at, event.command_hash = command_id, recorded, digest
    seal([event], case_id, seq - 1, GENESIS)
    array = _documented_fields(
        event.format, case_id, seq, event, occurred, recorded, states, payload
    )
    if not _orjson_writes(payload):
        assert event.format == 5
        assert event.canonical() == documented_bytes(array)
    else:
        assert event.format == 4
        assert event.canonical() == orjson.dumps(array, option=orjson.OPT_SORT_KEYS)
    assert event.hash == hashlib.sha256(event.canonical()).hexdigest()
    stored = Event(
        kind, occurred, actor, *states, json.loads(event.payload_text), format=event.format
    )
    stored.case_id, stored.seq, stored.prev_hash = case_id, seq, GENESIS
    stored.command_id, stored.idempotency_key, stored.recorded_at = command_id, key, recorded
    stored.command_hash = digest
    assert stored.compute_hash() == event.hash


def test_new_events_are_stored_in_format_4(db, history):
    _, case_id = history
    with read_connection(db) as conn:
        _, events = replay(conn, case_id)
    assert {event.format for event in events} == {4}


def as_format(db, case_id: int, number: int) -> None:
    """Rewrite a case's stored history as a release writing format `number` stored it."""
    with read_connection(db) as conn:
        _, events = replay(conn, case_id)
    head = GENESIS
    with db.begin() as conn:
        for event in events:
            event.format, event.prev_hash = number, head
            event.hash = head = event.compute_hash()
            conn.execute(
                text(
                    "UPDATE case_event SET format = :f, prev_hash = :p, hash = :h "
                    "WHERE case_id = :c AND seq = :s"
                ),
                {"f": number, "p": event.prev_hash, "h": event.hash, "c": case_id, "s": event.seq},
            )
        conn.execute(CASE.update().where(CASE.c.id == case_id).values(last_hash=head))


@pytest.mark.parametrize("old", [1, 2, 3])
def test_a_history_stored_in_an_older_format_keeps_verifying_and_grows_in_format_4(
    db, definition, history, old
):
    _, case_id = history
    as_format(db, case_id, old)
    with read_connection(db) as conn:
        assert verify_case(conn, case_id).ok
    upgraded = Engine(db, definition, clock=lambda: MONDAY)  # the new release, started afresh
    upgraded.apply(Act(case_id=case_id, trigger="follow_up", actor="ana", satisfaction=4))
    with read_connection(db) as conn:
        check = verify_case(conn, case_id)
        _, events = replay(conn, case_id)
    assert check.ok, check.problems
    assert [event.format for event in events] == [old] * 6 + [4]


@pytest.mark.parametrize("old", [1, 2, 3])
def test_an_edited_event_of_an_older_format_is_still_detected(db, history, old):
    _, case_id = history
    as_format(db, case_id, old)
    tamper(db, f"UPDATE case_event SET actor = 'mallory' WHERE case_id = {case_id} AND seq = 3")
    problems = problems_of(db, case_id)
    assert any("event #3 (assign) was altered" in p for p in problems)


def test_an_unknown_event_format_is_reported_not_raised(db, history):
    _, case_id = history
    tamper(db, f"UPDATE case_event SET format = 8 WHERE case_id = {case_id} AND seq = 2")
    problems = problems_of(db, case_id)
    assert any("event #2" in p and "format 8" in p for p in problems)


def edit_event(db, case_id: int, seq: int, **values: object) -> None:
    with db.begin() as conn:
        conn.execute(
            EVENT.update().where(EVENT.c.case_id == case_id, EVENT.c.seq == seq).values(**values)
        )


def test_an_edited_recording_time_is_reported_naming_the_event_the_field_and_both_times(
    db, history
):
    _, case_id = history
    edit_event(db, case_id, 3, recorded_at=MONDAY + timedelta(days=9))
    problems = problems_of(db, case_id)
    assert problems == [
        "event #3 (assign) was altered: field recorded_at is 2026-11-11T09:00:00+00:00, "
        "2026-11-02T09:00:00+00:00 was hashed"
    ]


def test_an_edited_recording_time_of_an_event_logged_later_is_reported(db, definition):
    """Recorded three days after it happened: the other events of the command tell the
    time it was recorded, and the hash that it was edited."""
    eng = Engine(db, definition, clock=lambda: MONDAY + timedelta(days=3))
    case_id = eng.apply(OpenCase(customer_id="C1", subject="s", priority="urgent"), MONDAY).case_id
    with read_connection(db) as conn:
        _, events = replay(conn, case_id)
    assert len(events) > 1  # urgent: escalated at intake, in the same command
    edit_event(db, case_id, 1, recorded_at=MONDAY)
    problems = problems_of(db, case_id)
    assert problems == [
        "event #1 (opened) was altered: field recorded_at is 2026-11-02T09:00:00+00:00, "
        "2026-11-05T09:00:00+00:00 was hashed"
    ]


def test_an_idempotency_key_added_removed_or_changed_is_reported(db, definition, history):
    eng, case_id = history
    eng.apply(
        Act(case_id=case_id, trigger="follow_up", actor="ana", idempotency_key="call-77"),
    )
    edit_event(db, case_id, 2, idempotency_key="planted")
    edit_event(db, case_id, 7, idempotency_key=None)
    problems = problems_of(db, case_id)
    assert problems == [
        "event #2 (flagged) was altered: field idempotency_key is 'planted', empty was hashed",
        "event #7 (follow_up) was altered: field idempotency_key was removed "
        "(its command had a key)",
    ]
    edit_event(db, case_id, 2, idempotency_key=None)
    edit_event(db, case_id, 7, idempotency_key="call-78")
    problems = problems_of(db, case_id)
    assert problems == ["event #7 (follow_up) was altered: hash mismatch"]


def test_a_command_digest_added_changed_or_removed_is_reported(db, definition, history):
    """The digest that tells a retry from a reused key is sealed (format 4): an edit of it
    made a retry of the keyed command fail as a key reused, and verified."""
    eng, case_id = history
    eng.apply(
        Act(case_id=case_id, trigger="follow_up", actor="ana", idempotency_key="call-77"),
    )
    urgent = OpenCase(customer_id="C2", subject="s", priority="urgent", idempotency_key="k2")
    other = eng.apply(urgent).case_id  # opened and escalated: two events of one command
    with read_connection(db) as conn:
        digest = conn.execute(
            select(EVENT.c.command_hash).where(EVENT.c.case_id == other, EVENT.c.seq == 1)
        ).scalar_one()
    assert digest is not None
    edit_event(db, case_id, 2, command_hash="0" * 64)
    edit_event(db, case_id, 7, command_hash="1" + digest[1:])
    edit_event(db, other, 2, command_hash=None)
    assert problems_of(db, case_id) == [
        f"event #2 (flagged) was altered: field command_hash is '{'0' * 64}', empty was hashed",
        "event #7 (follow_up) was altered: hash mismatch",
    ]
    assert problems_of(db, other) == [
        f"event #2 (flagged) was altered: field command_hash is empty, '{digest}' was hashed"
    ]


def test_an_edited_process_text_is_reported_naming_the_version_and_the_field(db, history):
    _, case_id = history
    with read_connection(db) as conn:
        version = conn.execute(select(CASE.c.process_version)).scalar_one()
    with db.begin() as conn:
        conn.execute(
            PROCESS.update().values(source_text=PROCESS.c.source_text + "\n# reopen: 365 days")
        )
    problems = problems_of(db, case_id)
    assert len(problems) == 1
    assert problems[0].startswith(
        f"process {version}: field source_text of process_version was edited: its digest is "
    )


def test_a_process_text_and_digest_edited_together_no_longer_match_the_case(db, history):
    _, case_id = history
    with read_connection(db) as conn:
        text_now = conn.execute(select(PROCESS.c.source_text)).scalar_one()
        version = conn.execute(select(CASE.c.process_version)).scalar_one()
    forged = text_now.replace("P30D", "P365D")
    digest = hashlib.sha256(forged.encode()).hexdigest()
    with db.begin() as conn:
        conn.execute(PROCESS.update().values(source_text=forged, digest=digest))
    problems = problems_of(db, case_id)
    assert problems == [
        f"process {version}: process_version's name, version or digest was "
        f"edited: it reads customer-escalation@2026.11#{digest[:12]}"
    ]


def test_an_edited_policy_text_is_reported(db, history):
    _, case_id = history
    with db.begin() as conn:
        conn.execute(POLICY.update().values(source_text=POLICY.c.source_text + " "))
    problems = problems_of(db, case_id)
    assert len(problems) == 1 and "field source_text of policy_version was edited" in problems[0]


def test_verify_all_checks_each_stored_text_once_and_reports_every_case_on_it(db, history):
    eng, case_id = history
    other = eng.apply(OpenCase(customer_id="C2", subject="s")).case_id
    with db.begin() as conn:
        conn.execute(PROCESS.update().values(source_text="edited"))
    bad = [check.case_id for check in verify_all(db) if not check.ok]
    assert bad == [case_id, other]
