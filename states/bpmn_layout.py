"""A deterministic layered layout of a :class:`~states.bpmn_model.BpmnGraph` (BPMN DI).

Columns follow the process file's order of states, left to right; the ladder's
rungs stack upwards in their column (the top rung on the top row), every other
task sits on the bottom rung's row, the main line. In a column a task is
flanked by its merging gateway (left) and its deciding gateway (right).
Edges are orthogonal: next-column flows on a row are straight; flows up the
ladder rise between rows; flows back into the same task loop above it;
timers that escalate sit on a task's top edge and rise to the next rung, the
others on its bottom edge, flowing down to their "notify" end event; every
other flow (backwards, or skipping columns) drops into a lane of its own below
the diagram. The same graph always gives the same coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

from states.bpmn_model import BpmnGraph, Flow, Node

COLUMN = 440  # horizontal pitch of columns
ROW = 260  # vertical pitch of rows
MARGIN = 60
TOP = 130  # room above the top row for loops
TASK_W, TASK_H = 160, 80
GATEWAY = 50
EVENT = 36
LANE_GAP = 14
Point = tuple[float, float]


@dataclass(frozen=True)
class Bounds:
    x: float
    y: float
    width: float
    height: float

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class Layout:
    shapes: dict[str, Bounds]
    edges: dict[str, list[Point]]
    labels: dict[str, Bounds]  # where a timer's name goes (beside it, not over its task)


def layout(graph: BpmnGraph) -> Layout:
    shapes: dict[str, Bounds] = {}
    for node in graph.nodes.values():
        if node.kind != "boundaryEvent" and not node.id.startswith("notify_"):
            shapes[node.id] = _place(node)
    for node in graph.nodes.values():
        if node.kind == "boundaryEvent":
            shapes[node.id] = _timer_bounds(graph, node, shapes)
        elif node.id.startswith("notify_"):
            task = shapes[node.id.replace("notify_", "task_", 1)]
            shapes[node.id] = Bounds(task.right - EVENT, task.bottom + 64, EVENT, EVENT)
    labels = {}
    for node in graph.nodes.values():
        if node.timer is not None:
            timer = shapes[node.id]
            y = timer.y - 30 if node.timer.interrupting else timer.bottom + 2
            labels[node.id] = Bounds(timer.x - 8, y, 52, 28)
    return Layout(shapes, _Router(graph, shapes).route(), labels)


def _center_y(row: int) -> float:
    return TOP + row * ROW + TASK_H / 2


def _place(node: Node) -> Bounds:
    left, cy = MARGIN + node.column * COLUMN, _center_y(node.row)
    if node.kind == "userTask":
        return Bounds(left + 80, cy - TASK_H / 2, TASK_W, TASK_H)
    if node.kind == "exclusiveGateway":
        x = left if node.id.startswith("join_") else left + 80 + TASK_W + 30
        return Bounds(x, cy - GATEWAY / 2, GATEWAY, GATEWAY)
    x = left + 224 if node.kind == "startEvent" else left + 20
    return Bounds(x, cy - EVENT / 2, EVENT, EVENT)


def _timer_bounds(graph: BpmnGraph, node: Node, shapes: dict[str, Bounds]) -> Bounds:
    """Escalating timers along the left of the task's top edge, the others along its bottom."""
    assert node.attached_to is not None and node.timer is not None
    task = shapes[node.attached_to]
    interrupting = node.timer.interrupting
    siblings = [n.id for n in graph.nodes.values() if n.attached_to == node.attached_to
                and n.timer is not None and n.timer.interrupting == interrupting]  # fmt: skip
    index = siblings.index(node.id)
    x = (
        task.x + 2 + index * 28
        if interrupting
        else task.x + 5 + index * (TASK_W - 40) / max(len(siblings) - 1, 1)
    )
    y = task.y - EVENT / 2 if interrupting else task.bottom - EVENT / 2
    return Bounds(x, y, EVENT, EVENT)


class _Router:
    def __init__(self, graph: BpmnGraph, shapes: dict[str, Bounds]) -> None:
        self.graph = graph
        self.shapes = shapes
        bottom = max(b.bottom for b in shapes.values())
        self.lane_top = bottom + 30
        self.lanes = 0
        self.gaps: dict[tuple[int, int], int] = {}  # (column, row) -> flows through its gap
        self.loops: dict[str, int] = {}

    def route(self) -> dict[str, list[Point]]:
        return {flow.id: self._route(flow) for flow in self.graph.flows}

    def _route(self, flow: Flow) -> list[Point]:
        source, target = self.graph.nodes[flow.source], self.graph.nodes[flow.target]
        a, b = self.shapes[source.id], self.shapes[target.id]
        if source.kind == "boundaryEvent":
            return self._from_timer(source, a, b)
        if self._same_task(source, target):
            return self._loop(source, a, b)
        if source.row == target.row and target.column - source.column in (0, 1):
            return [(a.right, a.cy), (b.x, b.cy)]
        gap_x = a.right + 25 + 12 * self._gap(source)
        if target.column - source.column == 1:
            return [(a.right, a.cy), (gap_x, a.cy), (gap_x, b.cy), (b.x, b.cy)]
        if target.column == source.column and target.row < source.row:  # up the ladder
            rise = b.bottom + (ROW - TASK_H) - 40
            return [(a.right, a.cy), (gap_x, a.cy), (gap_x, rise), (b.cx, rise), (b.cx, b.bottom)]
        lane = self.lane_top + LANE_GAP * self.lanes
        self.lanes += 1
        entry_x = b.cx if target.kind != "userTask" else b.x + 10
        return [(a.right, a.cy), (gap_x, a.cy), (gap_x, lane), (entry_x, lane), (entry_x, b.bottom)]

    def _gap(self, node: Node) -> int:
        key = (node.column, node.row)
        self.gaps[key] = self.gaps.get(key, 0) + 1
        return self.gaps[key] - 1

    @staticmethod
    def _same_task(source: Node, target: Node) -> bool:
        return (
            source.column == target.column
            and source.row == target.row
            and source.id.startswith("split_")
            and target.id.startswith("join_")
        )

    def _loop(self, source: Node, a: Bounds, b: Bounds) -> list[Point]:
        k = self.loops.get(source.id, 0)
        self.loops[source.id] = k + 1
        y = a.y - 40 - 12 * k
        return [(a.cx, a.y), (a.cx, y), (b.cx, y), (b.cx, b.y)]

    def _from_timer(self, timer: Node, a: Bounds, b: Bounds) -> list[Point]:
        if timer.timer is not None and timer.timer.interrupting:  # up to the next rung
            rise = b.bottom + (ROW - TASK_H) - 50 - 4 * self._gap(timer)
            entry = b.cx if b.width == GATEWAY else b.x + 10
            return [(a.cx, a.y), (a.cx, rise), (entry, rise), (entry, b.bottom)]
        if abs(a.cx - b.cx) < EVENT / 2:
            return [(a.cx, a.bottom), (a.cx, b.y)]
        side = b.x if a.cx < b.cx else b.right
        return [(a.cx, a.bottom), (a.cx, b.cy), (side, b.cy)]
