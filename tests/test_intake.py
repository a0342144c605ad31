"""Intake: a watched folder and a Maildir open and update cases, reject bad rows with
their reason, and act once per row or mail however often they are read."""

from __future__ import annotations

import email
import email.policy
import fcntl
import json
import mailbox
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine as SAEngine
from sqlalchemy import func, select

from flows.runtime import Runtime
from flows.senders import MemorySink, SmtpSender
from flows.sources import process_folder, process_maildir, read_folder_file
from states.case_view import case_view
from states.commands import Act, OpenCase, Update
from states.engine import Engine
from states.errors import ConfigError, StoreError
from states.intake import IntakeResult, Record, RowError, apply_records
from states.intake_mail import html_to_text, record_from_mail, strip_quoted
from states.intake_rows import COLUMNS, record_from_row
from states.outbox import OutgoingMessage, deliver_pending
from states.process import ProcessDefinition
from states.queries import get_case
from states.settings import load_settings
from states.store import CASE, EVENT
from states.tables import Notification
from tests.clirun import ProcessCli
from tests.conftest import MONDAY
from tests.test_outbox import Collect, free_port

NOTIFICATION = Notification.__table__


def case_count(engine: Engine) -> int:
    with engine.db.connect() as conn:
        return conn.execute(select(func.count()).select_from(CASE)).scalar_one()


def event_count(engine: Engine) -> int:
    with engine.db.connect() as conn:
        return conn.execute(select(func.count()).select_from(EVENT)).scalar_one()


def case(engine: Engine, case_id: int):
    with engine.db.connect() as conn:
        return get_case(conn, case_id)[0]


def jsonl(*rows: object) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


# -- rows ----------------------------------------------------------------------------


def test_a_misspelt_column_is_refused_naming_the_allowed_ones():
    error = record_from_row({"customer_id": "c", "subject": "s", "priorty": "high"}, "f", 2, "")
    assert isinstance(error, RowError)
    assert (error.row, error.field, error.value) == (2, "priorty", "high")
    assert "allowed: customer_id" in error.reason and "priority" in error.reason


def test_empty_csv_cells_mean_absent():
    row = {"customer_id": "c", "subject": "s", "team": "", "amount": ""}
    record = record_from_row(row, "f", 2, "")
    assert isinstance(record, Record) and isinstance(record.command, OpenCase)
    assert record.command.team is None and record.command.amount_claimed is None


def test_a_bad_value_names_its_column_not_the_command_field():
    error = record_from_row({"customer_id": "c", "subject": "s", "amount": "lots"}, "f", 3, "")
    assert isinstance(error, RowError) and error.field == "amount"
    assert "a number such as 800" in error.reason


def test_a_row_naming_a_case_becomes_an_update_of_it():
    record = record_from_row({"case_id": "12", "message": "any news?"}, "f", 2, "")
    assert isinstance(record, Record) and isinstance(record.command, Update)
    assert record.case_id == 12 and record.command.message == "any news?"


def test_a_row_naming_a_case_may_not_change_what_opened_it():
    error = record_from_row({"case_id": "12", "subject": "new subject"}, "f", 2, "")
    assert isinstance(error, RowError) and error.field == "subject"
    assert "allowed: case_id, case_ref, message" in error.reason


def test_rows_get_stable_short_keys_and_keep_their_own():
    first = record_from_row({"customer_id": "c", "subject": "s"}, "a.csv", 2, "c,s")
    again = record_from_row({"customer_id": "c", "subject": "s"}, "a.csv", 2, "c,s")
    other = record_from_row({"customer_id": "c", "subject": "s"}, "a.csv", 3, "c,s")
    own = record_from_row(
        {"customer_id": "c", "idempotency_key": "K-1", "subject": "s"}, "a", 2, ""
    )
    assert isinstance(first, Record) and isinstance(again, Record) and isinstance(other, Record)
    assert first.key == again.key != other.key and len(first.key) < 100
    assert isinstance(own, Record) and own.key == "K-1"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(COLUMNS) | st.text(max_size=12),
        json_values | st.text(max_size=40),
        max_size=8,
    )
)
def test_any_row_becomes_a_command_or_a_row_error(row):
    outcome = record_from_row(row, "any.jsonl", 7, json.dumps(row, default=str))
    assert isinstance(outcome, Record | RowError)
    if isinstance(outcome, RowError):
        assert outcome.row == 7 and outcome.reason
        json.dumps(outcome.as_dict())


# -- files ---------------------------------------------------------------------------


def test_good_rows_are_kept_bad_ones_rejected_with_row_field_reason_and_the_file_done(
    engine: Engine, inbox: Path
):
    (inbox / "monday.jsonl").write_text(
        jsonl(
            {"customer_id": "C-1", "subject": "Broken kettle", "amount": "49.90"},
            "this is not json",
            {"customer_id": "C-2", "subject": "Late delivery", "priorty": "high"},
            {"customer_id": "C-3", "subject": "Refund", "priority": "whenever"},
            [1, 2],
            {"customer_id": "C-4", "subject": "Invoice", "ref": "T-1"},
            {"customer_id": "C-5", "subject": "Invoice again", "ref": "T-1"},
        )
    )
    report = process_folder(engine, inbox, MONDAY)
    (file,) = report.files
    assert (file.result.opened, len(file.result.rejected)) == (2, 5)
    assert case_count(engine) == 2
    assert not (inbox / "monday.jsonl").exists() and (inbox / "done" / "monday.jsonl").exists()
    lines = (inbox / "rejected" / "monday.jsonl.errors.jsonl").read_text().splitlines()
    errors = [json.loads(line) for line in lines]
    assert [(e["row"], e["field"]) for e in errors] == [
        (2, "line"), (3, "priorty"), (4, "priority"), (5, "line"), (7, "ref"),
    ]  # fmt: skip
    assert "one of low, normal, high, urgent" in errors[2]["reason"]
    assert "case 2 has it" in errors[4]["reason"]


def test_a_nul_or_a_lone_surrogate_rejects_only_its_row_on_either_database(
    db: SAEngine, definition: ProcessDefinition, inbox: Path
):
    """A NUL was stored on SQLite and failed the whole file on PostgreSQL; a lone surrogate
    was refused, then writing its rejection failed the run, and every run after it, with
    the file left in the folder."""
    engine = Engine(db, definition, clock=lambda: MONDAY)
    (inbox / "web.jsonl").write_text(
        '{"customer_id": "C-1", "subject": "nul\\u0000here"}\n'
        '{"customer_id": "C-2", "subject": "s", "description": "\\ud800"}\n'
        '{"customer_id": "C-3", "subject": "fine"}\n'
    )
    (file,) = process_folder(engine, inbox, MONDAY).files
    assert (file.result.opened, [e.field for e in file.result.rejected]) == (
        1,
        ["subject", "description"],
    )
    assert (inbox / "done" / "web.jsonl").exists() and case_count(engine) == 1
    lines = (inbox / "rejected" / "web.jsonl.errors.jsonl").read_text().splitlines()
    assert [json.loads(line)["value"] for line in lines] == ["nul\x00here", "\ud800"]


def test_a_rejected_amount_is_written_as_the_row_wrote_it_not_as_a_python_repr(
    db: SAEngine, definition: ProcessDefinition, inbox: Path
):
    """`800.005` was written to the errors file as "Decimal('800.005')"."""
    engine = Engine(db, definition, clock=lambda: MONDAY)
    (inbox / "web.jsonl").write_text('{"customer_id": "C-1", "subject": "s", "amount": 800.005}\n')
    (file,) = process_folder(engine, inbox, MONDAY).files
    assert [e.field for e in file.result.rejected] == ["amount"]
    lines = (inbox / "rejected" / "web.jsonl.errors.jsonl").read_text().splitlines()
    assert [json.loads(line)["value"] for line in lines] == ["800.005"]


def test_a_nul_in_a_csv_case_ref_is_refused_naming_field_and_row_on_either_database(
    db: SAEngine, definition: ProcessDefinition, inbox: Path
):
    """A case reference goes to the record, not the command, so no command checked it:
    PostgreSQL failed the whole file with a driver error naming no field ("text fields
    cannot contain NUL") while SQLite looked for it and found no case."""
    engine = Engine(db, definition, clock=lambda: MONDAY)
    (inbox / "replies.csv").write_text(
        "customer_id,subject,ref,case_ref,message\n"
        "C-1,Refund,T-1,,\n"
        ",,,T-1,any news?\n"
        ",,,T\x001,hello\n"
    )
    (file,) = process_folder(engine, inbox, MONDAY).files
    assert (file.result.opened, file.result.updated) == (1, 1)
    ((row, field, value, reason),) = [
        (e.row, e.field, e.value, e.reason) for e in file.result.rejected
    ]
    assert (row, field, value) == (4, "case_ref", "T\x001")
    assert "without control characters" in reason
    assert event_count(engine) == 2 and (inbox / "done" / "replies.csv").exists()


def test_a_record_naming_a_reference_no_case_can_have_finds_no_case_on_either_database(
    db: SAEngine, definition: ProcessDefinition
):
    """A record built through the Python API is not a parsed row: its NUL reference reached
    the lookup, which PostgreSQL's driver refused, failing every record of the run."""
    engine = Engine(db, definition, clock=lambda: MONDAY)
    update = Update(case_id=0, actor="intake", message="hello", idempotency_key="k-1")
    record = Record("api", 1, "k-1", update, case_refs=("T\x001",))
    result = apply_records(engine, [record], MONDAY)
    assert [(e.row, e.field, e.reason) for e in result.rejected] == [
        (1, "case_ref", "no case has it")
    ]


def test_json_rows_read_decimals_as_amounts_and_refuse_a_key_given_twice(
    engine: Engine, inbox: Path
):
    """ "amount": 12.50 was refused as "not a float"; a second "customer_id" silently won."""
    (inbox / "web.jsonl").write_text(
        '{"customer_id": "C-1", "subject": "s", "amount": 12.50}\n'
        '{"customer_id": "C-2", "customer_id": "C-2b", "subject": "s"}\n'
        '{"customer_id": "C-3", "subject": "s", "amount": 1e400}\n'
        '{"customer_id": "C-4", "subject": "s", "amount": Infinity}\n'
        '{"customer_id": "C-5", "subject": NaN}\n'
    )
    (file,) = process_folder(engine, inbox, MONDAY).files
    assert file.result.opened == 1 and case(engine, 1).amount_claimed_minor == 1250
    assert [(e.row, e.field) for e in file.result.rejected] == [
        (2, "line"), (3, "amount"), (4, "amount"), (5, "subject"),
    ]  # fmt: skip
    assert "each key once ('customer_id' twice)" in file.result.rejected[0].reason


def test_a_csv_cell_past_the_csv_modules_limit_is_refused_alone(engine: Engine, inbox: Path):
    """A 140,000-character cell ended the file there: the rows after it were lost unsaid."""
    (inbox / "big.csv").write_text(
        f"customer_id,subject\nC-1,{'x' * 140_000}\nC-2,after it\nC-3,and this\n"
    )
    (file,) = process_folder(engine, inbox, MONDAY).files
    assert file.result.opened == 2 and [(e.row, e.field) for e in file.result.rejected] == [
        (2, "subject")
    ]


def test_a_file_another_intake_run_holds_is_left_to_it(engine: Engine, inbox: Path):
    """Two runs on one folder (a scheduled one beside one by hand): the second failed when
    the first moved the file, and wrote an errors file for a done/ file that was not."""
    path = inbox / "web.jsonl"
    path.write_text(jsonl({"customer_id": "C-1", "subject": "s"}, {"subject": "no customer"}))
    with open(path) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert process_folder(engine, inbox, MONDAY).files == []
    assert path.exists() and not (inbox / "rejected").exists() and case_count(engine) == 0
    (file,) = process_folder(engine, inbox, MONDAY).files
    assert file.result.opened == 1 and (inbox / "done" / "web.jsonl").exists()


def test_a_done_that_is_a_file_is_refused_before_any_row_is_applied(engine: Engine, inbox: Path):
    (inbox / "done").write_text("")
    (inbox / "web.jsonl").write_text(jsonl({"customer_id": "C-1", "subject": "s"}))
    with pytest.raises(ConfigError, match="not a directory; done/ is needed"):
        process_folder(engine, inbox, MONDAY)
    assert case_count(engine) == 0


def test_csv_rows_are_numbered_by_file_line_and_a_bad_byte_rejects_only_its_row(
    engine: Engine, inbox: Path
):
    (inbox / "tickets.csv").write_bytes(
        b"customer_id,subject,description,amount\n"
        b'C-1,Kettle,"two\nlines",\n'
        b"C-2,Caf\xe9,bad byte,\n"
        b"C-3,Toaster,,12.50\n"
        b"C-4,Too many,x,1,extra\n"
    )
    report = process_folder(engine, inbox, MONDAY)
    result = report.files[0].result
    assert result.opened == 2
    assert [(e.row, e.field, e.reason) for e in result.rejected] == [
        (4, "subject", "not UTF-8"),
        (6, "row", "5 cells; the header has 4 columns"),
    ]
    assert case(engine, 1).description == "two\nlines"
    assert case(engine, 2).amount_claimed_minor == 1250


def test_a_misspelt_csv_header_rejects_the_file_once_and_opens_nothing(engine: Engine, inbox: Path):
    (inbox / "typo.csv").write_text("customer_id,subject,priorty\nC-1,Kettle,high\nC-2,Oven,low\n")
    result = process_folder(engine, inbox, MONDAY).files[0].result
    assert [(e.row, e.field) for e in result.rejected] == [(1, "header")]
    assert "unknown column 'priorty'; allowed: customer_id" in result.rejected[0].reason
    assert case_count(engine) == 0 and (inbox / "done" / "typo.csv").exists()


def test_the_same_file_dropped_again_acts_once_and_lands_beside_the_first_in_done(
    engine: Engine, inbox: Path
):
    rows = [{"customer_id": "C-1", "subject": "Kettle"}, {"customer_id": "C-2", "subject": "Oven"}]
    text = jsonl(*rows)
    (inbox / "drop.jsonl").write_text(text)
    process_folder(engine, inbox, MONDAY)
    events = event_count(engine)
    (inbox / "drop.jsonl").write_text(text)
    again = process_folder(engine, inbox, MONDAY).files[0]
    assert (again.result.opened, again.result.replayed) == (0, 2)
    assert (case_count(engine), event_count(engine)) == (2, events)
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["drop.1.jsonl", "drop.jsonl"]


def test_a_crash_half_way_through_a_file_then_a_rerun_acts_once_per_row(
    db: SAEngine, definition: ProcessDefinition, inbox: Path
):
    engine = Engine(db, definition, clock=lambda: MONDAY)
    rows = [{"customer_id": f"C-{n}", "subject": f"case {n}"} for n in range(1, 11)]
    path = inbox / "big.jsonl"
    path.write_text(jsonl(*rows))
    records = [item for item in read_folder_file(path) if isinstance(item, Record)]
    apply_records(engine, records[:6], MONDAY, batch=4)  # then the process died: file in place
    assert path.exists() and case_count(engine) == 6
    report = process_folder(engine, inbox, MONDAY, batch=4)
    assert (report.total.opened, report.total.replayed) == (4, 6)
    assert case_count(engine) == 10
    with engine.db.connect() as conn:
        customers = conn.execute(select(CASE.c.customer_id)).scalars().all()
    assert sorted(customers) == sorted(row["customer_id"] for row in rows)


def apply_rows(engine: Engine, rows: list[dict[str, str]], first: int = 1) -> IntakeResult:
    """Rows numbered from `first` as a file would give them, applied in one batch."""
    parsed = [
        record_from_row(row, "x.jsonl", n, json.dumps(row)) for n, row in enumerate(rows, first)
    ]
    assert all(isinstance(record, Record) for record in parsed)
    return apply_records(engine, parsed, MONDAY)  # type: ignore[arg-type]


def test_a_folder_run_that_dies_mid_file_leaves_the_file_and_the_rerun_finishes_it(
    engine: Engine, inbox: Path, monkeypatch: pytest.MonkeyPatch
):
    path = inbox / "big.jsonl"
    path.write_text(jsonl(*({"customer_id": f"C-{n}", "subject": "s"} for n in range(1, 8))))
    real = Engine.apply_many
    calls = []

    def dies_on_the_third_batch(self, commands, now=None):
        calls.append(len(commands))
        if len(calls) == 3:
            raise StoreError("the database went away")
        return real(self, commands, now)

    monkeypatch.setattr(Engine, "apply_many", dies_on_the_third_batch)
    with pytest.raises(StoreError):
        process_folder(engine, inbox, MONDAY, batch=3)
    assert path.exists() and not (inbox / "done").exists() and case_count(engine) == 6
    monkeypatch.setattr(Engine, "apply_many", real)
    report = process_folder(engine, inbox, MONDAY, batch=3)
    assert (report.total.opened, report.total.replayed, case_count(engine)) == (1, 6, 7)
    assert (inbox / "done" / "big.jsonl").exists() and not path.exists()


def test_a_refused_command_is_taken_out_and_the_rest_of_its_batch_written(engine: Engine):
    opened = engine.apply(OpenCase(customer_id="C-0", subject="an earlier case"))
    rows = [
        {"customer_id": "C-1", "subject": "one"},
        {"case_id": str(opened.case_id + 100), "message": "hello?"},
        {"customer_id": "C-2", "subject": "two", "ref": "R-1"},
        {"customer_id": "C-3", "subject": "three", "ref": "R-1"},
        {"case_ref": "R-1", "message": "my lawyer will call", "priority": "high"},
    ]
    result = apply_rows(engine, rows, first=2)
    assert (result.opened, result.updated) == (2, 1)
    assert [(e.row, e.field) for e in result.rejected] == [(3, "case_id"), (5, "ref")]
    updated = case(engine, 3)
    assert (updated.external_ref, updated.priority, updated.level) == ("R-1", "high", "manager")
    assert result.escalated == 1


def test_a_key_applied_before_to_another_command_is_refused_not_taken_as_a_replay(
    engine: Engine,
):
    """Counted as replayed and dropped without a word, where the CLI refuses the reuse."""
    row = {"customer_id": "C-0", "subject": "s", "idempotency_key": "K"}
    assert apply_rows(engine, [row]).opened == 1  # case 1
    rows = [{"customer_id": "C-1", "subject": "brand new case", "idempotency_key": "K"}, row]
    result = apply_rows(engine, rows)
    assert (result.opened, result.replayed, case_count(engine)) == (0, 1, 1)
    [error] = result.rejected
    assert (error.row, error.field, error.value) == (1, "idempotency_key", "K")
    assert "already used for a different command" in error.reason
    update = {"case_id": "1", "message": "hi", "idempotency_key": "U"}
    assert apply_rows(engine, [update]).updated == 1
    assert apply_rows(engine, [update]).replayed == 1  # replayed on the case it names


def test_two_rows_with_one_key_for_different_commands_keep_the_first(engine: Engine):
    rows = [
        {"customer_id": "C-1", "subject": "one", "idempotency_key": "K"},
        {"customer_id": "C-1", "subject": "one", "idempotency_key": "K"},
        {"customer_id": "C-2", "subject": "two", "idempotency_key": "K"},
    ]
    result = apply_rows(engine, rows)
    assert (result.opened, result.replayed) == (1, 1)
    assert [(e.row, e.field) for e in result.rejected] == [(3, "idempotency_key")]


# -- mail ------------------------------------------------------------------------------


def make_maildir(tmp_path: Path) -> mailbox.Maildir:
    return mailbox.Maildir(tmp_path / "Maildir", create=True)


def mail(
    sender: str, subject: str, body: str, message_id: str | None, html: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@example.com"
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def deliver(box: mailbox.Maildir, message: EmailMessage) -> str:
    return box.add(mailbox.MaildirMessage(message))


def test_a_case_number_past_the_id_range_gives_way_to_the_next_one_in_the_subject(
    engine: Engine, tmp_path: Path
):
    """Only the first [#N] was tried: a reply to case 1 opened a new case."""
    box = make_maildir(tmp_path)
    deliver(box, mail("ann@example.com", "Broken kettle", "It leaks.", "<m1@x>"))
    process_maildir(engine, Path(box._path), MONDAY)
    deliver(box, mail("ann@example.com", "Re: [#99999999999] [#1] hi", "Any news?", "<m2@x>"))
    result = process_maildir(engine, Path(box._path), MONDAY).result
    assert (result.opened, result.updated, case_count(engine)) == (0, 1, 1)


def test_a_mail_read_again_after_its_first_reference_came_to_exist_is_a_replay(
    engine: Engine, tmp_path: Path
):
    """[A-1] [B-2]: it went to B-2, A-1 being no case then; read again once A-1 was opened,
    it was taken for a different command under its key and refused."""
    engine.apply(OpenCase(customer_id="ann@example.com", subject="b", external_ref="B-2"))
    box = make_maildir(tmp_path)
    reply = mail("ann@example.com", "Re: [A-1] [B-2] help", "More info.", "<mm@x>")
    deliver(box, reply)
    assert process_maildir(engine, Path(box._path), MONDAY).result.updated == 1
    engine.apply(OpenCase(customer_id="ann@example.com", subject="a", external_ref="A-1"))
    deliver(box, reply)
    again = process_maildir(engine, Path(box._path), MONDAY).result
    assert (again.replayed, again.rejected, again.updated) == (1, [], 0)


def test_a_new_mail_opens_a_case_and_a_reply_with_a_legal_phrase_escalates_it(
    engine: Engine, tmp_path: Path
):
    box = make_maildir(tmp_path)
    deliver(box, mail("Ann Lee <Ann.Lee@Example.com>", "Broken kettle", "It leaks.", "<m1@x>"))
    first = process_maildir(engine, Path(box._path), MONDAY)
    assert (first.read, first.result.opened) == (1, 1)
    opened = case(engine, 1)
    assert (opened.customer_id, opened.subject, opened.channel) == (
        "ann.lee@example.com", "Broken kettle", "email",
    )  # fmt: skip
    assert opened.description == "It leaks."
    reply = mail(
        "ann.lee@example.com",
        "Re: [#1] Broken kettle",
        "Still nothing. My lawyer will contact you.\n\nOn Mon, support wrote:\n> It leaks.",
        "<m2@x>",
    )
    deliver(box, reply)
    second = process_maildir(engine, Path(box._path), MONDAY)
    assert (second.read, second.result.updated, second.result.escalated) == (1, 1, 1)
    escalated = case(engine, 1)
    assert (escalated.state, escalated.level) == ("escalated", "manager")
    assert "legal_risk" in escalated.flags
    with engine.db.connect() as conn:
        events = get_case(conn, 1)[1]
    update = next(e for e in events if e.type == "updated")
    assert update.payload["message"] == "Still nothing. My lawyer will contact you."
    assert update.actor == "ann.lee@example.com"
    assert case_count(engine) == 1


def test_a_reply_to_a_case_waiting_on_the_customer_resumes_it(engine: Engine, tmp_path: Path):
    opened = engine.apply(OpenCase(customer_id="ann@example.com", subject="Kettle"))
    engine.apply(Act(opened.case_id, "assign", "agent", assignee="ana"))
    engine.apply(Act(opened.case_id, "wait_on_customer", "ana", note="receipt please"))
    assert case(engine, opened.case_id).waiting
    box = make_maildir(tmp_path)
    deliver(box, mail("ann@example.com", f"Re: [#{opened.case_id}] Kettle", "Attached.", "<r@x>"))
    report = process_maildir(engine, Path(box._path), MONDAY)
    assert (report.result.updated, report.result.resumed) == (1, 1)
    resumed = case(engine, opened.case_id)
    assert not resumed.waiting
    assert resumed.clocks["resolution"].get("paused_at") is None


def test_a_reply_by_external_reference_lands_on_that_case(engine: Engine, tmp_path: Path):
    engine.apply(OpenCase(customer_id="c@example.com", subject="Kettle", external_ref="T-4711"))
    box = make_maildir(tmp_path)
    deliver(box, mail("c@example.com", "[EXT] Re: [T-4711] Kettle", "Any news?", "<t@x>"))
    report = process_maildir(engine, Path(box._path), MONDAY)
    assert (report.result.updated, report.result.opened) == (1, 0)


def events_of(engine: Engine, case_id: int) -> list:
    with engine.db.connect() as conn:
        return get_case(conn, case_id)[1]


def notices_of(engine: Engine, case_id: int) -> list:
    with engine.db.connect() as conn:
        query = select(NOTIFICATION).where(NOTIFICATION.c.case_id == case_id)
        return list(conn.execute(query.order_by(NOTIFICATION.c.id)))


def test_a_stranger_tagging_a_case_opens_a_case_of_their_own_and_leaves_that_case_alone(
    engine: Engine, tmp_path: Path
):
    """Anyone could write into any case with "[#N]" in a subject: Mallory's "my lawyer"
    became an update by her on Jane's case 1, and the legal-risk point sent it to the
    manager. Her mail now opens a case for her, saying which case it named."""
    jane = engine.apply(OpenCase(customer_id="jane@example.com", subject="Broken kettle"))
    box = make_maildir(tmp_path)
    attack = mail(
        "Mallory <mallory@evil.example>", "Re: [#1] x", "my lawyer says change the amount", "<e@x>"
    )
    deliver(box, attack)
    result = process_maildir(engine, Path(box._path), MONDAY).result
    assert (result.opened, result.updated, result.rejected) == (1, 0, [])
    assert result.opened_for_foreign_reference == [(1, "#1", 2)]
    untouched = case(engine, jane.case_id)
    assert (untouched.state, untouched.level, untouched.version) == ("open", None, 1)
    assert [e.type for e in events_of(engine, jane.case_id)] == ["opened"]
    assert notices_of(engine, jane.case_id) == []
    theirs = case(engine, 2)
    assert (theirs.customer_id, theirs.subject) == ("mallory@evil.example", "Re: x")
    assert theirs.description.startswith("(The mail named case #1, whose customer is someone")
    assert theirs.description.endswith("my lawyer says change the amount")
    deliver(box, attack)  # read again: nothing twice
    again = process_maildir(engine, Path(box._path), MONDAY).result
    assert (again.opened, again.replayed, again.rejected, case_count(engine)) == (0, 1, [], 2)


def test_a_stranger_naming_a_case_by_its_reference_opens_a_case_of_their_own(
    engine: Engine, tmp_path: Path
):
    engine.apply(OpenCase(customer_id="jane@example.com", subject="Kettle", external_ref="T-9"))
    box = make_maildir(tmp_path)
    deliver(box, mail("mallory@evil.example", "Re: [T-9] Kettle", "Refund me.", "<t9@x>"))
    result = process_maildir(engine, Path(box._path), MONDAY).result
    assert (result.opened, result.updated) == (1, 0)
    assert result.opened_for_foreign_reference == [(1, "T-9", 2)]
    assert [e.type for e in events_of(engine, 1)] == ["opened"]
    assert case(engine, 2).description.startswith("(The mail named case T-9, whose customer")


def test_a_display_name_that_is_the_customers_address_does_not_make_the_sender_the_customer(
    engine: Engine, tmp_path: Path
):
    engine.apply(OpenCase(customer_id="jane@example.com", subject="Kettle"))
    box = make_maildir(tmp_path)
    forged = '"jane@example.com" <mallory@evil.example>'
    deliver(box, mail(forged, "Re: [#1] Kettle", "Send the refund to me.", "<d@x>"))
    result = process_maildir(engine, Path(box._path), MONDAY).result
    assert (result.opened, result.updated) == (1, 0)
    assert case(engine, 2).customer_id == "mallory@evil.example"


def test_the_customers_reply_lands_on_the_case_whatever_the_case_of_the_address(
    engine: Engine, tmp_path: Path
):
    """The customer id as an agent typed it (Jane.Doe@Example.com) and the sender as her
    mail program writes it, display name and all, are one customer."""
    opened = engine.apply(OpenCase(customer_id="Jane.Doe@Example.com", subject="Kettle"))
    box = make_maildir(tmp_path)
    reply = mail("Jane Doe <JANE.DOE@example.COM>", "Re: [#1] Kettle", "Any news?", "<j@x>")
    deliver(box, reply)
    result = process_maildir(engine, Path(box._path), MONDAY).result
    assert (result.opened, result.updated, case_count(engine)) == (0, 1, 1)
    update = events_of(engine, opened.case_id)[-1]
    assert (update.type, update.actor) == ("updated", "jane.doe@example.com")


def test_a_reply_to_a_case_that_does_not_exist_opens_one_and_says_so(
    engine: Engine, tmp_path: Path
):
    box = make_maildir(tmp_path)
    deliver(box, mail("bo@example.com", "Re: [#77] Oven", "Hello?\n> old text", "<o@x>"))
    report = process_maildir(engine, Path(box._path), MONDAY)
    assert report.result.opened == 1
    assert report.result.opened_for_unknown_reference == [(1, "#77", 1)]
    assert (case(engine, 1).subject, case(engine, 1).description) == ("Re: Oven", "Hello?")


def test_the_same_mail_read_twice_opens_one_case_and_is_marked_seen(engine: Engine, tmp_path: Path):
    box = make_maildir(tmp_path)
    message = mail("ann@example.com", "Kettle", "It leaks.", "<same@x>")
    deliver(box, message)
    process_maildir(engine, Path(box._path), MONDAY)
    assert [m.get_subdir() + ":" + m.get_flags() for m in box] == ["cur:S"]
    deliver(box, message)  # copied back into new/
    again = process_maildir(engine, Path(box._path), MONDAY)
    assert (again.read, again.result.opened, again.result.replayed) == (1, 0, 1)
    assert case_count(engine) == 1
    assert process_maildir(engine, Path(box._path), MONDAY).read == 0


def test_a_mail_without_message_id_is_keyed_by_its_bytes(engine: Engine, tmp_path: Path):
    box = make_maildir(tmp_path)
    message = mail("ann@example.com", "Kettle", "It leaks.", None)
    deliver(box, message)
    deliver(box, message)
    report = process_maildir(engine, Path(box._path), MONDAY)
    assert (report.result.opened, report.result.replayed, case_count(engine)) == (1, 1, 1)


def test_a_mail_without_a_sender_is_rejected_and_flagged_for_a_person(
    engine: Engine, tmp_path: Path
):
    box = make_maildir(tmp_path)
    key = deliver(box, mail("undisclosed-recipients:;", "Kettle", "It leaks.", "<n@x>"))
    report = process_maildir(engine, Path(box._path), MONDAY)
    assert [e.field for e in report.result.rejected] == ["from"]
    assert report.rejected_keys == [key] and box.get_message(key).get_flags() == "FS"
    assert case_count(engine) == 0


def test_an_html_only_mail_becomes_text_without_tags():
    message = EmailMessage()
    message["From"] = "ann@example.com"
    message["Subject"] = "Kettle"
    message.set_content(
        "<html><head><style>p{}</style></head><body><p>It&nbsp;leaks.</p><p>Help!</p></body></html>",
        subtype="html",
    )
    record = record_from_mail(message, message.as_bytes(), "box", 1)
    assert isinstance(record, Record) and isinstance(record.command, OpenCase)
    assert record.command.description == "It leaks.\nHelp!"


def test_quoted_history_is_not_part_of_a_reply():
    text = "Fine now.\n\nOn Mon, 2 Nov 2026 at 09:00, Support <s@x>\nwrote:\n> see a lawyer"
    assert strip_quoted(text) == "Fine now."
    assert strip_quoted("ok\n-----Original Message-----\nFrom: x\nlawyer") == "ok"
    html = "<div>Thanks</div><blockquote>I will <b>sue</b> you</blockquote>"
    assert strip_quoted(html_to_text(html)) == "Thanks"


def test_a_quoted_legal_phrase_does_not_escalate_again(engine: Engine, tmp_path: Path):
    opened = engine.apply(OpenCase(customer_id="ann@example.com", subject="Kettle"))
    box = make_maildir(tmp_path)
    body = "Thank you, that helps.\n\n> I will see a lawyer about this"
    deliver(box, mail("ann@example.com", f"Re: [#{opened.case_id}] Kettle", body, "<q@x>"))
    report = process_maildir(engine, Path(box._path), MONDAY)
    assert (report.result.updated, report.result.escalated) == (1, 0)
    assert case(engine, opened.case_id).state == "open"


def test_a_mail_read_again_after_its_case_began_to_wait_does_not_resume_it(
    engine: Engine, tmp_path: Path
):
    opened = engine.apply(OpenCase(customer_id="ann@example.com", subject="Kettle"))
    engine.apply(Act(opened.case_id, "assign", "agent", assignee="ana"))
    box = make_maildir(tmp_path)
    message = mail("ann@example.com", f"Re: [#{opened.case_id}] Kettle", "Any news?", "<a@x>")
    deliver(box, message)
    process_maildir(engine, Path(box._path), MONDAY)
    engine.apply(Act(opened.case_id, "wait_on_customer", "ana", note="receipt please"))
    deliver(box, message)  # the old mail again, e.g. restored from a backup
    report = process_maildir(engine, Path(box._path), MONDAY)
    assert (report.result.replayed, report.result.resumed) == (1, 0)
    assert case(engine, opened.case_id).waiting


# -- the acknowledgement a new mail gets ------------------------------------------------


def delivered(engine: Engine) -> list[OutgoingMessage]:
    sink = MemorySink()
    deliver_pending(engine.db, sink, now=MONDAY, worker="test")
    return sink.messages


def first_mail_acknowledged(
    engine: Engine, tmp_path: Path, sender: str, body: str
) -> tuple[mailbox.Maildir, OutgoingMessage]:
    """A Maildir whose one mail ("Broken kettle", from `sender`) the intake read, and the
    one message delivered after: its acknowledgement."""
    box = make_maildir(tmp_path)
    deliver(box, mail(sender, "Broken kettle", body, "<m1@x>"))
    process_maildir(engine, Path(box._path), MONDAY)
    [ack] = delivered(engine)
    return box, ack


def test_a_mail_that_opens_a_case_is_acknowledged_with_the_number_to_reply_to(
    engine: Engine, tmp_path: Path
):
    """Story 13 could not happen: no mail ever told the customer the [#N] to reply to."""
    _, ack = first_mail_acknowledged(
        engine, tmp_path, "Ann <Ann@Example.com>", "It leaks. IBAN 123"
    )
    assert (ack.kind, ack.case_id, ack.to) == ("acknowledgement", 1, "ann@example.com")
    assert ack.subject == "[#1] Re: Broken kettle"
    assert "case #1" in ack.body and "[#1]" in ack.body and "{case}" not in ack.body
    assert "leaks" not in ack.body and "IBAN" not in ack.body  # nothing the mail said
    with engine.db.connect() as conn:  # the case page shows it as it was sent
        assert case_view(conn, 1, engine.policy, MONDAY).notices[0].subject == ack.subject


def test_a_reply_to_the_acknowledgement_lands_on_the_case_and_escalates_it(
    engine: Engine, tmp_path: Path
):
    """Story 13 whole: a mail, its acknowledgement, and the customer's answer to it."""
    box, ack = first_mail_acknowledged(engine, tmp_path, "ann@example.com", "It leaks.")
    deliver(box, mail("ann@example.com", f"Re: {ack.subject}", "My lawyer will call.", "<m2@x>"))
    result = process_maildir(engine, Path(box._path), MONDAY).result
    assert (result.opened, result.updated, result.escalated) == (0, 1, 1)
    assert (case(engine, 1).state, case(engine, 1).level) == ("escalated", "manager")
    assert "acknowledgement" not in [message.kind for message in delivered(engine)]


def test_a_mail_read_twice_queues_one_acknowledgement(engine: Engine, tmp_path: Path):
    box = make_maildir(tmp_path)
    message = mail("ann@example.com", "Broken kettle", "It leaks.", "<same@x>")
    deliver(box, message)
    deliver(box, message)  # twice in one batch
    process_maildir(engine, Path(box._path), MONDAY)
    deliver(box, message)  # and again in a later run
    process_maildir(engine, Path(box._path), MONDAY)
    assert [(m.kind, m.case_id) for m in delivered(engine)] == [("acknowledgement", 1)]


def test_a_stranger_tagging_a_case_is_acknowledged_with_the_number_of_their_own_case(
    engine: Engine, tmp_path: Path
):
    engine.apply(OpenCase(customer_id="jane@example.com", subject="Kettle"))
    box = make_maildir(tmp_path)
    deliver(box, mail("mallory@evil.example", "Re: [#1] Kettle", "Refund me.", "<s@x>"))
    process_maildir(engine, Path(box._path), MONDAY)
    assert [(m.to, m.subject) for m in delivered(engine)] == [
        ("mallory@evil.example", "[#2] Re: Kettle")
    ]


@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        ("ann@example.com", {"Auto-Submitted": "auto-replied"}),
        ("ann@example.com", {"Precedence": "bulk"}),
        ("MAILER-DAEMON@example.com", {}),
    ],
)
def test_an_automatic_mail_opens_a_case_but_is_not_answered(
    engine: Engine, tmp_path: Path, sender: str, headers: dict[str, str]
):
    """An out-of-office reply or a bounce answered by an acknowledgement that draws
    another answer: a loop (RFC 3834)."""
    box = make_maildir(tmp_path)
    message = mail(sender, "Out of office", "Back on Monday.", "<auto@x>")
    for name, value in headers.items():
        message[name] = value
    deliver(box, message)
    assert process_maildir(engine, Path(box._path), MONDAY).result.opened == 1
    assert delivered(engine) == []


def test_acknowledgements_turned_off_send_nothing(engine: Engine, tmp_path: Path):
    box = make_maildir(tmp_path)
    deliver(box, mail("ann@example.com", "Broken kettle", "It leaks.", "<m1@x>"))
    assert process_maildir(engine, Path(box._path), MONDAY, acknowledge=False).result.opened == 1
    assert delivered(engine) == []


def test_the_acknowledgement_setting_is_a_yes_or_no_named_when_wrong():
    assert load_settings(acknowledge_mail=None).acknowledge_mail is True
    assert load_settings(acknowledge_mail="off").acknowledge_mail is False
    with pytest.raises(ConfigError) as refused:
        load_settings(acknowledge_mail="maybe")
    assert "TIERFLOW_ACKNOWLEDGE_MAIL: 'maybe' is not allowed; allowed: true or false" in str(
        refused.value
    )


def test_run_intake_then_notify_deliver_shows_the_acknowledgement(tmp_path: Path):
    """The repro, as processes: a mail in mail/new, `tierflow run intake`, then
    `tierflow notify deliver --sink console` printed "0 sent"."""
    cli = ProcessCli(tmp_path / "home")
    cli.ok("init")
    box = mailbox.Maildir(cli.home / "mail", create=True)
    deliver(box, mail("Ann <ann@example.com>", "Broken kettle", "It leaks.", "<m1@x>"))
    assert "opened 1" in cli.ok("run", "intake")
    shown = cli.ok("notify", "deliver", "--sink", "console")
    assert "[acknowledgement case 1] to ann@example.com: [#1] Re: Broken kettle\n" in shown
    assert "1 sent" in shown


def test_the_intake_flow_acknowledges_nothing_when_the_setting_says_false(tmp_path: Path):
    """TIERFLOW_ACKNOWLEDGE_MAIL=false: for a desk whose mail system answers already."""
    from flows.intake import MAILDIR, intake_job  # imports Prefect: only here

    runtime = Runtime(load_settings(home=tmp_path / "home", acknowledge_mail="false"))
    runtime.init()
    box = mailbox.Maildir(runtime.settings.home / MAILDIR, create=True)
    deliver(box, mail("ann@example.com", "Broken kettle", "It leaks.", "<m1@x>"))
    try:
        assert intake_job(runtime)["opened"] == 1
        assert delivered(runtime.engine) == []
    finally:
        runtime.close()


def test_the_acknowledgement_reaches_a_real_smtp_server_to_the_sender(
    engine: Engine, tmp_path: Path
):
    box = make_maildir(tmp_path)
    deliver(box, mail("Ann <ann@example.com>", "Broken kettle", "It leaks.", "<m1@x>"))
    process_maildir(engine, Path(box._path), MONDAY)
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        sender = SmtpSender("127.0.0.1", controller.port, "Support <help@example.org>", timeout=5)
        assert deliver_pending(engine.db, sender, now=MONDAY, worker="smtp").sent == 1
    finally:
        controller.stop()
    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == ["ann@example.com"]
    sent = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert (sent["To"], sent["Subject"]) == ("ann@example.com", "[#1] Re: Broken kettle")
    assert sent["Auto-Submitted"] == "auto-replied" and sent["X-Tierflow-Case"] == "1"
    assert "opened case #1" in sent.get_body().get_content()
