"""Import of external event logs (XES, CSV): history as it happened, verifiable, idempotent."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine as SAEngine
from sqlalchemy import func, select, text

from flows.cli.audit_import import summary
from states.audit import verify_case
from states.errors import InvalidInput, MappingError, StoreError
from states.eventlog import LogFilter
from states.importer import import_log
from states.logexport import export_log
from states.mapping import default_mapping_path, load_mapping, parse_mapping
from states.outbox import NOTIFICATION
from states.policy import load_policy
from states.process import ProcessDefinition
from states.store import CASE, EVENT, init_schema, load_events, read_connection
from states.tables import SCHEMA_VERSION
from tests.clirun import Cli, error_line
from tests.conftest import sqlite_db

BPIC = Path("/work/shared/data/bpic2013_incidents.xes.gz")
T0 = datetime(2012, 3, 5, 9, 0, tzinfo=UTC)  # a Monday

MAPPING = """
format = 1
name = "test"
version = "1"

[source]
case_id = "concept:name"
activity = "concept:name"
timestamp = "time:timestamp"
resource = "org:resource"
team = "org:group"

[case]
priority = "impact"
[case.priorities]
Low = "low"
High = "high"

[[rules]]
level = "first_level"
[[rules]]
when.team.ends_with = " 2nd"
level = "L2"
[[rules]]
when.team.ends_with = " 3rd"
level = "manager"
[[rules]]
when.activity = "Work"
state = "first_level"
acknowledge = true
waiting = false
[[rules]]
when.activity = "Wait - Customer"
state = "first_level"
waiting = true
[[rules]]
when.activity = "Queued"
assignee = "none"
[[rules]]
when.activity = "Resolved"
state = "resolved"
[[rules]]
when.activity = "Closed"
state = "followed_up"
[[rules]]
when.activity = "Note"
annotate = true
"""


def csv_mapping(*, customer_column: str | None = None, timezone: str | None = None) -> str:
    """MAPPING for a CSV file with the columns case, concept:name, group and when (and
    `customer_column`): a mapping may name only columns the file has."""
    text = MAPPING.replace('team = "org:group"', 'team = "group"')
    text = text.replace('resource = "org:resource"\n', "")
    text = text.replace(
        'priority = "impact"', f'customer_id = "{customer_column}"' if customer_column else ""
    )
    if timezone:
        text = text.replace('team = "group"', f'team = "group"\ntimezone = "{timezone}"')
    text = text.replace('timestamp = "time:timestamp"', 'timestamp = "when"')
    return text.replace('case_id = "concept:name"', 'case_id = "case"')


def xes(cases: dict[str, list[tuple[str, str, datetime]]], impact: str = "Low") -> str:
    """An XES log: per case, (activity, group, time) events in the order given."""
    traces = []
    for ref, events in cases.items():
        body = "".join(
            f'<event><string key="concept:name" value="{activity}"/>'
            f'<string key="org:group" value="{group}"/>'
            f'<string key="org:resource" value="r{i}"/>'
            f'<string key="impact" value="{impact}"/>'
            f'<date key="time:timestamp" value="{at.isoformat()}"/></event>'
            for i, (activity, group, at) in enumerate(events)
        )
        traces.append(f'<trace><string key="concept:name" value="{ref}"/>{body}</trace>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0" '
        f'xmlns="http://www.xes-standard.org/">{"".join(traces)}</log>'
    )


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


@pytest.fixture
def mapping(definition: ProcessDefinition):
    return parse_mapping(MAPPING, definition)


def run_import(db: SAEngine, path: Path, mapping, definition: ProcessDefinition):
    return import_log(db, path, mapping, definition, load_policy(None, definition))


def imported(db: SAEngine, ref: str) -> tuple[int, list]:
    with read_connection(db) as conn:
        case_id = conn.execute(select(CASE.c.id).where(CASE.c.external_ref == ref)).scalar_one()
        return case_id, load_events(conn, case_id)


def test_events_are_applied_in_time_order_whatever_the_file_order_and_verify(
    db: SAEngine, tmp_path: Path, mapping, definition
):
    log = tmp_path / "log.xes"
    log.write_text(
        xes(
            {
                "SR-1": [
                    ("Resolved", "V 2nd", hours(5)),
                    ("Work", "G1", hours(1)),
                    ("Queued", "V 2nd", hours(2)),
                    ("Work", "V 2nd", hours(3)),
                ]
            }
        )
    )
    report = run_import(db, log, mapping, definition)
    assert (report.imported, report.events) == (1, 4)
    case_id, events = imported(db, "SR-1")
    assert [e.payload.get("activity") for e in events[1:]] == ["Work", "Queued", "Work", "Resolved"]
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
    assert events[0].occurred_at == hours(1)
    assert [e.payload.get("effects") for e in events[1:]] == [
        ["assign"],
        ["escalate"],
        ["acknowledge"],
        ["resolve"],
    ]
    assert events[4].payload["resolved_level"] == "L2"
    with read_connection(db) as conn:
        check = verify_case(conn, case_id)
        row = conn.execute(select(CASE).where(CASE.c.id == case_id)).one()
    assert check.ok, check.problems
    assert (row.state, row.resolved_level, row.escalation_count) == ("resolved", "L2", 1)
    assert row.resolved_at == hours(5)
    # exported, each imported event is its source's activity, as a mining tool reads it
    with read_connection(db) as conn:
        export_log(conn, definition, LogFilter(), "csv", tmp_path / "back.csv")
    with open(tmp_path / "back.csv", encoding="utf-8", newline="") as handle:
        activities = [row["activity"] for row in csv.DictReader(handle)]
    assert activities == ["opened", "Work", "Queued", "Work", "Resolved"]


def test_broken_processes_are_recorded_with_each_deviation_marked(
    sqlite: SAEngine, tmp_path: Path, mapping, definition
):
    log = tmp_path / "log.xes"
    log.write_text(
        xes(
            {
                "twice": [
                    ("Work", "G1", hours(0)),
                    ("Resolved", "G1", hours(1)),
                    ("Resolved", "G1", hours(2)),
                ],
                "skip": [
                    ("Work", "G1", hours(0)),
                    ("Work", "V 3rd", hours(1)),
                    ("Resolved", "V 3rd", hours(2)),
                ],
                "closed": [("Work", "G1", hours(0)), ("Closed", "G1", hours(1))],
                "down": [
                    ("Queued", "V 3rd", hours(0)),
                    ("Work", "V 3rd", hours(1)),
                    ("Work", "V 2nd", hours(2)),
                ],
                "unack": [("Queued", "V 2nd", hours(0)), ("Resolved", "V 2nd", hours(1))],
            }
        )
    )
    report = run_import(sqlite, log, mapping, definition)
    assert report.imported == 5 and not report.conflicts
    marks = {}
    for ref in ("twice", "skip", "closed", "down", "unack"):
        case_id, events = imported(sqlite, ref)
        marks[ref] = [
            (e.seq, d["kind"], d["trigger"])
            for e in events
            for d in e.payload.get("deviations", ())
        ]
        with read_connection(sqlite) as conn:
            assert verify_case(conn, case_id).ok
    assert marks == {
        "twice": [(4, "disallowed_transition", "resolve")],
        "skip": [(3, "skipped_level", "escalate")],
        "closed": [(3, "disallowed_transition", "follow_up")],
        "down": [(2, "skipped_level", "escalate"), (4, "disallowed_transition", "de_escalate")],
        "unack": [(3, "resolved_unacknowledged", "resolve")],
    }
    assert report.deviations == {
        "disallowed_transition": 3,
        "skipped_level": 2,
        "resolved_unacknowledged": 1,
    }
    _, twice = imported(sqlite, "twice")
    assert twice[-1].to_state == "resolved" and twice[-1].payload["effects"] == ["resolve"]


def test_annotations_unmapped_values_and_suppressed_notices(
    sqlite: SAEngine, tmp_path: Path, mapping, definition
):
    log = tmp_path / "log.xes"
    log.write_text(
        xes(
            {
                "SR-9": [
                    ("Work", "G1", hours(0)),
                    ("Note", "G1", hours(1)),
                    ("Mystery", "G1", hours(2)),
                    ("Mystery", "G1", hours(3)),
                    ("Queued", "V 2nd", hours(4)),
                ]
            },
            impact="Odd",
        )
    )
    report = run_import(sqlite, log, mapping, definition)
    assert report.unmapped == {"Mystery": 2}
    assert report.unmapped_values == {"impact=Odd": 5}
    assert report.annotations == 3  # the note and the two unmapped events change nothing
    case_id, events = imported(sqlite, "SR-9")
    assert [bool(e.payload.get("annotation")) for e in events[1:]] == [
        False,
        True,
        True,
        True,
        False,
    ]
    with read_connection(sqlite) as conn:
        notes = conn.execute(select(NOTIFICATION).where(NOTIFICATION.c.case_id == case_id)).all()
    recipients = load_policy(None, definition).recipients["L2"]
    assert {(n.status, n.kind, n.recipient) for n in notes} == {
        ("suppressed", "escalated", r) for r in recipients
    }
    assert all(n.due_at == hours(4) and n.sent_at is None for n in notes)


def test_reimporting_the_same_file_changes_nothing_and_a_taken_reference_is_reported(
    sqlite: SAEngine, tmp_path: Path, mapping, definition
):
    log = tmp_path / "log.xes.gz"
    with gzip.open(log, "wt") as handle:
        handle.write(xes({"A": [("Work", "G1", hours(0))], "B": [("Work", "G1", hours(1))]}))
    first = run_import(sqlite, log, mapping, definition)
    before = counts(sqlite)
    again = run_import(sqlite, log, mapping, definition)
    assert (first.imported, again.imported, again.unchanged, again.events) == (2, 0, 2, 0)
    assert counts(sqlite) == before
    times = [line for line in summary(again) if line.startswith("time:")]
    assert len(times) == 1 and "events/s" not in times[0]
    assert "events/s" in next(line for line in summary(first) if line.startswith("time:"))
    other = tmp_path / "other.xes"
    other.write_text(xes({"A": [("Resolved", "G1", hours(2))], "C": [("Work", "G1", hours(0))]}))
    third = run_import(sqlite, other, mapping, definition)
    case_a, _ = imported(sqlite, "A")
    assert third.conflicts == {"A": case_a} and third.imported == 1


def counts(db: SAEngine) -> tuple[int, int, int]:
    with read_connection(db) as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (CASE, EVENT, NOTIFICATION)
        )  # type: ignore[return-value]


def test_csv_with_local_times_imports_like_xes(sqlite: SAEngine, tmp_path: Path, definition):
    mapping = parse_mapping(csv_mapping(timezone="Europe/Brussels"), definition)
    log = tmp_path / "log.csv"
    log.write_text(
        "case,concept:name,group,when\n"
        "X,Resolved,G1,2012-03-05 12:00:00\n"
        "Y,Work,G1,2012-03-05 10:00:00\n"
        "X,Work,G1,2012-03-05 10:00:00\n"
    )
    report = run_import(sqlite, log, mapping, definition)
    assert (report.cases, report.events) == (2, 3)
    case_id, events = imported(sqlite, "X")
    assert [e.occurred_at for e in events[1:]] == [
        datetime(2012, 3, 5, 9, tzinfo=UTC),
        datetime(2012, 3, 5, 11, tzinfo=UTC),
    ]  # Brussels is UTC+1 in March
    with read_connection(sqlite) as conn:
        assert verify_case(conn, case_id).ok


def test_fractions_of_a_second_order_the_events_and_are_then_cut(
    sqlite: SAEngine, tmp_path: Path, definition
):
    """Every event is kept to the whole second; imported ones kept their fractions (and
    their recording time its microseconds)."""
    text = csv_mapping()
    log = tmp_path / "log.csv"
    log.write_text(
        "case,concept:name,group,when\n"
        "X,Resolved,G1,2012-03-05T10:00:00.999+00:00\n"
        "X,Work,G1,2012-03-05T10:00:00.1+00:00\n"
    )
    run_import(sqlite, log, parse_mapping(text, definition), definition)
    case_id, events = imported(sqlite, "X")
    assert [(e.type, e.occurred_at) for e in events] == [
        ("opened", datetime(2012, 3, 5, 10, tzinfo=UTC)),
        ("imported", datetime(2012, 3, 5, 10, tzinfo=UTC)),  # Work, the earlier, first
        ("imported", datetime(2012, 3, 5, 10, tzinfo=UTC)),
    ]
    assert [e.payload.get("activity") for e in events[1:]] == ["Work", "Resolved"]
    assert all(e.recorded_at.microsecond == 0 for e in events)
    with read_connection(sqlite) as conn:
        assert verify_case(conn, case_id).ok


def test_a_mapping_that_names_columns_the_csv_file_lacks_is_refused_naming_each(
    sqlite: SAEngine, tmp_path: Path, definition
):
    """Each column read as absent on every row: customer `unknown`, priority the default."""
    log = tmp_path / "log.csv"
    log.write_text("case,concept:name,group,when\nX,Work,G1,2012-03-05T10:00:00+00:00\n")
    mapping = parse_mapping(
        csv_mapping(customer_column="cust").replace('"when"', '"ts"'), definition
    )
    with pytest.raises(InvalidInput) as refused:
        run_import(sqlite, log, mapping, definition)
    assert refused.value.value == "source.timestamp = 'ts'; source.customer_id = 'cust'"
    assert "columns of the CSV file (case, concept:name, group, when)" in str(refused.value)
    with read_connection(sqlite) as conn:
        assert conn.execute(select(CASE.c.id)).all() == []


def test_times_and_values_no_command_could_carry_are_left_out_counted_alike_on_both_databases(
    db: SAEngine, tmp_path: Path, definition
):
    """A year-1 time was imported and then broke the conformance report and the backtest
    (OverflowError); a year-2999 case, a NUL (stored by SQLite, refused by PostgreSQL for
    the whole file), a 100,000-character customer all went in. An import checks what a
    command checks: such events and cases are counted as rejected, the rest written."""
    text = csv_mapping(customer_column="who")
    log = tmp_path / "log.csv"
    rows = [
        "case,concept:name,group,who,when",
        "OK,Work,G1,c1,2012-03-05T10:00:00+00:00",
        "EARLY,Work,G1,c1,0001-01-01T00:00:00+00:00",
        "LATE,Work,G1,c1,2999-01-05T10:00:00+00:00",
        "NUL,Work,G1,c\x00d,2012-03-05T10:00:00+00:00",
        f"LONG,Work,G1,{'c' * 100_000},2012-03-05T10:00:00+00:00",
        "ESC,Work,G\x1b[31m,c1,2012-03-05T10:00:00+00:00",
    ]
    log.write_text("\n".join(rows) + "\n")
    report = run_import(db, log, parse_mapping(text, definition), definition)
    assert (report.cases, report.imported) == (6, 1)
    assert report.rejected["timestamp before 1970 or in the future"] == 2
    assert report.rejected["case without a usable timestamp"] == 2
    refused = {k: n for k, n in report.rejected.items() if k.startswith("case with an invalid")}
    assert sum(refused.values()) == 3, report.rejected  # NUL, LONG: customers; ESC: team
    assert {key.split(":")[0] for key in refused} == {
        "case with an invalid customer (who)",
        "case with an invalid team (group)",
    }
    with read_connection(db) as conn:
        refs = conn.execute(select(CASE.c.external_ref)).scalars().all()
    assert refs == ["OK"]


def test_a_trace_without_its_own_name_is_not_named_after_its_first_activity(
    sqlite: SAEngine, tmp_path: Path, mapping, definition
):
    """In XES an event's concept:name is its activity: two unnamed traces whose first
    activity was "Accepted" became one case "Accepted", their histories merged."""
    log = tmp_path / "log.xes"
    text = xes({"A": [("Accepted", "G1", hours(0))], "B": [("Accepted", "G1", hours(1))]})
    text = text.replace('<string key="concept:name" value="A"/>', "")
    text = text.replace('<string key="concept:name" value="B"/>', "")
    log.write_text(text)
    report = run_import(sqlite, log, mapping, definition)
    assert report.imported == 0 and report.rejected["case without an id"] >= 1, report
    with read_connection(sqlite) as conn:
        assert conn.execute(select(CASE.c.external_ref)).scalars().all() == []


def test_xml_entities_are_refused(sqlite: SAEngine, tmp_path: Path, mapping, definition):
    log = tmp_path / "bomb.xes"
    log.write_text(
        '<?xml version="1.0"?><!DOCTYPE log [<!ENTITY a "aaaa">]>'
        '<log><trace><string key="concept:name" value="&a;"/></trace></log>'
    )
    with pytest.raises(InvalidInput, match="without DTD entities"):
        run_import(sqlite, log, mapping, definition)
    assert counts(sqlite) == (0, 0, 0)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (('state = "resolved"', 'state = "done"'), "rules[6].state"),
        (('when.activity = "Closed"', 'when.activity.ends = "Closed"'), "when.activity.ends"),
        (('Low = "low"', 'Low = "tiny"'), "case.priorities.Low"),
        (('timestamp = "time:timestamp"', "timestamp = 3"), "source.timestamp"),
    ],
)
def test_mapping_errors_name_the_line_the_key_and_what_is_allowed(definition, change, key):
    text = MAPPING.replace(*change)
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, definition, "map.toml")
    assert key in str(caught.value) and "allowed" in str(caught.value)
    assert text.splitlines()[caught.value.line - 1].strip() == change[1]


@pytest.mark.parametrize(
    ("line", "written"),
    [('name = "test"', r'name = "te\u0000st"'), ('version = "1"', r'version = "1\u0000"')],
)
def test_a_nul_in_the_mapping_name_or_version_is_refused_naming_key_value_and_line(
    definition, line, written
):
    """An import records the mapping's version id in each case's first event: PostgreSQL
    kept the NUL escaped in the JSON payload, and every `audit export` after failed on
    "\\u0000 cannot be converted to text". Refused as the policy and process loaders do."""
    text = MAPPING.replace(line, written)
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, definition, "map.toml")
    key = line.split(" ")[0]
    assert caught.value.key == key and "\\x00" in caught.value.problem
    assert "no control characters" in caught.value.problem
    assert text.splitlines()[caught.value.line - 1] == written
    assert "\x00" not in str(caught.value) and "\n" not in str(caught.value)


def test_cli_import_reports_counts_and_bad_mapping_is_one_line(tmp_path: Path):
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    log = tmp_path / "log.xes"
    log.write_text(xes({"A": [("Work", "G1", hours(0)), ("Other", "G1", hours(1))]}))
    mapping = tmp_path / "map.toml"
    mapping.write_text(MAPPING)
    report = cli.json("audit", "import", str(log), "--mapping", str(mapping))
    assert (report["imported"], report["events"], report["unmapped"]) == (1, 2, {"Other": 1})
    replayed = cli.json("replay", "1", "--verify")
    assert replayed["verified"] and replayed["case"]["state"] == "first_level"
    mapping.write_text(MAPPING.replace('level = "L2"', 'level = "L9"'))
    line = cli.refused("audit", "import", str(log), "--mapping", str(mapping))
    assert "map.toml:" in line and "unknown level 'L9'" in line
    line = error_line(cli.run("audit", "import", str(tmp_path / "no.xes"), "--mapping", "bpic2013"))
    assert "no.xes" in line


def test_cli_import_of_a_log_whose_every_event_is_rejected_is_an_error(tmp_path: Path):
    """It exited 0, the rejections listed among the counts, though nothing was imported;
    a log with one good case still imports it and lists what it refused."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    mapping = tmp_path / "map.toml"
    mapping.write_text(csv_mapping())
    log = tmp_path / "log.csv"
    rows = ["case,concept:name,group,when", "EARLY,Work,G1,1969-12-31T23:00:00+00:00"]
    # past the last UTC instant: an OverflowError traceback, on PostgreSQL and SQLite
    log.write_text("\n".join([*rows, "LATE,Work,G1,9999-12-31T23:59:59-23:59"]) + "\n")
    line = cli.refused("audit", "import", str(log), "--mapping", str(mapping))
    assert "log.csv" in line and "all 2 were rejected" in line
    log.write_text("\n".join([*rows, "OK,Work,G1,2012-03-05T10:00:00+00:00"]) + "\n")
    report = cli.json("audit", "import", str(log), "--mapping", str(mapping))
    assert report["imported"] == 1 and report["rejected"]


ACTIVITIES = ["Work", "Queued", "Wait - Customer", "Resolved", "Closed", "Note", "Mystery"]
GROUPS = ["G1", "V 2nd", "V 3rd"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(ACTIVITIES), st.sampled_from(GROUPS), st.integers(0, 500)),
        min_size=1,
        max_size=12,
    )
)
def test_any_history_imports_in_time_order_and_verifies(tmp_path_factory, definition, steps):
    """Whatever a log says, in whatever order, the case is written and replays to its row."""
    tmp = tmp_path_factory.mktemp("prop")
    db = sqlite_db(tmp)
    log = tmp / "log.xes"
    log.write_text(xes({"P": [(a, g, hours(h)) for a, g, h in steps]}))
    mapping = parse_mapping(MAPPING, definition)
    report = run_import(db, log, mapping, definition)
    assert report.events == len(steps)
    case_id, events = imported(db, "P")
    times = [e.occurred_at for e in events]
    assert times == sorted(times)
    with read_connection(db) as conn:
        assert verify_case(conn, case_id).ok


@pytest.mark.slow
@pytest.mark.skipif(not BPIC.exists(), reason=f"{BPIC} is not on this machine")
def test_bpic2013_imports_all_cases_and_events_and_reimport_changes_nothing(
    sqlite: SAEngine, definition
):
    mapping = load_mapping(default_mapping_path("bpic2013"), definition)
    report = run_import(sqlite, BPIC, mapping, definition)
    assert (report.cases, report.imported, report.source_events) == (7554, 7554, 65533)
    assert report.events == 65533 and not report.rejected and not report.conflicts
    with read_connection(sqlite) as conn:
        kinds = dict(conn.execute(select(EVENT.c.type, func.count()).group_by(EVENT.c.type)).all())
        sample = conn.execute(select(CASE.c.id).where(CASE.c.id % 97 == 0)).scalars().all()
        problems = [p for cid in sample for p in verify_case(conn, cid).problems]
    assert kinds == {"opened": 7554, "imported": 65533}
    assert problems == []
    before = counts(sqlite)
    again = run_import(sqlite, BPIC, mapping, definition)
    assert (again.imported, again.unchanged, again.events) == (0, 7554, 0)
    assert counts(sqlite) == before


def _downgrade_notifications(db: SAEngine) -> None:
    """Make `db` a schema-2 database: the notification status check without suppressed."""
    old = "status IN ('pending', 'sending', 'sent', 'failed')"
    with db.begin() as conn:
        if db.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE notification DROP CONSTRAINT ck_notification_status"))
            conn.execute(
                text(
                    f"ALTER TABLE notification ADD CONSTRAINT ck_notification_status CHECK ({old})"
                )
            )
        else:
            ddl = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'notification'")
            ).scalar_one()
            conn.execute(text("DROP TABLE notification"))
            conn.execute(text(ddl.replace("'failed', 'suppressed'", "'failed'")))
        conn.execute(text("UPDATE schema_info SET schema_version = 2"))
        conn.execute(
            NOTIFICATION.insert().values(
                kind="escalated", recipient="lena", subject="s", body="b", created_at=T0
            )
        )


def test_init_upgrades_a_database_from_before_suppressed_notifications(
    db: SAEngine, tmp_path: Path, mapping, definition
):
    _downgrade_notifications(db)
    log = tmp_path / "log.xes"
    log.write_text(xes({"E": [("Queued", "V 2nd", hours(0))]}))
    with pytest.raises(StoreError, match="tierflow init"):
        run_import(db, log, mapping, definition)
    init_schema(db)
    report = run_import(db, log, mapping, definition)
    assert report.suppressed == 1
    with read_connection(db) as conn:
        statuses = conn.execute(select(NOTIFICATION.c.status).order_by(NOTIFICATION.c.id)).all()
        version = conn.execute(text("SELECT schema_version FROM schema_info")).scalar_one()
    assert [s for (s,) in statuses] == ["pending", "suppressed"] and version == SCHEMA_VERSION


def test_a_priority_that_is_tierflows_own_maps_to_itself_unless_the_table_says_otherwise(
    definition,
):
    """Re-importing a log tierflow exported: "high" was an unmapped value, the default
    priority taken, unless [case.priorities] repeated high = "high"."""
    mapping = parse_mapping(MAPPING.replace('High = "high"', 'High = "urgent"'), definition)
    assert mapping.priority_of({"impact": "high"}) == ("high", None)
    assert mapping.priority_of({"impact": "High"}) == ("urgent", None)  # the table first
    assert mapping.priority_of({"impact": "Major"}) == ("normal", "Major")
