"""Commands check every field at the edge, for every caller, within the same limits on
every database: a value the engine could store but not replay, or one database could
store and the other not, never reaches it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine as SAEngine

from states.asof import case_at, pipeline_at, pipeline_live
from states.audit import verify_case
from states.commands import Act, OpenCase, Update, fingerprint
from states.engine import Engine
from states.errors import CaseNotFound, InvalidInput
from states.fields import MAX_ID, MAX_NAME, MAX_TEXT
from states.queries import get_case
from states.store import read_connection
from states.sweep import sweep
from states.timers import claim_due
from tests.conftest import MONDAY

OPEN = {"customer_id": "C1", "subject": "Refund"}
ACT = {"case_id": 1, "trigger": "assign", "actor": "ana"}
UPDATE = {"case_id": 1, "actor": "ana"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("team", 5),
        ("customer_id", 5),
        ("subject", b"Refund"),
        ("description", None),
        ("priority", 1),
        ("external_ref", 4711),
        ("actor", None),
        ("idempotency_key", 7),
        ("amount_claimed", 800.5),
        ("amount_claimed", True),
        ("channel", ["email"]),
    ],
)
def test_open_case_refuses_a_value_of_the_wrong_type_naming_the_field(field: str, value: Any):
    with pytest.raises(InvalidInput, match=rf"invalid {field} "):
        OpenCase(**{**OPEN, field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expected_version", True),
        ("expected_version", "3"),
        ("satisfaction", True),
        ("to_level", 2),
        ("evidence", 5),
        ("reason", ["r"]),
        ("idempotency_key", 1),
        ("extra", ["x"]),
        ("extra", {1: "x"}),
        ("case_id", True),
        ("case_id", MAX_ID + 1),
    ],
)
def test_act_refuses_a_value_of_the_wrong_type_naming_the_field(field: str, value: Any):
    with pytest.raises(InvalidInput, match=rf"invalid {field} "):
        Act(**{**ACT, field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [("expected_version", True), ("idempotency_key", 5), ("message", 5), ("actor", 5)],
)
def test_update_refuses_a_value_of_the_wrong_type_naming_the_field(field: str, value: Any):
    with pytest.raises(InvalidInput, match=rf"invalid {field} "):
        Update(**{**UPDATE, field: value})


def test_a_team_given_as_a_number_is_refused_not_stored_to_fail_verification(
    engine: Engine,
):
    """The issue's case: `team=5` was stored, and the case then failed verification."""
    with pytest.raises(InvalidInput, match=r"invalid team 5: a name"):
        engine.apply(OpenCase(customer_id="C1", subject="S", team=5))  # type: ignore[arg-type]
    with read_connection(engine.db) as conn, pytest.raises(CaseNotFound):
        get_case(conn, 1)


@pytest.mark.parametrize(
    "now", ["2026-11-02T09:00:00+00:00", MONDAY.replace(tzinfo=None), MONDAY.date(), 1_700_000_000]
)
def test_an_instant_that_is_not_an_aware_datetime_is_refused_naming_now(engine: Engine, now: Any):
    """The engine's `now` (when the command happened) is checked like every field: a
    text, a naive datetime, a date or a number is one error naming it, nothing written."""
    with pytest.raises(InvalidInput, match=r"invalid now .*: a timezone-aware datetime"):
        engine.apply(OpenCase(customer_id="C1", subject="S"), now)
    with read_connection(engine.db) as conn, pytest.raises(CaseNotFound):
        get_case(conn, 1)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda e, c: sweep(e, "2026-11-02T09:00:00+00:00"), "now"),
        (lambda e, c: sweep(e, MONDAY.replace(tzinfo=None)), "now"),
        (lambda e, c: sweep(e, None), "now"),
        (lambda e, c: sweep(e, MONDAY, batch=0), "batch"),
        (lambda e, c: sweep(e, MONDAY, batch=2.5), "batch"),
        (lambda e, c: sweep(e, MONDAY, max_batches=0), "max_batches"),
        (lambda e, c: sweep(e, MONDAY, lease=timedelta(0)), "lease"),
        (lambda e, c: sweep(e, MONDAY, lease=60), "lease"),
        (lambda e, c: claim_due(e.db, now="today", worker="w", limit=10), "now"),
        (lambda e, c: claim_due(e.db, now=MONDAY, worker="w", limit=-1), "limit"),
        (lambda e, c: case_at(c, 1, "2026-11-02"), "at"),
        (lambda e, c: case_at(c, 1, MONDAY.replace(tzinfo=None)), "at"),
        (lambda e, c: pipeline_at(c, None), "at"),
        (lambda e, c: pipeline_live(c, "now"), "now"),
    ],
)
def test_the_sweep_and_the_views_refuse_an_instant_or_count_of_the_wrong_kind(
    engine: Engine, call: Callable[[Engine, Any], object], field: str
):
    """The Python API's other edges check what they are given as commands do: one
    InvalidInput naming the argument, instead of a TypeError from deep inside, a driver
    error, or (a batch or limit of 0) a sweep that silently does nothing."""
    engine.apply(OpenCase(customer_id="C1", subject="S"), MONDAY)
    with read_connection(engine.db) as conn, pytest.raises(InvalidInput, match=f"invalid {field} "):
        call(engine, conn)


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        (OpenCase, OPEN, "idempotency_key"),
        (OpenCase, OPEN, "team"),
        (OpenCase, OPEN, "external_ref"),
        (Act, ACT, "idempotency_key"),
        (Update, UPDATE, "idempotency_key"),
    ],
)
def test_a_blank_key_team_or_reference_is_refused(kind: type, fields: dict, field: str, blank):
    with pytest.raises(InvalidInput, match=rf"invalid {field} .*non-empty name"):
        kind(**{**fields, field: blank})


def test_a_blank_idempotency_key_is_refused_before_its_second_use_hits_the_index(
    engine: Engine,
):
    with pytest.raises(InvalidInput, match="idempotency_key"):
        engine.apply(OpenCase(customer_id="C1", subject="S", idempotency_key=""))


NAMES = ("customer_id", "actor", "team", "external_ref", "idempotency_key")


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_an_update_whose_message_is_blank_is_refused_not_recorded(engine: Engine, blank: str):
    """An `updated` event with the message "   " was recorded from the Python API (the CLI
    refused it): a message given says something; one left out says nothing."""
    case_id = engine.apply(OpenCase(customer_id="C1", subject="S")).case_id
    with pytest.raises(InvalidInput, match=r"invalid message .*: a non-empty text"):
        engine.apply(Update(case_id=case_id, actor="ana", message=blank))


@pytest.mark.parametrize("field", NAMES)
def test_names_and_keys_longer_than_the_limit_are_refused_naming_the_limit(field: str):
    with pytest.raises(InvalidInput, match=rf"invalid {field} .*1 to {MAX_NAME} characters"):
        OpenCase(**{**OPEN, field: "x" * (MAX_NAME + 1)})


@pytest.mark.parametrize("field", ["subject", "description"])
def test_free_text_longer_than_the_limit_is_refused(field: str):
    with pytest.raises(InvalidInput, match=rf"{field} .*at most {MAX_TEXT:,} characters"):
        OpenCase(**{**OPEN, field: "x" * (MAX_TEXT + 1)})


@pytest.mark.parametrize("field", NAMES)
@pytest.mark.parametrize("control", ["\x1b[31m", "a\nb", "\x00", "\x9b"])
def test_names_with_control_characters_are_refused(field: str, control: str):
    with pytest.raises(InvalidInput, match="without control characters"):
        OpenCase(**{**OPEN, field: control})


@pytest.mark.parametrize("field", [*NAMES, "subject", "description"])
def test_text_with_a_byte_the_command_line_could_not_decode_is_refused(field: str):
    """Python turns an undecodable argv byte into a lone surrogate, which cannot be stored."""
    with pytest.raises(InvalidInput, match="valid UTF-8"):
        OpenCase(**{**OPEN, field: "caf\udce9"})


# Arabic-Indic 800, fullwidth 800, Bengali 800, mixed, and grouped Arabic-Indic zeros
OTHER_DIGITS = ["\u0668\u0660\u0660", "\uff18\uff10\uff10", "\u09ee\u09e6\u09e6",
                "8\u06600", "1,\u0660\u0660\u0660"]  # fmt: skip


@pytest.mark.parametrize("text", OTHER_DIGITS)
def test_amounts_in_other_scripts_digits_are_refused_not_read_as_numbers(text: str):
    with pytest.raises(InvalidInput, match="amount_claimed"):
        OpenCase(**{**OPEN, "amount_claimed": text})


def test_the_longest_names_allowed_are_stored_alike_on_sqlite_and_postgresql(
    db: SAEngine, definition
):
    """200 four-byte characters (800 bytes of UTF-8) fit PostgreSQL's btree indexes
    (unique reference, unique key, assignee, customer); one more character is refused
    on both databases by the same check, before either sees it."""
    longest = "😀" * MAX_NAME
    engine = Engine(db, definition, clock=lambda: MONDAY)
    opened = engine.apply(
        OpenCase(
            customer_id=longest,
            subject="S",
            team=longest,
            external_ref=longest,
            actor=longest,
            idempotency_key=longest,
        )
    )
    key = "🔑" * MAX_NAME
    engine.apply(
        Act(opened.case_id, "assign", actor=longest, assignee=longest, idempotency_key=key)
    )
    with read_connection(db) as conn:
        case, _ = get_case(conn, opened.case_id)
        assert (case.external_ref, case.assignee, case.customer_id) == (longest,) * 3
        assert verify_case(conn, opened.case_id).ok
        with pytest.raises(CaseNotFound):
            get_case(conn, MAX_ID)  # the largest id a command accepts: a plain "not found"
    with pytest.raises(InvalidInput, match="external_ref"):
        OpenCase(customer_id="C", subject="S", external_ref=longest + "😀")


@given(
    st.one_of(
        st.integers(),
        st.floats(),
        st.booleans(),
        st.binary(max_size=4),
        st.lists(st.text(max_size=2), max_size=2),
        st.none(),
        st.text(max_size=MAX_NAME + 2),
    ),
    st.sampled_from(["team", "assignee", "to_level", "note", "comment", "satisfaction"]),
)
def test_act_either_refuses_a_value_or_keeps_it_with_its_type(value: Any, field: str):
    """Any value: refused with InvalidInput, or kept as a value of the field's type."""
    try:
        command = Act(**{**ACT, field: value})
    except InvalidInput as exc:
        assert exc.field == field
        return
    kept = getattr(command, field)
    wanted = int if field == "satisfaction" else str
    assert kept is None or (type(kept) is wanted and not isinstance(kept, bool))


@pytest.mark.parametrize(
    ("value", "amount"), [(Decimal("12.50"), "12.50"), (12, "12.00"), ("1,212.50", "1212.50")]
)
def test_amounts_as_decimal_int_or_text_are_accepted(value: Any, amount: str):
    assert OpenCase(**OPEN, amount_claimed=value).amount_claimed == Decimal(amount)


@pytest.mark.parametrize(
    ("command", "digest"),
    [
        (
            OpenCase(
                customer_id="C1",
                subject="Réclamation",
                amount_claimed=Decimal("12.50"),
                idempotency_key="k",
            ),
            "34643645d4581ceb7fd453e72b40e1e0c0f4e371a401867361ba8d4318467545",
        ),
        (
            Update(case_id=3, actor="ana", priority="high", idempotency_key="k"),
            "be16944d9ff6a90b778915132e53e7ffd923e7aa06eaf4fed0dd0655fb996417",
        ),
        (
            Act(case_id=1, trigger="assign", actor="ana", assignee="ana", idempotency_key="k1"),
            "e4cfce95dcfb482208cf973f0fa078f0d4b07fc5bf8c3df600012fae3a37e5be",
        ),
    ],
)
def test_a_commands_fingerprint_is_the_one_stored_with_earlier_commands(command, digest):
    """Digests are stored with each keyed command's events and compared with retries
    later: the same command gives the same digest, release after release."""
    assert fingerprint(command) == digest


def test_a_fingerprint_reads_extra_as_asdict_does():
    """A dataclass in `extra` is written as its fields (asdict's recursion), not its str."""

    @dataclass
    class Point:
        x: int

    with_point = Act(**ACT, extra={"at": Point(1)})
    with_dict = Act(**ACT, extra={"at": {"x": 1}})
    assert fingerprint(with_point) == fingerprint(with_dict)


def test_commands_stay_frozen_dataclasses_with_their_defaults_and_replace() -> None:
    """Commands get an __init__ that stores all fields at once (states.commands): they
    must still refuse assignment, fill defaults and factories, and work with replace."""
    import dataclasses

    act = Act(case_id=1, trigger="assign", actor="ana", assignee="ana")
    with pytest.raises(dataclasses.FrozenInstanceError):
        act.actor = "bob"  # type: ignore[misc]
    assert act.extra == {} and act.extra is not Act(case_id=2, trigger="assign", actor="a").extra
    moved = dataclasses.replace(act, case_id=7)
    assert (moved.case_id, moved.assignee, moved.trigger) == (7, "ana", "assign")
    assert moved == dataclasses.replace(moved)
    with pytest.raises(InvalidInput):  # validation still runs on replace
        dataclasses.replace(act, case_id=-1)
    opened = OpenCase(customer_id="C1", subject="s", amount_claimed="12.50")
    assert opened.amount_claimed == Decimal("12.50")
    assert [f.name for f in dataclasses.fields(Act)][:3] == ["case_id", "trigger", "actor"]
