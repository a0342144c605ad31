"""The review reports on disk: where `review_report` writes them and what is there.

Each run of the review writes ``review-LABEL.md`` and ``review-LABEL.csv``
under the data directory's ``reports/`` (a run for the same period replaces
them). The ops page lists them newest first, to read and download.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

FOLDER = "reports"
PREFIX = "review-"
SUFFIXES = (".md", ".csv")


@dataclass(frozen=True, slots=True)
class ReportFile:
    label: str  # the period, e.g. 2026-10 or 2026-Q3
    kind: str  # md | csv
    path: Path
    size: int
    written_at: datetime


def reports_folder(home: Path) -> Path:
    return home / FOLDER


def report_stem(home: Path, label: str) -> Path:
    """The path of a period's report without its suffix."""
    return reports_folder(home) / f"{PREFIX}{label}"


def report_files(home: Path) -> list[ReportFile]:
    """The reports under `home`, newest written first (none when nothing ran yet)."""
    folder = reports_folder(home)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if not (path.name.startswith(PREFIX) and path.suffix in SUFFIXES and path.is_file()):
            continue
        stat = path.stat()
        found.append(
            ReportFile(
                label=path.stem.removeprefix(PREFIX),
                kind=path.suffix.lstrip("."),
                path=path,
                size=stat.st_size,
                written_at=datetime.fromtimestamp(stat.st_mtime, UTC),
            )
        )
    return sorted(found, key=lambda report: (report.written_at, report.path.name), reverse=True)
