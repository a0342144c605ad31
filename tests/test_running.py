"""The running system, end to end, with real processes: `tierflow serve` with its own
Prefect server firing a due timer on schedule and stopping cleanly on SIGTERM; and
`tierflow deploy` to a work pool run by a `prefect worker` against PostgreSQL (on the
session's Prefect test server, `prefect_api`: deploy and worker need a server, not a
new one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from flows.prefect_api import url_answers
from flows.runtime import Runtime
from flows.serve import free_port, settings_env
from states.commands import OpenCase
from states.runlog import RunRecord, recent_runs
from states.settings import load_settings
from tests.conftest import PG_URL, postgres

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")
PREFECT = str(Path(sys.executable).with_name("prefect"))
# Prefect looks for work on timers of its own: the server schedules the runs of a new
# deployment within 5 s, the runner polls for them every 10 s. Polling every second
# changes when a due run is seen, not what runs.
PROMPT = {
    "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
}
SWEEP_EVERY_5S = 'format = 1\ntimezone = "UTC"\n[schedules.sweep_timers]\ninterval = "PT5S"\n'


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIERFLOW_", "PREFECT_"))}
    env.update(
        TIERFLOW_HOME=str(home),
        PREFECT_HOME=str(home / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PYTHONPATH=str(REPO),  # the code under test, whatever is installed
        **extra,
    )
    return env


def runtime_for(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Runtime:
    for name, value in env.items():
        if name.startswith("TIERFLOW_"):
            monkeypatch.setenv(name, value)
    runtime = Runtime.from_env()
    runtime.init()
    return runtime


def open_overdue_case(runtime: Runtime) -> int:
    at = datetime.now(UTC) - timedelta(days=10)
    (result,) = runtime.engine.apply_timed([(OpenCase(customer_id="C-1", subject="Refund"), at)])
    return result.case_id


def wait_for(what: str, check: Callable[[], T | None], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(1)
    raise AssertionError(f"no {what} within {timeout:.0f} s")


def completed(
    runtime: Runtime, flow: str, counted: str | None = None
) -> Callable[[], RunRecord | None]:
    """A completed run of `flow` (one whose `counted` count is positive, if named): the
    runner may start several runs at once, and all but one of them find nothing due."""

    def check() -> RunRecord | None:
        runs = [
            run
            for run in recent_runs(runtime.db, flow)
            if run.status == "completed" and (counted is None or run.counts.get(counted))
        ]
        return runs[0] if runs else None

    return check


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (children in new sessions included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@contextmanager
def running_cli(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[str]]:
    """`tierflow ARGS` running in the background, its output piped; killed with every
    process below it if the test ends without stopping it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            below = descendants(process.pid)
            process.kill()
            for pid in below:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.xdist_group("serve")
def test_serve_fires_a_due_timer_on_schedule_and_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the dashboard beside it, as `make run` starts it: both URLs printed, both
    answer, and SIGTERM leaves no process behind (the dashboard's included)."""
    schedules = tmp_path / "schedules.toml"
    schedules.write_text(SWEEP_EVERY_5S)
    env = environment(tmp_path / "home", TIERFLOW_SCHEDULES_FILE=str(schedules), **PROMPT)
    runtime = runtime_for(env, monkeypatch)
    open_overdue_case(runtime)
    port = free_port()
    with running_cli(env, "serve", "--dashboard", "--dashboard-port", str(port)) as serve:
        children: set[int] = set()  # every process serve started, seen while it ran
        fired = completed(runtime, "sweep_timers", "fired")

        def watch() -> RunRecord | None:
            if serve.poll() is not None:  # it gave up (e.g. its Prefect server never answered)
                raise AssertionError(f"serve stopped early: {serve.communicate()[0]}")
            children.update(descendants(serve.pid))
            return fired()

        run = wait_for("sweep that fired", watch, 180)
        assert run.deployment == "sweep_timers" and run.counts["fired"] >= 1
        assert url_answers(f"http://127.0.0.1:{port}/_stcore/health")
        children.update(descendants(serve.pid))
        assert len(children) >= 3  # the Prefect server, the serving process, the dashboard
        started = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        output, _ = serve.communicate(timeout=60)
        assert serve.returncode == 0, output
        assert time.monotonic() - started < 30
        assert "Prefect UI: http://127.0.0.1:" in output
        assert f"Dashboard: http://127.0.0.1:{port}" in output
        time.sleep(0.5)
        assert [pid for pid in children if alive(pid)] == []


@pytest.mark.xdist_group("serve")
def test_tierflow_dashboard_prints_its_url_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = environment(tmp_path / "home")
    port = free_port()
    with running_cli(env, "dashboard", "--port", str(port)) as dashboard:
        children: set[int] = set()
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool | None:
            children.update(descendants(dashboard.pid))
            return url_answers(f"{url}/_stcore/health") or None

        wait_for("dashboard answering", answers, 90)
        busy = subprocess.run(
            [sys.executable, "-m", "flows.cli", "dashboard", "--port", str(port)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert busy.returncode == 2
        assert busy.stderr.strip().splitlines() == [
            f"error: Invalid value for --port: port {port} is in use on 127.0.0.1; choose another"
        ]
        dashboard.send_signal(signal.SIGINT)  # Ctrl-C
        output, _ = dashboard.communicate(timeout=60)
        assert dashboard.returncode == 0, output
        assert f"Dashboard: {url}" in output
        assert children and [pid for pid in children if alive(pid)] == []


def test_the_children_get_the_settings_given_as_options(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path, database_url="postgresql+psycopg://u@db/x", policy_file=tmp_path / "p.toml"
    )
    assert settings_env(settings) == {
        "TIERFLOW_HOME": str(tmp_path),
        "TIERFLOW_DATABASE_URL": "postgresql+psycopg://u@db/x",
        "TIERFLOW_POLICY_FILE": str(tmp_path / "p.toml"),
    }


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own (workers connect with plain URLs, no search_path)."""
    name = f"tf_{uuid.uuid4().hex[:12]}"
    admin = PG_URL.replace("+psycopg", "").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stop_group(process: subprocess.Popen[Any]) -> None:
    """SIGTERM a child's process group, SIGKILL it if it is still there after 30 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(30)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@postgres
@pytest.mark.postgres
@pytest.mark.xdist_group("serve")
def test_a_worker_runs_deployed_flows_against_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_database: str, prefect_api: str
) -> None:
    schedules = tmp_path / "schedules.toml"
    schedules.write_text(
        'format = 1\ntimezone = "UTC"\n'
        '[schedules.verify_audit]\ncron = "30 2 * * *"\n'
        '[schedules.sweep_timers]\ninterval = "PT1M"\npaused = true\n'
    )
    env = environment(
        tmp_path / "home",
        TIERFLOW_SCHEDULES_FILE=str(schedules),
        TIERFLOW_DATABASE_URL=pg_database,
        PREFECT_API_URL=prefect_api,
        PREFECT_WORKER_QUERY_SECONDS="1",  # default 10: when the worker looks, not what it runs
    )
    runtime = runtime_for(env, monkeypatch)
    open_overdue_case(runtime)

    def cli(*args: str, command: tuple[str, ...] = (sys.executable, "-m", "flows.cli")) -> str:
        result = subprocess.run(
            [*command, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    cli("deploy", "--pool", "test")
    assert "test" in cli("work-pool", "ls", command=(PREFECT,))  # 422 with FastAPI >= 0.151
    worker_log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", "test"],
        cwd=tmp_path,
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        cli("deployment", "run", "verify_audit/verify_audit", command=(PREFECT,))
        try:
            run = wait_for("completed audit", completed(runtime, "verify_audit"), 180)
        except AssertionError as exc:
            log = (tmp_path / "worker.log").read_text()[-3000:]
            raise AssertionError(f"{exc}; the worker's log ends:\n{log}") from None
        assert run.deployment == "verify_audit" and run.counts["cases"] == 1
    finally:
        stop_group(worker)
        worker_log.close()
