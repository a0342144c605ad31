"""Changing a schedule, and the record of who changed which schedule, when, how.

``set_schedule`` edits the schedules file in place with ``tomlkit`` (comments
and layout kept) and writes it only after the edited text validates, so a
bad cron leaves the file byte for byte as it was. ``tierflow schedules set``
and the dashboard's ops page both call it: one validated path for every edit.

Every change it writes is appended as one JSON line to
``schedules.changes.jsonl`` beside the file (:func:`changes_file`), naming
the actor. A schedules file is configuration on disk, not case history, so
its record lives next to it rather than in the database (which the
dashboard only reads). Lines are only ever appended.
"""

from __future__ import annotations

import getpass
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import tomlkit

from flows.schedules import FlowCatalogue, FlowSchedule, Schedules, parse_schedules
from states import fields as check
from states.errors import ScheduleError


@dataclass(frozen=True, slots=True)
class ScheduleChange:
    """One recorded edit: the options given, the schedule before and after, in one line."""

    at: datetime
    actor: str
    schedule: str
    change: dict[str, Any]
    before: str
    after: str
    file: str


def set_schedule(
    path: Path,
    name: str,
    catalogue: FlowCatalogue,
    *,
    cron: str | None = None,
    interval: str | None = None,
    pause: bool = False,
    resume: bool = False,
    paused_between: tuple[str, str] | None = None,
    clear_window: bool = False,
    source: Path | None = None,
    actor: str | None = None,
) -> Schedules:
    """Change schedule `name` in the file at `path` and return the file as it now stands.

    The edit is made on the text read from `source` (default: `path`; the
    shipped file when ops have none yet), validated whole, and only then
    written to `path` (atomically): on any error the file is unchanged. The
    change is recorded with `actor` (default: the login name of this process).
    """
    actor = default_actor() if actor is None else actor
    check.name("actor", actor, required=True)
    origin = source or path
    try:
        text = origin.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleError(str(origin), "(file)", f"cannot read: {exc}") from None
    current = parse_schedules(text, str(origin), catalogue)
    if name not in current.entries:
        current.get(name)  # raises, naming the known schedules
    if cron is not None and interval is not None:
        raise ScheduleError(str(path), f"schedules.{name}", "give one of --cron or --interval")
    if pause and resume:
        raise ScheduleError(str(path), f"schedules.{name}", "give one of --pause or --resume")
    document = tomlkit.parse(text)
    entry = document["schedules"][name]  # type: ignore[index]
    if cron is not None:
        entry.pop("interval", None)  # type: ignore[union-attr]
        entry["cron"] = cron  # type: ignore[index]
    if interval is not None:
        entry.pop("cron", None)  # type: ignore[union-attr]
        entry["interval"] = interval  # type: ignore[index]
    if pause or resume:
        entry["paused"] = pause  # type: ignore[index]
    if paused_between is not None:
        entry["paused_between"] = [_date_or_text(day) for day in paused_between]  # type: ignore[index]
    if clear_window:
        entry.pop("paused_between", None)  # type: ignore[union-attr]
    edited = tomlkit.dumps(document)
    result = parse_schedules(edited, str(path), catalogue)
    _write_atomically(path, edited)
    asked: dict[str, Any] = {
        "cron": cron,
        "interval": interval,
        "paused_between": list(paused_between) if paused_between else None,
        "pause": pause or None,
        "resume": resume or None,
        "clear_window": clear_window or None,
    }
    record_change(
        path,
        ScheduleChange(
            at=datetime.now(UTC),
            actor=actor,
            schedule=name,
            change={key: value for key, value in asked.items() if value is not None},
            before=summary(current.get(name)),
            after=summary(result.get(name)),
            file=str(path),
        ),
    )
    return result


def summary(entry: FlowSchedule) -> str:
    """A schedule in one line: when it runs, whether paused, its pause window."""
    text = entry.when + (", paused" if entry.paused else "")
    if entry.paused_between:
        first, last = entry.paused_between
        text += f", skips {first} to {last}"
    return text


def default_actor() -> str:
    """Who runs this process, for callers that name no one (the login name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def changes_file(path: Path) -> Path:
    """Where the edits of the schedules file at `path` are recorded."""
    return path.with_name(f"{path.stem}.changes.jsonl")


def record_change(path: Path, change: ScheduleChange) -> None:
    """Append `change` to the record of the schedules file at `path` (one line, synced)."""
    fields = {
        "at": change.at.astimezone(UTC).isoformat(timespec="seconds"),
        "actor": change.actor,
        "schedule": change.schedule,
        "change": change.change,
        "before": change.before,
        "after": change.after,
        "file": change.file,
    }
    with changes_file(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps(fields, sort_keys=True, default=str) + "\n")
        out.flush()
        os.fsync(out.fileno())


def read_changes(path: Path, limit: int = 50) -> list[ScheduleChange]:
    """The latest `limit` edits of the schedules file at `path`, newest first (a line
    that cannot be read, e.g. one cut short by a crash, is left out)."""
    try:
        lines = changes_file(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found: list[ScheduleChange] = []
    for line in reversed(lines):
        if len(found) >= limit:
            break
        try:
            data = json.loads(line)
            data["at"] = datetime.fromisoformat(data["at"])
            found.append(ScheduleChange(**data))
        except (ValueError, TypeError, KeyError):
            continue
    return found


def _date_or_text(text: str) -> date | str:
    """A TOML date where `text` is one; else the text, for validation to name."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
