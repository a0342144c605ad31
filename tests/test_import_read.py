"""Reading logs for import: the lean expat reader against defusedxml's ElementTree, and the
reader in a second process against the reader in this one."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine as SAEngine
from sqlalchemy import select

from states.errors import InvalidInput
from states.import_aside import ReaderAside
from states.import_read import LogReader
from states.importer import REPEATED, open_log, write_log
from states.mapping import parse_mapping
from states.policy import load_policy
from states.store import CASE, EVENT, read_connection
from tests.conftest import sqlite_db
from tests.test_import import MAPPING, hours, xes

XES_NS = "http://www.xes-standard.org/"
TAGS = ("string", "date", "int", "float", "boolean", "id")
# keys and values as logs have them: names with colons and spaces, text that XML must
# escape, non-ASCII text, and times in the forms XES writers use (and some they should not)
KEYS = st.sampled_from(["concept:name", "org:group", "time:timestamp", "impact", "a b", "é"])
VALUES = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8),
    st.sampled_from(
        [
            "2012-03-05T09:00:00+01:00",
            "2012-03-05T09:00:00.123+00:00",
            "2012-03-05 09:00:00",
            "2012-03-05T09:00:00Z",
            "not a time",
            "a<b&c>\"d'",
        ]
    ),
)


@st.composite
def attribute(draw: st.DrawFn, prefix: str, depth: int = 0) -> str:
    """One attribute element: plain, with its XML attributes in any order (and a stray
    one), nested attributes, or a list of values (whose children are not the owner's)."""
    tag = f"{prefix}{draw(st.sampled_from(TAGS))}"
    key, value = quoteattr(draw(KEYS)), quoteattr(draw(VALUES))
    pairs = [f"key={key}", f"value={value}"]
    if draw(st.booleans()):
        pairs.reverse()
    if draw(st.integers(0, 5)) == 0:
        pairs.append('extra="x"')
    kind = draw(st.integers(0, 6)) if depth < 2 else 0
    if kind == 5:
        inner = "".join(draw(st.lists(attribute(prefix, depth + 1), max_size=3)))
        return f"<{tag} {' '.join(pairs)}>{inner}</{tag}>"
    if kind == 6:
        inner = "".join(draw(st.lists(attribute(prefix, depth + 1), max_size=3)))
        return f"<{prefix}list key={key}><{prefix}values>{inner}</{prefix}values></{prefix}list>"
    return f"<{tag} {' '.join(pairs)}/>"


@st.composite
def xes_log(draw: st.DrawFn) -> str:
    """An XES document: default namespace, a prefix, or none; log attributes (some with
    children) before and after the traces; traces whose attributes come before, between
    and after their events."""
    prefix, declare = draw(
        st.sampled_from([("", f' xmlns="{XES_NS}"'), ("xes:", f' xmlns:xes="{XES_NS}"'), ("", "")])
    )
    attrs = st.lists(attribute(prefix), max_size=4).map("".join)
    traces = []
    for _ in range(draw(st.integers(0, 4))):
        parts = [draw(attrs)]
        for _ in range(draw(st.integers(0, 4))):
            parts.append(f"<{prefix}event>{draw(attrs)}</{prefix}event>")
            if draw(st.booleans()):
                parts.append(draw(attrs))
        traces.append(f"<{prefix}trace>{''.join(parts)}</{prefix}trace>\n")
    head = (
        f'<{prefix}global scope="event"><{prefix}string key="impact" value="x"/></{prefix}global>'
        f"{draw(attrs)}<!-- a comment -->"
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{prefix}log xes.version="1.0"{declare}>'
        f"{head}{''.join(traces)}{draw(attrs)}</{prefix}log>"
    )


def reference(text: str) -> list[tuple[str, dict[str, str], list[dict[str, str]]]]:
    """What a log holds, read with defusedxml's ElementTree: each trace's own attributes
    and its events' own attributes (elements directly inside them, by local name)."""

    def local(tag: str) -> str:
        return tag.rpartition("}")[2]

    def own(element) -> dict[str, str]:
        return {a.get("key", ""): a.get("value", "") for a in element if local(a.tag) in TAGS}

    cases = []
    for trace in fromstring(text.encode()).iter():
        if local(trace.tag) == "trace":
            events = [own(e) for e in trace if local(e.tag) == "event"]
            attrs = own(trace)
            # an event's concept:name is its activity, never its trace's case id
            cases.append((attrs.get("concept:name", ""), attrs, events))
    return cases


def read(path: Path, reader=LogReader) -> list[tuple[str, dict[str, str], list[dict[str, str]]]]:
    return [(c.ref, c.attrs, c.events) for c in reader(path, "xes", "concept:name")]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(xes_log(), st.booleans())
def test_the_lean_reader_reads_what_elementtree_reads(tmp_path: Path, text: str, zipped: bool):
    path = tmp_path / ("log.xes.gz" if zipped else "log.xes")
    if zipped:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    assert read(path) == reference(text)


def test_the_reader_in_a_second_process_reads_the_same_cases(tmp_path: Path):
    cases = {
        f"SR-{n}": [("Work", "G1", hours(n)), ("Resolved", "G1", hours(n + 1))] for n in range(600)
    }
    path = tmp_path / "log.xes.gz"
    path.write_bytes(gzip.compress(xes(cases).encode()))
    aside = ReaderAside(path, "xes", "concept:name")
    assert read(path, lambda *args: aside) == read(path)
    assert aside.position == path.stat().st_size
    table = tmp_path / "log.csv"
    table.write_text("case;activity;when\nX;Resolved;2012-03-05 12:00\nY;Work;x\nX;Work;\n")
    found = [
        [(c.ref, c.events) for c in reader(table, "csv", "case", ";")]
        for reader in (LogReader, ReaderAside)
    ]
    assert (
        found[0]
        == found[1]
        == [
            (
                "X",
                [
                    {"case": "X", "activity": "Resolved", "when": "2012-03-05 12:00"},
                    {"case": "X", "activity": "Work"},
                ],
            ),
            ("Y", [{"case": "Y", "activity": "Work", "when": "x"}]),
        ]
    )


def test_a_log_the_second_process_refuses_is_refused_as_in_this_one(tmp_path: Path):
    path = tmp_path / "bomb.xes"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE log [<!ENTITY a "aaaa">]>'
        '<log><trace><string key="concept:name" value="&a;"/></trace></log>'
    )
    for reader in (LogReader, ReaderAside):
        with pytest.raises(InvalidInput, match="without DTD entities"):
            read(path, reader)


def rows(db: SAEngine) -> list[tuple]:
    with read_connection(db) as conn:
        return [tuple(r) for r in conn.execute(select(EVENT).order_by(EVENT.c.id))] + [
            tuple(r) for r in conn.execute(select(CASE).order_by(CASE.c.id))
        ]


def test_an_import_writes_the_same_rows_with_the_reader_aside_or_not(tmp_path: Path, definition):
    mapping = parse_mapping(MAPPING, definition)
    policy = load_policy(None, definition)
    cases = {
        f"SR-{n}": [
            ("Queued", "V 2nd", hours(n + 2)),
            ("Work", "G1", hours(n)),
            ("Note", "G1", hours(n)),
        ]
        for n in range(30)
    }
    path = tmp_path / "log.xes"
    path.write_text(xes(cases))
    at = datetime(2026, 11, 30, 12, tzinfo=UTC)
    found = []
    for aside in (False, True):
        db = sqlite_db(tmp_path / f"aside-{aside}")
        report = write_log(
            db,
            open_log(path, mapping),
            definition,
            policy,
            batch_cases=7,
            now=lambda: at,
            aside=aside,
        )
        assert (report.imported, report.events) == (30, 90)
        found.append(rows(db))
    assert found[0] == found[1]


def test_a_case_id_repeated_later_in_the_file_is_merged_or_counted(tmp_path: Path, definition):
    """Within the batch being read, a trace with a case id seen before joins that case;
    once the case is written, its events are left out and counted."""
    mapping = parse_mapping(MAPPING, definition)
    text = xes({"A": [("Work", "G1", hours(0))], "B": [("Work", "G1", hours(1))]})
    again = xes({"A": [("Resolved", "G1", hours(2))]})
    path = tmp_path / "log.xes"
    trace_a = again[again.index("<trace>") : again.index("</log>")]
    path.write_text(text.replace("</log>", trace_a + "</log>"))
    policy = load_policy(None, definition)
    merged = write_log(sqlite_db(tmp_path / "one"), open_log(path, mapping), definition, policy)
    assert (merged.cases, merged.events, dict(merged.rejected)) == (2, 3, {})
    split = write_log(
        sqlite_db(tmp_path / "two"), open_log(path, mapping), definition, policy, batch_cases=1
    )
    assert (split.cases, split.events, dict(split.rejected)) == (2, 2, {REPEATED: 1})
