"""A review report as Markdown for managers and as flat rows for spreadsheets.

Both are built from the same tables (:func:`tables`), so the Markdown and
the rows always carry the same figures. Rows are *long*: one row per
(group kind, group, metric, item) with fixed columns ``period, start, end,
group_kind, group, metric, item, value``; a spreadsheet user filters them or
pivots them (groups across, metrics down) without the columns ever changing
from one month to the next, whatever reasons, teams or states occurred.
Values in rows are raw numbers (rates as fractions, durations in business
hours); the Markdown shows the same numbers formatted (rates as percentages).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from states.report import ReviewReport
from states.report_fold import SCORES, Figures

ROW_COLUMNS = ("period", "start", "end", "group_kind", "group", "metric", "item", "value")

#: Overview metrics: (metric, column header, value of a group).
OVERVIEW: tuple[tuple[str, str, Callable[[Figures], Any]], ...] = (
    ("opened", "opened", lambda f: f.opened),
    ("escalated_in", "escalated in", lambda f: f.escalated_in),
    ("handled", "handled", lambda f: f.handled),
    ("resolved", "resolved", lambda f: f.resolved),
    ("escalations", "escalations", lambda f: f.escalations),
    ("escalation_rate", "escalation rate", lambda f: f.escalation_rate),
    ("reopens", "reopens", lambda f: f.reopens),
    ("reopen_rate", "reopen rate", lambda f: f.reopen_rate),
    ("breaches", "breaches", lambda f: sum(f.breaches.values())),
    ("near_misses", "near-misses", lambda f: sum(f.near_misses.values())),
    ("satisfaction_count", "satisfaction answers", lambda f: f.satisfaction.count),
    ("satisfaction_mean", "satisfaction mean", lambda f: f.satisfaction.mean),
    ("repeat_cases", "repeat-customer cases", lambda f: f.repeat_cases),
    ("repeat_customers", "repeat customers", lambda f: f.repeat_customers),
)

#: Breakdowns: (metric, section title, first column, items of a group).
BREAKDOWNS: tuple[tuple[str, str, str, Callable[[Figures], dict[str, int]]], ...] = (
    ("escalation_reason", "Escalation reasons", "reason", lambda f: f.escalation_reasons),
    ("escalation_point", "Escalations by escalation point", "point", lambda f: f.escalation_points),
    ("point_fired", "Escalation points that marked a case", "point", lambda f: f.points_fired),
    ("breaches", "SLA breaches per clock", "clock", lambda f: f.breaches),
    ("near_misses", "SLA near-misses per clock (warned, then met)", "clock",
     lambda f: f.near_misses),
    ("satisfaction_score", "Satisfaction scores (1-5)", "score",
     lambda f: {str(s): n for s, n in f.satisfaction.distribution.items()}),
)  # fmt: skip

DURATIONS = (
    ("time_in_state_stays", "stays", "count"),
    ("time_in_state_median_hours", "median (business h)", "median_hours"),
    ("time_in_state_p90_hours", "p90 (business h)", "p90_hours"),
)
_RATES = ("escalation_rate", "reopen_rate")


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the report: its metric(s), headers and cells (raw values)."""

    title: str
    metrics: tuple[str, ...]  # the metric of each value column, after `keys`
    keys: tuple[str, ...]  # leading label columns
    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def format_value(metric: str, value: Any) -> str:
    """How the Markdown shows a raw value: rates as percentages, none as a dash."""
    if value is None:
        return "-"
    if metric in _RATES:
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def group_label(figures: Figures) -> str:
    return "all cases" if figures.kind == "desk" else figures.name


def tables(report: ReviewReport) -> list[Table]:
    """The report's tables, in reading order."""
    groups = report.groups()
    names = tuple(f"{f.kind}: {group_label(f)}" for f in groups)
    out = [
        Table(
            "Overview",
            tuple(m for m, _, _ in OVERVIEW),
            ("kind", "group"),
            ("kind", "group", *(h for _, h, _ in OVERVIEW)),
            tuple((f.kind, group_label(f), *(get(f) for _, _, get in OVERVIEW)) for f in groups),
        )
    ]
    for metric, title, first, items in BREAKDOWNS:
        keys = list(dict.fromkeys(k for f in groups for k in items(f)))
        if metric == "satisfaction_score":
            keys = [str(s) for s in SCORES]
        out.append(
            Table(
                title,
                (metric,) * len(groups),
                (first,),
                (first, *names),
                tuple((key, *(items(f).get(key, 0) for f in groups)) for key in keys),
            )
        )
    out.append(
        Table(
            "Time in each state (business hours)",
            tuple(m for m, _, _ in DURATIONS),
            ("kind", "group", "state"),
            ("kind", "group", "state", *(h for _, h, _ in DURATIONS)),
            tuple(
                (f.kind, group_label(f), state, *(getattr(d, a) for _, _, a in DURATIONS))
                for f in groups
                for state, d in f.time_in_state.items()
            ),
        )
    )
    return out


def to_rows(report: ReviewReport) -> list[dict[str, Any]]:
    """Long rows (see the module doc): one per group, metric and item."""
    period = report.period
    base = {
        "period": period.label,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
    }
    groups = report.groups()
    rows: list[dict[str, Any]] = []

    def add(figures: Figures, metric: str, item: str, value: Any) -> None:
        rows.append(
            {**base, "group_kind": figures.kind, "group": figures.name, "metric": metric,
             "item": item, "value": value}
        )  # fmt: skip

    for f in groups:
        for metric, _, get in OVERVIEW:
            add(f, metric, "", get(f))
    for metric, _, _, items in BREAKDOWNS:
        for f in groups:
            for item, value in items(f).items():
                add(f, metric, item, value)
    for f in groups:
        for state, d in f.time_in_state.items():
            for metric, _, attribute in DURATIONS:
                add(f, metric, state, getattr(d, attribute))
    return rows


def to_csv(report: ReviewReport) -> str:
    """The rows as CSV text with a header line (empty values for figures that have none)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ROW_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(to_rows(report))
    return out.getvalue()


def to_markdown(report: ReviewReport) -> str:
    """Headed sections with tables, readable by a manager (and a Prefect artifact)."""
    period = report.period
    zone = str(period.start.tzinfo)
    desk = report.desk
    lines = [
        f"# Review {period.label}",
        "",
        f"Period: {period.start:%Y-%m-%d %H:%M} to {period.end:%Y-%m-%d %H:%M} ({zone}), "
        f"end excluded. {report.events_read} events read"
        + (f", generated {report.generated_at:%Y-%m-%d %H:%M %Z}." if report.generated_at else "."),
        "",
        f"The desk opened {desk.opened} cases and resolved {desk.resolved}; "
        f"{desk.escalations} escalations "
        f"({format_value('escalation_rate', desk.escalation_rate)} of {desk.handled} cases "
        f"handled), {desk.reopens} reopens, {sum(desk.breaches.values())} SLA breaches and "
        f"{sum(desk.near_misses.values())} near-misses.",
    ]
    for table in tables(report):
        lines += ["", f"## {table.title}", ""]
        if not table.rows:
            lines.append("Nothing in this period.")
            continue
        lines += _markdown_table(table)
    calendars = ", ".join(f"{team}: {name}" for team, name in report.calendars.items())
    lines += [
        "",
        "## How these figures are counted",
        "",
        "- An event counts in the period it happened in, for the level that acted and the "
        "team holding the case; resolved cases count at the level that resolved them.",
        "- Handled: cases a group held at some moment of the period. Escalation rate: "
        "escalations out of a group per case it handled. Reopen rate: reopens per resolution.",
        "- Time in a state: stays that ended in the period, in business hours of the team's "
        f"calendar ({calendars or 'default calendar'}); median and 90th percentile.",
        "- Near-miss: a clock that got its warning and was then met.",
        f"- Process {report.process_version}; policy {report.policy_version}.",
    ]
    return "\n".join(lines) + "\n"


def _markdown_table(table: Table) -> list[str]:
    width = len(table.keys)
    head = "| " + " | ".join(table.headers) + " |"
    rule = "|" + "|".join("---" if i < width else "---:" for i in range(len(table.headers))) + "|"
    body = []
    for row in table.rows:
        labels = [_escape(str(cell)) for cell in row[:width]]
        values = [format_value(m, v) for m, v in zip(table.metrics, row[width:], strict=True)]
        body.append("| " + " | ".join(labels + values) + " |")
    return [head, rule, *body]


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
