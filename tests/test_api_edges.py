"""The Python API's readings and batch entry points refuse what they cannot use with an
InvalidInput naming the argument and what is allowed, as the commands do: a naive or
far-off "now", a period that is not one, a batch of zero, an unknown export format, a
FIFO where the export would land. Each was a TypeError, a ValueError, an OverflowError,
or, worse, an answer (batch -1 took every record at once; a FIFO was replaced)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine as SAEngine

from states.aging import AgingQuery, aging
from states.commands import OpenCase, Update
from states.engine import Engine
from states.errors import InvalidInput
from states.eventlog import LogFilter
from states.intake import Record, apply_records
from states.ledger import clock_views
from states.logexport import export_log
from states.policy import load_policy
from states.queries import get_case
from states.report import month_period, quarter_period, review
from states.store import read_connection
from states.view_filter import ViewFilter
from tests.conftest import MONDAY

NAIVE = datetime(2026, 11, 2, 9)
FAR = datetime(9999, 12, 31, tzinfo=UTC)  # date arithmetic past it overflowed
EARLY = datetime(1, 1, 1, tzinfo=UTC)


@pytest.fixture
def desk(db: SAEngine, definition) -> tuple[SAEngine, Any, Any, int]:
    policy = load_policy(None, definition)
    engine = Engine(db, definition, policy=policy, clock=lambda: MONDAY)
    case_id = engine.apply(OpenCase(customer_id="C1", subject="refund")).case_id
    return db, definition, policy, case_id


def refused(call: Callable[[], Any], field: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call()
    assert caught.value.field == field, caught.value
    return caught.value


@pytest.mark.parametrize("now", [NAIVE, "2026-11-02T09:00:00+00:00", FAR, EARLY])
def test_a_ledger_and_the_aging_table_refuse_a_now_they_cannot_read_at(desk, now: Any):
    db, _, policy, case_id = desk
    with read_connection(db) as conn:
        case, _ = get_case(conn, case_id)
        refused(lambda: clock_views(conn, case, policy, now), "now")
        refused(lambda: aging(conn, ViewFilter(), AgingQuery(), policy, now), "now")
        assert clock_views(conn, case, policy, MONDAY)  # the same reading at a usable now


@pytest.mark.parametrize(
    ("day", "timezone", "field"),
    [
        (date(1, 1, 5), "UTC", "day"),
        ("2026-12-01", "UTC", "day"),
        (date(2026, 12, 1), 5, "timezone"),
    ],
)
def test_a_review_period_refuses_a_day_or_zone_it_cannot_count_from(
    day: Any, timezone: Any, field: str
):
    refused(lambda: month_period(day, timezone), field)
    refused(lambda: quarter_period(day, timezone), field)


def test_a_review_refuses_a_period_of_text(desk):
    db, definition, policy, _ = desk
    refused(lambda: review(db, policy, definition, "2026-11", "2026-12"), "start")


def test_intake_refuses_a_batch_of_zero_or_less_and_a_naive_now(desk):
    db, definition, policy, _ = desk
    engine = Engine(db, definition, policy=policy)
    record = Record("web.jsonl", 1, "k1", OpenCase(customer_id="C2", subject="s"))
    for batch in (0, -1):
        refused(lambda b=batch: apply_records(engine, [record], MONDAY, batch=b), "batch")
    refused(lambda: apply_records(engine, [record], NAIVE), "now")
    assert apply_records(engine, [record], MONDAY).opened == 1


@pytest.mark.parametrize("number", [2**31, 10**20])
def test_a_case_number_past_the_id_column_names_no_case(desk, number: int):
    """A mail subject "[#99999999999]": the lookup failed the whole run (integer out of
    range on PostgreSQL, OverflowError on SQLite); it is a row naming no case."""
    db, definition, policy, _ = desk
    engine = Engine(db, definition, policy=policy)
    update = Update(case_id=0, actor="customer:C1", message="any news?")
    result = apply_records(engine, [Record("mail", 1, "m1", update, case_id=number)], MONDAY)
    assert [(r.field, r.reason) for r in result.rejected] == [("case_id", "no case has it")]


def test_an_export_refuses_an_unknown_format_and_a_fifo_it_would_replace(desk, tmp_path: Path):
    db, definition, _, _ = desk
    fifo = tmp_path / "log.csv"
    os.mkfifo(fifo)
    with read_connection(db) as conn:
        refused(lambda: export_log(conn, definition, LogFilter(), None, tmp_path / "x"), "--format")
        refused(
            lambda: export_log(conn, definition, LogFilter(), "pdf", tmp_path / "x"), "--format"
        )
        refused(lambda: export_log(conn, definition, LogFilter(), "csv", fifo), "--output")
    assert fifo.is_fifo() and not (tmp_path / "x").exists()


def test_an_export_that_replaces_a_log_keeps_its_permissions(desk, tmp_path: Path):
    """A read-only log (0444) was replaced by one anyone's umask allowed (0644)."""
    db, definition, _, _ = desk
    out = tmp_path / "log.csv"
    out.write_text("old")
    out.chmod(0o440)
    with read_connection(db) as conn:
        export_log(conn, definition, LogFilter(), "csv", out)
    assert out.stat().st_mode & 0o777 == 0o440 and out.read_text() != "old"
