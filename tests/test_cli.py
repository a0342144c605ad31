"""The `tierflow` command line against its own SQLite file, one story per test.

Each test gets a fresh ``TIERFLOW_HOME`` (and no ``TIERFLOW_DATABASE_URL``). The calls
run in-process through the real entry point (:mod:`tests.clirun`); the last tests run
`tierflow` as real processes, for what only a process shows, and check that a process
says exactly what the in-process call says.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.clirun import Cli, ProcessCli, error_line

# Customers write brackets; the terminal output must show them, not read them as markup.
SUBJECT = "Late [/b] delivery [urgent]"
NOTICE = "Our specialist team takes over: they can decide on your refund directly."

# What each trigger command reads, from DESIGN.md: its help must show these and
# no other trigger's options.
TRIGGER_OPTIONS = {
    "assign": {"--assignee", "--team"},
    "escalate": {"--reason", "--point", "--notice", "--to-level"},
    "acknowledge": {"--assignee", "--note"},
    "de_escalate": {"--note", "--assignee"},
    "resolve": {"--note"},
    "follow_up": {"--satisfaction", "--comment"},
    "reopen": {"--note", "--assignee"},
    "wait_on_customer": {"--note"},
    "customer_replied": {"--note"},
}
ALL_TRIGGER_OPTIONS = set().union(*TRIGGER_OPTIONS.values())
COMMON_OPTIONS = {"--actor", "--expected-version", "--idempotency-key", "--at", "--json"}


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


def test_init_creates_the_database_and_names_the_process(cli: Cli):
    out = cli.ok("init")
    assert re.search(
        r"initialised sqlite:///.*tierflow\.db \(process "
        r"customer-escalation@2026\.11#[0-9a-f]{12}\)",
        out,
    )
    assert {"case", "case_event", "process_version"} <= set(cli.rows())
    assert cli.ok("init") == out  # safe to run again


def test_scenario_1_refund_above_authority(cli: Cli):
    cli.ok("init")
    opened = cli.json(
        "case",
        "open",
        "--customer",
        "CUST-800",
        "--subject",
        "Refund",
        "--description",
        "The parcel arrived broken.",
        "--amount",
        "800",
    )
    case_id = opened["case_id"]
    assert (opened["state"], opened["level"], opened["version"]) == ("open", None, 1)
    assert opened["events"][0]["type"] == "opened"
    assert opened["events"][0]["payload"]["amount_claimed_minor"] == 80_000
    assert (
        cli.ok("case", "assign", str(case_id), "--assignee", "ana", "--actor", "ana")
        == f"case {case_id}: assign -> first_level, version 2\n"
    )

    # The agent may settle up to EUR 200: refused, with the limit and who may resolve.
    error = cli.refused(
        "case", "resolve", str(case_id), "--note", "refund issued", "--actor", "ana"
    )
    assert "EUR 200.00" in error and "'L2'" in error and "EUR 800.00" in error
    shown = cli.show(case_id)["case"]
    assert (shown["state"], shown["version"], shown["resolved_at"]) == ("first_level", 2, None)

    error = cli.refused(
        "case", "escalate", str(case_id), "--reason", "refund above authority", "--actor", "ana"
    )
    assert "--notice" in error

    escalated = cli.json(
        "case",
        "escalate",
        str(case_id),
        "--reason",
        "refund above authority",
        "--notice",
        NOTICE,
        "--actor",
        "ana",
    )
    assert (escalated["state"], escalated["level"], escalated["version"]) == ("escalated", "L2", 3)
    payload = escalated["events"][0]["payload"]
    assert (payload["reason"], payload["notice"]) == ("refund above authority", NOTICE)
    assert escalated["events"][0]["actor"] == "ana"

    acknowledged = cli.json(
        "case", "acknowledge", str(case_id), "--assignee", "l2-team", "--actor", "lena"
    )
    assert (acknowledged["state"], acknowledged["level"]) == ("escalated", "L2")

    text = cli.ok("case", "show", str(case_id))
    for fragment in (
        "escalated / L2",
        "[acknowledged]",
        "l2-team",
        "timeline",
        "escalate",
        "refund above authority",
        "EUR 800.00",
        "CUST-800",
    ):
        assert fragment in text, fragment

    resolved = cli.json(
        "case", "resolve", str(case_id), "--note", "refund issued", "--actor", "lena"
    )
    assert (resolved["state"], resolved["level"], resolved["version"]) == ("resolved", None, 5)

    detail = cli.show(case_id)
    assert detail["case"]["state"] == "resolved"
    assert detail["case"]["resolved_level"] == "L2"
    assert detail["case"]["amount_claimed"] == "800.00"
    # Escalation points may add their own events (e.g. "flagged"); the trigger events
    # are these, in this order, by these actors.
    acts = [(e["type"], e["actor"]) for e in detail["timeline"] if e["type"] in TRIGGER_OPTIONS]
    assert acts == [
        ("assign", "ana"),
        ("escalate", "ana"),
        ("acknowledge", "lena"),
        ("resolve", "lena"),
    ]
    assert detail["timeline"][0]["type"] == "opened"
    assert f"verified: {len(detail['timeline'])} events" in cli.ok(
        "replay", str(case_id), "--verify"
    )


def test_every_other_trigger_end_to_end(cli: Cli):
    cli.ok("init")
    case_id = str(
        cli.json(
            "case",
            "open",
            "--customer",
            "CUST-1",
            "--subject",
            "Late delivery",
            "--priority",
            "high",
            "--channel",
            "phone",
            "--tier",
            "vip",
        )["case_id"]
    )
    steps = [
        (["assign", "--assignee", "ben", "--team", "billing"], "first_level", None),
        (["wait_on_customer", "--note", "asked for the receipt"], "first_level", None),
        (["customer_replied", "--note", "receipt received"], "first_level", None),
        (
            ["escalate", "--reason", "legal risk", "--notice", NOTICE, "--to-level", "manager"],
            "escalated",
            "manager",
        ),
        (
            ["de_escalate", "--note", "handled by billing after all", "--assignee", "ben"],
            "first_level",
            None,
        ),
        (["resolve", "--note", "delivery refunded"], "resolved", None),
        (["follow_up", "--satisfaction", "2", "--comment", "still broken"], "followed_up", None),
        (
            ["reopen", "--note", "customer says it is not fixed", "--assignee", "ben"],
            "first_level",
            None,
        ),
    ]
    for version, (args, state, level) in enumerate(steps, start=2):
        result = cli.json(
            "case",
            args[0],
            case_id,
            *args[1:],
            "--actor",
            "ben",
            "--expected-version",
            str(version - 1),
        )
        assert (result["state"], result["level"], result["version"]) == (state, level, version), (
            args
        )

    case = cli.show(int(case_id))["case"]
    assert (case["assignee"], case["team"], case["priority"], case["customer_tier"]) == (
        "ben",
        "billing",
        "high",
        "vip",
    )
    assert (case["waiting"], case["reopen_count"], case["satisfaction"]) == (False, 1, 2)
    # A stale expected version is refused and changes nothing.
    assert "version" in cli.refused(
        "case", "wait_on_customer", case_id, "--note", "x", "--expected-version", "3"
    )
    assert "verified: 9 events" in cli.ok("replay", case_id, "--verify")


def test_text_output_shows_customer_brackets_as_written(cli: Cli):
    cli.ok("init")
    cli.ok("case", "open", "--customer", "CUST-9", "--subject", SUBJECT)
    cli.ok("case", "assign", "1", "--assignee", "ana")
    cli.ok("case", "wait_on_customer", "1", "--note", "[bold]receipt[/bold] please")
    show, listed, replayed = cli.run_all(
        [["case", "show", "1"], ["case", "list"], ["replay", "1", "--verify"]]
    )
    for result in (show, listed, replayed):
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-800:]
    assert SUBJECT in show.stdout and SUBJECT in listed.stdout
    assert "first_level [waiting on customer]" in show.stdout
    assert "case 1: verified: 3 events" in replayed.stdout


def test_repeat_customers_show_in_the_pipeline_and_filter_by_flag(cli: Cli):
    cli.ok("init")
    for n in range(3):
        cli.ok("case", "open", "--customer", "CUST-7", "--subject", f"S{n}", "--ref", f"T-{n}")
    listed = cli.json("case", "list", "--flag", "repeat_customer")
    assert "T" in listed["cases"][0]["opened_at"]  # ISO 8601, as events carry times
    assert [(c["id"], c["team"], c["external_ref"]) for c in listed["cases"]] == [
        (3, "senior", "T-2")
    ]
    text = cli.ok("case", "list")
    assert "repeat_customer" in text and "senior" in text
    assert [c["id"] for c in cli.json("case", "list", "--ref", "T-1")["cases"]] == [2]
    assert "T-2" in cli.ok("case", "show", "3")
    assert "--flag" in cli.refused("case", "list", "--flag", "vip")


def test_demo_then_list_with_filters_and_verify_all(cli: Cli):
    assert "loaded 60 demo cases" in cli.ok("demo", "--cases", "60", "--seed", "1")

    listed = cli.json("case", "list", "--limit", "1000")
    cases = listed["cases"]
    assert listed["total"] == len(cases) == 60
    states = Counter(c["state"] for c in cases)
    # The demo's shares are a real desk's (tests/test_demo.py): most cases closed at first
    # level, a few escalated; the filters below need at least one of those.
    assert len(states) >= 3 and states["escalated"] >= 1, states

    level = Counter(c["level"] for c in cases if c["state"] == "escalated").most_common(1)[0][0]
    sample = next(c for c in cases if c["assignee"])
    who = ["--customer", sample["customer_id"], "--assignee", sample["assignee"]]
    escalated, at_level, narrowed, page, text, verified = cli.run_all(
        [
            ["case", "list", "--state", "escalated", "--limit", "1000", "--json"],
            ["case", "list", "--state", "escalated", "--level", level, "--json"],
            ["case", "list", *who, "--priority", sample["priority"], "--json"],
            ["case", "list", "--limit", "5", "--offset", "10", "--json"],
            ["case", "list", "--state", "followed_up"],
            ["replay", "--all", "--verify"],
        ]
    )
    for result in (escalated, at_level, narrowed, page, text, verified):
        assert result.returncode == 0, result.stderr

    escalated = json.loads(escalated.stdout)
    assert escalated["total"] == states["escalated"] == len(escalated["cases"])
    assert {c["state"] for c in escalated["cases"]} == {"escalated"}

    at_level = json.loads(at_level.stdout)
    assert at_level["total"] == sum(
        1 for c in cases if (c["state"], c["level"]) == ("escalated", level)
    )
    assert {(c["state"], c["level"]) for c in at_level["cases"]} == {("escalated", level)}

    narrowed = json.loads(narrowed.stdout)
    assert sample["id"] in [c["id"] for c in narrowed["cases"]]
    assert all(
        (c["customer_id"], c["assignee"], c["priority"])
        == (sample["customer_id"], sample["assignee"], sample["priority"])
        for c in narrowed["cases"]
    )

    page = json.loads(page.stdout)
    assert [c["id"] for c in page["cases"]] == [c["id"] for c in cases[10:15]]
    assert page["total"] == 60

    assert f"of {states['followed_up']} cases" in text.stdout
    assert "followed_up" in text.stdout
    assert "60 of 60 cases verified" in verified.stdout


def test_tampered_event_fails_verification_naming_the_event(cli: Cli):
    cli.ok("init")
    for customer in ("CUST-1", "CUST-2"):
        case_id = cli.json("case", "open", "--customer", customer, "--subject", "S")["case_id"]
        cli.ok("case", "assign", str(case_id), "--assignee", "ana")
    assert "case 1: verified" in cli.ok("replay", "1", "--verify")

    cli.tamper(
        "UPDATE case_event SET payload = ? WHERE case_id = 1 AND seq = 2",
        json.dumps({"assignee": "mallory"}),
    )
    single, as_json, everything = cli.run_all(
        [
            ["replay", "1", "--verify"],
            ["replay", "1", "--verify", "--json"],
            ["replay", "--all", "--verify"],
        ]
    )
    assert single.returncode == 1, single.stdout
    assert "case 1: NOT VERIFIED: event #2 (assign) was altered" in single.stdout
    assert "Traceback" not in single.stderr

    assert as_json.returncode == 1
    checked = json.loads(as_json.stdout)
    assert checked["verified"] is False
    assert any("event #2" in problem for problem in checked["problems"])

    assert everything.returncode == 1
    assert "1 of 2 cases verified, 1 NOT verified" in everything.stdout
    assert "case 1: NOT VERIFIED" in everything.stdout and "case 2" not in everything.stdout

    # An edit that removes a field the replay needs is reported too, not a crash.
    cli.tamper("UPDATE case_event SET payload = '{}' WHERE case_id = 2 AND seq = 2")
    single, everything = cli.run_all([["replay", "2", "--verify"], ["replay", "--all", "--verify"]])
    for result in (single, everything):
        assert "Traceback" not in result.stderr, result.stderr[-1500:]
        assert result.returncode == 1
        assert "event #2" in result.stdout + result.stderr
    assert "0 of 2 cases verified" in everything.stdout


BAD_INPUTS = [
    ("unknown case id", ["case", "show", "999"], ["999", "not found"]),
    (
        "case id no database holds",
        ["case", "show", "99999999999999999999"],
        ["invalid ID '99999999999999999999'", "from 1 to 2147483647"],
    ),
    (
        "replay of such an id",
        ["replay", "99999999999999999999", "--verify"],
        ["invalid ID '99999999999999999999'", "from 1 to 2147483647"],
    ),
    (
        "amount too large to store",
        ["case", "open", "--customer", "C2", "--subject", "S", "--amount", "99999999999999999999"],
        ["--amount", "at most 999,999,999,999.99"],
    ),
    (
        "reference another case has",
        ["case", "open", "--customer", "C2", "--subject", "S", "--ref", "T-1"],
        ["--ref", "'T-1'", "case 1 has it"],
    ),
    ("act on unknown case", ["case", "assign", "999", "--assignee", "bob"], ["999"]),
    (
        "bad priority",
        ["case", "open", "--customer", "C2", "--subject", "S", "--priority", "asap"],
        ["asap", "low, normal, high, urgent"],
    ),
    (
        "bad amount",
        ["case", "open", "--customer", "C2", "--subject", "S", "--amount", "abc"],
        ["'abc'", "800.50"],
    ),
    (
        "satisfaction 9",
        ["case", "follow_up", "1", "--satisfaction", "9"],
        ["satisfaction", "1 to 5"],
    ),
    (
        "unknown state filter",
        ["case", "list", "--state", "closed"],
        ["closed", "open, first_level, escalated, resolved, followed_up"],
    ),
    (
        "unknown priority filter",
        ["case", "list", "--priority", "asap"],
        ["asap", "low, normal, high, urgent"],
    ),
    (
        "unknown level",
        ["case", "escalate", "1", "--reason", "r", "--notice", "n", "--to-level", "ceo"],
        ["ceo", "L2, manager, board"],
    ),
    ("trigger not allowed", ["case", "follow_up", "1"], ["first_level", "allowed"]),
    ("missing required option", ["case", "open", "--subject", "S"], ["--customer"]),
    (
        "id that is not a number",
        ["case", "resolve", "one", "--note", "x"],
        ["invalid ID 'one'", "a whole number"],
    ),
    ("unknown option", ["case", "resolve", "1", "--satisfaction", "3"], ["--satisfaction"]),
    ("unknown command", ["case", "close", "1"], ["close"]),
    ("unknown top-level command", ["frobnicate"], ["frobnicate"]),
]


def test_bad_input_is_one_error_line_and_writes_nothing(cli: Cli, subtests):
    cli.ok("init")
    cli.ok("case", "open", "--customer", "C1", "--subject", "S", "--amount", "800", "--ref", "T-1")
    cli.ok("case", "assign", "1", "--assignee", "ana")
    before = cli.rows()
    results = cli.run_all([args for _, args, _ in BAD_INPUTS])
    for (name, _, fragments), result in zip(BAD_INPUTS, results, strict=True):
        with subtests.test(name):
            error = error_line(result)
            for fragment in fragments:
                assert fragment in error, f"{fragment!r} not in {error!r}"
    assert cli.rows() == before
    assert cli.show(1)["case"]["version"] == 2


def test_ops_process_file_replaces_the_default_and_bad_files_are_one_line(cli: Cli, tmp_path: Path):
    from states.process import default_process_path

    ops = tmp_path / "ops-process.toml"
    ops.write_text(
        default_process_path().read_text().replace('version = "2026.11"', 'version = "ops-1"'),
        encoding="utf-8",
    )
    assert "(process customer-escalation@ops-1#" in cli.ok("--process", str(ops), "init")

    ops.write_text(ops.read_text().replace('initial = "open"', 'initial = "new"'))
    error = cli.refused("--process", str(ops), "init")
    assert f"{ops}:" in error and "initial" in error and "'new'" in error
    ops.write_text("format = 1\nname = \n")
    assert f"{ops}:2: (syntax)" in cli.refused("--process", str(ops), "init")


def test_help_for_the_app_the_case_group_and_every_trigger(cli: Cli, subtests):
    top, group, *helps = cli.run_all(
        [["--help"], ["case", "--help"], *(["case", t, "--help"] for t in TRIGGER_OPTIONS)]
    )
    assert top.returncode == group.returncode == 0, top.stderr + group.stderr
    for command in ("init", "demo", "replay", "case"):
        assert re.search(rf"^\s+{command}\s", top.stdout, re.MULTILINE), command
    for command in ("open", "show", "list", *TRIGGER_OPTIONS):
        assert re.search(rf"^\s+{command}\s", group.stdout, re.MULTILINE), command

    for (trigger, wanted), result in zip(TRIGGER_OPTIONS.items(), helps, strict=True):
        with subtests.test(trigger):
            assert result.returncode == 0, result.stderr
            text = result.stdout
            assert f"Usage: tierflow case {trigger}" in text
            shown = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))
            assert wanted | COMMON_OPTIONS <= shown, sorted(wanted - shown)
            assert not (ALL_TRIGGER_OPTIONS - wanted) & shown, sorted(
                (ALL_TRIGGER_OPTIONS - wanted) & shown
            )
    assert cli.rows() == {}  # help touches no database


def test_sla_commands_update_clocks_sweep_deliver_and_check(cli: Cli):
    """The SLA side of the CLI on one case logged ten days late: escalation by a later
    message, the clock ledger, a sweep, delivery to the outbox file, and `check`."""
    cli.ok("init")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
    opened = cli.json(
        "case", "open", "--customer", "C-9", "--subject", "Invoice", "--priority", "high",
        "--at", start.isoformat(),
    )  # fmt: skip
    case_id = str(opened["case_id"])
    cli.ok(
        "case",
        "assign",
        case_id,
        "--assignee",
        "ana",
        "--at",
        f"{start + timedelta(minutes=5):%Y-%m-%dT%H:%M:%SZ}",
    )
    updated = cli.json(
        "case", "update", case_id, "--message", "My lawyer will call you.",
        "--at", (start + timedelta(minutes=10)).isoformat(),
    )  # fmt: skip
    assert (updated["state"], updated["level"]) == ("escalated", "manager")
    assert [e["type"] for e in updated["events"]] == ["updated", "flagged", "escalate"]
    ledger = cli.json("case", "clocks", case_id, "--at", (start + timedelta(hours=1)).isoformat())
    clocks = {c["clock"]: c for c in ledger["clocks"]}
    assert clocks["acknowledge"]["status"] == "running"
    assert clocks["acknowledge"]["source"] == "targets.acknowledge.manager"
    assert "deadline" in clocks["acknowledge"]["explanation"]
    assert "acknowledge (#1, manager): running" in cli.ok(
        "case", "clocks", case_id, "--at", (start + timedelta(hours=1)).isoformat()
    )
    later = cli.ok("case", "clocks", case_id)
    assert "2 overdue, 1 running (missed: " in later  # past the deadlines, not swept yet
    shown = cli.ok("case", "show", case_id)
    assert "at level since" in shown and "(the level's queue)" in shown
    swept = cli.json("sweep")
    assert swept["fired"] >= 2 and swept["lost"] == 0
    assert cli.json("sweep")["claimed"] == 0
    delivered = cli.json("notify", "deliver")
    outbox = (cli.home / "outbox.jsonl").read_text().splitlines()
    assert delivered["sent"] == len(outbox) >= swept["notifications"]
    assert any(json.loads(line)["kind"] == "customer_notice" for line in outbox)
    assert cli.json("notify", "deliver")["sent"] == 0
    other = str(cli.json("case", "open", "--customer", "C-8", "--subject", "Refund")["case_id"])
    cli.json("case", "escalate", other, "--reason", "refund", "--notice", "n")
    printed = cli.run("notify", "deliver", "--sink", "console", "--json")
    assert json.loads(printed.stdout)["sent"] >= 1  # the report alone: messages on stderr
    assert "[escalated case" in printed.stderr
    checked = cli.ok("check")
    assert "process customer-escalation@" in checked and "policy default-sla@" in checked
    assert "no UTC offset" in cli.refused("sweep", "--at", "2030-01-01T00:00:00")
    assert "not one of file, console, smtp" in cli.refused("notify", "deliver", "--sink", "fax")
    assert "verified" in cli.ok("replay", case_id, "--verify")
    ledger = cli.ok("case", "clocks", case_id)
    summary = next(line for line in ledger.splitlines() if line.startswith("deadlines: "))
    assert "breached" in summary and "late" in summary and "overdue" not in summary


def test_the_cli_starts_without_importing_prefect():
    """Every CLI call pays for what `flows.cli` imports; Prefect alone costs ~2 s, so
    only the commands that run flows import it, when they run."""
    code = "import sys, flows.cli; print('prefect' in sys.modules)"
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert shown == "False"


# What only a process shows. Each call below runs as a real `tierflow` process; its exit
# status and both streams must be the in-process call's, byte for byte, which is what lets
# the stories above run in-process.
PROCESS_CALLS = [
    (["--help"], 0),
    (["replay", "1"], 0),  # a table: the width a piped process prints at
    (["frobnicate"], 2),  # a usage error, from click
    (["case", "show", "999"], 1),  # a TierflowError, from the domain
    (["replay", "--all", "--verify"], 1),  # a report on stdout and a failing status
]


@pytest.mark.slow  # real processes, each about a second
def test_a_command_that_wrote_a_lot_leaves_no_log_beside_the_database(tmp_path: Path) -> None:
    """The command closes its engine: the last connection folds SQLite's log into the
    file and removes it (a process that only ended left `tierflow demo`'s 40 MB log)."""
    process = ProcessCli(tmp_path / "home")
    process.ok("init")
    process.ok("demo", "--cases", "300")
    assert sorted(p.name for p in (tmp_path / "home").iterdir() if "tierflow.db" in p.name) == [
        "tierflow.db"
    ]
    assert "300 of 300 cases verified" in process.ok("audit", "verify", "--no-anchor")


@pytest.mark.slow  # real processes, each about a second
def test_a_real_process_exits_and_prints_what_the_in_process_call_does(tmp_path: Path, subtests):
    process, in_process = ProcessCli(tmp_path / "home"), Cli(tmp_path / "home")
    in_process.ok("init")
    process.ok("case", "open", "--customer", "C1", "--subject", SUBJECT, "--amount", "800")
    in_process.ok("case", "open", "--customer", "C2", "--subject", "S")
    in_process.tamper("UPDATE case_event SET actor = 'mallory' WHERE case_id = 2 AND seq = 1")
    results = process.run_all([args for args, _ in PROCESS_CALLS])
    for (args, status), result in zip(PROCESS_CALLS, results, strict=True):
        with subtests.test(" ".join(args)):
            assert result.returncode == status, result.stderr[-2000:]
            assert "Traceback" not in result.stderr
            if status and not result.stdout:
                error_line(result)
            same = in_process.run(*args)
            assert (same.returncode, same.stdout, same.stderr) == (
                result.returncode,
                result.stdout,
                result.stderr,
            )
