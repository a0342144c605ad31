"""`tierflow audit conformance [--case ID] [--json]`: histories against the process."""

from __future__ import annotations

from typing import Annotated

from flows.cli import render
from flows.cli.common import JsonOpt, audit_app, runtime, whole_option
from states.commands import MAX_CASE_ID
from states.conformance import ConformanceReport, conformance
from states.store import read_connection


@audit_app.command("conformance")
def conformance_command(
    case_id: Annotated[
        int | None,
        whole_option("--case", metavar="ID", min=1, max=MAX_CASE_ID, help="One case only."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Whether each case's history follows the process: disallowed transitions, skipped
    levels, resolutions without acknowledgement, breaches by clock; totals per kind.
    Native and imported cases alike. Exit 0 either way: deviations are findings."""
    rt = runtime()
    with read_connection(rt.db) as conn:
        report = conformance(conn, rt.process, rt.policy, case_id)
    if as_json:
        cases = [c.as_dict() for c in report.cases if case_id is not None or not c.conforms]
        render.emit_json({**report.summary(), "deviating_cases": cases})
        return
    for line in lines(report, detail=case_id is not None):
        render.out(line)


def lines(report: ConformanceReport, detail: bool) -> list[str]:
    """Totals, then each finding of a single case (`detail`)."""
    s = report.summary()
    out = [
        f"cases: {s['cases']:,} ({s['imported']:,} imported), {s['conforming']:,} conform, "
        f"{s['deviating']:,} deviate",
        "findings per kind (cases with one):",
    ]
    for kind, count in s["totals"].items():
        out.append(f"  {kind}: {count:,} ({s['cases_with'][kind]:,} cases)")
    if s["breaches_by_clock"]:
        listed = ", ".join(f"{clock} {n:,}" for clock, n in s["breaches_by_clock"].items())
        out.append(f"breaches by clock: {listed}")
    if detail:
        for case in report.cases:
            ref = f" ({case.ref})" if case.ref else ""
            out.append(f"case {case.case_id}{ref}: {'conforms' if case.conforms else 'deviates'}")
            for f in case.findings:
                out.append(f"  #{f.seq} {f.kind}: {f.detail}")
    return out
