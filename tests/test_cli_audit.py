"""`tierflow audit case|snapshot|verify|anchor|key`: what an auditor types, one story
per test, through the real entry point (in-process, :mod:`tests.clirun`)."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.clirun import Cli, error_line

NOTICE = "Our specialist team takes over."


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = Cli(tmp_path)
    cli.ok("init")
    return cli


def at(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def test_a_case_and_the_pipeline_read_as_they_stood(cli: Cli) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    case = cli.json("case", "open", "--customer", "C1", "--subject", "s", "--at", at(start))
    number = str(case["case_id"])
    cli.ok("case", "assign", number, "--assignee", "bob", "--at", at(start + timedelta(hours=1)))
    cli.ok(
        *("case", "escalate", number, "--reason", "legal risk", "--notice", NOTICE),
        *("--at", at(start + timedelta(hours=2))),
    )
    before, middle, now = (
        cli.json("audit", "case", number, "--at", at(start + timedelta(minutes=30))),
        cli.json("audit", "case", number, "--at", at(start + timedelta(minutes=90))),
        cli.json("audit", "case", number),
    )
    assert (before["state"], before["assignee"], before["events"]) == ("open", None, 1)
    assert (middle["state"], middle["assignee"]) == ("first_level", "bob")
    assert (now["state"], now["level"], now["events_after"]) == ("escalated", "L2", 0)
    assert {c["clock"] for c in middle["clocks"]} >= {"first_response", "resolution"}
    snapshot = cli.json("audit", "snapshot", "--at", at(start + timedelta(minutes=90)))
    assert snapshot["counts"] == [{"state": "first_level", "level": None, "cases": 1}]
    text = cli.ok("audit", "case", number, "--at", at(start + timedelta(minutes=90)))
    assert f"case {number} as it stood at" in text and "assignee: bob" in text
    assert "pipeline as it stood at" in cli.ok("audit", "snapshot", "--horizon", "PT8H")
    refusals = [
        error_line(cli.run("audit", "case", number, "--at", at(start - timedelta(days=1)))),
        error_line(cli.run("audit", "case", "99", "--at", at(start))),
        error_line(cli.run("audit", "snapshot", "--at", "yesterday")),
        error_line(cli.run("audit", "snapshot", "--horizon", "P1M")),
    ]
    assert "was opened at" in refusals[0] and "case 99 not found" in refusals[1]
    assert "invalid --at 'yesterday'" in refusals[2] and "--horizon" in refusals[3]


def test_verify_names_the_first_broken_event_and_anchors_catch_a_resealed_chain(
    cli: Cli,
) -> None:
    for customer in ("C1", "C2"):
        cli.ok("case", "open", "--customer", customer, "--subject", "s")
    assert "no anchor yet" in cli.ok("audit", "verify")
    anchored = cli.json("audit", "anchor")
    assert (anchored["cases"], anchored["line"]) == (2, 1)
    assert "unchanged" in cli.ok("audit", "verify")
    cli.tamper("UPDATE case_event SET actor = 'mallory' WHERE case_id = 2 AND seq = 1")
    broken = cli.run("audit", "verify", "--json")
    assert broken.returncode == 1
    assert '"seq": 1' in broken.stdout and '"case_id": 2' in broken.stdout
    text = cli.run("audit", "verify", "--case", "2").stdout
    assert "NOT VERIFIED: case 2: first broken event #1: expected content sealed as" in text
    refused = cli.run("audit", "anchor")  # the report on stdout, then one error line
    assert refused.returncode == 1 and "1 NOT verified" in refused.stdout
    assert refused.stderr.startswith("error: nothing anchored: the history does not verify")
    cli.env["TIERFLOW_AUDIT_KEY"] = "w" * 40
    wrong = cli.run("audit", "verify", "--case", "1")
    assert wrong.returncode == 1 and "ANCHOR: wrong audit key" in wrong.stdout
    del cli.env["TIERFLOW_AUDIT_KEY"]
    os.chmod(cli.home / "audit.key", 0o644)
    assert "has mode 0644: others may read" in error_line(cli.run("audit", "verify"))
    assert "exists already" in error_line(cli.run("audit", "key"))


def test_a_damaged_index_page_fails_the_audit_though_every_history_verifies(cli: Cli):
    """Bytes overwritten in an index page (a disk fault, an edit of the file): every
    case's history still verified and `audit verify` exited 0, while the index a count
    reads from was damaged. Verifying everything also asks SQLite's structure check."""
    for n in range(30):
        cli.ok("case", "open", "--customer", f"C{n}", "--subject", "Refund")
    clean = cli.json("audit", "verify", "--no-anchor")
    assert clean["storage"] == {"checked": True, "problems": []}
    path = cli.home / "tierflow.db"
    with sqlite3.connect(path) as conn:
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'ix_case_assignee'"
        ).fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as file:
        file.seek(root * size - 200)  # the page's cells (at its end)
        file.write(b"\xff" * 200)
    result = cli.run("audit", "verify", "--no-anchor")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "30 of 30 cases verified" in result.stdout
    assert f"STORAGE: On tree page {root}" in result.stdout
