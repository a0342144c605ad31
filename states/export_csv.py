"""The event log as CSV, in the shape process-mining tools import without a mapping.

One row per event, ordered by case and sequence: ``case_id``, ``activity``,
``timestamp`` (when it happened, ISO 8601 with microseconds and offset),
``resource``, then the event's attributes (as in the XES export), then the case's
attributes prefixed ``case:`` (pm4py's convention for trace attributes, so
``pm4py.format_dataframe`` keeps them as such). An attribute an event or a case does
not have is an empty cell. UTF-8, comma-separated, quoted where needed (RFC 4180).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import BinaryIO

from states.eventlog import CASE_ATTRIBUTES, CLOCK_ATTRIBUTES, EVENT_DETAILS, LogCase, LogEvent
from states.export_xes import xes_time

EVENT_COLUMNS = ("seq", "recorded_at", "from_state", "to_state", "from_level", "to_level",
                 "level", "priority", "team", *EVENT_DETAILS)  # fmt: skip
CASE_COLUMNS = tuple(f"case:{name}" for name in ("opened_at", *CASE_ATTRIBUTES, *CLOCK_ATTRIBUTES))
HEADER = ("case_id", "activity", "timestamp", "resource", *EVENT_COLUMNS, *CASE_COLUMNS)


def write_csv(stream: BinaryIO, log: Iterable[tuple[LogCase, list[LogEvent]]]) -> tuple[int, int]:
    """Write the header and one row per event; returns (cases, events) written."""
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=False)
    writer = csv.writer(text)
    writer.writerow(HEADER)
    cases = events = 0
    for case, case_events in log:
        case_cells = _case_cells(case)
        writer.writerows([*_event_cells(event), *case_cells] for event in case_events)
        cases += 1
        events += len(case_events)
    text.flush()
    text.detach()
    return cases, events


def _event_cells(event: LogEvent) -> list[object]:
    head = [event.case_id, event.activity, xes_time(event.occurred_at), event.resource]
    head += [event.seq, xes_time(event.recorded_at), event.from_state, event.to_state]
    head += [event.from_level, event.to_level, event.level, event.priority, event.team]
    return head + [event.details.get(key) for key in EVENT_DETAILS]


def _case_cells(case: LogCase) -> list[object]:
    cells: list[object] = [xes_time(case.opened_at)]
    cells += [case.attributes.get(name) for name in CASE_ATTRIBUTES]
    return cells + [case.clocks.get(name) for name in CLOCK_ATTRIBUTES]
