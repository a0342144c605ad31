"""The flows tierflow runs, by name, and the parameters a schedule may give each.

Parameters are read from the flows' own signatures (a ``Literal`` annotation
closes the values), so ``schedules.toml`` is validated against the code that
will run it, not against a list kept by hand.
"""

from __future__ import annotations

import inspect
import typing
from typing import Annotated, Any, Literal

from annotated_types import Interval
from prefect import Flow

from flows.deliver_notifications import deliver_job, deliver_notifications
from flows.intake import intake, intake_job
from flows.review_report import report_job, review_report
from flows.runs import Job
from flows.schedules import FlowParameter
from flows.sweep_timers import sweep_job, sweep_timers
from flows.verify_audit import verify_audit, verify_job

FLOWS: dict[str, Flow[..., Any]] = {
    flow.name: flow
    for flow in (sweep_timers, deliver_notifications, intake, review_report, verify_audit)
}
#: Each flow's work as a plain function (see flows.runs.execute).
JOBS: dict[str, Job] = {
    "sweep_timers": sweep_job,
    "deliver_notifications": deliver_job,
    "intake": intake_job,
    "review_report": report_job,
    "verify_audit": verify_job,
}


def flow_catalogue() -> dict[str, dict[str, FlowParameter]]:
    return {name: _parameters(flow) for name, flow in FLOWS.items()}


def _parameters(flow: Flow[..., Any]) -> dict[str, FlowParameter]:
    """Each parameter's type, its values if a ``Literal`` closes them, and its bounds if an
    ``Annotated[int, Interval(ge=…, le=…)]`` sets them (as Prefect itself enforces them)."""
    hints = typing.get_type_hints(flow.fn, include_extras=True)
    accepted = {}
    for name in inspect.signature(flow.fn).parameters:
        hint, low, high = hints[name], None, None
        if typing.get_origin(hint) is Annotated:
            hint, *extras = typing.get_args(hint)
            for extra in extras:
                if isinstance(extra, Interval):
                    low, high = extra.ge, extra.le
        if typing.get_origin(hint) is Literal:
            choices = typing.get_args(hint)
            accepted[name] = FlowParameter(type(choices[0]), choices)
        else:
            kinds = [kind for kind in typing.get_args(hint) or (hint,) if kind is not type(None)]
            accepted[name] = FlowParameter(kinds[0], low=low, high=high)  # type: ignore[arg-type]
    return accepted
