"""`tierflow serve`: the running system on one machine.

A small supervisor with two children, each in a process group of its own so
that a Ctrl-C at the terminal reaches only the supervisor, which then stops
them in the order that works (see DESIGN.md): first the process serving the
deployments, then the Prefect server.

1. A Prefect server (``prefect server start`` on a free local port, its
   database under ``$TIERFLOW_HOME/prefect``), unless ``PREFECT_API_URL``
   names one. Prefect's own temporary server fires no scheduled runs, so it
   is never used here.
2. ``python -m flows.serving``: builds one deployment per schedule and serves
   them (``prefect.serve``). When the schedules file changes and still
   validates, it is restarted, so the next runs are the new ones.
3. With a dashboard port (``tierflow serve --dashboard``, ``make run``): the
   Streamlit dashboard (``streamlit run dashboard/app.py``), told the Prefect
   API so its ops page links to the Prefect UI. ``tierflow dashboard`` runs
   this child alone, under the same supervision.

Any child that stops on its own stops the others; SIGTERM or Ctrl-C stops
them all, the serving process before the Prefect server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flows.prefect_api import answering_api, api_ready, url_answers
from flows.runtime import Runtime
from states.errors import TierflowError
from states.settings import Settings

DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
WATCH_INTERVAL = 2.0


class ServeError(TierflowError):
    """The running system could not start or stopped on its own."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def dashboard_argv(port: int, host: str = "127.0.0.1") -> list[str]:
    """`streamlit run` of the dashboard, headless, on `host`:`port`, no usage statistics."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD_APP),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings the children must share with this process, as ``TIERFLOW_*``
    variables: those given as command-line options too (``--database-url``, ``--home``)."""
    env = {"TIERFLOW_HOME": str(settings.home)}
    names = ("database_url", "process_file", "policy_file", "schedules_file")
    for name in (*names, "audit_key_file", "anchor_file"):
        value = getattr(settings, name)
        if value is not None:
            env[f"TIERFLOW_{name.upper()}"] = str(value)
    return env


def prefect_env(runtime: Runtime, api_url: str | None) -> dict[str, str]:
    """The environment of the children: Prefect's home, analytics off, the API to use."""
    env = dict(os.environ)
    env.setdefault("PREFECT_HOME", str(runtime.settings.home / "prefect"))
    Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    env.update(settings_env(runtime.settings))
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


@dataclass
class Child:
    """A child process in a process group of its own."""

    name: str
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, name: str, argv: list[str], env: dict[str, str], log: Path) -> Child:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return cls(name, process)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the whole group, then SIGKILL what is left after `timeout`."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait)
                os.killpg(self.process.pid, signal.SIGKILL)  # helpers it left behind
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue
            return


@dataclass
class Supervisor:
    """Starts the children, watches them, stops them all on a signal or when one dies.

    `scheduler`: the Prefect server and the serving process; `dashboard_port`:
    the dashboard on that port (None: no dashboard)."""

    runtime: Runtime
    say: Callable[[str], None] = print
    scheduler: bool = True
    dashboard_port: int | None = None
    dashboard_host: str = "127.0.0.1"
    children: list[Child] = field(default_factory=list)
    stopping: bool = False

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        try:
            port = self.dashboard_port
            env, serving = prefect_env(self.runtime, None), None
            if self.scheduler:
                api_url = self._server()
                env = prefect_env(self.runtime, api_url)
                self.say(f"Prefect UI: {api_url.removesuffix('/api')}")
                serving = self._serve(env)
            if port is not None and not self._dashboard(env, port):
                return 0
            source, stamp = self._schedules_stamp()
            if serving is not None:
                self.say(f"serving the schedules of {source}; Ctrl-C stops")
            else:
                self.say("Ctrl-C stops")
            while not self.stopping:
                time.sleep(WATCH_INTERVAL / 4)
                self._check_children()
                if serving is not None and self._schedules_stamp() != (source, stamp):
                    source, stamp = self._schedules_stamp()
                    if self._schedules_valid():
                        self.say(f"{source} changed: serving the new schedules")
                        serving.stop()
                        self.children.remove(serving)
                        serving = self._serve(env)
            return 0
        finally:
            self.shutdown()

    def _check_children(self) -> None:
        dead = next((child.name for child in self.children if not child.alive()), None)
        if dead is not None:
            raise ServeError(f"{dead} stopped on its own; see {self._log(dead)}")

    def _dashboard(self, env: dict[str, str], port: int) -> bool:
        """Start the dashboard and say its URL once it answers (False: stopped meanwhile)."""
        argv = dashboard_argv(port, self.dashboard_host)
        self.children.append(Child.start("dashboard", argv, env, self._log("dashboard")))
        url = f"http://{self.dashboard_host}:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not url_answers(f"{url}/_stcore/health"):
            if self.stopping:
                return False
            self._check_children()
            if time.monotonic() > deadline:
                raise ServeError(
                    f"the dashboard did not answer within {STARTUP_TIMEOUT:.0f} s; "
                    f"see {self._log('dashboard')}"
                )
            time.sleep(0.25)
        self.say(f"Dashboard: {url}")
        return True

    def shutdown(self) -> None:
        for child in reversed(self.children):  # serve and the dashboard, then the server
            child.stop()
        self.children.clear()

    def _request_stop(self, signum: int, _frame: object) -> None:
        self.stopping = True

    def _server(self) -> str:
        configured = answering_api()
        if configured:
            return configured
        port = free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        argv = [_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        self.children.append(
            Child.start(
                "prefect-server", argv, prefect_env(self.runtime, None), self._log("prefect-server")
            )
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not api_ready(api_url):
            if self.stopping:
                raise ServeError("stopped while the Prefect server was starting")
            if not self.children[-1].alive() or time.monotonic() > deadline:
                raise ServeError(
                    f"the Prefect server did not answer within {STARTUP_TIMEOUT:.0f} s; "
                    f"see {self._log('prefect-server')}"
                )
            time.sleep(0.5)
        return api_url

    def _serve(self, env: dict[str, str]) -> Child:
        child = Child.start(
            "serve", [sys.executable, "-m", "flows.serving"], env, self._log("serve")
        )
        self.children.append(child)
        return child

    def _schedules_stamp(self) -> tuple[Path, float]:
        source = self.runtime.schedules_source
        try:
            return source, source.stat().st_mtime
        except OSError:
            return source, 0.0

    def _schedules_valid(self) -> bool:
        try:
            Runtime(self.runtime.settings).schedules  # noqa: B018  (a fresh read validates)
        except TierflowError as exc:
            self.say(f"error: {exc} (still serving the previous schedules)")
            return False
        return True

    def _log(self, name: str) -> Path:
        return self.runtime.settings.home / "logs" / f"{name}.log"


def _prefect() -> str:
    """The `prefect` command of this environment (beside this Python)."""
    beside = Path(sys.executable).with_name("prefect")
    return str(beside) if beside.exists() else "prefect"
