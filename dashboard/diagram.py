"""The process as a Graphviz DOT diagram, drawn from its definition, so a changed
process draws itself: states (a state that carries a level is a box of the ladder's
levels) with the cases in each and their median wait, and the transitions the
process allows, weighted by how often cases took them in the period (dashed where
none did)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from states.durations import format_duration
from states.pipeline_view import Flow, Position
from states.process import ProcessDefinition


def node_id(state: str, level: str | None) -> str:
    return f"{state}__{level}" if level else state


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def process_dot(
    process: ProcessDefinition, positions: Iterable[Position], flows: Iterable[Flow]
) -> str:
    """DOT text of `process` with `positions` on its nodes and `flows` on its edges."""
    where = {(p.state, p.level): p for p in positions}
    moved: dict[tuple[str, str], int] = {}
    for flow in flows:
        key = (node_id(flow.from_state, flow.from_level), node_id(flow.to_state, flow.to_level))
        moved[key] = moved.get(key, 0) + flow.count
    busiest = max(moved.values(), default=1)
    lines = [
        "digraph process {",
        "  rankdir=LR; compound=true; nodesep=0.35; ranksep=0.6;",
        '  node [shape=box, style="rounded,filled", fillcolor="#f4f6fa", color="#8a94a6",'
        ' fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#5b6b8c"];',
    ]
    for spec in process.states:
        if not spec.carries_level:
            text = _label(spec.title, where, spec.name, None)
            lines.append(f"  {_quote(spec.name)} [label={_quote(text)}];")
            continue
        lines.append(f"  subgraph {_quote('cluster_' + spec.name)} {{")
        lines.append(f'    label={_quote(spec.title)}; style="rounded,dashed"; color="#8a94a6";')
        for level in process.ladder:
            text = _label(f"{level.title} ({level.name})", where, spec.name, level.name)
            lines.append(f"    {_quote(node_id(spec.name, level.name))} [label={_quote(text)}];")
        lines.append("  }")
    drawn = set(moved)
    for (source, dest), count in sorted(moved.items()):
        width = 1 + 5 * count / busiest
        lines.append(
            f"  {_quote(source)} -> {_quote(dest)} "
            f'[label="{count}", penwidth={width:.1f}, color="#2f5fb3"];'
        )
    for source, dest, trigger in _allowed(process):
        if (source, dest) in drawn or _taken(drawn, source, dest):
            continue
        drawn.add((source, dest))
        lines.append(
            f"  {_quote(source)} -> {_quote(dest)} "
            f'[label={_quote(trigger)}, style=dashed, color="#b8bfcc", fontcolor="#8a94a6"];'
        )
    lines.append("}")
    return "\n".join(lines)


def _label(title: str, where: dict, state: str, level: str | None) -> str:
    position = where.get((state, level))
    if position is None:
        return f"{title}\n0 cases"
    if position.median_wait is None:  # closed cases (only a reopen leaves): not waiting
        return f"{title}\n{position.cases} cases"
    wait = format_duration(position.median_wait, in_hours=True)
    return f"{title}\n{position.cases} cases\nmedian wait {wait}"


def _allowed(process: ProcessDefinition) -> list[tuple[str, str, str]]:
    """The moves the process allows, between diagram nodes: into a laddered state at its
    bottom rung, out of it from the rung nearest the exit; up the ladder by `escalate`."""
    laddered = {s.name for s in process.states if s.carries_level}
    levels = [level.name for level in process.ladder]
    moves = []
    for spec in process.transitions:
        if spec.dest is None:
            continue
        for source in spec.sources:
            if source == spec.dest:
                continue
            start = node_id(source, levels[-1] if source in laddered else None)
            end = node_id(spec.dest, levels[0] if spec.dest in laddered else None)
            moves.append((start, end, spec.trigger))
    for state in sorted(laddered):
        for lower, upper in itertools.pairwise(levels):
            moves.append((node_id(state, lower), node_id(state, upper), "escalate"))
    return moves


def _taken(drawn: set[tuple[str, str]], source: str, dest: str) -> bool:
    """Whether some flow drawn already joins the same two states (any levels)."""
    state = source.split("__")[0], dest.split("__")[0]
    return any((a.split("__")[0], b.split("__")[0]) == state for a, b in drawn if "__" in a + b)
