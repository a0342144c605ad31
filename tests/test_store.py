"""Persistence guarantees, on SQLite and on PostgreSQL: one transaction per
command or batch, optimistic concurrency, idempotency, aware UTC times."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import event, func, inspect, select, text
from sqlalchemy.exc import DisconnectionError

from states import store
from states.commands import Act, OpenCase
from states.engine import Engine
from states.errors import (
    BatchFailed,
    CaseNotFound,
    ConcurrencyConflict,
    GuardFailed,
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    StoreError,
)
from states.queries import CaseFilter, get_case, list_cases
from states.store import CASE, EVENT, init_schema, make_engine, read_connection
from states.tables import Case
from tests.conftest import MONDAY, PG_URL, postgres

NOTICE = "Our specialists take over."


def counts(db) -> tuple[int, int]:
    with read_connection(db) as conn:
        return (
            conn.execute(select(func.count()).select_from(CASE)).scalar_one(),
            conn.execute(select(func.count()).select_from(EVENT)).scalar_one(),
        )


@pytest.fixture
def eng(db, definition) -> Engine:
    return Engine(db, definition, clock=lambda: MONDAY)


def open_assigned(eng: Engine) -> int:
    case_id = eng.apply(OpenCase(customer_id="C1", subject="s")).case_id
    eng.apply(Act(case_id=case_id, trigger="assign", actor="ana", assignee="ana"))
    return case_id


def test_case_and_events_round_trip_with_aware_utc_times(eng, db):
    brussels = timezone(timedelta(hours=1))
    case_id = eng.apply(
        OpenCase(customer_id="C1", subject="s"), now=datetime(2026, 11, 2, 10, 0, tzinfo=brussels)
    ).case_id
    with read_connection(db) as conn:
        case, events = get_case(conn, case_id)
    assert case.opened_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert case.opened_at.tzinfo is not None and events[0].occurred_at.utcoffset() == timedelta(0)


def test_naive_time_is_refused(eng):
    with pytest.raises(Exception, match="timezone-aware"):
        eng.apply(OpenCase(customer_id="C1", subject="s"), now=datetime(2026, 11, 2, 9))


def test_failed_command_writes_nothing(eng, db):
    case_id = open_assigned(eng)
    before = counts(db)
    with pytest.raises(GuardFailed):
        eng.apply(Act(case_id=case_id, trigger="escalate", actor="ana", reason="r"))
    assert counts(db) == before


def test_batch_is_all_or_nothing_and_names_the_failing_command(eng, db):
    case_id = open_assigned(eng)
    before = counts(db)
    batch = [
        OpenCase(customer_id="C2", subject="new"),
        Act(case_id=case_id, trigger="wait_on_customer", actor="ana"),
        Act(case_id=case_id, trigger="resolve", actor="ana"),  # no note: refused
    ]
    with pytest.raises(BatchFailed) as caught:
        eng.apply_many(batch)
    assert caught.value.index == 2 and isinstance(caught.value.cause, GuardFailed)
    assert counts(db) == before
    with read_connection(db) as conn:
        assert get_case(conn, case_id)[0].waiting is False


def test_batch_applies_commands_in_order_on_the_same_case(eng, db):
    case_id = open_assigned(eng)
    results = eng.apply_many(
        [
            Act(case_id=case_id, trigger="escalate", actor="ana", reason="r", notice=NOTICE),
            Act(case_id=case_id, trigger="acknowledge", actor="l2"),
            Act(case_id=case_id, trigger="resolve", actor="l2", note="done"),
        ]
    )
    assert [r.version for r in results] == [3, 4, 5]
    with read_connection(db) as conn:
        case, events = get_case(conn, case_id)
    assert (case.state, case.version, [e.seq for e in events]) == ("resolved", 5, [1, 2, 3, 4, 5])


def test_unknown_case_is_reported(eng):
    with pytest.raises(CaseNotFound, match="case 999 not found"):
        eng.apply(Act(case_id=999, trigger="assign", actor="ana", assignee="ana"))


def test_expected_version_mismatch_is_a_conflict(eng, db):
    case_id = open_assigned(eng)
    before = counts(db)
    with pytest.raises(ConcurrencyConflict, match="expected version 1, found 2"):
        eng.apply(Act(case_id=case_id, trigger="wait_on_customer", actor="ana", expected_version=1))
    assert counts(db) == before
    eng.apply(Act(case_id=case_id, trigger="wait_on_customer", actor="ana", expected_version=2))


def test_two_engines_with_the_same_expected_version_never_both_win(db, definition):
    first, second = (Engine(db, definition, clock=lambda: MONDAY) for _ in range(2))
    case_id = open_assigned(first)
    first.apply(Act(case_id=case_id, trigger="wait_on_customer", actor="a", expected_version=2))
    with pytest.raises(ConcurrencyConflict):
        second.apply(
            Act(case_id=case_id, trigger="wait_on_customer", actor="b", expected_version=2)
        )


def test_a_stale_cached_snapshot_is_never_used(db, definition):
    """An engine whose cached case was changed by another writer re-reads it."""
    first, second = (Engine(db, definition, clock=lambda: MONDAY) for _ in range(2))
    case_id = open_assigned(first)
    second.apply(Act(case_id=case_id, trigger="wait_on_customer", actor="b"))
    result = first.apply(Act(case_id=case_id, trigger="customer_replied", actor="a"))
    assert result.version == 4


def test_a_cached_snapshot_another_writer_moved_on_fails_its_write_and_is_read_again(
    db, definition
):
    """The command is allowed in the cached state and in the stored one: the write with
    the cached sequence number and version must not land; the retry appends after the
    other writer's events, on one unbroken chain."""
    first, second = (Engine(db, definition, clock=lambda: MONDAY) for _ in range(2))
    case_id = open_assigned(first)
    second.apply(Act(case_id=case_id, trigger="wait_on_customer", actor="b"))
    second.apply(Act(case_id=case_id, trigger="customer_replied", actor="b"))
    result = first.apply(
        Act(case_id=case_id, trigger="escalate", actor="a", reason="r", notice=NOTICE)
    )
    assert result.version == 5
    with read_connection(db) as conn:
        case, events = get_case(conn, case_id)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.type for e in events][-3:] == ["wait_on_customer", "customer_replied", "escalate"]
    assert all(e.prev_hash == before.hash for before, e in pairwise(events))
    assert case.level == result.level


def test_a_refusal_is_judged_on_the_stored_case_not_a_cached_one(db, definition):
    """Allowed in the cached state (assigned), refused in the stored one (resolved): the
    error names the stored state, and nothing is written."""
    first, second = (Engine(db, definition, clock=lambda: MONDAY) for _ in range(2))
    case_id = open_assigned(first)
    second.apply(Act(case_id=case_id, trigger="resolve", actor="b", note="done"))
    before = counts(db)
    with pytest.raises(InvalidTransition, match="from state 'resolved'"):
        first.apply(Act(case_id=case_id, trigger="wait_on_customer", actor="a"))
    assert counts(db) == before


def test_a_batch_is_judged_on_the_stored_case_not_a_cached_one(db, definition):
    """On the cached case (assigned) the batch's first command fails; on the stored one
    (resolved) the first passes and the second fails, which is what must be reported."""
    first, second = (Engine(db, definition, clock=lambda: MONDAY) for _ in range(2))
    case_id = open_assigned(first)
    second.apply(Act(case_id=case_id, trigger="resolve", actor="b", note="done"))
    before = counts(db)
    with pytest.raises(BatchFailed) as raised:
        first.apply_many(
            [
                Act(case_id=case_id, trigger="follow_up", actor="a"),
                Act(case_id=case_id, trigger="wait_on_customer", actor="a"),
            ]
        )
    assert raised.value.index == 1
    assert isinstance(raised.value.cause, InvalidTransition)
    assert raised.value.cause.state == "followed_up"
    assert counts(db) == before


def test_concurrent_writers_on_one_case_serialise_without_lost_updates(db, definition):
    """Threads toggling the same case: every command lands once, versions stay gapless."""
    engines = [Engine(db, definition, clock=lambda: MONDAY) for _ in range(4)]
    case_id = open_assigned(engines[0])
    errors: list[BaseException] = []
    applied: list[int] = []

    def worker(engine: Engine) -> None:
        for _ in range(10):
            try:
                with read_connection(db) as conn:
                    waiting = get_case(conn, case_id)[0].waiting
                trigger = "customer_replied" if waiting else "wait_on_customer"
                applied.append(
                    engine.apply(Act(case_id=case_id, trigger=trigger, actor="t")).version
                )
            except (ConcurrencyConflict, GuardFailed):
                continue  # lost the race: the state changed under us, as it should
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with read_connection(db) as conn:
        case, events = get_case(conn, case_id)
    assert sorted(applied) == list(range(3, 3 + len(applied)))
    assert case.version == 2 + len(applied) == len(events)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_idempotency_key_applies_once_and_returns_the_first_result(eng, db):
    case_id = open_assigned(eng)
    command = Act(
        case_id=case_id,
        trigger="escalate",
        actor="ana",
        reason="r",
        notice=NOTICE,
        idempotency_key="mail-4711-escalate",
    )
    first = eng.apply(command)
    before = counts(db)
    again = eng.apply(command)
    assert counts(db) == before
    assert again.replayed and not first.replayed
    assert (again.case_id, again.version, again.state, again.level) == (
        first.case_id,
        first.version,
        first.state,
        first.level,
    )
    assert [e.hash for e in again.events] == [e.hash for e in first.events]


def test_idempotent_open_creates_one_case(eng, db):
    command = OpenCase(customer_id="C9", subject="s", idempotency_key="crm-123")
    assert eng.apply(command).case_id == eng.apply(command).case_id
    assert counts(db)[0] == 1


def test_idempotency_key_reused_for_another_command_is_refused(eng, db):
    case_id = open_assigned(eng)
    eng.apply(Act(case_id=case_id, trigger="wait_on_customer", actor="a", idempotency_key="k"))
    with pytest.raises(IdempotencyConflict, match="'k'"):
        eng.apply(Act(case_id=case_id, trigger="customer_replied", actor="a", idempotency_key="k"))


def test_same_key_twice_in_one_batch_applies_once(eng, db):
    case_id = open_assigned(eng)
    command = Act(case_id=case_id, trigger="wait_on_customer", actor="a", idempotency_key="b")
    results = eng.apply_many([command, command])
    assert results[1].replayed and results[0].version == results[1].version == 3


def test_concurrent_retries_with_one_key_apply_once(db, definition):
    engines = [Engine(db, definition, clock=lambda: MONDAY) for _ in range(4)]
    case_id = open_assigned(engines[0])
    command = Act(case_id=case_id, trigger="wait_on_customer", actor="a", idempotency_key="x")
    results = []
    threads = [
        threading.Thread(target=lambda e=e: results.append(e.apply(command))) for e in engines
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and sum(not r.replayed for r in results) == 1
    with read_connection(db) as conn:
        assert len(get_case(conn, case_id)[1]) == 3


def test_event_sequence_is_unique_per_case_in_the_schema(eng, db):
    case_id = open_assigned(eng)
    columns = "case_id, seq, type, occurred_at, recorded_at, actor, to_state, payload"
    tail = "format, prev_hash, hash"
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), db.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO case_event ({columns}, command_id, {tail}) "
                f"SELECT {columns}, 'dup', {tail} "
                f"FROM case_event WHERE case_id = {case_id} AND seq = 1"
            )
        )


def test_case_table_columns_match_the_snapshot_fields():
    from states.case import DEADLINE_COLUMNS, FIELD_NAMES

    assert [c.name for c in Case.__table__.columns] == [*FIELD_NAMES, *DEADLINE_COLUMNS]


def test_list_filters_on_a_point_that_marked_the_case_and_on_the_team(eng, db):
    """Scenario 4: the manager's pipeline picks out repeat customers."""
    *_, third = (
        eng.apply(OpenCase(customer_id="C-REPEAT", subject=f"case {n}")).case_id for n in range(3)
    )
    eng.apply(OpenCase(customer_id="C-OTHER", subject="unrelated"))
    with read_connection(db) as conn:
        repeat, total = list_cases(conn, CaseFilter(flag="repeat_customer"))
        senior, _ = list_cases(conn, CaseFilter(team="senior"))
        none, _ = list_cases(conn, CaseFilter(flag="legal_risk"))
    assert ([c.id for c in repeat], total) == ([third], 1)
    assert [c.id for c in senior] == [third]
    assert none == []


def test_a_reference_names_one_case_even_within_one_batch(eng, db):
    eng.apply(OpenCase(customer_id="C1", subject="s", external_ref="T-1"))
    with pytest.raises(InvalidInput, match="case 1 has it"):
        eng.apply(OpenCase(customer_id="C2", subject="s", external_ref="T-1"))
    with pytest.raises(BatchFailed, match="external_ref"):
        eng.apply_many(
            [
                OpenCase(customer_id="C3", subject="s", external_ref="T-2"),
                OpenCase(customer_id="C4", subject="s", external_ref="T-2"),
            ]
        )
    assert counts(db)[0] == 1


# -- connections: no ping per command, a dropped connection costs one retry ----------------


def drop_pooled_connection(db, eng=None) -> None:
    """Kill the connection waiting in the pool, as a server restart or a timeout would
    (on SQLite, with `eng`: the connection that engine keeps for its writes)."""
    kept = eng.connections.get() if eng is not None else None
    if kept is not None:
        kept.connection.dbapi_connection.close()
        return
    with read_connection(db) as conn:
        driver = conn.connection.driver_connection  # back in the pool after this block
        pid = None if db.dialect.name == "sqlite" else driver.info.backend_pid
    if pid is None:
        driver.close()
        return
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_command_runs_again_on_a_fresh_connection_when_the_pooled_one_died(eng, db):
    """Nothing was committed on the dead connection, so the engine runs the command again
    instead of failing it (what pool_pre_ping did, without a round trip per command)."""
    case_id = eng.apply(OpenCase(customer_id="C1", subject="s")).case_id
    drop_pooled_connection(db, eng)
    result = eng.apply(Act(case_id=case_id, trigger="assign", actor="ana", assignee="ana"))
    assert (result.version, result.state) == (2, "first_level")
    assert counts(db) == (1, 2)


@pytest.mark.postgres
def test_postgresql_commands_do_not_ping_the_server_before_each_command(pg, definition):
    pings: list[object] = []
    ping = pg.dialect.do_ping
    pg.dialect.do_ping = lambda dbapi_connection: pings.append(1) or ping(dbapi_connection)
    eng = Engine(pg, definition, clock=lambda: MONDAY)
    open_assigned(eng)
    assert pings == []


@pytest.mark.postgres
def test_postgresql_checks_a_connection_that_sat_idle_before_a_command_uses_it(
    pg, definition, monkeypatch
):
    """A connection idle past the limit is pinged at checkout and, found dead, replaced
    there: the command never meets it (no retry needed)."""
    eng = Engine(pg, definition, clock=lambda: MONDAY)
    case_id = eng.apply(OpenCase(customer_id="C1", subject="s")).case_id
    monkeypatch.setattr(store, "IDLE_PING_SECONDS", 0.0)
    drop_pooled_connection(pg)
    replaced: list[BaseException | None] = []
    event.listen(pg, "invalidate", lambda _conn, _record, exc: replaced.append(exc))
    eng.apply(Act(case_id=case_id, trigger="assign", actor="ana", assignee="ana"))
    assert [type(exc) for exc in replaced] == [DisconnectionError]
    assert counts(pg) == (1, 2)


@postgres
@pytest.mark.postgres
def test_three_inits_racing_on_a_fresh_postgresql_schema_all_succeed():
    """Three `tierflow init` at once on an empty database failed 2 times in 9 with
    `relation already exists`: schema creation now waits on an advisory lock."""
    admin = make_engine(PG_URL)
    for _ in range(6):
        schema = f"t_init_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engines = [
            make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
            for _ in range(3)
        ]
        start = threading.Barrier(len(engines))

        def init(db: SAEngine, start: threading.Barrier = start) -> None:
            start.wait()
            init_schema(db)

        try:
            with ThreadPoolExecutor(len(engines)) as pool:
                list(pool.map(init, engines))
            with read_connection(engines[0]) as conn:
                assert conn.execute(text("SELECT count(*) FROM schema_info")).scalar_one() == 1
        finally:
            for db in engines:
                db.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_a_file_that_is_not_a_database_is_one_error_naming_it(tmp_path: Path):
    path = tmp_path / "tierflow.db"
    path.write_text("not a database\n")
    db = make_engine(f"sqlite:///{path}")
    with pytest.raises(StoreError) as caught, read_connection(db) as conn:
        get_case(conn, 1)
    assert str(caught.value) == (
        f"{path} is not a tierflow database or is damaged (file is not a database)"
    )
    with pytest.raises(StoreError, match="is not a tierflow database or is damaged"):
        init_schema(db)


def test_reading_a_database_that_was_never_created_creates_no_file(tmp_path: Path):
    path = tmp_path / "home" / "tierflow.db"
    with pytest.raises(StoreError, match=r"no database at .*; run `tierflow init` first"):
        make_engine(f"sqlite:///{path}", create=False)
    assert not path.parent.exists()


def test_an_idempotency_key_is_unique_in_the_schema_and_a_missing_one_is_not(eng, db):
    case_id = open_assigned(eng)
    eng.apply(Act(case_id=case_id, trigger="wait_on_customer", actor="a", idempotency_key="k"))
    eng.apply(Act(case_id=case_id, trigger="customer_replied", actor="a"))  # no key: NULL
    assert counts(db)[1] == 4
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), db.begin() as conn:
        conn.execute(
            text(
                f"UPDATE case_event SET idempotency_key = 'k' WHERE case_id = {case_id} AND seq = 4"
            )
        )


_SCHEMA_3_INDEXES = {
    "ix_case_state_level": '"case" (state, level)',
    "ix_case_event_command_id": "case_event (command_id)",
}


def _downgrade_to_schema_3(db: SAEngine) -> None:
    """Give `db` schema 3's shape: the key unique on every row, three more indexes."""
    with db.begin() as conn:
        conn.execute(text("DROP INDEX uq_case_event_idempotency_key"))
        if db.dialect.name == "postgresql":
            conn.execute(
                text(
                    "ALTER TABLE case_event ADD CONSTRAINT case_event_idempotency_key_key "
                    "UNIQUE (idempotency_key)"
                )
            )
        else:
            ddl = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'case_event'")
            ).scalar_one()
            old = ddl.replace("CREATE TABLE case_event", "CREATE TABLE case_event_old", 1)
            conn.execute(text(old.rstrip().removesuffix(")") + ", UNIQUE (idempotency_key))"))
            conn.execute(text("INSERT INTO case_event_old SELECT * FROM case_event"))
            conn.execute(text("DROP TABLE case_event"))
            conn.execute(text("ALTER TABLE case_event_old RENAME TO case_event"))
            for index in EVENT.indexes:
                if index.name != "uq_case_event_idempotency_key":
                    index.create(conn)
        for name, target in _SCHEMA_3_INDEXES.items():
            conn.execute(text(f"CREATE INDEX {name} ON {target}"))
        conn.execute(text("UPDATE schema_info SET schema_version = 3"))


def test_init_upgrades_a_schema_3_database_keeping_every_event_and_key(eng, db, definition):
    from states.audit import chain_problems
    from tests.test_dashboard_scale import _index_names

    case_id = open_assigned(eng)
    keyed = Act(case_id=case_id, trigger="wait_on_customer", actor="a", idempotency_key="w")
    first = eng.apply(keyed)
    eng.close()
    _downgrade_to_schema_3(db)
    assert set(_SCHEMA_3_INDEXES) <= _index_names(db)
    with read_connection(db) as conn:
        before = conn.execute(select(EVENT).order_by(EVENT.c.id)).all()
    init_schema(db)
    names = _index_names(db)
    assert not set(_SCHEMA_3_INDEXES) & names and "uq_case_event_idempotency_key" in names
    with read_connection(db) as conn:
        assert conn.execute(select(EVENT).order_by(EVENT.c.id)).all() == before
        version = conn.execute(text("SELECT schema_version FROM schema_info")).scalar_one()
        assert chain_problems(store.load_events(conn, case_id)) == []
    assert version == store.SCHEMA_VERSION
    again = Engine(db, definition, clock=lambda: MONDAY).apply(keyed)
    assert again.replayed and [e.hash for e in again.events] == [e.hash for e in first.events]
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), db.begin() as conn:
        conn.execute(text("UPDATE case_event SET idempotency_key = 'w' WHERE seq = 1"))


def test_a_key_lookup_reads_the_partial_key_index(eng, db):
    open_assigned(eng)
    query = "SELECT case_id FROM case_event WHERE idempotency_key IN ('a', 'b')"
    with read_connection(db) as conn:
        if db.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")
            )
        else:
            conn.execute(text("SET enable_seqscan = off"))
            plan = " ".join(conn.execute(text(f"EXPLAIN {query}")).scalars())
    assert "uq_case_event_idempotency_key" in plan


def test_a_case_update_sets_only_the_columns_that_changed(eng, db):
    """Each column set is an index entry rewritten: a wait changes no indexed column."""
    case_id = open_assigned(eng)
    statements: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _many):
        if statement.lstrip().upper().startswith('UPDATE "CASE"'):
            statements.append(statement)

    event.listen(db, "before_cursor_execute", record)
    try:
        eng.apply(Act(case_id=case_id, trigger="wait_on_customer", actor="ana"))
    finally:
        event.remove(db, "before_cursor_execute", record)
    assert len(statements) == 1
    assigned = statements[0].split(" WHERE ")[0]
    for column in ("state", "level", "assignee", "state_entered_at", "opened_at", "priority"):
        assert f"{column}=" not in assigned.replace(" ", "")
    assert "waiting=" in assigned.replace(" ", "") and "version=" in assigned.replace(" ", "")
    with read_connection(db) as conn:
        case, _ = get_case(conn, case_id)
    assert case.waiting and case.assignee == "ana" and case.state == "first_level"


def _retype_case_column(db: SAEngine, column: str, old: str, new: str) -> None:
    """Change the case table's `column` from type `old` to `new`, as a person would by
    hand: PostgreSQL alters it; SQLite, which cannot, copies the table into a new one."""
    if db.dialect.name == "postgresql":
        with db.begin() as conn:
            conn.execute(text(f'ALTER TABLE "case" ALTER COLUMN {column} TYPE {new}'))
        return
    db.dispose()
    with sqlite3.connect(db.url.database) as conn:
        (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'case'").fetchone()
        retyped = ddl.replace('"case"', "case_new", 1).replace(
            f"\t{column} {old}", f"\t{column} {new}"
        )
        assert retyped.count(f"\t{column} {new}") == 1
        conn.executescript(
            f"PRAGMA foreign_keys = OFF; BEGIN; {retyped}; "
            'INSERT INTO case_new SELECT * FROM "case"; DROP TABLE "case"; '
            'ALTER TABLE case_new RENAME TO "case"; COMMIT;'
        )


@pytest.mark.parametrize(
    ("column", "old", "new", "said"),
    [
        ("version", "INTEGER", "TEXT", "column version is TEXT (text), not INTEGER (integer)"),
        ("flags", "JSON", "TEXT", "column flags is TEXT (text), not JSON (json)"),
        ("satisfaction", "INTEGER", "REAL", "column satisfaction is REAL (real), not INTEGER"),
    ],
)
def test_init_refuses_a_column_whose_type_was_changed_by_hand(
    eng, db, column: str, old: str, new: str, said: str
):
    """`init` said "initialised" over a case table whose version was text, or flags text
    instead of JSON (it creates missing tables and compares no type): the commands after
    it failed with tracebacks."""
    open_assigned(eng)
    eng.close()
    _retype_case_column(db, column, old, new)
    with pytest.raises(StoreError) as caught:
        init_schema(db)
    assert f"table case {said}" in str(caught.value)
    assert "changed by hand" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("column", "old", "new"),
    [("satisfaction", "INTEGER", "BIGINT"), ("customer_id", "VARCHAR", "TEXT"),
     ("deadline_resolution", "VARCHAR(32)", "TEXT")],
)  # fmt: skip
def test_init_takes_a_column_of_another_type_of_the_same_class(
    eng, db, column: str, old: str, new: str
):
    """Types are compared by the class of value they hold, not by their spelling."""
    case_id = open_assigned(eng)
    eng.close()
    _retype_case_column(db, column, old, new)
    init_schema(db)
    with read_connection(db) as conn:
        assert get_case(conn, case_id)[0].assignee == "ana"


def _tables(db: SAEngine) -> set[str]:
    with read_connection(db) as conn:
        return set(inspect(conn).get_table_names())


def test_a_database_that_lost_a_table_and_holds_cases_is_refused_and_not_finished(eng, db):
    """With case_event dropped, every command said the database had no tierflow tables,
    and `init` (and `demo`, which runs it) made the table anew, empty: the loss of every
    history hidden."""
    open_assigned(eng)
    eng.close()
    with db.begin() as conn:
        conn.execute(text("DROP TABLE case_event"))
    said = (
        "the database is incomplete: table case_event is missing while it holds cases "
        "(history lost); restore it from a backup"
    )
    with pytest.raises(StoreError) as caught:
        store.check_schema(db)
    assert str(caught.value) == said
    with pytest.raises(StoreError) as caught:
        init_schema(db)
    assert str(caught.value) == said
    assert "case_event" not in _tables(db)


def test_a_database_without_cases_missing_tables_is_finished_by_init(db):
    """What a first `init` stopped part way could leave: nothing is lost, `init` makes the
    rest; another command says to run it."""
    with db.begin() as conn:
        conn.execute(text("DROP TABLE timer"))
        conn.execute(text("DROP TABLE clock_segment"))
    with pytest.raises(StoreError) as caught:
        store.check_schema(db)
    assert str(caught.value) == (
        "the database is incomplete: tables clock_segment, timer are missing; run "
        "`tierflow init` to finish it"
    )
    init_schema(db)
    store.check_schema(db)
    assert {"timer", "clock_segment"} <= _tables(db)


def test_an_older_schema_without_a_table_a_later_release_added_is_upgraded_not_refused(eng, db):
    """A table a release adds is missing from every database of the schema before it: that
    is a table still to make (init migrates the database), not one lost. Refused as
    incomplete, every database holding cases would have been stopped at the upgrade."""
    case_id = open_assigned(eng)
    eng.close()
    with db.begin() as conn:
        conn.execute(text("DROP TABLE flow_run_log"))  # as if schema 7 had added it
        conn.execute(text("UPDATE schema_info SET schema_version = 6"))
    with pytest.raises(StoreError, match=r"schema version 6 .*run `tierflow init`"):
        store.check_schema(db)
    init_schema(db)
    store.check_schema(db)
    assert "flow_run_log" in _tables(db)
    with read_connection(db) as conn:
        assert [e.seq for e in store.load_events(conn, case_id)][:1] == [1]


@pytest.mark.parametrize("with_a_case", [True, False])
def test_init_after_the_case_table_was_renamed_is_one_line_naming_it(eng, db, with_a_case: bool):
    """`init` made a new case table, and PostgreSQL refused its index or sequence, whose
    names the renamed table keeps: 'relation … already exists' (SQLite: 'index …')."""
    if with_a_case:
        open_assigned(eng)
    eng.close()
    with db.begin() as conn:
        conn.execute(text('ALTER TABLE "case" RENAME TO case_kept'))
    with pytest.raises(StoreError) as caught:
        init_schema(db)
    said = str(caught.value)
    assert said.startswith("the database is incomplete: ") and "\n" not in said
    if with_a_case:
        assert "table case is missing while it holds cases" in said
    else:
        assert "cannot create table case (" in said and "renamed" in said
    assert "case" not in _tables(db)
