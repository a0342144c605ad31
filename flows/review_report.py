"""Flow ``review_report``: the monthly and quarterly review of the escalation desk."""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import FlowRunContext

from flows.runs import execute, utcnow
from flows.runtime import Runtime
from states.regular_files import write_regular
from states.report import desk_timezone, month_period, quarter_period, review
from states.report_files import report_stem
from states.report_text import to_csv, to_markdown, to_rows


def report_job(runtime: Runtime, period: str = "month") -> dict[str, Any]:
    zone = desk_timezone(runtime.policy)
    span = (month_period if period == "month" else quarter_period)(utcnow().date(), zone)
    report = review(
        runtime.db, runtime.policy, runtime.process, span.start, span.end, label=span.label
    )
    markdown, rows = to_markdown(report), to_rows(report)
    stem = report_stem(runtime.settings.home, span.label)
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_regular(stem.with_suffix(".md"), markdown)
    write_regular(stem.with_suffix(".csv"), to_csv(report))
    if FlowRunContext.get() is not None:  # artifacts belong to a Prefect run
        described = f"Review of {span.label} ({span.start:%Y-%m-%d} to {span.end:%Y-%m-%d})"
        create_markdown_artifact(markdown, key=f"review-{period}", description=described)
        create_table_artifact(rows, key=f"review-{period}-table", description=described)
    return {
        "period": span.label,
        "events": report.events_read,
        "rows": len(rows),
        "markdown": str(stem.with_suffix(".md")),
        "csv": str(stem.with_suffix(".csv")),
    }


@flow(name="review_report", log_prints=False)
async def review_report(period: Literal["month", "quarter"] = "month") -> dict[str, Any]:
    """The review managers read at the start of a month (or quarter), of the period
    before it: per level and team, cases opened and resolved, escalation rate and
    reasons, time in each state in business time, breaches and near-misses, reopen
    rate, satisfaction and repeat customers. Written as Markdown and CSV under the
    data directory's reports/ and published as Prefect artifacts."""
    return execute("review_report", report_job, period=period)
