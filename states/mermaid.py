"""The process definition as a Mermaid ``stateDiagram-v2`` (GitHub draws it in a README).

:func:`process_mermaid` is what ``tierflow process export --format mermaid`` prints,
and the README's diagram is that output (a test keeps them equal). One arrow per
(source, destination) pair, labelled with its triggers in the process file's order;
a state that carries a level is drawn as a composite state holding the ladder, each
``escalate`` one rung up; transitions that keep the state (``acknowledge``, waiting)
are loops; a state left only by ``reopen`` may end the case.
"""

from __future__ import annotations

from itertools import pairwise

from states.process import ProcessDefinition

INDENT = "    "


def process_mermaid(definition: ProcessDefinition) -> str:
    """The diagram text, ending with a newline; the same definition gives the same text."""
    arrows: dict[tuple[str, str], list[str]] = {}
    for spec in definition.transitions:
        for source in spec.sources:
            dest = spec.dest or source
            if spec.trigger == "escalate" and source == dest:
                continue  # one rung up: drawn inside the ladder
            triggers = arrows.setdefault((source, dest), [])
            if spec.trigger not in triggers:
                triggers.append(spec.trigger)
    lines = ["stateDiagram-v2", f"{INDENT}[*] --> {definition.initial}"]
    for state in definition.states:
        if state.carries_level:
            lines += _ladder(definition, state.name)
    lines += [f"{INDENT}{s} --> {d}: {', '.join(t)}" for (s, d), t in arrows.items()]
    for state in definition.states:
        leaving = {t.trigger for t in definition.transitions if state.name in t.sources and t.dest}
        if leaving <= {"reopen"}:
            lines.append(f"{INDENT}{state.name} --> [*]: closed")
    return "\n".join(lines) + "\n"


def _ladder(definition: ProcessDefinition, state: str) -> list[str]:
    rungs = [f"{state}_{level}" for level in definition.level_names]
    lines = [f"{INDENT}state {state} {{"]
    lines += [f'{INDENT * 2}state "{level.title}" as {rung}'
              for level, rung in zip(definition.ladder, rungs, strict=True)]  # fmt: skip
    lines.append(f"{INDENT * 2}[*] --> {rungs[0]}")
    lines += [f"{INDENT * 2}{low} --> {high}: escalate" for low, high in pairwise(rungs)]
    lines.append(f"{INDENT}}}")
    return lines
