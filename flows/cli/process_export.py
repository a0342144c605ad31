"""`tierflow process export`: the process definition for modelling tools and READMEs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli import render
from flows.cli.common import output_path, path_text, process_app, runtime, writing
from states.bpmn import process_bpmn
from states.errors import InvalidInput
from states.logexport import output_file
from states.mermaid import process_mermaid

PROCESS_FORMATS = ("bpmn", "mermaid")


@process_app.command("export")
def export(
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="bpmn|mermaid",
            help="bpmn (BPMN 2.0 XML with diagram) or mermaid (stateDiagram-v2 text).",
        ),
    ] = "bpmn",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", parser=path_text, help="Write to this file (default: standard output)."
        ),
    ] = None,
) -> None:
    """Export the process (--process, or the shipped one) with the SLA timers of the policy.

    BPMN: states as user tasks, one per rung of the escalation ladder, exclusive
    gateways for the guards, boundary timers with the policy's targets, and a laid-out
    diagram that bpmn.io and Camunda Modeler draw."""
    rt = runtime()
    if fmt not in PROCESS_FORMATS:
        raise InvalidInput("--format", fmt, "one of " + ", ".join(PROCESS_FORMATS))
    if output is not None:
        output_path("--output", output)
    text = process_bpmn(rt.process, rt.policy) if fmt == "bpmn" else process_mermaid(rt.process)
    if output is None:
        print(text, end="")  # (print writes nothing when standard output is closed)
        return
    with writing("--output", output), output_file(output) as stream:
        stream.write(text.encode("utf-8"))
    render.out(
        f"wrote the {fmt} of {render.safe(rt.process.version_id)} to {render.safe(str(output))}"
    )
