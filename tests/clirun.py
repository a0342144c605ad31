"""How tests run `tierflow`: in-process through the real entry point, or as a process.

`Cli` calls `flows.cli.main`, what `python -m flows.cli` and the `tierflow` script
run, with an environment, stdin, stdout and stderr of the call's own. What would end
the process ends the call the same way: an exception that escapes `main` is written to
stderr as a traceback with exit status 1, `SystemExit` gives its status, so a result
reads as a real process's does (`subprocess.CompletedProcess`) and every check below
holds both. A call costs 5-16 ms where a process costs about a second, nearly all of it
importing; stories make as many calls as they need.

`ProcessCli` runs the same calls as real processes, for what only a process shows:
start-up, the exit status the shell sees, and that the in-process result is the same.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flows.cli as entry

REPO = Path(__file__).resolve().parents[1]
PROCESS = [sys.executable, "-m", "flows.cli"]
Result = subprocess.CompletedProcess[str]


@contextmanager
def isolated(env: Mapping[str, str | None]) -> Iterator[dict[str, str]]:
    """`os.environ` changed by `env` (None removes), and an empty stdin, a stdout and a
    stderr of the call's own, encoded as a piped process's are (UTF-8, stderr escaping
    what it cannot encode); all restored after. Yields what stdout and stderr received,
    filled in on the way out.

    (Click's and Typer's `CliRunner.isolation` would also force help to 80 columns and
    patch prompts; a process does neither.)"""
    saved_env = {name: os.environ.get(name) for name in env}
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    written: dict[str, str] = {}
    try:
        _set_env(env)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(), out, err
        yield written
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        _set_env(saved_env)
        for name, stream in (("stdout", out), ("stderr", err)):
            stream.flush()
            written[name] = stream.detach().getvalue().decode()


def _set_env(env: Mapping[str, str | None]) -> None:
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def exit_status(code: object) -> int:
    """The status a process exiting with `SystemExit(code)` has (printing a text code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


class Cli:
    """`tierflow` with a data directory of its own, run in-process."""

    def __init__(self, home: Path) -> None:
        self.home = home
        # What the call's environment adds to (or, as None, removes from) the tests' own.
        self.env: dict[str, str | None] = {
            "TIERFLOW_HOME": str(home),
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "PYTHONWARNINGS": "ignore",
        }

    def environment(self) -> dict[str, str | None]:
        """No TIERFLOW_ setting of the tests' environment leaks into a call."""
        cleared = {name: None for name in os.environ if name.startswith("TIERFLOW_")}
        return {**cleared, **self.env}

    def run(self, *args: str) -> Result:
        with isolated(self.environment()) as written:
            try:
                code = entry.main(list(args))
            except SystemExit as exc:
                code = exit_status(exc.code)
            except Exception:
                traceback.print_exc()
                code = 1
        return Result([*PROCESS, *args], code, written["stdout"], written["stderr"])

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, f"tierflow {' '.join(args)}: {result.stderr}"
        assert "Traceback" not in result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def run_all(self, commands: list[list[str]]) -> list[Result]:
        """Run independent commands (in-process: one after the other)."""
        return [self.run(*args) for args in commands]

    def refused(self, *args: str) -> str:
        """Run a command that must fail: one 'error:' line, no traceback, nothing written."""
        before = self.rows()
        line = error_line(self.run(*args))
        after = self.rows()
        assert after == before, f"rows changed from {before} to {after}"
        return line

    def rows(self) -> dict[str, int]:
        """Rows per table, read behind the CLI's back."""
        path = self.home / "tierflow.db"
        if not path.exists():
            return {}
        with sqlite3.connect(path) as conn:
            tables = [
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}

    def show(self, case_id: int) -> dict[str, Any]:
        return self.json("case", "show", str(case_id))

    def tamper(self, sql: str, *params: Any) -> None:
        with sqlite3.connect(self.home / "tierflow.db") as conn:
            assert conn.execute(sql, params).rowcount == 1


class ProcessCli(Cli):
    """`tierflow` as a real process (`python -m flows.cli`), from the repository."""

    def run(self, *args: str) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIERFLOW_")}
        for name, value in self.env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return subprocess.run(
            [*PROCESS, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )

    def run_all(self, commands: list[list[str]]) -> list[Result]:
        """Run independent commands side by side (each one is mostly interpreter start-up)."""
        with ThreadPoolExecutor(max_workers=max(os.cpu_count() or 2, 2)) as pool:
            return list(pool.map(lambda args: self.run(*args), commands))


def error_line(result: Result) -> str:
    """The one 'error:' line of a failed command (no traceback, nothing on stdout)."""
    command = " ".join(result.args[len(PROCESS) :])
    assert result.returncode != 0, f"tierflow {command} succeeded: {result.stdout}"
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, (
        f"tierflow {command}: expected one line on stderr, got "
        f"{len(lines)}:\n{result.stderr[-2000:]}"
    )
    assert lines[0].startswith("error: "), lines[0]
    assert result.stdout == "", result.stdout
    return lines[0]
