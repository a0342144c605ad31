"""The dashboard's Ops page: schedules with their next and last runs, edits through the
same validated code as `tierflow schedules set` (recorded with who made them), the
versions in force and the review reports; and the run-log summaries behind it."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from flows.cli import main
from flows.review_report import report_job
from flows.runtime import Runtime
from flows.schedule_edit import changes_file, read_changes, set_schedule
from flows.schedules import SHIPPED
from flows.serve import free_port
from states.commands import OpenCase
from states.engine import Engine
from states.process import load_process
from states.report_files import report_files
from states.runlog import RunStart, finish_run, last_runs, run_totals, start_run
from tests.conftest import sqlite_db
from tests.test_schedules import CATALOGUE

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)

pytestmark = pytest.mark.xdist_group("dashboard")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with a database, and a copy of the shipped schedules to edit."""
    home = tmp_path / "home"
    home.mkdir()
    sqlite_db(home).dispose()
    shutil.copy(SHIPPED, home / "schedules.toml")
    monkeypatch.setenv("TIERFLOW_HOME", str(home))
    for name in ("TIERFLOW_DATABASE_URL", "TIERFLOW_SCHEDULES_FILE", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


def ops_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    return at.switch_page("pages/ops.py").run()


def submit_edit(at: AppTest, schedule: str, action: str, value: str, actor: str) -> AppTest:
    at.selectbox(key="edit_name").set_value(schedule)
    at.radio(key="edit_action").set_value(action)
    at.text_input(key="edit_value").input(value)
    at.text_input(key="edit_actor").input(actor)
    return at.button(key="edit_apply").click().run()


def table(at: AppTest, column: str) -> pd.DataFrame:
    """The page's table with `column` (AppTest gives tables no keys)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def schedule_row(at: AppTest, name: str) -> dict[str, object]:
    rows = table(at, "next runs")
    return rows[rows["schedule"] == name].iloc[0].to_dict()


def run(db, run_id: str, schedule: str, started: datetime, status: str, **counts: int) -> None:
    record = RunStart(run_id, "sweep_timers", "w1", started, schedule)
    start_run(db, record)
    finish_run(
        db, record, status, started + timedelta(seconds=2), counts, "boom" * (status == "failed")
    )


def test_an_invalid_cron_shows_the_error_and_leaves_the_file_byte_identical(home: Path) -> None:
    before = (home / "schedules.toml").read_bytes()
    at = submit_edit(ops_page(), "monthly_review", "Run on a cron", "0 7 32 * *", "ana")
    assert not at.exception
    assert any("Not changed" in e.value and "cron" in e.value for e in at.error)
    assert (home / "schedules.toml").read_bytes() == before
    assert not changes_file(home / "schedules.toml").exists()
    assert schedule_row(at, "monthly_review")["runs"] == "0 7 1 * *"


def test_a_valid_edit_changes_the_file_and_the_next_runs_and_records_the_actor(
    home: Path,
) -> None:
    at = submit_edit(ops_page(), "monthly_review", "Run on a cron", "0 7 4 * *", "ana")
    assert not at.exception and not at.error
    assert 'cron = "0 7 4 * *"' in (home / "schedules.toml").read_text()
    row = schedule_row(at, "monthly_review")
    assert row["runs"] == "0 7 4 * *"
    next_days = [run.split()[0][-2:] for run in str(row["next runs"]).split(" · ")]
    assert next_days == ["04", "04", "04"]
    (change,) = read_changes(home / "schedules.toml")
    assert (change.actor, change.schedule, change.change) == (
        "ana",
        "monthly_review",
        {"cron": "0 7 4 * *"},
    )
    assert (change.before, change.after) == ("0 7 1 * *", "0 7 4 * *")
    assert table(at, "who")["who"].tolist() == ["ana"]


def test_an_edit_without_a_name_is_refused_and_changes_nothing(home: Path) -> None:
    before = (home / "schedules.toml").read_bytes()
    at = submit_edit(ops_page(), "intake", "Pause", "", "  ")
    assert any("actor" in e.value for e in at.error)
    assert (home / "schedules.toml").read_bytes() == before


def test_the_page_shows_each_schedules_last_run_versions_and_reports(home: Path) -> None:
    db = sqlite_db(home)
    Engine(db, load_process()).apply(OpenCase(customer_id="C-1", subject="Refund"))
    now = datetime.now(UTC)
    run(db, "r1", "sweep_timers", now - timedelta(minutes=3), "completed", fired=2)
    run(db, "r2", "sweep_timers", now - timedelta(minutes=2), "failed")
    run(db, "r3", "sweep_timers", now - timedelta(minutes=1), "completed", fired=5)
    reports = home / "reports"
    reports.mkdir()
    (reports / "review-2026-10.md").write_text("# Review of 2026-10\n\nopened 12\n")
    (reports / "review-2026-10.csv").write_text("scope,opened\ndesk,12\n")
    at = ops_page()
    assert not at.exception and not at.error
    sweep = schedule_row(at, "sweep_timers")
    assert (sweep["last status"], sweep["last counts"]) == ("completed", "fired 5")
    assert sweep["last day"] == "2 completed, 1 failed"
    assert schedule_row(at, "intake")["last status"] == "-"
    versions = table(at, "in force")
    assert versions["in force"].tolist().count("yes") == 2  # the process and the policy
    assert set(at.selectbox(key="ops_report").options) == {
        "review-2026-10.md",
        "review-2026-10.csv",
    }


def test_a_flow_no_schedule_runs_is_listed_with_its_last_run_by_hand(home: Path) -> None:
    (home / "schedules.toml").write_text(
        'format = 1\ntimezone = "UTC"\n[schedules.sweep_timers]\ninterval = "PT1M"\n'
    )
    db = sqlite_db(home)
    start_run(db, RunStart("by-hand", "verify_audit", "w1", datetime.now(UTC), None))
    at = ops_page()
    assert not at.exception and not at.error
    rows = table(at, "next runs")
    assert rows["schedule"].tolist()[0] == "sweep_timers"
    audit = schedule_row(at, "verify_audit")
    assert str(audit["state"]).startswith("not scheduled") and audit["last status"] == "running"
    assert set(rows["flow"]) == {
        "sweep_timers",
        "deliver_notifications",
        "intake",
        "review_report",
        "verify_audit",
    }


def test_last_runs_and_totals_are_per_schedule_newest_first(db) -> None:
    run(db, "a", "sweep_timers", T0, "completed", fired=1)
    run(db, "b", "sweep_timers", T0 + timedelta(minutes=1), "failed")
    run(db, "c", "intake", T0 - timedelta(days=2), "completed", read=3)
    record = RunStart("d", "verify_audit", "w1", T0, None)  # run by hand: no deployment
    start_run(db, record)
    last = last_runs(db)
    assert {key: run.status for key, run in last.items()} == {
        "sweep_timers": "failed",
        "intake": "completed",
        "verify_audit": "running",
    }
    totals = run_totals(db, T0 - timedelta(hours=1))
    assert totals == {
        "sweep_timers": {"completed": 1, "failed": 1},
        "verify_audit": {"running": 1},
    }


def test_schedules_set_on_the_command_line_records_who_made_the_change(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schedules", "set", "intake", "--pause", "--actor", "ops-bob"]) == 0
    assert main(["schedules", "set", "intake", "--resume"]) == 0
    changes = read_changes(home / "schedules.toml")
    assert [(c.actor != "ops-bob", c.change) for c in changes] == [
        (True, {"resume": True}),
        (False, {"pause": True}),
    ]
    assert changes[1].after == "PT5M, paused" and changes[0].after == "PT5M"


def test_a_refused_edit_records_nothing(tmp_path: Path) -> None:
    ops_file = tmp_path / "schedules.toml"
    with pytest.raises(Exception, match="never fires"):
        set_schedule(ops_file, "monthly_review", CATALOGUE, cron="0 0 31 2 *", source=SHIPPED)
    assert not ops_file.exists() and read_changes(ops_file) == []


def test_an_unreachable_database_is_one_message_and_the_schedules_still_show(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERFLOW_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    at = ops_page()
    assert not at.exception
    assert len(at.error) == 1 and "runs and versions are not shown" in at.error[0].value
    assert schedule_row(at, "monthly_review")["last status"] == "-"


class _Health(BaseHTTPRequestHandler):
    """A server that answers /api/health as a Prefect server does (and nothing else)."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


def test_the_prefect_ui_is_linked_only_when_its_api_answers(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ui = f"http://127.0.0.1:{server.server_port}"
    try:
        monkeypatch.setenv("PREFECT_API_URL", f"{ui}/api")
        at = ops_page()
        assert any(f"Prefect UI: [{ui}]({ui})" in m.value for m in at.markdown)
    finally:
        server.shutdown()
        server.server_close()
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    at = ops_page()
    assert not any("Prefect UI:" in m.value for m in at.markdown)
    assert any("No Prefect server answers" in c.value for c in at.caption)


def test_the_reports_review_report_writes_are_the_ones_the_page_lists(home: Path) -> None:
    runtime = Runtime.from_env(home=home)
    counts = report_job(runtime, "month")
    listed = {report.path: report.label for report in report_files(home)}
    assert listed == {
        Path(counts["markdown"]): counts["period"],
        Path(counts["csv"]): counts["period"],
    }
