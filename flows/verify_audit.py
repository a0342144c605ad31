"""Flow ``verify_audit``: nightly, prove that no case's history was altered."""

from __future__ import annotations

from prefect import flow

from flows.runs import logged_run, logger, work_task
from flows.runtime import Runtime
from states.audit import verify_all
from states.errors import TierflowError

#: How many failing cases a run names in its counts (all are in the log).
NAMED = 100


@work_task
def _verify(runtime: Runtime) -> dict[str, object]:
    checks = verify_all(runtime.db)
    failing = [check for check in checks if not check.ok]
    for check in failing:
        logger().error("case %s does not verify: %s", check.case_id, "; ".join(check.problems))
    return {
        "cases": len(checks),
        "events": sum(check.events for check in checks),
        "failed": len(failing),
        "failing_cases": [check.case_id for check in failing[:NAMED]],
    }


@flow(name="verify_audit", log_prints=False)
def verify_audit() -> dict[str, object]:
    """Verify every case: its hash chain event by event, and that replaying its events
    rebuilds the stored case. Fails (and names the cases) when any does not verify."""
    runtime = Runtime.from_env()
    with logged_run("verify_audit", runtime) as run:
        if run.skipped:
            return run.counts
        run.counts = _verify(runtime)
        logger().info("verified %(cases)s cases, %(events)s events: %(failed)s failed", run.counts)
        if run.counts["failed"]:
            raise AuditFailed(run.counts)
    return run.counts


class AuditFailed(TierflowError):
    """Some cases do not verify: the run fails so Prefect and the ops page show it."""

    def __init__(self, counts: dict[str, object]) -> None:
        super().__init__(
            f"{counts['failed']} of {counts['cases']} cases do not verify: "
            f"{', '.join(map(str, counts['failing_cases']))}"  # type: ignore[call-overload]
        )
