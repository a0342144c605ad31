"""`tierflow audit conformance [--case ID] [--from T] [--to T] [--list N] [--json]`:
histories against the process."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer

from flows.cli import render
from flows.cli.common import JsonOpt, audit_app, instant, runtime, whole_option
from states.commands import MAX_CASE_ID
from states.conformance import CaseConformance, ConformanceReport, conformance
from states.eventlog import LogFilter, check_filter
from states.store import read_connection


@audit_app.command("conformance")
def conformance_command(
    case_id: Annotated[
        int | None,
        whole_option("--case", metavar="ID", min=1, max=MAX_CASE_ID, help="One case only."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Only cases with an event that happened at or after this time (ISO 8601 "
            "with offset); each judged on its whole history.",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--to", help="Only cases with an event that happened before this time."),
    ] = None,
    listed: Annotated[
        int,
        whole_option(
            "--list",
            metavar="N",
            min=0,
            max=MAX_CASE_ID,
            help="Name at most N deviating cases, with their kinds of finding (0: all).",
        ),
    ] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Whether each case's history follows the process: disallowed transitions, skipped
    levels, resolutions without acknowledgement, breaches by clock; totals per kind, and
    the deviating cases by name. --from/--to take the cases an export of that period holds
    (`audit export --from --to`). Native and imported cases alike. Exit 0 either way:
    deviations are findings."""
    rt = runtime()
    where = LogFilter(
        since=None if since is None else instant("--from", since, future=True),
        until=None if until is None else instant("--to", until, future=True),
    )
    with read_connection(rt.db) as conn:
        check_filter(conn, rt.process, where)
        report = conformance(conn, rt.process, rt.policy, case_id, where=where)
    if as_json:
        cases = [c.as_dict() for c in report.cases if case_id is not None or not c.conforms]
        render.emit_json({**report.summary(), "deviating_cases": cases})
        return
    for line in lines(report, detail=case_id is not None, listed=listed):
        render.out(line)


def lines(report: ConformanceReport, detail: bool, listed: int = 0) -> list[str]:
    """Totals, then each finding of a single case (`detail`), else the first `listed`
    deviating cases (0: all) with their kinds of finding: the cases an auditor opens next."""
    s = report.summary()
    out = [
        f"cases: {s['cases']:,} ({s['imported']:,} imported), {s['conforming']:,} conform, "
        f"{s['deviating']:,} deviate",
        "findings per kind (cases with one):",
    ]
    for kind, count in s["totals"].items():
        out.append(f"  {kind}: {count:,} ({s['cases_with'][kind]:,} cases)")
    if s["breaches_by_clock"]:
        listed_clocks = ", ".join(f"{clock} {n:,}" for clock, n in s["breaches_by_clock"].items())
        out.append(f"breaches by clock: {listed_clocks}")
    if detail:
        for case in report.cases:
            out.append(f"case {_named(case)}: {'conforms' if case.conforms else 'deviates'}")
            for f in case.findings:
                out.append(f"  #{f.seq} {f.kind}: {f.detail}")
        return out
    deviating = [case for case in report.cases if not case.conforms]
    shown = deviating if listed == 0 else deviating[:listed]
    if shown:
        out.append("deviating cases (`--case ID` for the findings):")
    for case in shown:
        kinds = Counter(f.kind for f in case.findings)
        out.append(
            f"  case {_named(case)}: " + ", ".join(f"{kind} {n}" for kind, n in kinds.items())
        )
    if len(shown) < len(deviating):
        out.append(f"  … and {len(deviating) - len(shown):,} more (--list 0 names all)")
    return out


def _named(case: CaseConformance) -> str:
    return f"{case.case_id} ({render.safe(case.ref)})" if case.ref else str(case.case_id)
