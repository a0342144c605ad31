"""Export of the stored history as event logs (XES, CSV, OCEL 2.0) that real
process-mining readers load: pm4py (a test-only dependency, AGPL) reads every file
back and must find the database's cases, events, activity names and times."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pm4py
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine as SAEngine
from sqlalchemy import select

from flows.cli import main
from states.commands import Update
from states.demo import generate_demo
from states.engine import Engine
from states.eventlog import LogCase, LogEvent, LogFilter
from states.export_xes import XES_NAMESPACE, XesWriter, xml_text
from states.logexport import export_log, prepare_export, snapshot
from states.process import ProcessDefinition
from states.store import CASE, EVENT, read_connection
from tests.conftest import MONDAY, sqlite_db
from tests.drivers import StoredDriver

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("export")]  # one demo world: ~10 s
DEMO_CASES = 24


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory, definition: ProcessDefinition) -> SAEngine:
    """Demo histories in every state and level, with warnings, breaches and reopens."""
    db = sqlite_db(tmp_path_factory.mktemp("export"))
    generate_demo(
        Engine(db, definition, clock=lambda: MONDAY), cases=DEMO_CASES, seed=11, now=MONDAY
    )
    return db


def stored_events(db: SAEngine, where: Any = None) -> list[Any]:
    """The events as the database holds them, in case and sequence order."""
    query = select(EVENT).order_by(EVENT.c.case_id, EVENT.c.seq)
    if where is not None:
        query = query.where(where)
    with read_connection(db) as conn:
        return list(conn.execute(query))


def export(
    db: SAEngine, definition: ProcessDefinition, fmt: str, path: Path, **where: Any
) -> tuple[int, int]:
    with snapshot(db) as conn:
        total = prepare_export(conn, definition, LogFilter(**where), fmt, path)
        summary = export_log(conn, definition, LogFilter(**where), fmt, path)
    assert summary.events == total
    return summary.cases, summary.events


def as_key(frame: pd.DataFrame, case: str, activity: str, timestamp: str) -> list[tuple]:
    return [
        (str(c), a, t.to_pydatetime())
        for c, a, t in zip(frame[case], frame[activity], frame[timestamp], strict=True)
    ]


def expected_key(rows: list[Any]) -> list[tuple]:
    return [(str(row.case_id), row.type, row.occurred_at) for row in rows]


@pytest.mark.parametrize("name", ["log.xes", "log.xes.gz"])
def test_pm4py_reads_the_xes_export_with_the_databases_cases_events_names_and_times(
    demo_db: SAEngine, definition: ProcessDefinition, tmp_path: Path, name: str
):
    rows = stored_events(demo_db)
    cases, events = export(demo_db, definition, "xes", tmp_path / name)
    log = pm4py.read_xes(str(tmp_path / name))
    assert (cases, events) == (DEMO_CASES, len(rows))
    assert log["case:concept:name"].nunique() == DEMO_CASES
    log = log.sort_values(["case:concept:name", "seq"], key=_numeric_case, kind="stable")
    assert as_key(log, "case:concept:name", "concept:name", "time:timestamp") == expected_key(rows)
    assert list(log["org:resource"]) == [row.actor for row in rows]
    assert list(log["recorded_at"].dt.to_pydatetime()) == [row.recorded_at for row in rows]
    assert set(log["lifecycle:transition"]) == {"complete"}


def _numeric_case(column: pd.Series) -> pd.Series:
    return column.astype(int) if column.name == "case:concept:name" else column


def test_xes_declares_the_standard_extensions_globals_and_classifiers(
    demo_db: SAEngine, definition: ProcessDefinition, tmp_path: Path
):
    export(demo_db, definition, "xes", tmp_path / "log.xes")
    root = ET.parse(tmp_path / "log.xes").getroot()
    ns = {"x": XES_NAMESPACE}
    assert root.get("xes.version") == "1849-2016"
    extensions = {e.get("prefix"): e.get("uri") for e in root.findall("x:extension", ns)}
    assert extensions == {
        p: f"{XES_NAMESPACE}{p}.xesext" for p in ("concept", "time", "lifecycle", "org")
    }
    classifiers = {c.get("name"): c.get("keys") for c in root.findall("x:classifier", ns)}
    assert classifiers["Activity"] == "concept:name"
    for scope in ("trace", "event"):
        declared = [g.get("key") for g in root.find(f"x:global[@scope='{scope}']", ns)]
        elements = root.findall("x:trace" if scope == "trace" else "x:trace/x:event", ns)
        assert elements
        for element in elements:  # a global attribute is one every element has
            keys = {
                child.get("key") for child in element if child.tag != f"{{{XES_NAMESPACE}}}event"
            }
            assert set(declared) <= keys, (scope, set(declared) - keys)


def test_trace_attributes_carry_each_clocks_outcome_as_the_case_holds_it(
    demo_db: SAEngine, definition: ProcessDefinition, tmp_path: Path
):
    export(demo_db, definition, "xes", tmp_path / "log.xes")
    log = pm4py.read_xes(str(tmp_path / "log.xes"))
    traces = log.drop_duplicates("case:concept:name").set_index("case:concept:name")
    with read_connection(demo_db) as conn:
        cases = list(conn.execute(select(CASE)))
    outcomes = Counter()
    for case in cases:
        trace = traces.loc[str(case.id)]
        assert trace["case:state"] == case.state
        assert trace["case:priority"] == case.priority
        for clock, state in case.clocks.items():
            value = trace[f"case:sla_{clock}"]
            outcomes[value] += 1
            assert value == state.get("outcome") or value.startswith(state["status"])
    assert {"late", "met"} <= set(outcomes), outcomes


def test_events_show_priority_and_team_as_they_were_then(
    sqlite: SAEngine, definition: ProcessDefinition, tmp_path: Path
):
    driver = StoredDriver(sqlite, definition, MONDAY)
    case_id = driver.open(priority="low", amount_claimed=Decimal("10"))
    driver.advance(timedelta(minutes=5))
    driver.engine.apply(Update(case_id=case_id, actor="ana", priority="high"))
    driver.advance(timedelta(minutes=5))
    driver.act(case_id, "assign", assignee="ana", team="billing")
    driver.advance(timedelta(minutes=5))
    reason = 'customer <angry> & "loud"\x01 \u00e9\u4e2d'
    driver.act(case_id, "escalate", actor="ana", reason=reason, notice="Our specialists take over.")
    export(sqlite, definition, "csv", tmp_path / "log.csv")
    with open(tmp_path / "log.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["activity"], r["priority"], r["team"]) for r in rows] == [
        ("opened", "low", ""),
        ("updated", "high", ""),
        ("assign", "high", "billing"),
        ("escalate", "high", "billing"),
    ]
    assert rows[-1]["reason"] == reason and rows[-1]["level"] == "L2"
    assert rows[0]["level"] == "first_level"
    export(sqlite, definition, "xes", tmp_path / "log.xes")  # the control character is no XML
    events = ET.parse(tmp_path / "log.xes").getroot().iter(f"{{{XES_NAMESPACE}}}string")
    assert xml_text(reason) in {e.get("value") for e in events}


def test_pm4py_reads_the_csv_export_with_the_databases_cases_events_names_and_times(
    demo_db: SAEngine, definition: ProcessDefinition, tmp_path: Path
):
    rows = stored_events(demo_db)
    export(demo_db, definition, "csv", tmp_path / "log.csv")
    frame = pm4py.format_dataframe(
        pd.read_csv(tmp_path / "log.csv"),
        case_id="case_id",
        activity_key="activity",
        timestamp_key="timestamp",
    ).sort_values(["case_id", "seq"])  # pm4py orders case ids as text
    assert frame["case:concept:name"].nunique() == DEMO_CASES
    assert as_key(frame, "case:concept:name", "concept:name", "time:timestamp") == expected_key(
        rows
    )
    assert list(frame["resource"]) == [row.actor for row in rows]
    assert list(frame.columns[:4]) == ["case_id", "activity", "timestamp", "resource"]


def test_pm4py_reads_the_ocel_export_with_cases_customers_agents_and_relations(
    demo_db: SAEngine, definition: ProcessDefinition, tmp_path: Path
):
    rows = stored_events(demo_db)
    export(demo_db, definition, "ocel", tmp_path / "log.json")
    ocel = pm4py.read_ocel2_json(str(tmp_path / "log.json"))
    with read_connection(demo_db) as conn:
        customers = {row.customer_id for row in conn.execute(select(CASE.c.customer_id))}
    types = Counter(ocel.objects["ocel:type"])
    assert types == {
        "case": DEMO_CASES,
        "customer": len(customers),
        "agent": len({row.actor for row in rows}),
    }
    events = ocel.events.sort_values("ocel:eid", key=lambda c: c.map(_event_order))
    assert [
        (e.split(":")[0], a, t.to_pydatetime())
        for e, a, t in zip(
            events["ocel:eid"], events["ocel:activity"], events["ocel:timestamp"], strict=True
        )
    ] == expected_key(rows)
    relations = ocel.relations.groupby("ocel:qualifier")["ocel:eid"].count()
    assert dict(relations) == {"case": len(rows), "actor": len(rows), "customer": len(rows)}
    document = json.loads((tmp_path / "log.json").read_text(encoding="utf-8"))
    assert {t["name"] for t in document["eventTypes"]} == {row.type for row in rows}


def _event_order(event_id: str) -> tuple[int, int]:
    case, seq = event_id.split(":")
    return int(case), int(seq)


@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_time_window_keeps_the_events_that_happened_in_it(
    demo_db: SAEngine, definition: ProcessDefinition, data: st.DataObject
):
    rows = stored_events(demo_db)
    times = sorted({row.occurred_at for row in rows})
    lo = data.draw(st.integers(0, len(times) - 2), label="from")
    hi = data.draw(st.integers(lo + 1, len(times) - 1), label="to")
    since = times[lo] + data.draw(st.sampled_from([timedelta(0), timedelta(microseconds=1)]))
    until = times[hi]
    inside = [row for row in rows if since <= row.occurred_at < until]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "w.csv"
        cases, events = export(demo_db, definition, "csv", out, since=since, until=until)
        with open(out, encoding="utf-8", newline="") as handle:
            exported = [(int(r["case_id"]), int(r["seq"])) for r in csv.DictReader(handle)]
    assert exported == [(row.case_id, row.seq) for row in inside]
    assert (cases, events) == (len({row.case_id for row in inside}), len(inside))


def test_an_event_exports_the_same_in_a_window_as_in_the_whole_history(
    demo_db: SAEngine, definition: ProcessDefinition, tmp_path: Path
):
    """The case's priority and team at an event were folded from the events read: a window
    (--from) had not read those before it, and its events' priority and team were empty."""
    rows = stored_events(demo_db)
    since = sorted(row.occurred_at for row in rows)[len(rows) // 2]

    def exported(**window: Any) -> dict[tuple[str, str], dict[str, str]]:
        out = tmp_path / f"{len(window)}.csv"
        export(demo_db, definition, "csv", out, **window)
        with open(out, encoding="utf-8", newline="") as handle:
            return {(r["case_id"], r["seq"]): r for r in csv.DictReader(handle)}

    whole, window = exported(), exported(since=since)
    assert window and all(row["priority"] for row in window.values())
    assert {key: whole[key] for key in window} == window


@pytest.mark.parametrize("choice", ["state", "team"])
def test_state_and_team_choose_cases_by_where_they_are_now(
    demo_db: SAEngine, definition: ProcessDefinition, tmp_path: Path, choice: str
):
    with read_connection(demo_db) as conn:
        cases = list(conn.execute(select(CASE)))
    value = Counter(getattr(c, choice) for c in cases if getattr(c, choice)).most_common(1)[0][0]
    chosen = {c.id for c in cases if getattr(c, choice) == value}
    rows = [row for row in stored_events(demo_db) if row.case_id in chosen]
    assert export(demo_db, definition, "csv", tmp_path / "s.csv", **{choice: value}) == (
        len(chosen),
        len(rows),
    )


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--from", "yesterday"], "--from"),
        (["--from", "2026-11-02T00:00:00+00:00", "--to", "2026-11-01T00:00:00+00:00"], "--to"),
        (["--state", "closed"], "--state"),
        (["--team", "nobody"], "--team"),
        (["--format", "pdf"], "--format"),
        (["--output", "missing-dir/log.xes"], "--output"),
    ],
)
def test_bad_export_options_are_one_line_naming_the_option_and_write_nothing(
    demo_db: SAEngine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    named: str,
):
    url = demo_db.url.render_as_string(hide_password=False)
    args = {"--format": "xes", "--output": str(tmp_path / "log.xes")}
    for option, value in zip(options[::2], options[1::2], strict=True):
        args[option] = value if option != "--output" else str(tmp_path / value)
    argv = ["--database-url", url, "audit", "export", *[x for kv in args.items() for x in kv]]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and named in err, err
    assert list(tmp_path.iterdir()) == []


def test_cli_export_writes_the_file_and_reports_counts_as_json(
    demo_db: SAEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    url = demo_db.url.render_as_string(hide_password=False)
    out = tmp_path / "log.csv.gz"
    argv = ["--database-url", url, "audit", "export", "--format", "csv", "--output", str(out)]
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["events"] == len(stored_events(demo_db)) == len(pd.read_csv(out))
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv.gz"]


_TEXT = st.text(st.characters(codec="utf-8"), max_size=30)


@settings(max_examples=60, deadline=None)
@given(resource=_TEXT, reason=_TEXT, team=_TEXT)
def test_any_text_survives_the_xes_writer_as_xml_can_hold_it(resource: str, reason: str, team: str):
    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    case = LogCase(case_id=1, opened_at=at, attributes={"team": team}, clocks={})
    event = LogEvent(1, 1, "opened", at, at, resource, None, "open", None, None, "first_level",
                     "normal", team, {"reason": reason})  # fmt: skip
    buffer = io.BytesIO()
    XesWriter(buffer, "t").write([(case, [event])])
    root = ET.fromstring(buffer.getvalue())
    values = {e.get("key"): e.get("value") for e in root.iter() if e.get("key")}
    assert values["org:resource"] == xml_text(resource)
    assert values["reason"] == xml_text(reason)
    assert values["org:group"] == xml_text(team)


@pytest.mark.postgres
def test_postgres_export_streams_cases_and_events_through_server_side_cursors(
    pg: SAEngine, definition: ProcessDefinition, tmp_path: Path
):
    driver = StoredDriver(pg, definition, MONDAY)
    for n in range(5):
        case_id = driver.open(customer_id=f"CUST-{n % 2}", priority="high")
        driver.advance(timedelta(minutes=7))
        driver.act(case_id, "assign", assignee=f"agent-{n}", team="billing" if n % 2 else None)
        if n % 2:
            driver.advance(timedelta(minutes=3))
            driver.act(case_id, "resolve", actor=f"agent-{n}", note="Refunded.")
    rows = stored_events(pg)
    assert export(pg, definition, "xes", tmp_path / "log.xes") == (5, len(rows))
    log = pm4py.read_xes(str(tmp_path / "log.xes"))
    log = log.sort_values(["case:concept:name", "seq"], key=_numeric_case, kind="stable")
    assert as_key(log, "case:concept:name", "concept:name", "time:timestamp") == expected_key(rows)
    with read_connection(pg) as conn:
        chosen = {c.id for c in conn.execute(select(CASE.c.id).where(CASE.c.state == "resolved"))}
    resolved = [row for row in rows if row.case_id in chosen]
    assert len(chosen) == 2
    assert export(pg, definition, "csv", tmp_path / "r.csv", state="resolved") == (2, len(resolved))


def test_tierflow_itself_never_imports_pm4py():
    """pm4py is AGPL: a tool of the tests only, never a dependency of what tierflow ships."""
    root = Path(__file__).resolve().parents[1]
    shipped = [p for d in ("states", "flows", "dashboard") for p in (root / d).rglob("*.py")]
    assert shipped
    imports = re.compile(r"^\s*(import|from)\s+pm4py\b|import_module\(.pm4py", re.MULTILINE)
    importing = [str(p) for p in shipped if imports.search(p.read_text(encoding="utf-8"))]
    assert importing == []
