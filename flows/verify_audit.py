"""Flow ``verify_audit``: nightly, prove that no case's history was altered, then anchor it."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.runs import execute, logger, utcnow
from flows.runtime import Runtime
from states.anchor import anchor_verified
from states.errors import TierflowError

#: How many failing cases a run names in its counts (the log names them all).
NAMED = 100


class AuditFailed(TierflowError):
    """Some cases do not verify: the run fails, so Prefect and the ops page show it."""

    def __init__(self, counts: dict[str, Any]) -> None:
        failing = ", ".join(map(str, counts["failing_cases"]))
        text = f"{counts['failed']} of {counts['cases']} cases do not verify: {failing}"
        if counts["anchor_problems"]:
            text += "; " + "; ".join(counts["anchor_problems"][:3])
        super().__init__(text)
        self.counts = counts  # the run log keeps them with the error


def verify_job(runtime: Runtime) -> dict[str, Any]:
    """Verify every chain and the history against the latest anchor; then, only if all
    of it verifies, append a new anchor (a failing history is never anchored)."""
    path = runtime.settings.resolved_anchor_file
    run = anchor_verified(runtime.db, runtime.audit_key(), path, utcnow())
    for check in run.failing:
        logger().error("case %s does not verify: %s", check.case_id, "; ".join(check.problems))
    anchor_problems = run.previous.problems()
    for problem in anchor_problems:
        logger().error("against the anchors in %s: %s", path, problem)
    failing = sorted({check.case_id for check in run.failing} | set(run.previous.changed))
    counts = {
        "cases": len(run.checks),
        "events": sum(check.events for check in run.checks),
        "failed": len(failing),
        "failing_cases": failing[:NAMED],
        "anchor_problems": anchor_problems[:NAMED],
        "anchored": run.written is not None,
        "anchor_root": run.written.root if run.written else None,
    }
    if run.written is None:
        raise AuditFailed(counts)
    return counts


@flow(name="verify_audit", log_prints=False)
async def verify_audit() -> dict[str, Any]:
    """Verify every case (its hash chain event by event, that replaying its events rebuilds
    the stored case, and that its history is the one the latest anchor fixed), then anchor
    every chain head. Fails, naming the cases, when any does not verify."""
    return execute("verify_audit", verify_job)
