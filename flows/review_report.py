"""Flow ``review_report``: the monthly and quarterly review of the escalation desk."""

from __future__ import annotations

import csv
from datetime import datetime
from typing import Literal

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.runs import logged_run, logger, utcnow, work_task
from flows.runtime import Runtime
from states.report import month_period, quarter_period, review, to_markdown, to_rows


@work_task
def _report(runtime: Runtime, period: str, now: datetime) -> dict[str, object]:
    start, end = (month_period if period == "month" else quarter_period)(now.date())
    report = review(runtime.db, runtime.policy, runtime.process, start, end)
    folder = runtime.settings.home / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"review-{period}-{start:%Y-%m-%d}"
    markdown = to_markdown(report)
    rows = to_rows(report)
    (folder / f"{stem}.md").write_text(markdown, encoding="utf-8")
    with (folder / f"{stem}.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["metric"])
        writer.writeheader()
        writer.writerows(rows)
    key = f"review-{period}"
    create_markdown_artifact(markdown, key=key, description=f"Review {start} to {end}")
    create_table_artifact(rows, key=f"{key}-table", description=f"Review {start} to {end}")
    return {
        "rows": len(rows),
        "markdown": str(folder / f"{stem}.md"),
        "csv": str(folder / f"{stem}.csv"),
    }


@flow(name="review_report", log_prints=False)
def review_report(period: Literal["month", "quarter"] = "month") -> dict[str, object]:
    """The review managers read on the first working day of the month (or quarter) for the
    period before it: per level and team, cases opened and resolved, escalation rate and
    reasons, time in each state in business time, breaches and near-misses, reopen rate,
    satisfaction and repeat customers. Written as Markdown and CSV under the data
    directory's reports/ and published as Prefect artifacts."""
    runtime = Runtime.from_env()
    with logged_run("review_report", runtime) as run:
        if run.skipped:
            return run.counts
        run.counts = _report(runtime, period, utcnow())
        logger().info("review written: %(markdown)s", run.counts)
    return run.counts
