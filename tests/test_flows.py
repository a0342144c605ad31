"""Prefect flows against a real database, under one Prefect test server per session.

Each flow does its work through `states/` and leaves one `flow_run_log` row
saying what it did; a failing run leaves a `failed` row with the reason.
"""

from __future__ import annotations

import asyncio
import csv
import json
import mailbox
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateName,
)
from sqlalchemy import select, text, update

from flows.deliver_notifications import deliver_notifications
from flows.intake import intake, intake_job
from flows.review_report import review_report
from flows.runs import _pause_reason, execute
from flows.runtime import Runtime
from flows.sweep_timers import sweep_job, sweep_timers
from flows.verify_audit import AuditFailed, verify_audit
from states.case import CaseSnapshot
from states.commands import Act, OpenCase
from states.errors import StoreError
from states.queries import CaseFilter, get_case, list_cases
from states.report import desk_timezone, month_period
from states.runlog import recent_runs
from states.store import EVENT, init_schema
from states.tables import Timer
from tests.forge import reseal

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect")]

TIMER = Timer.__table__


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> Runtime:
    """A data directory of its own, initialised, as a scheduled run would find it."""
    for name in ("TIERFLOW_DATABASE_URL", "TIERFLOW_SCHEDULES_FILE", "TIERFLOW_POLICY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    runtime = Runtime.from_env()
    runtime.init()
    return runtime


def run_flow(flow: Any, **parameters: Any) -> Any:
    """One run of an (async) flow, as a deployment or `tierflow run` makes it."""
    return asyncio.run(flow(**parameters))


def open_cases_long_ago(runtime: Runtime, count: int) -> list[int]:
    """Cases opened ten days ago and never taken: their first-response timers are due."""
    at = datetime.now(UTC) - timedelta(days=10)
    results = runtime.engine.apply_timed(
        [(OpenCase(customer_id=f"C-{n}", subject="Where is my refund?"), at) for n in range(count)]
    )
    return [result.case_id for result in results]


def test_sweep_timers_fires_what_is_due_and_logs_the_run(runtime: Runtime) -> None:
    open_cases_long_ago(runtime, 3)
    counts = run_flow(sweep_timers, batch_size=2)
    assert counts["fired"] >= 3 and counts["batches"] >= 2
    assert counts["by_kind"]["first_response breach"] == 3  # what fired, by clock and kind
    assert sum(counts["by_kind"].values()) == counts["fired"]
    with runtime.db.connect() as conn:
        due = conn.execute(
            select(TIMER.c.id).where(
                TIMER.c.status == "pending", TIMER.c.due_at <= datetime.now(UTC)
            )
        ).all()
    assert due == []
    (run,) = recent_runs(runtime.db)
    assert (run.flow, run.status, run.attempts) == ("sweep_timers", "completed", 1)
    assert run.counts["fired"] == counts["fired"] and run.finished_at >= run.started_at
    assert run.run_id and not run.run_id.startswith("local-")  # a real Prefect run


def test_a_second_sweep_finds_nothing_to_fire(runtime: Runtime) -> None:
    open_cases_long_ago(runtime, 2)
    run_flow(sweep_timers)
    assert run_flow(sweep_timers)["fired"] == 0
    assert [run.status for run in recent_runs(runtime.db)] == ["completed", "completed"]


def test_deliver_notifications_drains_the_outbox_to_the_file_sink(runtime: Runtime) -> None:
    open_cases_long_ago(runtime, 2)
    swept = run_flow(sweep_timers)
    counts = run_flow(deliver_notifications, batch_size=3)
    assert counts["sent"] == swept["notifications"] > 0 and counts["failed"] == 0
    lines = runtime.settings.outbox_file.read_text().splitlines()
    assert len(lines) == counts["sent"]
    assert all(json.loads(line)["case_id"] for line in lines)
    assert run_flow(deliver_notifications)["sent"] == 0


def test_verify_audit_passes_on_an_untouched_history_and_anchors_it(runtime: Runtime) -> None:
    open_cases_long_ago(runtime, 3)
    run_flow(sweep_timers)
    counts = run_flow(verify_audit)
    assert (counts["cases"], counts["failed"], counts["anchored"]) == (3, 0, True)
    assert recent_runs(runtime.db, "verify_audit")[0].status == "completed"
    (line,) = runtime.settings.resolved_anchor_file.read_text().splitlines()
    anchor = json.loads(line)
    assert (anchor["cases"], anchor["root"]) == (3, counts["anchor_root"])
    assert anchor["key_id"] == runtime.audit_key().key_id  # the key `init` wrote


def test_verify_audit_catches_a_history_resealed_after_the_last_anchor(runtime: Runtime) -> None:
    _first, second = open_cases_long_ago(runtime, 2)
    run_flow(verify_audit)
    reseal(runtime.db, second, 1, actor="mallory")
    with pytest.raises(AuditFailed, match=rf"1 of 2 cases do not verify: {second}; case {second}"):
        run_flow(verify_audit)
    run = recent_runs(runtime.db, "verify_audit")[0]
    assert run.status == "failed" and run.counts["anchored"] is False
    assert "its history changed after the anchor" in run.counts["anchor_problems"][0]
    assert len(runtime.settings.resolved_anchor_file.read_text().splitlines()) == 1


def test_verify_audit_fails_and_names_a_case_whose_history_was_edited(runtime: Runtime) -> None:
    _first, second = open_cases_long_ago(runtime, 2)
    with runtime.db.begin() as conn:
        conn.execute(update(EVENT).where(EVENT.c.case_id == second).values(actor="mallory"))
    with pytest.raises(AuditFailed, match=rf"1 of 2 cases do not verify: {second}"):
        run_flow(verify_audit)
    (run,) = recent_runs(runtime.db, "verify_audit")
    assert run.status == "failed"
    assert run.counts["failing_cases"] == [second] and str(second) in (run.error or "")
    assert not runtime.settings.resolved_anchor_file.exists()  # a failing history is not anchored


def test_a_run_that_fails_records_why(runtime: Runtime) -> None:
    # a column renamed: a run gets past the check of the tables (a table missing fails
    # every run before it starts, as the database is incomplete) and fails in the sweep
    with runtime.db.begin() as conn:
        conn.execute(text("ALTER TABLE timer RENAME COLUMN due_at TO due"))
    with pytest.raises(Exception, match="due_at"):
        run_flow(sweep_timers)
    (run,) = recent_runs(runtime.db, "sweep_timers")
    assert run.status == "failed" and "due_at" in (run.error or "")
    # not a transient error, retried with backoff (40 s of a test): no retry finds a column
    assert "are not the ones tierflow made" in (run.error or "")
    with pytest.raises(StoreError, match="table timer has no column due_at"):
        init_schema(runtime.db)


def test_a_scheduled_run_inside_its_pause_window_is_skipped(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text(
        'format = 1\n[schedules.intake]\ninterval = "PT5M"\n'
        "paused_between = [2026-12-24, 2027-01-02]\n"
    )
    fresh = Runtime(runtime.settings)
    christmas = datetime(2026, 12, 25, 10, tzinfo=UTC)
    reason = _pause_reason(fresh, "intake", christmas)
    assert reason == f"schedule intake is paused from 2026-12-24 to 2027-01-02 ({path})"
    assert _pause_reason(fresh, "intake", datetime(2027, 1, 3, tzinfo=UTC)) is None
    assert _pause_reason(fresh, None, christmas) is None  # a run by hand is never skipped


def test_an_intake_source_named_but_missing_is_said_in_the_log(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """A mistyped folder read nothing and said nothing: a quiet zero every minute."""
    with caplog.at_level("WARNING"):
        counts = execute("intake", intake_job, folder="inbx", maildir="mial")
    assert counts["files"] == counts["mails"] == 0
    said = [record.getMessage() for record in caplog.records]
    home = runtime.settings.home
    assert f"intake folder {home / 'inbx'} is not a directory: nothing read" in said, said
    assert any(f"intake maildir {home / 'mial'} is not a Maildir" in line for line in said)
    (home / "half" / "new").mkdir(parents=True)  # no cur/ or tmp/: not read, not a failure
    assert execute("intake", intake_job, maildir="half")["mails"] == 0
    caplog.clear()
    with caplog.at_level("WARNING"):
        execute("intake", intake_job)  # the defaults, unused here, are not worth a warning
    assert not [r for r in caplog.records if "intake" in r.getMessage()]


def test_a_job_run_outside_prefect_is_logged_as_a_local_run(runtime: Runtime) -> None:
    open_cases_long_ago(runtime, 1)
    counts = execute("sweep_timers", sweep_job, batch_size=10)
    (run,) = recent_runs(runtime.db)
    assert run.run_id.startswith("local-") and run.counts == counts and counts["fired"] >= 1


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tierflow-wal-checkpoints"]


def test_a_run_closes_what_it_opened_in_a_process_that_serves_many(runtime: Runtime) -> None:
    """A sweep busy enough to start the engine's checkpoint thread stops it, and gives
    its connections back, before it returns."""
    open_cases_long_ago(runtime, 80)
    runtime.close()
    assert _checkpoint_threads() == []
    counts = execute("sweep_timers", sweep_job, batch_size=500)
    assert counts["fired"] >= 80  # 80 first-response breaches at least: past the waking
    assert _checkpoint_threads() == []


def test_closing_a_runtime_stops_its_engine_thread_and_a_later_use_opens_again(
    runtime: Runtime,
) -> None:
    open_cases_long_ago(runtime, 80)
    checkpoints = runtime.engine.checkpoints
    assert checkpoints is not None and checkpoints.running
    runtime.close()
    assert not checkpoints.running
    assert runtime.db.pool.checkedin() == 0  # the pool was disposed of
    assert len(open_cases_long_ago(runtime, 1)) == 1


def test_a_transient_database_error_is_retried_by_prefect(runtime: Runtime, tmp_path: Path) -> None:
    """The database file is unreachable when the run starts and comes back while Prefect
    waits to retry: the start is not recorded, the work task fails, Prefect retries it,
    it fires, and the end of the run writes the whole row."""
    open_cases_long_ago(runtime, 1)
    with runtime.db.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    runtime.db.dispose()
    database = tmp_path / "tierflow.db"
    hidden = tmp_path / "hidden.db"
    database.rename(hidden)
    database.mkdir()  # "unable to open database file": an OperationalError

    def bring_back() -> None:
        """Once Prefect holds the work task for a retry (or after a minute), restore."""
        deadline = time.monotonic() + 60
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                waiting = client.read_task_runs(
                    task_run_filter=TaskRunFilter(
                        state=TaskRunFilterState(
                            name=TaskRunFilterStateName(any_=["AwaitingRetry"])
                        )
                    )
                )
                if waiting:
                    break
                time.sleep(0.1)
        database.rmdir()
        hidden.rename(database)

    restorer = threading.Thread(target=bring_back)
    restorer.start()
    try:
        counts = run_flow(sweep_timers)
    finally:
        restorer.join()
    assert counts["fired"] >= 1
    (run,) = recent_runs(runtime.db)
    assert (run.status, run.counts["fired"]) == ("completed", counts["fired"])
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run.run_id)]))
        )
    (work,) = [task for task in tasks if task.name.startswith("sweep_job")]
    assert work.run_count == 2 and work.state.is_completed()


def test_review_report_writes_markdown_csv_and_prefect_artifacts(runtime: Runtime) -> None:
    span = month_period(datetime.now(UTC).date(), desk_timezone(runtime.policy))
    opened = span.start + timedelta(days=3, hours=9)
    engine = runtime.engine
    (case,) = engine.apply_timed([(OpenCase(customer_id="C-9", subject="Double charge"), opened)])
    engine.apply_timed(
        [
            (Act(case.case_id, "assign", "ana", assignee="ana"), opened + timedelta(minutes=5)),
            (Act(case.case_id, "resolve", "ana", note="refunded"), opened + timedelta(hours=1)),
        ]
    )
    counts = run_flow(review_report, period="month")
    assert counts["period"] == span.label
    markdown = Path(counts["markdown"]).read_text()
    assert span.label in markdown
    rows = list(csv.DictReader(Path(counts["csv"]).read_text().splitlines()))
    desk = {row["metric"]: row["value"] for row in rows if row["group_kind"] == "desk"}
    assert (desk["opened"], desk["resolved"]) == ("1", "1")
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["review-month"]))
        )
    assert artifacts and artifacts[0].type == "markdown"
    assert recent_runs(runtime.db, "review_report")[0].status == "completed"


def test_intake_opens_cases_from_the_folder_and_the_mailbox(runtime: Runtime) -> None:
    """Scenario 13 through the flow: a file with a good and a bad row, a new mail, then
    a reply carrying `[#ID]` with a legal phrase that takes the case to the manager."""
    home = runtime.settings.home
    inbox = home / "inbox"
    inbox.mkdir()
    (inbox / "web.jsonl").write_text(
        '{"customer_id": "C-1", "subject": "Refund"}\n'
        '{"customer_id": "C-2", "subject": "Refund", "priorty": "high"}\n'
    )
    box = mailbox.Maildir(home / "mail", create=True)
    box.add(mailbox.MaildirMessage(_mail("Broken kettle", "It leaks.", "<m1@x>")))
    first = run_flow(intake)
    assert (first["files"], first["mails"], first["opened"], first["rejected"]) == (1, 1, 2, 1)
    assert (inbox / "done" / "web.jsonl").exists()
    errors = (inbox / "rejected" / "web.jsonl.errors.jsonl").read_text().splitlines()
    assert [json.loads(line)["row"] for line in errors] == [2]
    (mailed,) = [case.id for case in cases_of(runtime, "ann@example.com")]
    box.add(
        mailbox.MaildirMessage(
            _mail(f"Re: [#{mailed}] Broken kettle", "My lawyer will contact you.", "<m2@x>")
        )
    )
    second = run_flow(intake)
    assert (second["mails"], second["updated"], second["escalated"]) == (1, 1, 1)
    with runtime.db.connect() as conn:
        snap, _ = get_case(conn, mailed)
    assert (snap.state, snap.level) == ("escalated", "manager")
    assert run_flow(intake)["mails"] == 0  # nothing new: each mail acts once
    assert [run.status for run in recent_runs(runtime.db, "intake")] == ["completed"] * 3


def _mail(subject: str, body: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Ann <ann@example.com>"
    message["To"] = "support@example.com"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(body)
    return message


def cases_of(runtime: Runtime, customer: str) -> list[CaseSnapshot]:
    with runtime.db.connect() as conn:
        return list_cases(conn, CaseFilter(customer_id=customer))[0]
