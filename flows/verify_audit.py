"""Flow ``verify_audit``: nightly, prove that no case's history was altered."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.runs import execute, logger
from flows.runtime import Runtime
from states.audit import verify_all
from states.errors import TierflowError

#: How many failing cases a run names in its counts (the log names them all).
NAMED = 100


class AuditFailed(TierflowError):
    """Some cases do not verify: the run fails, so Prefect and the ops page show it."""

    def __init__(self, counts: dict[str, Any]) -> None:
        failing = ", ".join(map(str, counts["failing_cases"]))
        super().__init__(f"{counts['failed']} of {counts['cases']} cases do not verify: {failing}")
        self.counts = counts  # the run log keeps them with the error


def verify_job(runtime: Runtime) -> dict[str, Any]:
    checks = verify_all(runtime.db)
    failing = [check for check in checks if not check.ok]
    for check in failing:
        logger().error("case %s does not verify: %s", check.case_id, "; ".join(check.problems))
    counts = {
        "cases": len(checks),
        "events": sum(check.events for check in checks),
        "failed": len(failing),
        "failing_cases": [check.case_id for check in failing[:NAMED]],
    }
    if failing:
        raise AuditFailed(counts)
    return counts


@flow(name="verify_audit", log_prints=False)
async def verify_audit() -> dict[str, Any]:
    """Verify every case: its hash chain event by event, and that replaying its events
    rebuilds the stored case. Fails, naming the cases, when any does not verify."""
    return execute("verify_audit", verify_job)
