"""The event log as XES (IEEE 1849-2016), written as it is read: constant memory.

What a reader may rely on:

* the Concept, Time, Lifecycle and Organizational extensions are declared, and
  every event has ``concept:name`` (the event type: ``opened``, ``assign``,
  ``escalate``, ``sla_breached``...), ``time:timestamp`` (when it happened),
  ``lifecycle:transition`` (``complete``: tierflow's events are instantaneous
  facts) and ``org:resource`` (who did it: a person, ``intake`` or
  ``system:sla``/``system:points``); ``org:group`` is the case's team then;
* tierflow's own event attributes: ``seq`` (position in the case's hash chain),
  ``recorded_at`` (when it was written down), ``from_state``/``to_state``,
  ``from_level``/``to_level``, ``level`` (the tier holding the case after the
  event, ``first_level`` below the ladder), ``priority``, and where they apply
  ``clock``, ``action``, ``point``, ``reason``, ``flag`` (see
  :data:`states.eventlog.EVENT_DETAILS`);
* traces: ``concept:name`` is the case number; the case's attributes now
  (:data:`states.eventlog.CASE_ATTRIBUTES`), ``opened_at``, and one
  ``sla_<clock>`` attribute per clock with its outcome;
* the attributes every trace or event has are declared in ``<global>`` blocks,
  with classifiers by activity, activity and level, and resource;
* UTF-8; characters XML 1.0 cannot hold (control characters a free-text reason
  may carry) are written as U+FFFD; markup characters are escaped by the writer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import BinaryIO
from xml.sax.saxutils import XMLGenerator

from states.eventlog import LIFECYCLE, LogCase, LogEvent

XES_NAMESPACE = "http://www.xes-standard.org/"
EXTENSIONS = (
    ("Concept", "concept"),
    ("Time", "time"),
    ("Lifecycle", "lifecycle"),
    ("Organizational", "org"),
)
CLASSIFIERS = (
    ("Activity", "concept:name"),
    ("Activity and level", "concept:name level"),
    ("Resource", "org:resource"),
)
_EPOCH = "1970-01-01T00:00:00+00:00"
TRACE_GLOBALS = (("string", "concept:name", "UNKNOWN"), ("date", "opened_at", _EPOCH))
EVENT_GLOBALS = (
    ("string", "concept:name", "UNKNOWN"),
    ("date", "time:timestamp", _EPOCH),
    ("string", "lifecycle:transition", LIFECYCLE),
    ("string", "org:resource", "UNKNOWN"),
    ("int", "seq", "0"),
    ("date", "recorded_at", _EPOCH),
    ("string", "to_state", "UNKNOWN"),
    ("string", "level", "UNKNOWN"),
)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: object) -> str:
    """`value` as text XML 1.0 can hold: characters it cannot are replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(value))


def xes_time(at: datetime) -> str:
    """An xs:dateTime with microseconds and the UTC offset (what pm4py and ProM read)."""
    return at.isoformat(timespec="microseconds")


class XesWriter:
    """Writes one log element by element; call :meth:`write` with the cases in order."""

    def __init__(self, stream: BinaryIO, log_name: str) -> None:
        self._xml = XMLGenerator(stream, encoding="utf-8", short_empty_elements=True)
        self._log_name = log_name

    def write(self, log: Iterable[tuple[LogCase, list[LogEvent]]]) -> tuple[int, int]:
        """Write the whole document; returns (traces, events) written."""
        traces = events = 0
        self._head()
        for case, case_events in log:
            self._trace(case, case_events)
            traces += 1
            events += len(case_events)
        self._xml.ignorableWhitespace("\n")
        self._xml.endElement("log")
        self._xml.ignorableWhitespace("\n")
        self._xml.endDocument()
        return traces, events

    def _head(self) -> None:
        xml = self._xml
        xml.startDocument()
        xml.startElement(
            "log", {"xes.version": "1849-2016", "xes.features": "", "xmlns": XES_NAMESPACE}
        )
        for name, prefix in EXTENSIONS:
            uri = f"{XES_NAMESPACE}{prefix}.xesext"
            self._empty("extension", {"name": name, "prefix": prefix, "uri": uri}, 1)
        for scope, declared in (("trace", TRACE_GLOBALS), ("event", EVENT_GLOBALS)):
            self._open("global", {"scope": scope}, 1)
            for kind, key, value in declared:
                self._empty(kind, {"key": key, "value": value}, 2)
            self._close("global", 1)
        for name, keys in CLASSIFIERS:
            self._empty("classifier", {"name": name, "keys": keys}, 1)
        self._attribute("string", "concept:name", self._log_name, 1)
        self._attribute("string", "lifecycle:model", "standard", 1)

    def _trace(self, case: LogCase, events: list[LogEvent]) -> None:
        self._open("trace", {}, 1)
        self._attribute("string", "concept:name", str(case.case_id), 2)
        self._attribute("date", "opened_at", xes_time(case.opened_at), 2)
        for key, value in case.attributes.items():
            self._attribute("int" if isinstance(value, int) else "string", key, value, 2)
        for key, outcome in case.clocks.items():
            self._attribute("string", key, outcome, 2)
        for event in events:
            self._event(event)
        self._close("trace", 1)

    def _event(self, event: LogEvent) -> None:
        self._open("event", {}, 2)
        self._attribute("string", "concept:name", event.activity, 3)
        self._attribute("date", "time:timestamp", xes_time(event.occurred_at), 3)
        self._attribute("string", "lifecycle:transition", LIFECYCLE, 3)
        self._attribute("string", "org:resource", event.resource, 3)
        if event.team is not None:
            self._attribute("string", "org:group", event.team, 3)
        self._attribute("int", "seq", event.seq, 3)
        self._attribute("date", "recorded_at", xes_time(event.recorded_at), 3)
        for key in ("from_state", "to_state", "from_level", "to_level", "level", "priority"):
            value = getattr(event, key)
            if value is not None:
                self._attribute("string", key, value, 3)
        for key, value in event.details.items():
            self._attribute("string", key, value, 3)
        self._close("event", 2)

    def _attribute(self, kind: str, key: str, value: object, depth: int) -> None:
        self._empty(kind, {"key": key, "value": xml_text(value)}, depth)

    def _open(self, name: str, attrs: dict[str, str], depth: int) -> None:
        self._xml.ignorableWhitespace("\n" + "\t" * depth)
        self._xml.startElement(name, attrs)

    def _close(self, name: str, depth: int) -> None:
        self._xml.ignorableWhitespace("\n" + "\t" * depth)
        self._xml.endElement(name)

    def _empty(self, name: str, attrs: dict[str, str], depth: int) -> None:
        self._open(name, attrs, depth)
        self._xml.endElement(name)
