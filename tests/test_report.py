"""The review report: figures per level, team and desk, counted from the history.

One small world, played in time order through the engine and the sweep with
the shipped process and policy (support_eu: Brussels, Mon-Fri 09:00-17:00,
Belgian holidays), then reported on November 2026:

* F (customer CF) opened Fri 30 Oct 15:00, taken 16:00, resolved Wed 2 Dec:
  it sits at first level all November;
* A (team billing, EUR 800): opened and taken Mon 2 Nov 09:00, escalated to L2
  Tue 11:00 citing the authority point, acknowledged 13:00, resolved at L2
  15:00, followed up Wed with a 4;
* B (high priority): opened Mon 10:00, warned 13:30, breached its 4 h first
  response at 14:30, taken 15:00, resolved 16:00, reopened Tue 10:00;
* C: opened Mon 10:00, warned 16:30, taken 16:45 (first response met: a near-miss);
* D1-D3 (customer C9): the third case in 90 days is a repeat customer, routed
  to team senior;
* E: "I will take you to court": escalated to manager at intake.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine as SAEngine

from states.commands import Act, OpenCase
from states.demo import generate_demo
from states.engine import Engine
from states.errors import InvalidInput
from states.policy import load_policy
from states.report import NO_TEAM, Period, month_period, quarter_period, review
from states.report_text import (
    BREAKDOWNS,
    DURATIONS,
    OVERVIEW,
    ROW_COLUMNS,
    format_value,
    group_label,
    to_csv,
    to_markdown,
    to_rows,
)
from states.sweep import sweep
from tests.conftest import sqlite_db

BRUSSELS = ZoneInfo("Europe/Brussels")
NOTICE = "Our specialist team takes over."
NOVEMBER = month_period(date(2026, 12, 1), "Europe/Brussels")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BRUSSELS)  # type: ignore[misc]


class Desk:
    """The engine on one database, the clock set by the script."""

    def __init__(self, db: SAEngine, definition) -> None:
        self.db = db
        self.definition = definition
        self.policy = load_policy(None, definition)
        self.now = local(2026, 10, 30, 15)
        self.engine = Engine(db, definition, self.policy, clock=lambda: self.now)
        self.ids: dict[str, int] = {}

    def open(self, name: str, at: datetime, **fields) -> None:
        self.now = at
        fields.setdefault("customer_id", f"C{name}")
        fields.setdefault("subject", "A complaint")
        self.ids[name] = self.engine.apply(OpenCase(**fields)).case_id

    def act(self, name: str, at: datetime, trigger: str, actor: str = "ana", **fields) -> None:
        self.now = at
        self.engine.apply(Act(case_id=self.ids[name], trigger=trigger, actor=actor, **fields))

    def sweep(self, at: datetime) -> None:
        self.now = at
        sweep(self.engine, at, worker="test")

    def report(self, period: Period = NOVEMBER):
        return review(
            self.db, self.policy, self.definition, period.start, period.end, label=period.label
        )


def play_november(desk: Desk) -> None:
    """Everything up to the end of November (F is resolved later, by the test)."""
    desk.open("F", local(2026, 10, 30, 15))
    desk.act("F", local(2026, 10, 30, 16), "assign", assignee="ana")
    desk.open("A", local(2026, 11, 2, 9), team="billing", amount_claimed=Decimal(800))
    desk.act("A", local(2026, 11, 2, 9), "assign", assignee="ana")
    desk.open("B", local(2026, 11, 2, 10), priority="high")
    desk.open("C", local(2026, 11, 2, 10))
    desk.sweep(local(2026, 11, 2, 13, 30))  # B's warning
    desk.sweep(local(2026, 11, 2, 14, 30))  # B's breach
    desk.act("B", local(2026, 11, 2, 15), "assign", assignee="ben")
    desk.act("B", local(2026, 11, 2, 16), "resolve", actor="ben", note="fixed")
    desk.sweep(local(2026, 11, 2, 16, 30))  # C's warning
    desk.act("C", local(2026, 11, 2, 16, 45), "assign", assignee="chloe")
    desk.act("B", local(2026, 11, 3, 10), "reopen", actor="ben", note="still broken")
    desk.act(
        "A", local(2026, 11, 3, 11), "escalate",
        reason="refund above authority", point="authority", notice=NOTICE,
    )  # fmt: skip
    desk.act("A", local(2026, 11, 3, 13), "acknowledge", actor="l2-team", assignee="l2-team")
    desk.act("A", local(2026, 11, 3, 15), "resolve", actor="l2-team", note="refund issued")
    desk.act("A", local(2026, 11, 4, 10), "follow_up", satisfaction=4, comment="thanks")
    for n, day in enumerate((9, 10, 11), start=1):
        desk.open(f"D{n}", local(2026, 11, day, 10), customer_id="C9")
    desk.open(
        "E", local(2026, 11, 10, 11), description="If this is not fixed I will take you to court"
    )


@pytest.fixture
def desk(tmp_path: Path, definition) -> Desk:
    world = Desk(sqlite_db(tmp_path), definition)
    play_november(world)
    return world


def by_name(groups):
    return {g.name: g for g in groups}


def test_opened_and_resolved_per_level_and_team(desk):
    report = desk.report()
    levels, teams = by_name(report.levels), by_name(report.teams)
    assert [g.name for g in report.levels] == ["first_level", "L2", "manager", "board"]
    assert [g.name for g in report.teams] == ["billing", "senior", NO_TEAM]
    assert report.desk.opened == 7  # A, B, C, D1-D3, E; not F (October)
    assert (levels["first_level"].opened, levels["L2"].opened) == (7, 0)
    assert {name: t.opened for name, t in teams.items()} == {"billing": 1, "senior": 0, NO_TEAM: 6}
    assert report.desk.resolved == 2
    assert (levels["first_level"].resolved, levels["L2"].resolved) == (1, 1)  # B; A at L2
    assert teams["billing"].resolved == 1


def test_escalations_count_their_reason_point_and_rate(desk):
    report = desk.report()
    levels = by_name(report.levels)
    first = levels["first_level"]
    legal = desk.policy.points["legal_risk"].reason
    assert first.escalations == 2
    assert first.escalation_reasons == {legal: 1, "refund above authority": 1}
    assert first.escalation_points == {"authority": 1, "legal_risk": 1}
    assert (levels["L2"].escalated_in, levels["manager"].escalated_in) == (1, 1)
    # first level held A, B, C, D1-D3, E and F (there all month) in November
    assert first.handled == 8
    assert first.escalation_rate == 0.25
    assert (levels["L2"].handled, levels["manager"].handled) == (1, 1)
    assert report.desk.points_fired == {"authority": 1, "legal_risk": 1, "repeat_customer": 1}


def test_a_breach_and_a_near_miss_count_per_clock(desk):
    report = desk.report()
    first = by_name(report.levels)["first_level"]
    assert report.desk.breaches == {"first_response": 1}  # B
    assert first.breaches == {"first_response": 1}
    assert report.desk.near_misses == {"first_response": 1}  # C: warned, then taken in time
    assert by_name(report.teams)[NO_TEAM].near_misses == {"first_response": 1}


def test_reopen_counts_at_the_level_that_resolved_it(desk):
    report = desk.report()
    levels = by_name(report.levels)
    assert (levels["first_level"].reopens, levels["L2"].reopens) == (1, 0)
    assert levels["first_level"].reopen_rate == 1.0
    assert report.desk.reopen_rate == 0.5


def test_satisfaction_counts_at_the_resolving_level_and_team(desk):
    report = desk.report()
    l2 = by_name(report.levels)["L2"].satisfaction
    assert (l2.count, l2.mean) == (1, 4.0)
    assert l2.distribution == {1: 0, 2: 0, 3: 0, 4: 1, 5: 0}
    assert by_name(report.teams)["billing"].satisfaction.count == 1
    assert by_name(report.levels)["first_level"].satisfaction.count == 0


def test_repeat_customers_are_counted_by_case_and_customer(desk):
    report = desk.report()
    assert (report.desk.repeat_cases, report.desk.repeat_customers) == (1, 1)
    senior = by_name(report.teams)["senior"]
    assert (senior.repeat_cases, senior.repeat_customers) == (1, 1)
    assert senior.handled == 1  # D3, routed there at intake


def test_time_in_state_is_business_time_median_and_p90(desk):
    first = by_name(desk.report().levels)["first_level"].time_in_state
    # A: first_level Mon 09:00 -> Tue 11:00 = 8 h + 2 h; B: Mon 15:00 -> 16:00 = 1 h
    assert first["first_level"].count == 2
    assert first["first_level"].median_hours == 5.5
    assert first["first_level"].p90_hours == 9.1  # 1 + 0.9 * (10 - 1)
    # open: A 0 h, E 0 h (escalated at intake), B 10:00 -> 15:00, C 10:00 -> 16:45
    assert (first["open"].count, first["open"].median_hours) == (4, 2.5)
    l2 = by_name(desk.report().levels)["L2"].time_in_state
    assert (l2["escalated:L2"].count, l2["escalated:L2"].median_hours) == (1, 4.0)
    # resolved: B Mon 16:00 -> reopened Tue 10:00 = 1 h + 1 h; A Tue 15:00 -> followed up
    # Wed 10:00 = 2 h + 1 h
    resolved = desk.report().desk.time_in_state["resolved"]
    assert (resolved.count, resolved.median_hours, resolved.p90_hours) == (2, 2.5, 2.9)


def test_events_outside_the_period_are_not_counted(desk):
    desk.act("F", local(2026, 12, 2, 10), "resolve", note="done")
    october = desk.report(month_period(date(2026, 11, 2), "Europe/Brussels"))
    assert (october.desk.opened, october.desk.resolved, october.desk.handled) == (1, 0, 1)
    november = desk.report()
    assert november.desk.opened == 7 and november.desk.resolved == 2
    december = desk.report(month_period(date(2027, 1, 4), "Europe/Brussels"))
    first = by_name(december.levels)["first_level"]
    assert (december.desk.opened, first.resolved) == (0, 1)
    # F: Fri 30 Oct 16:00-17:00, 20 working days of November (11 Nov is a holiday),
    # Tue 1 Dec, Wed 2 Dec 09:00-10:00: 1 + 160 + 8 + 1 business hours
    assert first.time_in_state["first_level"].median_hours == 170.0


def test_a_past_period_does_not_change_when_cases_move_on(desk):
    before = desk.report()
    desk.act("F", local(2026, 12, 2, 10), "resolve", note="done")
    desk.act("C", local(2026, 12, 3, 10), "escalate", reason="stuck", notice=NOTICE)
    desk.act("B", local(2026, 12, 3, 11), "resolve", actor="ben", note="fixed again")
    assert desk.report() == before


def test_the_review_reads_postgresql_too(db, definition):
    desk = Desk(db, definition)
    play_november(desk)
    report = desk.report()
    assert (report.desk.opened, report.desk.resolved, report.desk.escalations) == (7, 2, 2)
    assert report.desk.breaches == {"first_response": 1}
    assert report.desk.near_misses == {"first_response": 1}


def test_periods_are_the_previous_full_month_and_quarter_in_the_desk_zone():
    november = month_period(date(2026, 12, 1), "Europe/Brussels")
    assert (november.start, november.end, november.label) == (
        local(2026, 11, 1), local(2026, 12, 1), "2026-11",
    )  # fmt: skip
    assert month_period(date(2027, 1, 4)).label == "2026-12"
    assert month_period(date(2027, 1, 4)).start == datetime(2026, 12, 1, tzinfo=UTC)
    q4 = quarter_period(date(2027, 1, 4), "Europe/Brussels")
    assert (q4.start, q4.end, q4.label) == (local(2026, 10, 1), local(2027, 1, 1), "2026-Q4")
    assert quarter_period(date(2026, 12, 1)).label == "2026-Q3"
    with pytest.raises(InvalidInput, match="timezone"):
        month_period(date(2026, 12, 1), "Mars/Olympus")
    with pytest.raises(InvalidInput, match="end"):
        Period(local(2026, 12, 1), local(2026, 11, 1), "backwards")


def _markdown_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Each `## title` table of a Markdown text as a list of {header: cell}."""
    out: dict[str, list[dict[str, str]]] = {}
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = section.partition("\n")
        lines = [line for line in body.splitlines() if line.startswith("|")]
        if not lines:
            continue
        headers = [c.strip() for c in lines[0].strip("|").split(" | ")]
        out[title] = [
            dict(zip(headers, (c.strip() for c in line.strip("|").split(" | ")), strict=True))
            for line in lines[2:]
        ]
    return out


def test_markdown_and_rows_carry_the_same_figures(desk):
    report = desk.report()
    shown = _markdown_tables(to_markdown(report))
    rows = to_rows(report)
    assert all(tuple(row) == ROW_COLUMNS for row in rows)
    value = {(r["group_kind"], r["group"], r["metric"], r["item"]): r["value"] for r in rows}
    assert len(value) == len(rows)
    groups = report.groups()
    assert len(shown["Overview"]) == len(groups)
    for line, group in zip(shown["Overview"], groups, strict=True):
        assert (line["kind"], line["group"]) == (group.kind, group_label(group))
        for metric, header, _ in OVERVIEW:
            assert line[header] == format_value(metric, value[(group.kind, group.name, metric, "")])
    for metric, title, first, _ in BREAKDOWNS:
        for line in shown[title]:
            for group in groups:
                figure = value.get((group.kind, group.name, metric, line[first]), 0)
                assert line[f"{group.kind}: {group_label(group)}"] == str(figure)
    stays = shown["Time in each state (business hours)"]
    assert len(stays) * len(DURATIONS) == sum(r["metric"].startswith("time_in") for r in rows)
    for line in stays:
        name = "desk" if line["kind"] == "desk" else line["group"]
        for metric, header, _ in DURATIONS:
            figure = value[(line["kind"], name, metric, line["state"])]
            assert line[header] == format_value(metric, figure)
    assert shown["Overview"][1]["escalation rate"] == "25.0%"  # first_level: 2 of 8


def test_csv_holds_the_rows_with_a_header(desk):
    report = desk.report()
    parsed = list(csv.DictReader(io.StringIO(to_csv(report))))
    expected = [{k: "" if v is None else str(v) for k, v in row.items()} for row in to_rows(report)]
    assert parsed == expected


# --- properties over a demo desk ---------------------------------------------------------

DEMO_NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
DEMO_START = DEMO_NOW - timedelta(days=125)
ADDITIVE = ("opened", "resolved", "escalations", "reopens", "escalated_in")


@pytest.fixture(scope="module")
def demo_desk(tmp_path_factory, definition) -> Desk:
    world = Desk(sqlite_db(tmp_path_factory.mktemp("report")), definition)
    generate_demo(world.engine, 80, 2013, DEMO_NOW)
    return world


instants = st.integers(0, int((DEMO_NOW - DEMO_START).total_seconds())).map(
    lambda s: DEMO_START + timedelta(seconds=s)
)


def _split_figures(figures) -> Counter:
    counts = Counter({name: getattr(figures, name) for name in ADDITIVE})
    counts.update({f"breach:{k}": v for k, v in figures.breaches.items()})
    counts.update({f"near:{k}": v for k, v in figures.near_misses.items()})
    counts["scores"] = figures.satisfaction.count
    return counts


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=instants, b=instants, c=instants)
def test_event_counts_of_two_adjacent_periods_add_up(demo_desk, a, b, c):
    a, b, c = sorted((a, b, c))
    if not a < b < c:
        return
    whole = demo_desk.report(Period(a, c, "ac"))
    first, second = demo_desk.report(Period(a, b, "ab")), demo_desk.report(Period(b, c, "bc"))
    assert _split_figures(whole.desk) == _split_figures(first.desk) + _split_figures(second.desk)
    assert whole.desk.handled <= first.desk.handled + second.desk.handled


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=instants, b=instants)
def test_counts_per_level_and_per_team_sum_to_the_desk(demo_desk, a, b):
    a, b = sorted((a, b))
    if a == b:
        return
    report = demo_desk.report(Period(a, b, "p"))
    desk = _split_figures(report.desk)
    assert sum((_split_figures(g) for g in report.levels), Counter()) == desk
    assert sum((_split_figures(g) for g in report.teams), Counter()) == desk
    stays = Counter()
    for group in report.levels:
        stays.update({k: d.count for k, d in group.time_in_state.items()})
    held = Counter({k: d.count for k, d in report.desk.time_in_state.items() if k in stays})
    assert stays == held
    assert report.desk.handled <= sum(g.handled for g in report.levels)
    assert all(not math.isnan(d.median_hours) for d in report.desk.time_in_state.values())
