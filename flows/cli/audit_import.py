"""`tierflow audit import FILE --mapping MAP.toml`: external event logs as tierflow cases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli import render
from flows.cli.common import JsonOpt, audit_app, runtime
from states.errors import InvalidInput
from states.importer import ImportReport, open_log, write_log
from states.mapping import load_mapping


@audit_app.command("import")
def import_command(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="The event log: .xes or .csv, optionally .gz.")
    ],
    mapping: Annotated[
        str,
        typer.Option(
            "--mapping",
            metavar="MAP.toml",
            help="How the log's attributes map onto cases, states and levels: a TOML file, "
            "or the name of a shipped mapping (bpic2013).",
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Import an event log: each of its cases becomes a case whose history keeps the log's
    times, deviations from the process marked; nothing is sent; importing the same file
    again changes nothing."""
    if not mapping.strip():  # Path("") is the current directory: "cannot read: ."
        raise InvalidInput(
            "--mapping", mapping, "a mapping TOML file, or the name of a shipped one (bpic2013)"
        )
    rt = runtime()
    log = open_log(file, load_mapping(mapping, rt.process))
    with render.progress("importing", log.size, in_bytes=True) as advance:
        report = write_log(rt.db, log, rt.process, rt.policy, progress=advance)
    if report.rejected and not (report.imported or report.unchanged or report.conflicts):
        # every event refused: nothing in the file became a case (a partial import
        # lists what it refused and succeeds)
        reasons = ", ".join(f"{name} {count:,}" for name, count in report.rejected.most_common())
        raise InvalidInput(
            "FILE",
            str(file),
            f"a log with events tierflow can import; all {report.source_events:,} were "
            f"rejected ({reasons})",
        )
    if as_json:
        render.emit_json(report.as_dict())
        return
    for line in summary(report):
        render.out(line)


def summary(report: ImportReport) -> list[str]:
    """The report as a few lines for people."""
    seconds = report.read_seconds + report.write_seconds
    # the rate of an import that wrote something: a re-import that found every case
    # imported already read the file and wrote nothing, and has no rate to speak of
    rate = f" ({report.source_events / seconds:,.0f} events/s)" if report.events and seconds else ""
    lines = [
        f"{report.file} ({report.digest[:12]}), mapping {report.mapping}",
        f"cases: {report.cases:,} in the file, {report.imported:,} imported, "
        f"{report.unchanged:,} already imported, {len(report.conflicts):,} conflicting",
        f"events: {report.source_events:,} in the file, {report.events:,} imported, "
        f"{report.annotations:,} annotations, {report.suppressed:,} notifications suppressed",
        f"time: read {report.read_seconds:.1f} s, write {report.write_seconds:.1f} s{rate}",
    ]
    for title, counts in (
        ("deviations", report.deviations),
        ("unmapped activities", report.unmapped),
        ("unmapped values", report.unmapped_values),
        ("rejected", report.rejected),
    ):
        if counts:
            listed = ", ".join(f"{name} {count:,}" for name, count in counts.most_common())
            lines.append(f"{title}: {listed}")
    for ref, case_id in list(report.conflicts.items())[:10]:
        lines.append(f"conflict: {ref} is already case {case_id}, from another source")
    return lines
