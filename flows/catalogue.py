"""The flows tierflow runs, by name, and the parameters a schedule may give each.

Parameters are read from the flows' own signatures (a ``Literal`` annotation
closes the values), so ``schedules.toml`` is validated against the code that
will run it, not against a list kept by hand.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any, Literal

from prefect import Flow

from flows.deliver_notifications import deliver_notifications
from flows.intake import intake
from flows.review_report import review_report
from flows.schedules import FlowParameter
from flows.sweep_timers import sweep_timers
from flows.verify_audit import verify_audit

FLOWS: dict[str, Flow[..., Any]] = {
    flow.name: flow
    for flow in (sweep_timers, deliver_notifications, intake, review_report, verify_audit)
}


def flow_catalogue() -> dict[str, dict[str, FlowParameter]]:
    return {name: _parameters(flow) for name, flow in FLOWS.items()}


def _parameters(flow: Flow[..., Any]) -> dict[str, FlowParameter]:
    hints = typing.get_type_hints(flow.fn)
    accepted = {}
    for name in inspect.signature(flow.fn).parameters:
        hint = hints[name]
        if typing.get_origin(hint) is Literal:
            choices = typing.get_args(hint)
            accepted[name] = FlowParameter(type(choices[0]), choices)
        else:
            kinds = [kind for kind in typing.get_args(hint) or (hint,) if kind is not type(None)]
            accepted[name] = FlowParameter(kinds[0])
    return accepted
