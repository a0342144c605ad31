"""Reading external event logs: XES (IEEE 1849) and CSV, plain or gzipped.

XES is read through defusedxml's expat reader (no DTDs' entities, no external
references: a log is data from elsewhere), streamed in 64 KiB chunks, with
expat's element callbacks set on the defused parser directly (the defusing
handlers stay as defusedxml set them): its SAX layer's attributes object and
method per element cost more than the parse. ``xml.etree`` iterparse is slower
still here (its defused parser is the pure-Python one).

Both readers yield :class:`SourceCase` values: a case id, the trace's own
attributes (XES) and the attributes of each event, in the order the file lists
them (a position the import keys events by; it sorts them by time).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from defusedxml.common import DefusedXmlException
from defusedxml.expatreader import DefusedExpatParser

from states.errors import InvalidInput
from states.regular_files import open_regular

_CHUNK = 1 << 16
_ATTRIBUTE_TAGS = frozenset({"string", "date", "int", "float", "boolean", "id"})


@dataclass(slots=True)
class SourceCase:
    ref: str
    attrs: dict[str, str] = field(default_factory=dict)  # trace attributes (XES)
    events: list[dict[str, str]] = field(default_factory=list)  # in file order


def file_digest(path: Path) -> str:
    """SHA-256 of the file as stored: the identity re-imports are recognised by."""
    digest = hashlib.sha256()
    try:
        with open_regular(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise InvalidInput("file", str(path), f"a readable file ({exc.strerror or exc})") from None
    return digest.hexdigest()


def detect_format(path: Path, declared: str | None) -> str:
    if declared:
        return declared
    name = path.name.lower().removesuffix(".gz")
    for fmt in ("xes", "csv"):
        if name.endswith(f".{fmt}"):
            return fmt
    raise InvalidInput(
        "file",
        str(path),
        "a .xes or .csv file (optionally .gz), or set [source] format in the mapping",
    )


class LogReader:
    """The cases of a log, grouped by `case_id` (a trace attribute in XES, falling back
    to an event attribute; a column in CSV), read as they are iterated.

    XES is streamed: each trace is yielded as soon as it is read (a case id repeated in a
    later trace comes again, as its own case); a CSV file may list a case's rows
    anywhere, so it is read whole first. `position` says how far into the file (bytes
    as stored, compressed or not) the reader has got."""

    def __init__(self, path: Path, fmt: str, case_id: str, delimiter: str = ",") -> None:
        self.path, self.format, self.case_id, self.delimiter = path, fmt, case_id, delimiter
        self._file: IO[bytes] | None = None
        self._read = 0  # the position once the file is closed

    @property
    def position(self) -> int:
        file = self._file
        return self._read if file is None or file.closed else file.tell()

    def __iter__(self) -> Iterator[SourceCase]:
        path, fmt = self.path, self.format
        try:
            with open_regular(path, "rb") as file:
                self._file = file
                stream = _unpacked(file)
                if fmt == "xes":
                    yield from _xes_cases(stream, self.case_id, str(path))
                else:
                    yield from _csv_cases(stream, self.case_id, self.delimiter)
                self._read, self._file = file.tell(), None
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise InvalidInput("file", str(path), f"a readable {fmt} log ({reason})") from None


# What an element is, for the XES reader (by its local name: prefixes are dropped).
_OTHER, _ATTRIBUTE, _EVENT, _TRACE = 0, 1, 2, 3
_KINDS = {"event": _EVENT, "trace": _TRACE} | {tag: _ATTRIBUTE for tag in _ATTRIBUTE_TAGS}
_OUTSIDE = 1 << 30  # the depth attributes go to when the reader is in no trace


def _xes_cases(handle: IO[bytes], case_id: str, name: str) -> Iterator[SourceCase]:
    """Traces as cases: a trace's and each of its events' own attributes (the elements
    directly inside them); attributes nested in attributes or lists, and those of the log
    and its globals, are skipped.

    expat calls Python for every element, and that call is most of the time a log takes:
    so no Python is called when an element ends (expat appends its name to `ends`, in C),
    and where an element sits is told by depth instead: the depth of an element starting
    now is the count of starts so far less the count of ends. An event (or trace) has
    ended when an element starts at its depth or above."""
    done: list[SourceCase] = []
    ends: list[str] = []
    kinds = dict(_KINDS)
    starts = 0  # elements started since the last trace began, plus that trace's depth - 1
    into: dict[str, str] = {}  # where an attribute at depth `into_depth` goes
    into_depth = _OUTSIDE
    trace: SourceCase | None = None
    trace_depth = 0

    def start(name: str, attrs: list[str]) -> None:
        nonlocal starts
        starts += 1
        if kinds.get(name) == _ATTRIBUTE:  # most elements: keep this path short
            depth = starts - len(ends)
            if depth == into_depth:
                if len(attrs) == 4 and attrs[0] == "key" and attrs[2] == "value":
                    into[attrs[1]] = attrs[3]
                else:
                    into[_value(attrs, "key")] = _value(attrs, "value")
                return
            if depth > into_depth:  # inside an attribute or a list
                return
        element(name, attrs, starts - len(ends))

    def element(name: str, attrs: list[str], depth: int) -> None:
        """Any element but an attribute where `into` takes it: ends what ended, begins
        events and traces, and takes a trace's attributes that follow an event."""
        nonlocal starts, into, into_depth, trace, trace_depth
        kind = kinds.get(name)
        if kind is None:
            kind = kinds[name] = _KINDS.get(name.rpartition(":")[2], _OTHER)
        if trace is not None and depth <= trace_depth + 1 and into is not trace.attrs:
            into, into_depth = trace.attrs, trace_depth + 1  # the event ended
        if trace is not None and depth <= trace_depth:  # the trace ended
            done.append(_named(trace, case_id))
            trace, into, into_depth = None, {}, _OUTSIDE
        if kind == _ATTRIBUTE and depth == into_depth:
            into[_value(attrs, "key")] = _value(attrs, "value")
        elif kind == _EVENT and trace is not None and depth == trace_depth + 1:
            event: dict[str, str] = {}
            trace.events.append(event)
            into, into_depth = event, depth + 1
        elif kind == _TRACE:
            trace, trace_depth = SourceCase("", {}), depth
            into, into_depth = trace.attrs, depth + 1
            starts = depth  # count again from here, so that `ends` stays short
            ends.clear()

    parser = _FastParser(start, ends.append)
    try:
        read = 0
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            read += len(chunk)
            parser.feed(chunk)
            yield from done
            done.clear()
        if not read:
            raise InvalidInput("file", name, "an XES log (this file is empty)")
        parser.close()
    except DefusedXmlException as exc:
        raise InvalidInput(
            "file", name, f"XML without DTD entities or external references ({type(exc).__name__})"
        ) from None
    except Exception as exc:  # expat's and SAX's parse errors
        if type(exc).__name__ not in ("SAXParseException", "ExpatError"):
            raise
        raise InvalidInput("file", name, f"well-formed XES ({exc})") from None
    yield from done
    if trace is not None:
        yield _named(trace, case_id)


def _value(attrs: list[str], name: str) -> str:
    """The XML attribute `name` of an element, from expat's flat [name, value, ...] list."""
    for i in range(0, len(attrs) - 1, 2):
        if attrs[i] == name:
            return attrs[i + 1]
    return ""


def _named(trace: SourceCase, case_id: str) -> SourceCase:
    """The trace's case id: its own attribute, else its first event's, except for XES's
    ``concept:name``, which names an event's activity (a trace without its own name took
    its first activity's, and every such trace was merged into one case of that name)."""
    events = trace.events
    trace.ref = trace.attrs.get(case_id) or ""
    if not trace.ref and events and case_id != "concept:name":
        trace.ref = events[0].get(case_id, "")
    return trace


class _FastParser(DefusedExpatParser):
    """defusedxml's expat reader with element callbacks set on expat itself."""

    def __init__(self, start: Callable[..., None], end: Callable[[str], None]) -> None:
        super().__init__()
        self._start, self._end = start, end
        self.setContentHandler(_Ignore())

    def reset(self) -> None:
        super().reset()  # builds the expat parser and sets the defusing handlers
        parser: Any = self._parser
        parser.ordered_attributes = True  # a flat list: cheaper than a dict per element
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = None


class _Ignore:
    """A content handler for the SAX calls the fast callbacks leave (document start/end)."""

    def __getattr__(self, _name: str) -> Callable[..., None]:
        return lambda *args: None


def _unpacked(file: IO[bytes]) -> IO[bytes]:
    """`file` read from its start, through gzip when it is gzip-compressed (whatever its
    name says)."""
    packed = file.read(2) == b"\x1f\x8b"
    file.seek(0)
    return gzip.GzipFile(fileobj=file) if packed else file  # type: ignore[return-value]


def csv_header(path: Path, delimiter: str) -> list[str]:
    """The column names of the CSV file at `path` (gzip-compressed or not), none if empty."""
    try:
        with open_regular(path, "rb") as file:
            text = io.TextIOWrapper(_unpacked(file), encoding="utf-8-sig", newline="")
            return next(csv.reader(text, delimiter=delimiter), [])
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as exc:
        raise InvalidInput("file", str(path), f"a readable CSV file ({exc})") from None


def _csv_cases(handle: IO[bytes], case_id: str, delimiter: str) -> Iterator[SourceCase]:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    rows = csv.DictReader(text, delimiter=delimiter)
    if rows.fieldnames is None or case_id not in rows.fieldnames:
        found = ", ".join(rows.fieldnames or []) or "no header"
        raise InvalidInput("source.case_id", case_id, f"a column of the CSV file ({found})")
    cases: dict[str, SourceCase] = {}
    for row in rows:
        ref = row.get(case_id) or ""
        case = cases.get(ref)
        if case is None:
            case = cases[ref] = SourceCase(ref, {})
        case.events.append({k: v for k, v in row.items() if k is not None and v not in (None, "")})
    text.detach()  # the file stays the caller's to close (and to tell the position of)
    yield from cases.values()
