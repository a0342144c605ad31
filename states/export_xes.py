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
  may carry) are written as U+FFFD; markup characters and tabs or line breaks as
  character references (:func:`xml_attribute`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import BinaryIO

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
_NEEDS_WORK = re.compile(
    "[^\x20-\x21\x23-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                           "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})  # fmt: skip


def xml_text(value: object) -> str:
    """`value` as text XML 1.0 can hold: characters it cannot are replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(value))


def xml_attribute(value: object) -> str:
    """`value` escaped for a double-quoted XML attribute (markup characters and the
    whitespace an XML parser would otherwise normalise become character references)."""
    text = str(value)
    if _NEEDS_WORK.search(text) is None:  # the usual case: names, times, numbers
        return text
    return xml_text(text).translate(_ENTITIES)


def xes_time(at: datetime) -> str:
    """An xs:dateTime with microseconds and the UTC offset (what pm4py and ProM read)."""
    return at.isoformat(timespec="microseconds")


def _attribute(kind: str, key: str, value: object, indent: str) -> str:
    return f'{indent}<{kind} key="{key}" value="{xml_attribute(value)}"/>\n'


class XesWriter:
    """Writes one log trace by trace; call :meth:`write` with the cases in order.

    Elements are formatted here rather than through a generic XML writer (xml.sax's
    XMLGenerator made the export ~3x slower): every value goes through
    :func:`xml_attribute`, keys and element names are this module's constants.
    """

    def __init__(self, stream: BinaryIO, log_name: str) -> None:
        self._stream = stream
        self._log_name = log_name

    def write(self, log: Iterable[tuple[LogCase, list[LogEvent]]]) -> tuple[int, int]:
        """Write the whole document; returns (traces, events) written."""
        traces = events = 0
        self._stream.write(self._head().encode())
        for case, case_events in log:
            self._stream.write(self._trace(case, case_events).encode())
            traces += 1
            events += len(case_events)
        self._stream.write(b"</log>\n")
        return traces, events

    def _head(self) -> str:
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            f'<log xes.version="1849-2016" xes.features="" xmlns="{XES_NAMESPACE}">\n',
        ]
        for name, prefix in EXTENSIONS:
            uri = f"{XES_NAMESPACE}{prefix}.xesext"
            parts.append(f'\t<extension name="{name}" prefix="{prefix}" uri="{uri}"/>\n')
        for scope, declared in (("trace", TRACE_GLOBALS), ("event", EVENT_GLOBALS)):
            parts.append(f'\t<global scope="{scope}">\n')
            parts += [_attribute(kind, key, value, "\t\t") for kind, key, value in declared]
            parts.append("\t</global>\n")
        for name, keys in CLASSIFIERS:
            parts.append(f'\t<classifier name="{name}" keys="{keys}"/>\n')
        parts.append(_attribute("string", "concept:name", self._log_name, "\t"))
        parts.append(_attribute("string", "lifecycle:model", "standard", "\t"))
        return "".join(parts)

    def _trace(self, case: LogCase, events: list[LogEvent]) -> str:
        parts = ["\t<trace>\n", _attribute("string", "concept:name", case.case_id, "\t\t"),
                 _attribute("date", "opened_at", xes_time(case.opened_at), "\t\t")]  # fmt: skip
        for key, value in case.attributes.items():
            kind = "int" if isinstance(value, int) else "string"
            parts.append(_attribute(kind, key, value, "\t\t"))
        parts += [
            _attribute("string", key, outcome, "\t\t") for key, outcome in case.clocks.items()
        ]
        parts += [self._event(event) for event in events]
        parts.append("\t</trace>\n")
        return "".join(parts)

    @staticmethod
    def _event(event: LogEvent) -> str:
        at = "\t\t\t"
        parts = [
            "\t\t<event>\n",
            _attribute("string", "concept:name", event.activity, at),
            _attribute("date", "time:timestamp", xes_time(event.occurred_at), at),
            _attribute("string", "lifecycle:transition", LIFECYCLE, at),
            _attribute("string", "org:resource", event.resource, at),
        ]
        if event.team is not None:
            parts.append(_attribute("string", "org:group", event.team, at))
        parts.append(_attribute("int", "seq", event.seq, at))
        parts.append(_attribute("date", "recorded_at", xes_time(event.recorded_at), at))
        for key in ("from_state", "to_state", "from_level", "to_level", "level", "priority"):
            value = getattr(event, key)
            if value is not None:
                parts.append(_attribute("string", key, value, at))
        parts += [_attribute("string", key, value, at) for key, value in event.details.items()]
        parts.append("\t\t</event>\n")
        return "".join(parts)
