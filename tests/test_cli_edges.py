"""Edges of the command line an adversarial probe found: outputs that are not files,
unreadable anchor files, names too long, hosts and Prefect URLs that do not work, blank
values taken as absent, numbers refused without saying what was given. Each is one
`error:` line naming the option and the value, exits non-zero and writes nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from states.errors import StoreError
from states.readonly import make_readonly_engine
from states.settings import load_settings
from tests.clirun import PROCESS, Cli, ProcessCli, error_line

OPENED = "2026-11-02T09:00:00+00:00"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


@pytest.fixture
def world(cli: Cli) -> Cli:
    """One case, opened at OPENED, by a customer who writes in."""
    cli.ok("init")
    cli.ok("case", "open", "--customer", "C1", "--subject", "Refund", "--at", OPENED)
    return cli


def test_an_output_that_is_a_fifo_is_refused_and_left_in_place(world: Cli, tmp_path: Path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for args in (
        ["audit", "export", "--format", "csv", "--output", str(fifo)],
        ["process", "export", "--output", str(fifo)],
    ):
        error = world.refused(*args)
        assert "--output" in error and str(fifo) in error and "not a FIFO" in error, error
        assert fifo.is_fifo()


def test_an_output_that_cannot_be_written_is_one_line_naming_the_option(world: Cli):
    for args in (
        ["audit", "export", "--format", "csv", "--output", "/proc/version"],
        ["process", "export", "--output", "/proc/version"],
    ):
        error = world.refused(*args)
        assert "--output '/proc/version'" in error, error


def test_an_empty_path_is_refused_naming_the_option_not_shown_as_dot(world: Cli):
    for args, option in (
        (["audit", "export", "--format", "csv", "--output", ""], "--output"),
        (["process", "export", "--output", ""], "--output"),
        (["audit", "anchor", "--anchor-file", ""], "--anchor-file"),
        (["--process", "", "check"], "--process"),
        (["--policy", "  ", "check"], "--policy"),
    ):
        error = world.refused(*args)
        assert f"invalid {option} '" in error and "'.'" not in error, error


def test_a_binary_anchor_file_is_one_line_naming_the_option(world: Cli, tmp_path: Path):
    binary = tmp_path / "anchors.jsonl"
    binary.write_bytes(b"\x00\xfe\xff not utf-8 \xc3\x28\n")
    for command in ("anchor", "verify"):
        error = error_line(world.run("audit", command, "--anchor-file", str(binary)))
        assert "--anchor-file" in error and "UTF-8" in error, error
    assert binary.read_bytes().startswith(b"\x00\xfe\xff")


def test_an_anchor_file_in_a_missing_directory_is_refused_and_not_created(
    world: Cli, tmp_path: Path
):
    missing = tmp_path / "no" / "such" / "anchors.jsonl"
    error = world.refused("audit", "anchor", "--anchor-file", str(missing))
    assert "--anchor-file" in error and "a file name in an existing directory" in error
    assert not (tmp_path / "no").exists()


def test_a_home_whose_name_is_too_long_is_one_line_for_every_command(cli: Cli, tmp_path: Path):
    long_home = str(tmp_path / ("d" * 300))
    cli.env["TIERFLOW_HOME"] = long_home
    for args in (["case", "list"], ["case", "show", "1"], ["--home", long_home, "case", "list"]):
        error = error_line(cli.run(*args))
        assert "File name too long" in error and len(error) < 200, error


@pytest.mark.parametrize("host", ["not a host", "999.999.999.999", "   ", "\udcff"])
def test_a_dashboard_host_that_does_not_resolve_is_blamed_on_the_host(cli: Cli, host: str):
    error = error_line(cli.run("dashboard", "--host", host, "--port", "18598"))
    assert "--host" in error and "in use" not in error, error


def test_a_blank_dashboard_host_is_refused(cli: Cli):
    error = error_line(cli.run("dashboard", "--host", "", "--port", "18598"))
    assert "--host" in error and "blank" in error, error


@pytest.mark.parametrize(
    "url", ["garbage", "http://127.0.0.1:1/api", "http://[::1", "http://127.0.0.1:99999/api"]
)
def test_a_prefect_api_url_that_does_not_answer_is_one_line_naming_it(tmp_path: Path, url: str):
    cli = ProcessCli(tmp_path / "home")
    cli.ok("init")
    cli.env["PREFECT_API_URL"] = url
    for args in (["deploy", "--pool", "ok"], ["run", "intake"]):
        error = error_line(cli.run(*args))
        assert f"PREFECT_API_URL='{url}'" in error, error


@pytest.mark.parametrize(
    "args", [["schedules", "list"], ["run", "intake"], ["deploy", "--pool", "ok"]]
)
def test_a_prefect_setting_prefect_cannot_read_is_one_line_before_prefect_is_imported(
    tmp_path: Path, args: list[str]
):
    """Prefect validates its settings when imported, printing a line of its own and a
    traceback; the commands that import it check them first."""
    cli = ProcessCli(tmp_path / "home")
    cli.ok("init")
    cli.env["PREFECT_SERVER_API_PORT"] = "abc"
    result = cli.run(*args)
    assert "Failed to initialize plugins" not in result.stderr, result.stderr
    error = error_line(result)
    assert "Prefect's settings are not valid" in error and "'abc'" in error, error


def test_blank_root_options_and_filters_are_refused_naming_them(world: Cli):
    for args, option in (
        (["--database-url", "", "case", "list"], "--database-url"),
        (["--home", "", "case", "list"], "--home"),
        (["audit", "snapshot", "--team", ""], "--team"),
        (["audit", "snapshot", "--team", "   "], "--team"),
        (["audit", "snapshot", "--team", "\x1b[31m"], "--team"),
    ):
        assert f"invalid {option} '" in world.refused(*args)


def test_a_whitespace_message_is_refused(world: Cli):
    assert "invalid --message '   '" in world.refused("case", "update", "1", "--message", "   ")


def test_an_update_to_the_priority_the_case_has_says_it_has_it(world: Cli):
    error = world.refused("case", "update", "1", "--priority", "normal")
    assert "case 1 already has priority normal" in error, error


def test_clocks_before_the_case_was_opened_are_refused_as_audit_case_does(world: Cli):
    before = "1970-01-01T00:00:00+00:00"
    error = world.refused("case", "clocks", "1", "--at", before)
    assert "case 1 was opened at 2026-11-02T09:00:00+00:00" in error, error
    assert "--at" in error and before in error


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["case", "show", "0"], "invalid ID '0': a whole number (ASCII digits) from 1 to"),
        (["case", "show", "\udcff"], "invalid ID '\\udcff': a whole number"),
        (["case", "list", "--limit", "1e400"], "invalid --limit '1e400': a whole number"),
        (["case", "list", "--offset", "abc"], "invalid --offset 'abc': a whole number"),
        (["sweep", "--batch", "0"], "invalid --batch '0': a whole number (ASCII digits) from 1"),
        (["dashboard", "--port", "0"], "invalid --port '0': a whole number (ASCII digits) from 1"),
        (["demo", "--cases", "0"], "invalid --cases '0'"),
        (["demo", "--seed", "1.5"], "invalid --seed '1.5': a whole number"),
        (
            ["case", "assign", "1", "--assignee", "x", "--expected-version", "\u0661\u0662"],
            "invalid --expected-version '\u0661\u0662': a whole number (ASCII digits)",
        ),
        (["case", "show", "-1"], "-1: not an option, and not a case id"),
    ],
)
def test_a_refused_number_names_the_option_the_value_and_what_is_allowed(
    world: Cli, args: list[str], said: str
):
    error = world.refused(*args)
    assert said in error, error


@pytest.mark.parametrize("group", [[], ["case"], ["audit"]])
def test_a_group_without_a_command_prints_its_help(cli: Cli, group: list[str]):
    result = cli.run(*group)
    assert result.returncode == 2
    assert result.stderr.startswith(f"Usage: tierflow {' '.join([*group, ''])}"), result.stderr
    assert "\\n" not in result.stderr and len(result.stderr.splitlines()) > 5
    assert "Commands:" in result.stderr


def test_a_flow_parameter_given_twice_is_refused(world: Cli):
    error = world.refused("run", "review_report", "-p", "period=month", "-p", "period=quarter")
    assert "--param" in error and "period is given twice" in error, error


@pytest.mark.parametrize("size", ["0", "100001"])
def test_a_sweep_batch_size_outside_what_sweep_allows_is_a_parameter_error(world: Cli, size: str):
    result = world.run("run", "sweep_timers", "-p", f"batch_size={size}")
    error = error_line(result)
    assert result.returncode == 2
    assert f"batch_size: {size} is out of range; allowed: 1 to 100000" in error, error


@pytest.mark.parametrize(
    ("param", "said"),
    [
        ("batch_size=0", "batch_size: 0 is out of range; allowed: 1 to 10000"),
        ("batch_size=-1", "batch_size: -1 is out of range; allowed: 1 to 10000"),
        ("max_batches=0", "max_batches: 0 is out of range; allowed: 1 to 10000"),
        ("batch_size=" + "9" * 5000, "batch_size: '99999"),  # past 4,300 digits: was a traceback
    ],
)
def test_a_delivery_batch_outside_what_notify_deliver_allows_is_a_parameter_error(
    world: Cli, param: str, said: str
):
    result = world.run("run", "deliver_notifications", "-p", param)
    error = error_line(result)
    assert result.returncode == 2 and said in error and len(error) < 400, error


@pytest.mark.parametrize("folder", ["", "   ", "in\nbox"])
def test_a_blank_intake_folder_is_refused_not_read_as_the_data_directory(world: Cli, folder: str):
    error = error_line(world.run("run", "intake", "-p", f"folder={folder}"))
    assert "folder: " in error and "blank or holds control characters" in error, error


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("TIERFLOW_NOTIFY_SINK", "bogus", "'bogus' is not allowed; allowed: one of file, cons"),
        ("TIERFLOW_SMTP_PORT", "99999", "'99999' is not allowed; allowed: a whole number from"),
        ("TIERFLOW_SMTP_STARTTLS", "maybe", "'maybe' is not allowed; allowed: true or false"),
        # were a traceback (idna) or every notification failed for good at its delivery
        ("TIERFLOW_SMTP_HOST", "a" * 64 + ".example",
         f"'{'a' * 64}.example' is not allowed; allowed: a host name"),
        ("TIERFLOW_SMTP_HOST", "mail example",
         "'mail example' is not allowed; allowed: a host name"),
        ("TIERFLOW_SMTP_FROM", "ops@x.io\r\nBcc: all@x.io",
         "'ops@x.io\\r\\nBcc: all@x.io' is not allowed; allowed: one mail"),
        ("TIERFLOW_SMTP_FROM", "nobody", "'nobody' is not allowed; allowed: one mail address"),
        ("TIERFLOW_SMTP_FROM", "ops@", "'ops@' is not allowed; allowed: one mail address"),
        ("TIERFLOW_SMTP_FROM", "S <ops@exa mple.com>",
         "'S <ops@exa mple.com>' is not allowed; allowed: one mail"),
        ("TIERFLOW_SMTP_USERNAME", "ops\n",
         "'ops\\n' is not allowed; allowed: text without control"),
        ("TIERFLOW_HOME", "", "'' is not allowed; allowed: a value, not empty"),
        ("TIERFLOW_DATABASE_URL", "", "'' is not allowed; allowed: a value, not empty"),
    ],
)  # fmt: skip
def test_a_setting_from_the_environment_is_refused_naming_its_value_and_what_is_allowed(
    cli: Cli, tmp_path: Path, name: str, value: str, said: str
):
    """An empty TIERFLOW_HOME was the current directory (`init` put the database there);
    a bad sink said only "String should match pattern '^(file|console|smtp)$'"."""
    cli.env[name] = value
    for args in (["init"], ["notify", "deliver"]):
        error = error_line(cli.run(*args))
        assert f"{name}: {said}" in error, error
    assert not (Path.cwd() / "tierflow.db").exists()


def test_a_schedule_change_that_contradicts_itself_or_is_blank_is_refused(world: Cli):
    for args, said in (
        (["--cron", "\u0660 7 1 * *"], "is not a cron expression"),  # Arabic-Indic zero
        (["--clear-window", "--pause-between", "2026-12-01", "2026-12-02"], "contradict"),
        (["--cron", ""], "invalid --cron ''"),
        (["--interval", " "], "invalid --interval ' '"),
    ):
        assert said in world.refused("schedules", "set", "monthly_review", *args)
    assert not (world.home / "schedules.toml").exists()  # nothing written


def test_run_acts_on_the_database_the_root_options_name_not_the_environments(tmp_path: Path):
    """`--home X run ...` fired the timers of the database TIERFLOW_HOME named."""
    named, environment = tmp_path / "named", tmp_path / "environment"
    cli = ProcessCli(environment)
    cli.ok("init")
    cli.ok("--home", str(named), "init")
    cli.ok("--home", str(named), "run", "sweep_timers")
    runs = {}
    for home in (named, environment):
        with sqlite3.connect(home / "tierflow.db") as conn:
            runs[home.name] = conn.execute("SELECT count(*) FROM flow_run_log").fetchone()[0]
    assert runs == {"named": 1, "environment": 0}


@pytest.mark.parametrize("number", ["1_0", "+5", " 5", "5 ", "3.0", "٣", "0x10"])
def test_a_whole_number_is_ascii_digits_only(world: Cli, number: str):
    """The option parser took "1_0" as 10 (case show showed case 10), " 5" and "+5" as 5,
    and a satisfaction "3.0" as 3."""
    for args, name in (
        (["case", "show", number], "ID"),
        (["case", "list", "--limit", number], "--limit"),
        (["case", "follow_up", "1", "--satisfaction", number], "--satisfaction"),
    ):
        error = error_line(world.run(*args))
        assert f"invalid {name} " in error and "a whole number (ASCII digits)" in error, error


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["case", "open", "--customer", "\u200b", "--subject", "s"],
            "invalid --customer '\\u200b'",
        ),
        (
            ["case", "open", "--customer", "\u202e", "--subject", "s"],
            "invalid --customer '\\u202e'",
        ),
        (["case", "open", "--customer", "C", "--subject", " \u200b"], "invalid --subject"),
        (["case", "open", "--customer", "C", "--subject", "s", "--team", "\u2060"], "--team"),
        (["case", "open", "--customer", "C", "--subject", "s", "--tier", "gold"], "--tier 'gold'"),
        (["audit", "import", "x.csv", "--mapping", ""], "invalid --mapping ''"),
        (["replay", "1", "--all", "--verify"], "give a case ID or --all, not both"),
    ],
)
def test_invisible_names_and_texts_are_blank_and_refusals_name_the_option(
    world: Cli, args: list[str], said: str
):
    """A zero-width space or a bidirectional override alone passed as "not blank" (a case
    list showed an empty customer), errors named the command's field (customer_id) rather
    than the option typed, and `--mapping ''` read the current directory."""
    assert said in world.refused(*args)


def test_smtp_settings_people_use_are_accepted():
    """A display name, an IPv6 host, and a password with any printable character (a
    zero-width space was refused as a "control character")."""
    settings = load_settings(
        smtp_from="Support <ops@example.com>", smtp_host="::1", smtp_password="pa\u200bss"
    )
    assert (settings.smtp_from, settings.smtp_host) == ("Support <ops@example.com>", "::1")


@pytest.mark.parametrize(
    ("stored", "said"),
    [
        ("'abc'", "'abc' is not one tierflow writes"),
        ("-1", "-1 is not one tierflow writes"),
        ("99", "99 is newer than this release's"),
        ("6", "6 is older than this release's 7; run `tierflow init`"),
    ],
)
def test_a_schema_version_this_release_cannot_use_is_refused_by_every_command(
    world: Cli, stored: str, said: str
):
    """A version no release wrote was a traceback in `init` (a TypeError, a KeyError); a
    newer schema was refused by `init` alone while every other command wrote to it."""
    with sqlite3.connect(world.home / "tierflow.db") as conn:
        conn.execute(f"UPDATE schema_info SET schema_version = {stored}")
    assert said in world.refused("case", "assign", "1", "--assignee", "ana")
    assert said in world.refused("case", "list")
    if stored != "6":  # init migrates an older schema
        assert said in world.refused("init")


def test_text_the_terminal_cannot_encode_is_shown_escaped_not_a_traceback(tmp_path: Path):
    """Under an ASCII terminal (LANG=C, PYTHONIOENCODING=ascii) a customer's "é" or a
    subject's "✓" was a UnicodeEncodeError as soon as the case was on the page."""
    cli = ProcessCli(tmp_path / "home")
    cli.ok("init")
    cli.ok("case", "open", "--customer", "é", "--subject", "naïve ✓")
    cli.env["PYTHONIOENCODING"] = "ascii"
    assert "na\\xefve \\u2713" in cli.ok("case", "show", "1")
    assert "\\xe9" in cli.ok("case", "list")


def test_process_export_to_a_closed_standard_output_is_not_a_traceback(tmp_path: Path):
    """`tierflow process export >&-` was an AttributeError (no standard output to write
    to); like every other command it now writes nothing and succeeds."""
    home = tmp_path / "home"
    cli = ProcessCli(home)
    cli.ok("init")
    env = {**os.environ, "TIERFLOW_HOME": str(home)}
    for fmt in ("bpmn", "mermaid"):
        done = subprocess.run(
            [*PROCESS, "process", "export", "--format", fmt],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            preexec_fn=lambda: os.close(1),
        )
        assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(
    ("command", "name", "what"),
    [
        (("audit", "export", "--format", "csv", "--output"), "tierflow.db", "the database"),
        (("process", "export", "--output"), "tierflow.db-wal", "the database"),
        (("audit", "export", "--format", "xes", "--output"), "audit.key", "the audit key"),
        (("audit", "export", "--format", "ocel", "--output"), "outbox.jsonl", "the outbox"),
        (("audit", "verify", "--anchor-file"), "tierflow.db", "the database"),
    ],
)
def test_an_output_over_a_file_tierflow_keeps_its_data_in_is_refused(
    world: Cli, command: tuple[str, ...], name: str, what: str
):
    """`audit export --output ~/.tierflow/tierflow.db` wrote a CSV over the live database
    (every later command then failed) and one over audit.key lost the signing key."""
    # the database's files change as it is read (its log, the shared index): `refused`
    # counts its rows; the other files must be byte for byte as they were
    files = [p for p in world.home.iterdir() if p.is_file() and "tierflow.db" not in p.name]
    kept = {path: path.read_bytes() for path in files}
    line = world.refused(*command, str(world.home / name))
    assert f"this is {what}" in line
    assert {path: path.read_bytes() for path in kept} == kept
    assert world.ok("case", "list")


def test_init_on_a_table_missing_a_column_says_so_instead_of_initialised(world: Cli):
    """`init` said "initialised" over a case table without its satisfaction column (it
    creates missing tables, not columns), and every command after failed on it."""
    with sqlite3.connect(world.home / "tierflow.db") as conn:
        conn.execute('ALTER TABLE "case" DROP COLUMN satisfaction')
    line = world.refused("init")
    assert "table case has no column satisfaction" in line


def test_a_dropped_history_table_is_named_by_every_command_and_not_made_anew_by_demo(
    world: Cli,
):
    """Every command said the database had no tierflow tables, and `demo` (as `init`)
    made case_event anew, empty: the loss of every case's history hidden."""
    with sqlite3.connect(world.home / "tierflow.db") as conn:
        conn.execute("DROP TABLE case_event")
    for command in (("case", "list"), ("case", "show", "1"), ("init",), ("demo", "--cases", "1")):
        line = world.refused(*command)
        assert "incomplete: table case_event is missing while it holds cases" in line
        assert "restore it from a backup" in line


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql+asyncpg://postgres@127.0.0.1:5432/test", "postgresql through asyncpg"),
        ("sqlite+aiosqlite:///tierflow.db", "sqlite through aiosqlite"),
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql through psycopg2"),
    ],
)
def test_a_database_url_for_a_driver_tierflow_does_not_run_on_is_one_line(
    cli: Cli, url: str, driver: str
):
    """asyncpg and aiosqlite are installed (Prefect's), so such a URL loaded and its first
    query was a MissingGreenlet traceback; the dashboard's read-only engine as much."""
    cli.env["TIERFLOW_DATABASE_URL"] = url
    for command in (("case", "list"), ("init",)):
        line = error_line(cli.run(*command))
        assert "postgresql+psycopg://" in line and f"not {driver}" in line
    with pytest.raises(StoreError, match=f"not {driver}"):
        make_readonly_engine(url)


def test_a_sqlite_url_with_a_query_names_the_same_file_for_init_and_every_command(
    cli: Cli, tmp_path: Path
):
    """The text after ``///`` was read as the path, query and all: init made t.db, and
    every later command said there was no database at 't.db?timeout=5'; an export over
    the file was not known for the database's."""
    database = tmp_path / "t.db"
    cli.env["TIERFLOW_DATABASE_URL"] = f"sqlite:///{database}?timeout=5"
    cli.ok("init")
    cli.ok("case", "open", "--customer", "C1", "--subject", "Refund", "--at", OPENED)
    assert "Refund" in cli.ok("case", "list")
    readonly = make_readonly_engine(cli.env["TIERFLOW_DATABASE_URL"])
    with readonly.connect() as conn:
        assert conn.exec_driver_sql('SELECT count(*) FROM "case"').scalar_one() == 1
    readonly.dispose()
    error = cli.refused("audit", "export", "--format", "csv", "--output", str(database))
    assert "this is the database" in error, error
    assert not [path for path in tmp_path.iterdir() if "?" in path.name]
