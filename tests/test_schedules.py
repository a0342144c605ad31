"""Flow schedules: validation that points at the line, next runs as Prefect computes
them, pause windows, and edits that keep the file unchanged on error."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.schedule_edit import set_schedule
from flows.schedules import SHIPPED, FlowParameter, load_schedules, parse_schedules
from states.errors import ScheduleError
from tests.clirun import Cli, ProcessCli

CATALOGUE = {
    "sweep_timers": {"batch_size": FlowParameter(int)},
    "deliver_notifications": {},
    "intake": {"folder": FlowParameter(str)},
    "review_report": {"period": FlowParameter(str, ("month", "quarter"))},
    "verify_audit": {},
}
NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def one(body: str, head: str = 'format = 1\ntimezone = "Europe/Brussels"\n') -> str:
    return head + body


def refused(text: str) -> ScheduleError:
    with pytest.raises(ScheduleError) as caught:
        parse_schedules(text, "ops.toml", CATALOGUE)
    return caught.value


class TestShippedFile:
    def test_shipped_schedules_validate_and_name_every_flow(self) -> None:
        schedules = load_schedules(SHIPPED, CATALOGUE)
        assert {entry.flow for entry in schedules.entries.values()} == set(CATALOGUE)

    def test_monthly_review_runs_on_the_first_at_seven_local(self) -> None:
        review = load_schedules(SHIPPED, CATALOGUE).get("monthly_review")
        runs = review.next_runs(NOW, 3)
        assert [run.astimezone(UTC) for run in runs] == [
            datetime(2026, 12, 1, 6, 0, tzinfo=UTC),
            datetime(2027, 1, 1, 6, 0, tzinfo=UTC),
            datetime(2027, 2, 1, 6, 0, tzinfo=UTC),
        ]
        assert review.parameters == {"period": "month"}

    def test_interval_runs_follow_each_other_by_the_interval(self) -> None:
        sweep = load_schedules(SHIPPED, CATALOGUE).get("sweep_timers")
        runs = sweep.next_runs(NOW, 4)
        assert all(run > NOW for run in runs)
        assert {(b - a).total_seconds() for a, b in itertools.pairwise(runs)} == {60}


class TestValidation:
    def test_an_invalid_cron_names_file_line_key_and_the_allowed_form(self) -> None:
        error = refused(one('\n[schedules.verify_audit]\ncron = "61 2 * * *"\n'))
        assert str(error).startswith("ops.toml:5: schedules.verify_audit.cron: '61 2 * * *'")
        assert "five fields" in str(error)

    @pytest.mark.parametrize("cron", ["* * * *", "0 0 * * * *", "H 2 * * *", "", "every day"])
    def test_cron_shapes_prefect_would_not_run_are_refused(self, cron: str) -> None:
        assert refused(one(f'[schedules.verify_audit]\ncron = "{cron}"\n')).key.endswith(".cron")

    def test_a_cron_that_never_fires_is_refused(self) -> None:
        error = refused(one('[schedules.verify_audit]\ncron = "0 0 31 2 *"\n'))
        assert "never fires" in str(error)

    def test_an_unknown_flow_lists_the_flows_there_are(self) -> None:
        error = refused(one('[schedules.nightly]\nflow = "sweeep"\ninterval = "PT1M"\n'))
        assert error.key == "schedules.nightly.flow"
        assert "unknown flow 'sweeep'; allowed: sweep_timers" in str(error)

    def test_a_schedule_named_for_no_flow_must_say_which_flow(self) -> None:
        assert refused(one('[schedules.nightly]\ninterval = "PT1M"\n')).key == "schedules.nightly"

    def test_unknown_and_mistyped_parameters_are_refused(self) -> None:
        base = '[schedules.monthly]\nflow = "review_report"\ncron = "0 7 1 * *"\n'
        assert "allowed: period" in str(refused(one(base + "parameters = { perod = 1 }\n")))
        assert "allowed: month, quarter" in str(
            refused(one(base + 'parameters = { period = "year" }\n'))
        )
        typed = '[schedules.sweep_timers]\ninterval = "PT1M"\nparameters = { batch_size = true }\n'
        assert "is not an integer" in str(refused(one(typed)))

    def test_a_bad_time_zone_is_refused_at_its_line(self) -> None:
        error = refused(
            one('[schedules.verify_audit]\ncron = "0 2 * * *"\ntimezone = "Mars/Olympus"\n')
        )
        assert error.line == 5 and "IANA" in str(error)

    @pytest.mark.parametrize("interval", ["P1M", "PT1S", "P400D", "5 minutes", "1"])
    def test_intervals_must_be_fixed_durations_within_bounds(self, interval: str) -> None:
        error = refused(one(f'[schedules.sweep_timers]\ninterval = "{interval}"\n'))
        assert error.key == "schedules.sweep_timers.interval"

    def test_exactly_one_of_cron_or_interval(self) -> None:
        both = '[schedules.verify_audit]\ncron = "0 2 * * *"\ninterval = "PT1H"\n'
        assert "exactly one" in str(refused(one(both)))
        assert "exactly one" in str(refused(one("[schedules.verify_audit]\npaused = true\n")))

    def test_unknown_keys_are_refused_with_the_allowed_ones(self) -> None:
        error = refused(one('[schedules.verify_audit]\ncron = "0 2 * * *"\nenabled = false\n'))
        assert error.key == "schedules.verify_audit.enabled" and "allowed: flow, cron" in str(error)
        assert refused("formt = 1\n").key == "formt"

    def test_a_pause_window_must_be_two_ordered_dates(self) -> None:
        base = '[schedules.verify_audit]\ncron = "0 2 * * *"\n'
        assert "is after" in str(refused(one(base + "paused_between = [2027-01-02, 2026-12-24]\n")))
        assert "not a date" in str(refused(one(base + 'paused_between = ["soon", 2026-12-24]\n')))
        assert "two dates" in str(refused(one(base + "paused_between = [2026-12-24]\n")))


class TestPauses:
    def test_a_paused_schedule_has_no_next_runs(self) -> None:
        text = one('[schedules.verify_audit]\ncron = "0 2 * * *"\npaused = true\n')
        assert parse_schedules(text, "ops.toml", CATALOGUE).get("verify_audit").next_runs(NOW) == []

    def test_runs_inside_the_christmas_window_are_skipped(self) -> None:
        text = one(
            '[schedules.intake]\ncron = "0 9 * * *"\npaused_between = [2026-12-24, 2027-01-02]\n'
        )
        intake = parse_schedules(text, "ops.toml", CATALOGUE).get("intake")
        runs = intake.next_runs(datetime(2026, 12, 22, tzinfo=UTC), 3)
        assert [run.date() for run in runs] == [
            date(2026, 12, 22),
            date(2026, 12, 23),
            date(2027, 1, 3),
        ]


class TestEditing:
    @pytest.fixture
    def ops_file(self, tmp_path: Path) -> Path:
        path = tmp_path / "schedules.toml"
        path.write_text(SHIPPED.read_text())
        return path

    def test_set_changes_the_cron_and_keeps_comments(self, ops_file: Path) -> None:
        result = set_schedule(ops_file, "monthly_review", CATALOGUE, cron="0 7 4 1 *")
        assert result.get("monthly_review").cron == "0 7 4 1 *"
        text = ops_file.read_text()
        assert "# When tierflow's flows run." in text
        assert "# fire due SLA timers" in text
        assert load_schedules(ops_file, CATALOGUE).get("monthly_review").cron == "0 7 4 1 *"

    def test_a_bad_cron_leaves_the_file_byte_for_byte(self, ops_file: Path) -> None:
        before = ops_file.read_bytes()
        with pytest.raises(ScheduleError, match=r"schedules\.monthly_review\.cron"):
            set_schedule(ops_file, "monthly_review", CATALOGUE, cron="0 7 32 * *")
        assert ops_file.read_bytes() == before

    def test_switching_to_an_interval_drops_the_cron(self, ops_file: Path) -> None:
        result = set_schedule(ops_file, "verify_audit", CATALOGUE, interval="PT6H")
        entry = result.get("verify_audit")
        assert (entry.cron, entry.when) == (None, "PT6H")

    def test_pause_and_resume(self, ops_file: Path) -> None:
        assert set_schedule(ops_file, "intake", CATALOGUE, pause=True).get("intake").paused
        assert not set_schedule(ops_file, "intake", CATALOGUE, resume=True).get("intake").paused

    def test_a_pause_window_is_written_as_dates_and_cleared(self, ops_file: Path) -> None:
        window = ("2026-12-24", "2027-01-02")
        entry = set_schedule(ops_file, "intake", CATALOGUE, paused_between=window).get("intake")
        assert entry.paused_between == (date(2026, 12, 24), date(2027, 1, 2))
        assert "paused_between = [2026-12-24, 2027-01-02]" in ops_file.read_text()
        cleared = set_schedule(ops_file, "intake", CATALOGUE, clear_window=True).get("intake")
        assert cleared.paused_between is None

    def test_an_unknown_schedule_names_the_known_ones(self, ops_file: Path) -> None:
        before = ops_file.read_bytes()
        with pytest.raises(ScheduleError, match="no schedule 'sweep'; known: sweep_timers"):
            set_schedule(ops_file, "sweep", CATALOGUE, pause=True)
        assert ops_file.read_bytes() == before

    def test_the_first_edit_copies_the_shipped_file(self, tmp_path: Path) -> None:
        target = tmp_path / "home" / "schedules.toml"
        set_schedule(target, "intake", CATALOGUE, interval="PT2M", source=SHIPPED)
        assert load_schedules(target, CATALOGUE).get("intake").when == "PT2M"
        assert load_schedules(SHIPPED, CATALOGUE).get("intake").when == "PT5M"


_FIELD = st.one_of(
    st.just("*"),
    st.integers(0, 70).map(str),
    st.tuples(st.integers(0, 40), st.integers(0, 40)).map(lambda r: f"{r[0]}-{r[1]}"),
    st.integers(1, 20).map(lambda n: f"*/{n}"),
    st.sampled_from(["MON", "jan", "L", "?", "H", "1,15", "x"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_FIELD, min_size=4, max_size=6).map(" ".join))
def test_any_cron_text_is_either_refused_clearly_or_runs_forward(cron: str) -> None:
    text = one(f'[schedules.verify_audit]\ncron = "{cron}"\n')
    try:
        schedule = parse_schedules(text, "ops.toml", CATALOGUE).get("verify_audit")
    except ScheduleError as error:
        assert error.key == "schedules.verify_audit.cron" and error.line == 4
        return
    runs = schedule.next_runs(NOW, 3)
    assert runs and all(a < b for a, b in itertools.pairwise(runs))
    assert runs[0] > NOW


class TestCommands:
    """`tierflow schedules …` and `tierflow run` as a user types them (in-process through
    the real entry point, :mod:`tests.clirun`; the flow run as a real process)."""

    @pytest.fixture
    def home(self, tmp_path: Path) -> Cli:
        home = Cli(tmp_path)
        home.env.update({name: None for name in os.environ if name.startswith("PREFECT_")})
        home.env["PREFECT_LOGGING_LEVEL"] = "WARNING"
        return home

    @pytest.fixture
    def cli(self, home: Cli) -> Callable[..., subprocess.CompletedProcess[str]]:
        return home.run

    def test_list_shows_next_runs_as_json(self, cli: Callable[..., Any]) -> None:
        result = cli("schedules", "list", "--json", "--count", "2")
        assert result.returncode == 0, result.stderr
        listed = json.loads(result.stdout)
        assert listed["source"] == str(SHIPPED)
        review = next(row for row in listed["schedules"] if row["name"] == "monthly_review")
        assert review["flow"] == "review_report" and len(review["next_runs"]) == 2

    def test_set_writes_the_ops_copy_and_a_bad_cron_changes_nothing(
        self, cli: Callable[..., Any], tmp_path: Path
    ) -> None:
        ok = cli("schedules", "set", "intake", "--pause-between", "2026-12-24", "2027-01-02")
        assert ok.returncode == 0, ok.stderr
        ops = tmp_path / "schedules.toml"
        before = ops.read_bytes()
        bad = cli("schedules", "set", "monthly_review", "--cron", "0 7 * * 8")
        assert bad.returncode == 1 and bad.stderr.count("\n") == 1
        assert bad.stderr.startswith(f"error: {ops}:") and "monthly_review.cron" in bad.stderr
        assert ops.read_bytes() == before
        listed = json.loads(cli("schedules", "list", "--json").stdout)
        intake = next(row for row in listed["schedules"] if row["name"] == "intake")
        assert intake["paused_between"] == ["2026-12-24", "2027-01-02"]

    def test_validate_names_the_line_of_an_unknown_flow(
        self, cli: Callable[..., Any], tmp_path: Path
    ) -> None:
        path = tmp_path / "new.toml"
        path.write_text('format = 1\n\n[schedules.nightly]\nflow = "sweeep"\ncron = "0 1 * * *"\n')
        result = cli("schedules", "validate", str(path))
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: {path}:4: schedules.nightly.flow: unknown flow")
        assert "Traceback" not in result.stderr

    def test_run_checks_parameters_against_the_flow(self, cli: Callable[..., Any]) -> None:
        bad = cli("run", "review_report", "--param", "period=year")
        assert bad.returncode == 2 and "allowed: month, quarter" in bad.stderr
        unknown = cli("run", "sweep", "--json")
        assert unknown.returncode == 2 and "allowed: sweep_timers" in unknown.stderr

    @pytest.mark.slow  # a real process: no Prefect server or settings but its own
    def test_run_without_a_server_does_the_work_and_logs_it(self, home: Cli) -> None:
        home.ok("init")
        process = ProcessCli(home.home)
        process.env = home.env
        result = process.run("run", "sweep_timers", "-p", "batch_size=50", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["claimed"] == 0
