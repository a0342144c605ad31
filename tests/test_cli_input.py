"""Bad input and operator faults at the command line, run in-process.

Each call goes through `flows.cli.main`, the entry point the `tierflow` script
runs, so the error handling under test is the real one; in-process it costs
~35 ms instead of a second per subprocess, which lets a property test try
hundreds of bad inputs against a real SQLite database.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import cli
from states.case import CHANNELS, PRIORITIES, TIERS
from states.fields import MAX_ID, MAX_NAME, MAX_TEXT
from states.points import POINTS
from states.policy import default_policy_path
from states.process import default_process_path
from tests.clirun import isolated


class Run(NamedTuple):
    code: int
    out: str
    err: str


class Home:
    """A TIERFLOW_HOME and `tierflow` run in-process against it (as :mod:`tests.clirun`
    runs it; an exception that escapes the entry point fails the test as it stands)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {"TIERFLOW_HOME": str(path), "TIERFLOW_DATABASE_URL": None,
                    "TIERFLOW_PROCESS_FILE": None, "TIERFLOW_POLICY_FILE": None,
                    "TIERFLOW_NOTIFY_SINK": None, "COLUMNS": "200"}  # fmt: skip

    def run(self, *args: str, **env: str) -> Run:
        with isolated({**self.env, **env}) as written:
            code = cli.main(list(args))  # which closes the call's engine as it returns
        return Run(code, written["stdout"], written["stderr"])

    def ok(self, *args: str, **env: str) -> str:
        result = self.run(*args, **env)
        assert result.code == 0, result.err
        return result.out

    def error(self, *args: str, **env: str) -> str:
        """The one `error:` line of a command that must fail, writing nothing."""
        before = self.rows()
        result = self.run(*args, **env)
        assert result.code != 0, f"tierflow {' '.join(args)} succeeded: {result.out}"
        lines = result.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.err
        assert "Traceback" not in result.err + result.out
        assert self.rows() == before
        return lines[0]

    def rows(self) -> dict[str, int]:
        path = self.path / "tierflow.db"
        if not path.exists():
            return {}
        try:
            with sqlite3.connect(path) as conn:
                query = "SELECT name FROM sqlite_master WHERE type = 'table'"
                tables = [name for (name,) in conn.execute(query)]
                count = 'SELECT count(*) FROM "{}"'
                return {t: conn.execute(count.format(t)).fetchone()[0] for t in tables}
        except sqlite3.DatabaseError:  # not a database: its size stands for its content
            return {"(not a database)": path.stat().st_size}


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


@pytest.fixture
def world(home: Home) -> Home:
    """Case 1 assigned to ana, case 2 open."""
    home.ok("init")
    home.ok("case", "open", "--customer=C1", "--subject=Refund", "--ref=T-1")
    home.ok("case", "open", "--customer=C2", "--subject=Invoice")
    home.ok("case", "assign", "1", "--assignee=ana")
    return home


# -- faults of the operator's environment --------------------------------------


def test_reading_an_uninitialised_home_says_run_init_and_creates_nothing(home: Home):
    error = home.error("case", "show", "1")
    assert error == f"error: no database at {home.path / 'tierflow.db'}; run `tierflow init` first"
    assert not home.path.exists()


def test_a_text_file_as_the_database_is_one_line_naming_it(home: Home):
    home.path.mkdir()
    (home.path / "tierflow.db").write_text("notes\n")
    for args in (("case", "show", "1"), ("init",), ("case", "open", "--customer=C", "--subject=S")):
        assert home.error(*args) == (
            f"error: {home.path / 'tierflow.db'} is not a tierflow database or is damaged "
            "(file is not a database)"
        )


def test_a_home_that_cannot_be_created_is_one_line_naming_it(tmp_path: Path):
    (tmp_path / "file").write_text("")
    home = Home(tmp_path / "file" / "home")
    error = home.error("init")
    assert error.startswith(f"error: cannot create the data directory {home.path} (TIERFLOW_HOME)")


def test_control_characters_in_user_text_are_escaped_on_the_terminal_but_exact_in_json(
    world: Home,
):
    subject = "\x1b[31mRED\x1b[0m\u202eevil\rover"
    world.ok("case", "open", "--customer=C3", f"--subject={subject}")
    world.ok("case", "assign", "3", "--assignee=ana")
    world.ok("case", "wait_on_customer", "3", "--note=line one\nline two\x1b[2J")
    shown, listed = world.ok("case", "show", "3"), world.ok("case", "list")
    for text in (shown, listed):
        assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    assert "\\x1b[31mRED\\x1b[0m\\u202eevil\\rover" in shown
    assert "note=line one\\nline two\\x1b[2J" in shown
    assert "\\x1b[31mRED" in listed
    assert json.loads(world.ok("case", "show", "3", "--json"))["case"]["subject"] == subject


def test_deliver_exits_non_zero_saying_how_many_could_not_be_sent(world: Home):
    world.ok("case", "escalate", "1", "--reason=r", "--notice=Our specialists take over.")
    pending = world.rows()["notification"]
    assert pending >= 2
    smtp = {
        "TIERFLOW_NOTIFY_SINK": "smtp",
        "TIERFLOW_SMTP_HOST": "127.0.0.1",
        "TIERFLOW_SMTP_PORT": "9",
    }  # fmt: skip  (discard: nothing listens)
    result = world.run("notify", "deliver", **smtp)
    assert result.code == 1
    assert result.err == (
        f"error: {pending} of {pending} notifications could not be delivered "
        f"(0 will be retried, {pending} failed for good)\n"  # roles with no address mapped
    )
    assert f"0 sent, 0 to retry, {pending} failed" in result.out
    assert world.run("notify", "deliver", **smtp).code == 0  # nothing due yet: nothing failed


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("case", "open", "--customer=C\udcff", "--subject=S"), "--customer"),
        (("case", "open", "--customer=C", "--subject=S", "--amount=\u0668\u0660\u0660"),
         "--amount"),
        (("case", "open", "--customer=C", "--subject=S", "--idempotency-key="),
         "--idempotency-key"),
        (("case", "open", "--customer=C", "--subject=S", "--team="), "--team"),
        (("case", "open", "--customer=C", "--subject=S", "--ref="), "--ref"),
        (("case", "open", "--customer=C", "--subject=S", f"--ref={'r' * 100_000}"),
         "1 to 200 characters"),
        (("case", "list", "--offset=9223372036854775808"), "--offset"),
        (("case", "show", "2147483648"), "2147483647"),
        (("case", "list", "--customer=\udcff"), "--customer"),
    ],
)  # fmt: skip
def test_the_bad_inputs_the_issue_found_are_one_error_line(world: Home, args, said: str):
    assert said in world.error(*args)


# -- the property: any bad input is one error line and writes nothing ----------

CONTROLS = ["\x00", "\x07", "\x1b[31m", "\n", "\r", "\x7f", "\x9b"]
_junk = st.text(alphabet=st.characters(codec="utf-8"), max_size=6)


def _around(bad: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(_junk, bad, _junk).map("".join)


BLANK = st.sampled_from(["", " ", "\t", "   "])
UNDECODABLE = _around(st.sampled_from(["\udcff", "\udce9", "\udc80"]))
BAD_NAME = st.one_of(
    BLANK,
    UNDECODABLE,
    _around(st.sampled_from(CONTROLS)),
    st.text(alphabet="abcé😀", min_size=MAX_NAME + 1, max_size=MAX_NAME + 30),
)
TOO_LONG_TEXT = st.integers(MAX_TEXT + 1, MAX_TEXT + 50).map(lambda n: "x" * n)
BAD_TEXT = st.one_of(UNDECODABLE, TOO_LONG_TEXT)
HUGE = st.just("a" * 100_000)  # bad for every option: too long a text, not a choice or number
BAD_REQUIRED_TEXT = st.one_of(BLANK, BAD_TEXT)


def _not_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return True
    return False


NOT_A_NUMBER = st.one_of(
    st.sampled_from(["", "one", "1.5", "1e3", "0x10", "NaN", "--"]), _junk.filter(_not_int)
)


def bad_int(low: int, high: int) -> st.SearchStrategy[str]:
    outside = st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1))
    return st.one_of(NOT_A_NUMBER, outside.map(str), st.just(str(2**63)), st.just(str(-(2**64))))


def bad_choice(allowed: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.one_of(_junk, UNDECODABLE, st.sampled_from(["", "ALL", " low"])).filter(
        lambda value: value not in allowed
    )


BAD_AMOUNT = st.one_of(
    st.sampled_from(["\u0668\u0660\u0660", "\uff18\uff10\uff10", "-5", "1.005", "1e3", "800,50",
                     "NaN", "Infinity", "99999999999999999999", "", "€", "1,00", "0x10"]),
    st.decimals(min_value=-(10**6), max_value=Decimal("-0.01"), places=2).map(str),
)  # fmt: skip
BAD_ID = st.one_of(bad_int(1, MAX_ID), st.integers(3, MAX_ID).map(str))  # 3+: no such case
BAD_INSTANT = st.sampled_from(
    ["yesterday", "2026-13-01T00:00:00+00:00", "2026-11-30T09:00:00", "", "0", "2026-11-30T25:00Z"]
)
LEVELS = ("L2", "manager", "board")
STATES = ("open", "first_level", "escalated", "resolved", "followed_up")

ACT = {"--actor": BAD_NAME, "--expected-version": bad_int(1, MAX_ID),
       "--idempotency-key": BAD_NAME, "ID": BAD_ID}  # fmt: skip
# Each command: a call that would succeed on `world`, and a bad value for each option.
COMMANDS: list[tuple[tuple[str, ...], dict[str, st.SearchStrategy[str]]]] = [
    (("case", "open", "--customer=C9", "--subject=S"),
     {"--customer": BAD_NAME, "--subject": BAD_REQUIRED_TEXT, "--description": BAD_TEXT,
      "--priority": bad_choice(PRIORITIES), "--channel": bad_choice(CHANNELS),
      "--tier": bad_choice(TIERS), "--amount": BAD_AMOUNT, "--team": BAD_NAME, "--ref": BAD_NAME,
      "--actor": BAD_NAME, "--idempotency-key": BAD_NAME}),
    (("case", "assign", "1", "--assignee=bob"),
     {**ACT, "--assignee": BAD_NAME, "--team": BAD_NAME}),
    (("case", "escalate", "1", "--reason=r", "--notice=n"),
     {**ACT, "--reason": BAD_TEXT, "--notice": BAD_TEXT, "--point": bad_choice(POINTS),
      "--to-level": bad_choice(LEVELS)}),
    (("case", "wait_on_customer", "1", "--note=n"), {**ACT, "--note": BAD_TEXT}),
    (("case", "de_escalate", "1"), {"--note": BAD_TEXT, "--assignee": BAD_NAME}),
    (("case", "follow_up", "1"), {"--satisfaction": bad_int(1, 5), "--comment": BAD_TEXT}),
    (("case", "update", "1", "--message=m"),
     {**ACT, "--message": BAD_TEXT, "--amount": BAD_AMOUNT, "--priority": bad_choice(PRIORITIES),
      "--tier": bad_choice(TIERS)}),
    (("case", "show", "1"), {"ID": BAD_ID}),
    (("replay", "1", "--verify"), {"ID": BAD_ID}),
    (("case", "clocks", "1"), {"ID": BAD_ID, "--at": BAD_INSTANT}),
    (("case", "list"),
     {"--state": bad_choice(STATES), "--level": bad_choice(LEVELS),
      "--priority": bad_choice(PRIORITIES), "--flag": bad_choice(POINTS), "--assignee": BAD_NAME,
      "--customer": BAD_NAME, "--team": BAD_NAME, "--ref": BAD_NAME,
      "--limit": bad_int(1, 100_000), "--offset": bad_int(0, MAX_ID)}),
    (("sweep",), {"--batch": bad_int(1, 100_000), "--worker": BAD_NAME, "--at": BAD_INSTANT}),
    (("notify", "deliver"), {"--sink": bad_choice(("file", "console", "smtp")),
                             "--batch": bad_int(1, 10_000)}),
    (("demo",), {"--cases": bad_int(1, 100_000), "--seed": NOT_A_NUMBER}),
]  # fmt: skip

BAD_FILES = {
    "not-utf8.toml": b'name = "caf\xe9"\n',
    "ladder-5.toml": b"ladder = [5]\n",
    "syntax.toml": b"name = = 1\n",
    "huge-target.toml": default_policy_path().read_bytes().replace(b'"P30D"', b'"P3000000D"'),
    "huge-duration.toml": default_policy_path().read_bytes().replace(b'"P30D"', b'"P9999999999D"'),
    "days.toml": default_policy_path()
    .read_bytes()
    .replace(b"working_days = 2 ", b"working_days = 100000000 "),
    "ladder-text.toml": default_process_path()
    .read_bytes()
    .replace(b'[[ladder]]\nname = "L2"', b'ladder = ["L2"]\n[[ladder]]\nname = "L2"'),
}
ROOT = [("--process", ("init",)), ("--process", ("check",)), ("--policy", ("check",)),
        ("--policy", ("case", "open", "--customer=C9", "--subject=S"))]  # fmt: skip


@st.composite
def bad_calls(draw: st.DrawFn, files: Path) -> list[str]:
    """A call that would succeed, with one option (or the case id) given a bad value."""
    if draw(st.integers(0, 9)) == 0:  # a bad process or policy file, or a missing one
        option, call = draw(st.sampled_from(ROOT))
        name = draw(st.sampled_from([*BAD_FILES, "missing.toml", "."]))
        return [f"{option}={files / name}", *call]
    call, options = draw(st.sampled_from(COMMANDS))
    option = draw(st.sampled_from(sorted(options)))
    value = draw(st.one_of(options[option], HUGE))
    if option == "ID":
        return [value if part in ("1",) else part for part in call]
    return [*(part for part in call if not part.startswith(f"{option}=")), f"{option}={value}"]


MIN_TRIED = 1200
LONGEST_ERROR = 400  # characters: a value is quoted cut, never whole


def test_every_bad_input_is_one_error_line_and_writes_nothing(
    world: Home, tmp_path: Path, record_property: pytest.RecordProperty
):
    files = tmp_path / "files"
    files.mkdir()
    for name, content in BAD_FILES.items():
        (files / name).write_bytes(content)
    tried: list[list[str]] = []
    before = world.rows()

    @settings(max_examples=MIN_TRIED + 100, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(args=bad_calls(files))
    def bad_input_is_refused(args: list[str]) -> None:
        tried.append(args)
        result = world.run(*args)
        shown = f"tierflow {' '.join(map(repr, args))[:300]}"
        assert result.code != 0, f"{shown} succeeded: {result.out[:300]}"
        assert "Traceback" not in result.err + result.out, shown
        lines = result.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{shown}: {result.err!r}"
        assert len(lines[0]) <= LONGEST_ERROR, f"{shown}: {lines[0][:LONGEST_ERROR]}…"
        assert world.rows() == before, shown

    bad_input_is_refused()
    record_property("bad_inputs_tried", len(tried))
    print(f"\nbad inputs tried: {len(tried)}")
    assert len(tried) >= MIN_TRIED
