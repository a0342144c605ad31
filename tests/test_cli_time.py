"""Event time at the command line: `--at` says when something happened (clocks run on it),
the timeline shows when it happened and when it was recorded, and an instant in the
future, before the case's last event or unreadable is one error line, nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.clirun import Cli, error_line


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path / "home")


def test_a_call_logged_later_keeps_when_it_happened_and_when_it_was_recorded(cli: Cli):
    cli.ok("init")
    happened = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # Monday 09:00 in Brussels
    cli.ok("case", "open", "--customer", "C1", "--subject", "S", "--at", happened.isoformat())
    assigned = cli.json(
        "case", "assign", "1", "--assignee", "ana", "--at", "2026-11-16T09:30:00+01:00"
    )
    event = assigned["events"][0]
    assert event["occurred_at"] == "2026-11-16T08:30:00+00:00"
    recorded = datetime.fromisoformat(event["recorded_at"])
    assert abs(recorded - datetime.now(UTC)) < timedelta(minutes=1)
    shown = cli.show(1)
    assert [e["occurred_at"] for e in shown["timeline"]] == [
        "2026-11-16T08:00:00+00:00",
        "2026-11-16T08:30:00+00:00",
    ]
    assert all(e["recorded_at"] and e["format"] == 4 for e in shown["timeline"])
    first_response = shown["case"]["clocks"]["first_response"]  # ran on when it happened
    assert (first_response["consumed_s"], first_response["outcome"]) == (1800, "met")
    text = cli.ok("case", "show", "1")
    assert "happened (UTC)" in text and "2026-11-16 08:30:00" in text
    assert "recorded" in text and f"{recorded:%H:%M:%S}" in text  # the details may wrap
    assert "verified" in cli.ok("replay", "1", "--verify")


def test_a_time_before_the_last_event_or_in_the_future_is_refused_naming_what_is_allowed(
    cli: Cli,
):
    cli.ok("init")
    cli.ok("case", "open", "--customer", "C1", "--subject", "S", "--at", "2026-11-16T08:00:00Z")
    early = "2026-11-13T08:00:00Z"
    before_open = cli.refused("case", "assign", "1", "--assignee", "ana", "--at", early)
    assert f"invalid --at {early!r}" in before_open
    assert "earliest allowed: 2026-11-16T08:00:00+00:00" in before_open
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    future = cli.refused("case", "update", "1", "--message", "hello", "--at", ahead)
    assert "invalid --at" in future and "not in the future" in future
    skewed = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()
    assert cli.json("case", "update", "1", "--message", "hi", "--at", skewed)["version"] == 2
    # without --at, the clock's time is what came before that event: said so, not blamed
    # on an --at nobody gave
    clock = cli.refused("case", "update", "1", "--message", "and again")
    assert clock.startswith("error: invalid now '") and "--at" not in clock
    assert "the clock is before case 1's last event" in clock


def test_a_time_before_the_last_event_is_refused_as_typed_naming_the_option(cli: Cli):
    """The refusal named the engine's argument (`at`) and both times in UTC: typed in
    +05:30, the operator read an instant they never wrote."""
    cli.ok("init")
    cli.ok("case", "open", "--customer", "C1", "--subject", "S", "--at", "2026-11-16T08:00:00Z")
    for typed, earliest in (
        ("2026-11-16T10:00:00+05:30", "2026-11-16T13:30:00+05:30"),
        ("2026-11-16T04:00:00-03:00", "2026-11-16T05:00:00-03:00"),
        ("2026-11-16T07:59:59Z", "2026-11-16T08:00:00+00:00"),
    ):
        line = cli.refused("case", "assign", "1", "--assignee", "ana", "--at", typed)
        assert line == (
            f"error: invalid --at {typed!r}: not before case 1's last event; "
            f"earliest allowed: {earliest}"
        )
    assert cli.show(1)["case"]["version"] == 1


def test_an_expected_version_the_case_never_had_is_not_called_a_concurrent_change(cli: Cli):
    cli.ok("init")
    cli.ok("case", "open", "--customer", "C1", "--subject", "S")
    ahead = cli.refused("case", "assign", "1", "--assignee", "a", "--expected-version", "5")
    assert ahead.endswith("case 1 has not reached that version: expected version 5, found 1")
    cli.ok("case", "assign", "1", "--assignee", "a", "--expected-version", "1")
    stale = cli.refused("case", "assign", "1", "--assignee", "b", "--expected-version", "1")
    assert stale.endswith("changed since that version was read: expected version 1, found 2")


BAD_INSTANTS = [
    ["sweep", "--at", "2099-01-01T00:00:00+00:00"],
    ["sweep", "--at", "0001-01-01T00:00:00+00:00"],
    ["case", "clocks", "1", "--at", "9999-12-31T23:59:59+00:00"],
    ["case", "clocks", "1", "--at", "0001-01-01T00:00:00+01:00"],
    ["sweep", "--at", "next tuesday"],
    ["sweep", "--at", "2026-11-23T09:00:00"],
    ["case", "resolve", "1", "--note", "n", "--at", "2026-13-01T00:00:00Z"],
    ["case", "open", "--customer", "C", "--subject", "S", "--at", "2199-01-01T00:00:00Z"],
]


def test_instants_out_of_range_or_unreadable_are_one_line_naming_the_option(cli: Cli):
    cli.ok("init")
    cli.ok("case", "open", "--customer", "C1", "--subject", "S", "--priority", "urgent")
    before = cli.rows()
    for args, result in zip(BAD_INSTANTS, cli.run_all(BAD_INSTANTS), strict=True):
        line = error_line(result)
        assert f"invalid --at '{args[-1]}'" in line, line
        assert ("ISO 8601" in line) or ("a time from 1970-01-01T00:00:00+00:00" in line), line
    assert cli.rows() == before
    with_offset = cli.refused("sweep", "--at", "2026-11-23T09:00:00")
    assert "no UTC offset" in with_offset and "2026-11-23T09:00:00+00:00" in with_offset
