"""Intake sources: a watched folder of JSONL/CSV files and a Maildir (I/O only).

What a caller (the `intake` flow) may rely on:

* `process_folder` takes each ``*.jsonl``, ``*.ndjson`` and ``*.csv`` file of
  the folder in name order (names starting with ``.`` are skipped: write a
  file under such a name, then rename it, so a half-written file is never
  read). The good rows are applied, the refused ones written to
  ``rejected/<file>.errors.jsonl`` (one object per line: row, field, value,
  reason), then the file moves to ``done/`` (a clash gets ``.1``, ``.2``…
  before the extension). A crash at any point leaves the file where it was;
  processing it again acts once per row (see :mod:`states.intake`).
* `process_maildir` reads every message not yet seen (no ``S`` flag, in
  ``new/`` or ``cur/``), applies them, then marks each seen (moved to
  ``cur/`` with flag ``S``; a rejected one also gets ``F``, flagged for a
  person). The same mail read twice opens nothing twice: its Message-ID is
  its idempotency key.

Parsing and applying are `states.intake`'s; nothing here imports Prefect.
"""

from __future__ import annotations

import csv
import email
import fcntl
import io
import json
import mailbox
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from states.engine import Engine
from states.errors import ConfigError
from states.intake import IntakeResult, Record, RowError, apply_records
from states.intake_mail import record_from_mail
from states.intake_rows import COLUMNS, record_from_row

JSON_SUFFIXES = (".jsonl", ".ndjson")
SUFFIXES = (*JSON_SUFFIXES, ".csv")


@dataclass(slots=True)
class FileReport:
    """One file of the folder: what it did and where it went."""

    name: str
    result: IntakeResult
    moved_to: Path | None = None  # None: it stayed in place (it could not be read)
    errors_file: Path | None = None
    error: str | None = None


@dataclass(slots=True)
class FolderReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def total(self) -> IntakeResult:
        total = IntakeResult()
        for report in self.files:
            total.add(report.result)
        return total


@dataclass(slots=True)
class MailReport:
    read: int = 0  # messages not seen before this run
    result: IntakeResult = field(default_factory=IntakeResult)
    rejected_keys: list[str] = field(default_factory=list)  # mailbox keys, flagged F


def read_folder_file(path: Path) -> list[Record | RowError]:
    """The records of one JSONL or CSV file, in file order; a row that cannot be read
    is a `RowError` for its line, a file that cannot be read at all one for line 1."""
    data = path.read_bytes()
    if path.suffix.lower() in JSON_SUFFIXES:
        return _jsonl(data, path.name)
    return _csv(data, path.name)


def _jsonl(data: bytes, source: str) -> list[Record | RowError]:
    items: list[Record | RowError] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            shown = line.decode("utf-8", "replace")
            items.append(RowError(number, "line", shown, f"not UTF-8 (byte {exc.start + 1})"))
            continue
        try:
            row = json.loads(
                text,
                object_pairs_hook=_each_key_once,
                parse_float=Decimal,  # "amount": 12.50 is a number, not a float's approximation
            )  # NaN and Infinity stay floats, which no field takes
        except (ValueError, RecursionError) as exc:
            items.append(RowError(number, "line", text, f"not JSON: {exc}"))
            continue
        if not isinstance(row, dict):
            items.append(RowError(number, "line", text, "a JSON object, one per line"))
            continue
        items.append(record_from_row(row, source, number, text))
    return items


def _each_key_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once: a second "customer_id" silently won
    (a CSV header naming a column twice is refused too)."""
    row = dict(pairs)
    if len(row) < len(pairs):
        twice = next(key for i, (key, _) in enumerate(pairs) if key in dict(pairs[:i]))
        raise ValueError(f"each key once ({twice!r} twice)")
    return row


def _csv(data: bytes, source: str) -> list[Record | RowError]:
    text = data.decode("utf-8-sig", errors="surrogateescape")
    # A cell longer than the csv module's limit (128 KiB) ended the file there, every row
    # after it lost unsaid; read whole, it is refused alone by the field it is in.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""))
    items: list[Record | RowError] = []
    header: list[str] | None = None
    line = 0
    try:
        for cells in reader:
            number, line = line + 1, reader.line_num
            if not cells or cells == [""]:
                continue
            bad = next((i for i, cell in enumerate(cells) if not _is_utf8(cell)), None)
            if header is None:
                header = [cell.strip() for cell in cells]
                problem = _header_problem(header, bad)
                if problem:
                    return [RowError(number, "header", ",".join(cells), problem)]
                continue
            if bad is not None:
                name = header[bad] if bad < len(header) else "row"
                shown = cells[bad].encode(errors="surrogateescape").decode("utf-8", "replace")
                items.append(RowError(number, name, shown, "not UTF-8"))
            elif len(cells) > len(header):
                reason = f"{len(cells)} cells; the header has {len(header)} columns"
                items.append(RowError(number, "row", "\x1f".join(cells), reason))
            else:
                row = dict(zip(header, cells, strict=False))
                items.append(record_from_row(row, source, number, "\x1f".join(cells)))
    except csv.Error as exc:
        items.append(RowError(line + 1, "row", None, f"not CSV from here on: {exc}"))
    return items


def _is_utf8(cell: str) -> bool:
    return not any("\udc80" <= char <= "\udcff" for char in cell)


def _header_problem(header: list[str], bad: int | None) -> str | None:
    """Why the header makes every row unreadable (one error for the file, not one a row)."""
    if bad is not None:
        return "not UTF-8"
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        return f"unknown column {unknown[0]!r}; allowed: {', '.join(COLUMNS)}"
    seen = [name for i, name in enumerate(header) if name in header[:i]]
    return f"each column once ({seen[0]!r} twice)" if seen else None


def process_folder(engine: Engine, folder: Path, now: datetime, batch: int = 1000) -> FolderReport:
    """Apply every intake file in `folder`, then move it to ``done/`` (see the module doc)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(str(folder), "folder", "not a directory")
    for name in ("done", "rejected"):  # checked before any row is applied, not after
        if (folder / name).exists() and not (folder / name).is_dir():
            raise ConfigError(str(folder / name), "folder", f"not a directory; {name}/ is needed")
    report = FolderReport()
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in SUFFIXES or not path.is_file():
            continue
        with _claimed(path) as mine:
            if mine:
                report.files.append(process_file(engine, path, now, batch))
    return report


@contextmanager
def _claimed(path: Path) -> Iterator[bool]:
    """Whether this run holds `path` for as long as the block lasts: a lock on the file,
    taken without waiting. Another intake run on the same folder (a scheduled one beside
    one by hand) that holds it, or that moved it to done/ already, leaves it to that run;
    both reading it failed all runs but one (the file gone when they moved it) and left
    an errors file for a done/ file that did not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            still_here = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            still_here = False
        yield still_here
    finally:
        os.close(fd)  # and the lock with it


def process_file(engine: Engine, path: Path, now: datetime, batch: int = 1000) -> FileReport:
    """One file: apply it, write its rejected rows, move it to ``done/``."""
    try:
        items = read_folder_file(path)
    except OSError as exc:
        return FileReport(path.name, IntakeResult(), error=f"cannot read {path.name}: {exc}")
    records = [item for item in items if isinstance(item, Record)]
    result = apply_records(engine, records, now, batch)
    unread = [item for item in items if isinstance(item, RowError)]
    result.rejected = sorted([*unread, *result.rejected], key=lambda error: error.row)
    done = path.parent / "done"
    done.mkdir(exist_ok=True)
    target = _free_name(done, path.name)
    errors_file = None
    if result.rejected:
        errors_file = path.parent / "rejected" / f"{target.name}.errors.jsonl"
        lines = [_json_line(error.as_dict()) for error in result.rejected]
        _write_atomically(errors_file, "\n".join(lines) + "\n")
    _move(path, target)
    return FileReport(path.name, result, target, errors_file)


def _json_line(value: dict[str, Any]) -> str:
    """One JSON line, UTF-8 as written where it can be: a value holding a lone surrogate
    (a row's "\\ud800", refused for it) is written with escapes, as JSON allows; written
    raw it failed the whole file's intake at every run (UnicodeEncodeError)."""
    line = json.dumps(value, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)
    return line


def _free_name(folder: Path, name: str) -> Path:
    stem, dot, suffix = name.rpartition(".")
    candidate, n = folder / name, 0
    while candidate.exists():
        n += 1
        candidate = folder / f"{stem}.{n}{dot}{suffix}"
    return candidate


def _move(path: Path, target: Path) -> None:
    """Move without overwriting: a link then an unlink (a rename where links fail)."""
    while True:
        try:
            os.link(path, target)
        except FileExistsError:
            target = _free_name(target.parent, target.name)
            continue
        except OSError:
            os.replace(path, target)
            return
        os.unlink(path)
        return


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(text, encoding="utf-8")
    os.replace(scratch, path)


def is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def process_maildir(
    engine: Engine, maildir: Path, now: datetime, batch: int = 1000, acknowledge: bool = True
) -> MailReport:
    """Apply every mail not yet seen, then mark each seen (see the module doc); with
    `acknowledge`, a case a mail opens is acknowledged to its sender, in the transaction
    that opens it (`states.acknowledgement`)."""
    maildir = Path(maildir)
    if not is_maildir(maildir):
        raise ConfigError(str(maildir), "maildir", "not a Maildir (cur/, new/ and tmp/ needed)")
    box = mailbox.Maildir(maildir, factory=None, create=False)
    keys: list[str] = []
    items: list[Record | RowError] = []
    for key in sorted(box.iterkeys()):
        if "S" in box.get_message(key).get_flags():
            continue
        raw = box.get_bytes(key)
        message = email.message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
        keys.append(key)
        items.append(record_from_mail(message, raw, maildir.name, len(keys), acknowledge))
    result = apply_records(engine, [item for item in items if isinstance(item, Record)], now, batch)
    result.rejected.extend(item for item in items if isinstance(item, RowError))
    report = MailReport(len(keys), result)
    refused = {error.row for error in result.rejected}
    for number, key in enumerate(keys, start=1):
        flags = "FS" if number in refused else "S"
        _mark_seen(box, key, flags)
        if number in refused:
            report.rejected_keys.append(key)
    return report


def _mark_seen(box: mailbox.Maildir, key: str, flags: str) -> None:
    message = box.get_message(key)
    message.set_subdir("cur")
    message.add_flag(flags)
    box[key] = message
