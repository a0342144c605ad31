"""Export the stored history as an event log file: XES, CSV or OCEL 2.0 JSON.

:func:`export_log` is what ``tierflow audit export`` runs. The file appears whole
or not at all: it is written beside its final name and renamed at the end, so an
error (or Ctrl-C) leaves no half-written log behind. A name ending in ``.gz`` is
gzip-compressed. The whole export reads one snapshot, so cases and events agree
even while the engine writes: a read transaction on SQLite (WAL) is one already, on
PostgreSQL it runs at REPEATABLE READ.
"""

from __future__ import annotations

import gzip
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection, Engine

from states.errors import InvalidInput
from states.eventlog import LogCase, LogEvent, LogFilter, check_filter, count_events, read_log
from states.export_csv import write_csv
from states.export_ocel import write_ocel
from states.export_xes import XesWriter
from states.process import ProcessDefinition
from states.store import read_connection

FORMATS = ("xes", "csv", "ocel")
GZIP_LEVEL = 6  # gzip's default 9 costs twice the time for ~3 % smaller logs


@dataclass(frozen=True)
class ExportSummary:
    format: str
    path: str
    cases: int
    events: int


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read connection that sees one snapshot of the database for as long as it is open."""
    with read_connection(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


def prepare_export(
    conn: Connection, definition: ProcessDefinition, where: LogFilter, fmt: str, path: Path
) -> int:
    """Check the format, filter and output path before anything is written; returns how
    many events the export will hold (for a progress bar)."""
    _check_target(fmt, path)
    check_filter(conn, definition, where)
    return count_events(conn, where)


def export_log(
    conn: Connection,
    definition: ProcessDefinition,
    where: LogFilter,
    fmt: str,
    path: Path,
    advance: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write the selected history to `path` in `fmt` (see :func:`prepare_export` first)."""
    _check_target(fmt, path)
    log = read_log(conn, where)
    if advance is not None:
        log = _reporting(log, advance)
    with output_file(path) as stream:
        if fmt == "xes":
            cases, events = XesWriter(stream, f"tierflow {definition.version_id}").write(log)
        elif fmt == "csv":
            cases, events = write_csv(stream, log)
        else:
            cases, events = write_ocel(stream, log)
    return ExportSummary(fmt, str(path), cases, events)


def _check_target(fmt: str, path: Path) -> None:
    """A format the export writes, and a path it may replace: a regular file or a new
    name in an existing directory. A FIFO or a device there was replaced by the log (the
    rename at the end), and any format but xes and csv was written as OCEL."""
    if fmt not in FORMATS:
        raise InvalidInput("--format", fmt, "one of " + ", ".join(FORMATS))
    allowed = "a regular file, or a new file name in an existing directory"
    if not path.parent.is_dir() or (os.path.lexists(path) and not path.is_file()):
        raise InvalidInput("--output", str(path), allowed)


@contextmanager
def output_file(path: Path) -> Iterator[BinaryIO]:
    """A binary stream that becomes `path` when the block ends without an error."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as raw:
            if path.name.endswith(".gz"):
                with gzip.GzipFile(
                    filename=path.name[:-3], mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL
                ) as packed:
                    yield packed  # type: ignore[misc]
            else:
                yield raw
        with suppress(FileNotFoundError):  # the log it replaces keeps its permissions
            os.chmod(partial, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _reporting(
    log: Iterator[tuple[LogCase, list[LogEvent]]], advance: Callable[[int], None]
) -> Iterator[tuple[LogCase, list[LogEvent]]]:
    for case, events in log:
        yield case, events
        advance(len(events))
