"""Reading external event logs: XES (IEEE 1849) and CSV, plain or gzipped.

XES is read through defusedxml's expat reader (no DTDs' entities, no external
references: a log is data from elsewhere), streamed in 64 KiB chunks. Its
SAX layer builds an attributes object and calls a method per element; on a
40 MB log that was most of the time, so the element callbacks are set on the
defused expat parser directly (the defusing handlers stay as defusedxml set
them). ``xml.etree`` iterparse is slower still here (its defused parser is
the pure-Python one).

Both readers yield :class:`SourceEvent` values grouped into
:class:`SourceCase` values by case id, in the order cases first appear; the
events of a case keep their position in the file (the import sorts them by
time, and keys them by position).
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

_CHUNK = 1 << 16
_ATTRIBUTE_TAGS = frozenset({"string", "date", "int", "float", "boolean", "id"})


@dataclass(slots=True)
class SourceEvent:
    position: int  # 0-based, in the order the file lists the case's events
    attrs: dict[str, str]


@dataclass(slots=True)
class SourceCase:
    ref: str
    attrs: dict[str, str] = field(default_factory=dict)  # trace attributes (XES)
    events: list[SourceEvent] = field(default_factory=list)


def file_digest(path: Path) -> str:
    """SHA-256 of the file as stored: the identity re-imports are recognised by."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
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


def _open(path: Path) -> IO[bytes]:
    try:
        handle = path.open("rb")
        magic = handle.read(2)
        handle.seek(0)
    except OSError as exc:
        raise InvalidInput("file", str(path), f"a readable file ({exc.strerror or exc})") from None
    return gzip.GzipFile(fileobj=handle) if magic == b"\x1f\x8b" else handle  # type: ignore[return-value]


def read_cases(path: Path, fmt: str, case_id: str, delimiter: str = ",") -> list[SourceCase]:
    """Every case of the log, grouped by `case_id` (a trace attribute in XES, falling back
    to an event attribute; a column in CSV)."""
    reader = _xes_traces if fmt == "xes" else _csv_rows
    cases: dict[str, SourceCase] = {}
    try:
        with _open(path) as handle:
            for ref, trace_attrs, events in reader(handle, case_id, delimiter):
                case = cases.get(ref)
                if case is None:
                    case = cases[ref] = SourceCase(ref, trace_attrs)
                for attrs in events:
                    case.events.append(SourceEvent(len(case.events), attrs))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput("file", str(path), f"a readable {fmt} log ({exc})") from None
    return list(cases.values())


def _xes_traces(
    handle: IO[bytes], case_id: str, _delimiter: str
) -> Iterator[tuple[str, dict[str, str], list[dict[str, str]]]]:
    """Traces as (case id, trace attributes, event attributes). Attributes nested in
    attributes, and those of the log and its globals, are skipped."""
    done: list[tuple[str, dict[str, str], list[dict[str, str]]]] = []
    trace: dict[str, str] = {}
    events: list[dict[str, str]] = []
    event: dict[str, str] = {}
    into: dict[str, str] | None = None  # where an attribute element at this depth goes
    nested = 0  # depth inside attribute elements
    attribute_tags = _ATTRIBUTE_TAGS

    def start(name: str, attrs: list[str]) -> None:
        nonlocal trace, events, event, into, nested
        if name in attribute_tags:
            if not nested and into is not None:
                if attrs[0] == "key" and len(attrs) > 3:
                    into[attrs[1]] = attrs[3]
                else:
                    named = dict(zip(attrs[::2], attrs[1::2], strict=False))
                    into[named.get("key", "")] = named.get("value", "")
            nested += 1
        elif name == "event" and into is trace:
            event = into = {}
        elif name == "trace":
            trace, events = {}, []
            into = trace

    def end(name: str) -> None:
        nonlocal into, nested
        if nested:
            nested -= 1
        elif name == "event" and into is event:
            events.append(event)
            into = trace
        elif name == "trace":
            ref = trace.get(case_id) or (events[0].get(case_id, "") if events else "")
            done.append((ref, trace, events))
            into = None

    parser = _FastParser(start, end)
    try:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            parser.feed(chunk)
            yield from done
            done.clear()
        parser.close()
    except DefusedXmlException as exc:
        raise InvalidInput(
            "file",
            "(XES)",
            f"XML without DTD entities or external references ({type(exc).__name__})",
        ) from None
    except Exception as exc:  # expat's and SAX's parse errors
        if type(exc).__name__ not in ("SAXParseException", "ExpatError"):
            raise
        raise InvalidInput("file", "(XES)", f"well-formed XML ({exc})") from None
    yield from done


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


def _csv_rows(
    handle: IO[bytes], case_id: str, delimiter: str
) -> Iterator[tuple[str, dict[str, str], list[dict[str, str]]]]:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    rows = csv.DictReader(text, delimiter=delimiter)
    if rows.fieldnames is None or case_id not in rows.fieldnames:
        found = ", ".join(rows.fieldnames or []) or "no header"
        raise InvalidInput("source.case_id", case_id, f"a column of the CSV file ({found})")
    for row in rows:
        attrs = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
        yield row.get(case_id) or "", {}, [attrs]
