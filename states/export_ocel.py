"""The event log as OCEL 2.0 JSON: events related to the objects they concern.

Object types: ``case`` (attributes: the case's, as in the XES traces),
``customer`` and ``agent`` (whoever acted: a person, ``intake``, ``system:sla``).
Each event relates to its case (qualifier ``case``), the agent that did it
(``actor``) and the case's customer (``customer``); each case object relates to
its customer (``raised by``). Object ids are ``case:12``, ``customer:CUST-1``,
``agent:ana``; event ids ``12:3`` (case and sequence number).

Written as it is read: the events array streams to the file while the case
objects spill to a temporary file, then objects and types follow (JSON keys have
no order, and readers load the whole document anyway). Memory grows only with the
number of distinct customers, agents and event types.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any, BinaryIO

from states.eventlog import CASE_ATTRIBUTES, CLOCK_ATTRIBUTES, EVENT_DETAILS, LogCase, LogEvent
from states.export_xes import xes_time

_EVENT_STRINGS = ("from_state", "to_state", "from_level", "to_level", "level", "priority", "team",
                  *EVENT_DETAILS)  # fmt: skip
_INTEGERS = frozenset({"escalation_count", "reopen_count", "satisfaction"})
EVENT_ATTRIBUTES = (("seq", "integer"), ("recorded_at", "time"),
                    *((name, "string") for name in _EVENT_STRINGS))  # fmt: skip
CASE_OBJECT_ATTRIBUTES = tuple(
    (name, "integer" if name in _INTEGERS else "string")
    for name in (*CASE_ATTRIBUTES, *CLOCK_ATTRIBUTES)
)
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def write_ocel(stream: BinaryIO, log: Iterable[tuple[LogCase, list[LogEvent]]]) -> tuple[int, int]:
    """Write the OCEL 2.0 JSON document; returns (cases, events) written."""
    customers: set[str] = set()
    agents: set[str] = set()
    activities: set[str] = set()
    cases = events = 0
    with tempfile.TemporaryFile() as spill:
        stream.write(b'{"events":[')
        for case, case_events in log:
            customer = str(case.attributes.get("customer_id", ""))
            customers.add(customer)
            spill.write(b"," if cases else b"")
            spill.write(_encode(_case_object(case, customer)).encode())
            for event in case_events:
                agents.add(event.resource)
                activities.add(event.activity)
                stream.write(b"," if events else b"")
                stream.write(_encode(_event(event, customer)).encode())
                events += 1
            cases += 1
        stream.write(b'],"objects":[')
        spill.seek(0)
        shutil.copyfileobj(spill, stream)
    others = [{"id": f"customer:{c}", "type": "customer"} for c in sorted(customers)]
    others += [{"id": f"agent:{a}", "type": "agent"} for a in sorted(agents)]
    for index, other in enumerate(others):
        stream.write(b"," if cases or index else b"")
        stream.write(_encode({**other, "attributes": [], "relationships": []}).encode())
    event_attributes = [_declared(name, kind) for name, kind in EVENT_ATTRIBUTES]
    types = {
        "objectTypes": [
            {"name": "case", "attributes": [_declared(n, t) for n, t in CASE_OBJECT_ATTRIBUTES]},
            {"name": "customer", "attributes": []},
            {"name": "agent", "attributes": []},
        ],
        "eventTypes": [
            {"name": name, "attributes": event_attributes} for name in sorted(activities)
        ],
    }
    stream.write(b"]," + _encode(types)[1:].encode())
    return cases, events


def _case_object(case: LogCase, customer: str) -> dict[str, Any]:
    at = xes_time(case.opened_at)
    values = {**case.attributes, **case.clocks}
    return {
        "id": f"case:{case.case_id}",
        "type": "case",
        "attributes": [
            {"name": name, "time": at, "value": values[name]}
            for name, _ in CASE_OBJECT_ATTRIBUTES
            if name in values
        ],
        "relationships": [{"objectId": f"customer:{customer}", "qualifier": "raised by"}],
    }


def _event(event: LogEvent, customer: str) -> dict[str, Any]:
    attributes: list[dict[str, Any]] = [
        {"name": "seq", "value": event.seq},
        {"name": "recorded_at", "value": xes_time(event.recorded_at)},
    ]
    for name in _EVENT_STRINGS[:7]:
        value = getattr(event, name)
        if value is not None:
            attributes.append({"name": name, "value": value})
    attributes += [{"name": name, "value": value} for name, value in event.details.items()]
    return {
        "id": f"{event.case_id}:{event.seq}",
        "type": event.activity,
        "time": xes_time(event.occurred_at),
        "attributes": attributes,
        "relationships": [
            {"objectId": f"case:{event.case_id}", "qualifier": "case"},
            {"objectId": f"agent:{event.resource}", "qualifier": "actor"},
            {"objectId": f"customer:{customer}", "qualifier": "customer"},
        ],
    }


def _declared(name: str, kind: str) -> dict[str, str]:
    return {"name": name, "type": kind}
