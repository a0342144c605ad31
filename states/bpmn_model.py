"""The process definition and the SLA policy as a BPMN graph: what :mod:`states.bpmn`
writes as BPMN 2.0 XML and :mod:`states.bpmn_layout` places on a diagram.

How tierflow's process becomes BPMN (what a reader of the diagram may rely on):

* each state is a user task; a state that carries a level (``escalated``) is one
  task per rung of the ladder, bottom first, so the ladder is drawn as it is climbed;
* a task with more than one way out ends in an exclusive gateway whose conditional
  flows are the transitions: ``trigger == "escalate" and has_escalation_reason and
  ...`` (the guards by name, as the process file lists them); a task with more than
  one way in starts with a merging exclusive gateway;
* internal transitions (``acknowledge``, ``wait_on_customer``, ``customer_replied``:
  the state does not change) are flows back into the same task;
* a state left only by ``reopen`` (``followed_up``) may end the process: the
  gateway's default flow goes to the end event once the reopen window is over;
* every SLA clock is a boundary timer on the tasks where it runs, its
  ``timeDuration`` the policy's target for a ``normal`` priority, ``standard``
  tier case (acknowledge: the rung's own target); every other target (per
  priority, tier and channel), the calendar and the warning are in the timer's
  documentation and ``tierflow:target`` extension elements. A breach whose policy
  action is ``escalate`` is an interrupting timer leading to the next rung; any
  other is a non-interrupting timer leading to a "notify" end event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from states.case import PRIORITIES, TIERS
from states.policy import CLOCKS, Policy, Target
from states.process import Level, ProcessDefinition, StateSpec

DEFAULT_PRIORITY = "normal"
DEFAULT_TIER = TIERS[0]
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Timer:
    clock: str
    duration: str  # ISO 8601, e.g. PT4H
    interrupting: bool
    action: str  # escalate | notify | none
    targets: tuple[tuple[str, str], ...]  # (policy key, duration) for every case kind
    documentation: str


@dataclass
class Node:
    """A flow node. `column`/`row` place it on the diagram (row 0 is the top rung)."""

    id: str
    kind: str  # startEvent | userTask | exclusiveGateway | endEvent | boundaryEvent
    name: str
    column: int = 0
    row: int = 0
    documentation: str = ""
    attached_to: str | None = None
    timer: Timer | None = None
    state: str | None = None
    level: str | None = None
    incoming: list[str] = field(default_factory=list)
    outgoing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Flow:
    id: str
    source: str
    target: str
    name: str = ""
    condition: str | None = None
    documentation: str = ""


@dataclass
class BpmnGraph:
    process_id: str
    name: str
    nodes: dict[str, Node]
    flows: list[Flow]
    rows: int
    columns: int
    default_flows: dict[str, str] = field(default_factory=dict)  # gateway id -> flow id


def node_id(*parts: str) -> str:
    """An XML NCName made of `parts` (ids must not start with a digit or hold spaces)."""
    return "_".join(_NOT_NAME.sub("_", part) for part in parts)


def build_graph(definition: ProcessDefinition, policy: Policy) -> BpmnGraph:
    """The BPMN graph of `definition` with the timers of `policy` (see the module docstring)."""
    return _Builder(definition, policy).build()


class _Builder:
    def __init__(self, definition: ProcessDefinition, policy: Policy) -> None:
        self.definition = definition
        self.policy = policy
        self.nodes: dict[str, Node] = {}
        self.edges: list[tuple[str, str, str, str | None, str]] = []
        self.rows = len(definition.ladder)
        self.main_row = self.rows - 1  # the bottom rung's row: the main line of the process

    def build(self) -> BpmnGraph:
        d = self.definition
        start = self._add(Node("start", "startEvent", "Case opened", 0, self.main_row))
        self.edges.append((start.id, self._task_ids(d.initial)[0], "", None, ""))
        for column, state in enumerate(d.states, start=1):
            for index, task_id in enumerate(self._task_ids(state.name)):
                level = d.ladder[index] if state.carries_level else None
                row = self.rows - 1 - index if level else self.main_row
                name = f"{state.title}: {level.title}" if level else state.title
                self._add(Node(task_id, "userTask", name, column, row, _state_doc(state, level),
                               state=state.name, level=level.name if level else None))  # fmt: skip
        self._transitions()
        self._closing(len(d.states) + 1)
        for task in [n for n in self.nodes.values() if n.kind == "userTask"]:
            self._timers(task)
        return self._wire(len(d.states) + 2)

    def _add(self, node: Node) -> Node:
        self.nodes[node.id] = node
        return node

    def _task_ids(self, state: str) -> list[str]:
        if self.definition.state(state).carries_level:
            return [node_id("task", state, level) for level in self.definition.level_names]
        return [node_id("task", state)]

    def _transitions(self) -> None:
        d = self.definition
        for spec in d.transitions:
            guards = " and ".join(spec.guards)
            condition = f'trigger == "{spec.trigger}"' + (f" and {guards}" if guards else "")
            doc = "guards: " + (", ".join(spec.guards) or "none")
            for source in spec.sources:
                for index, task_id in enumerate(self._task_ids(source)):
                    target = self._target(spec.trigger, source, index, spec.dest)
                    if target is None:
                        continue
                    self.edges.append((task_id, target or task_id, spec.trigger, condition, doc))

    def _target(self, trigger: str, source: str, rung: int, dest: str | None) -> str | None:
        """The task a transition leads to ('' for back into the source task; None: no
        such move, e.g. escalating past the top rung)."""
        if dest is None:
            return ""
        targets = self._task_ids(dest)
        if not self.definition.state(dest).carries_level:
            return targets[0]
        if self.definition.state(source).carries_level:
            if trigger != "escalate":
                return targets[rung]
            return targets[rung + 1] if rung + 1 < len(targets) else None
        return targets[0]

    def _closing(self, column: int) -> None:
        """States left only by `reopen` may end the case: a default flow to the end."""
        end = self._add(Node("end_closed", "endEvent", "Case closed", column, self.main_row))
        window = self.definition.reopen_window_seconds // 86400
        for state in self.definition.states:
            leaving = {t.trigger for t in self.definition.transitions
                       if state.name in t.sources and t.dest}  # fmt: skip
            if leaving <= {"reopen"}:
                for task_id in self._task_ids(state.name):
                    doc = f"the reopen window ({window} days) is over: the case is closed"
                    self.edges.append((task_id, end.id, "closed", None, doc))

    def _timers(self, task: Node) -> None:
        d, p = self.definition, self.policy
        assert task.state is not None
        notify_end: Node | None = None
        for clock in CLOCKS:
            if not _runs_in(d, clock, d.state(task.state)):
                continue
            target = p.target(clock, priority=DEFAULT_PRIORITY, level=task.level,
                              tier=DEFAULT_TIER)  # fmt: skip
            if target is None:
                continue
            plan = p.breach_plan(clock, level=task.level, process=d)
            interrupting = plan.action == "escalate" and plan.to_level is not None
            timer = Timer(clock, _iso(target), interrupting, plan.action,
                          _targets(p, clock, task.level), _timer_doc(target, plan.action,
                          plan.recipients, p.warning_at))  # fmt: skip
            timer_id = node_id("timer", task.id[5:], clock)
            name = f"{clock} {timer.duration}"
            self._add(Node(timer_id, "boundaryEvent", name, task.column, task.row,
                           attached_to=task.id, timer=timer))  # fmt: skip
            if interrupting:
                assert task.state is not None and plan.to_level is not None
                target_task = node_id("task", task.state, plan.to_level)
                self.edges.append((timer_id, target_task, "", None, timer.documentation))
                continue
            if notify_end is None:
                notify_end = self._add(Node(node_id("notify", task.id[5:]), "endEvent",
                                            "SLA notice sent", task.column, task.row))  # fmt: skip
            self.edges.append((timer_id, notify_end.id, "", None, ""))

    def _wire(self, columns: int) -> BpmnGraph:
        """Flows with gateways where a task has several ways in or out."""
        outgoing: dict[str, int] = {}
        incoming: dict[str, int] = {}
        for source, target, *_ in self.edges:
            outgoing[source] = outgoing.get(source, 0) + 1
            incoming[target or source] = incoming.get(target or source, 0) + 1
        flows: list[Flow] = []
        defaults: dict[str, str] = {}

        def connect(source: str, target: str, name: str = "", condition: str | None = None,
                    doc: str = "") -> Flow:  # fmt: skip
            flow = Flow(f"flow_{len(flows) + 1}", source, target, name, condition, doc)
            flows.append(flow)
            self.nodes[source].outgoing.append(flow.id)
            self.nodes[target].incoming.append(flow.id)
            return flow

        tasks = [n for n in self.nodes.values() if n.kind == "userTask"]
        for task in tasks:
            if incoming.get(task.id, 0) > 1:
                self._add(Node(node_id("join", task.id[5:]), "exclusiveGateway", "",
                               task.column, task.row))  # fmt: skip
                connect(node_id("join", task.id[5:]), task.id)
            if outgoing.get(task.id, 0) > 1:
                split = self._add(Node(node_id("split", task.id[5:]), "exclusiveGateway",
                                       "What next?", task.column, task.row))  # fmt: skip
                connect(task.id, split.id)
        for source, target, name, condition, doc in self.edges:
            target = target or source
            entry = node_id("join", target[5:]) if target.startswith("task_") else target
            entry = entry if entry in self.nodes else target
            exit_ = node_id("split", source[5:]) if source.startswith("task_") else source
            exit_ = exit_ if exit_ in self.nodes else source
            flow = connect(exit_, entry, name, condition if exit_ != source else None, doc)
            if target == "end_closed" and exit_ != source:
                defaults[exit_] = flow.id
        return BpmnGraph(
            process_id=node_id(self.definition.name),
            name=f"{self.definition.name} {self.definition.version}",
            nodes=self.nodes,
            flows=flows,
            rows=self.rows,
            columns=columns,
            default_flows=defaults,
        )


def _runs_in(definition: ProcessDefinition, clock: str, state: StateSpec) -> bool:
    """Whether `clock` runs while a case is in `state` (as :mod:`states.clocks` runs them)."""
    resolving = {s for t in definition.transitions if t.trigger == "resolve" for s in t.sources}
    resolved = {t.dest for t in definition.transitions if t.trigger == "resolve"}
    if clock == "first_response":
        return state.name == definition.initial
    if clock == "resolution":
        return state.name in resolving
    if clock in ("acknowledge", "escalation"):
        return state.carries_level
    return clock == "follow_up" and state.name in resolved


def _iso(target: Target) -> str:
    if target.duration is None:  # working days: the nearest ISO form, days
        return f"P{target.working_days}D"
    return target.text


def _targets(policy: Policy, clock: str, level: str | None) -> tuple[tuple[str, str], ...]:
    if clock == "follow_up":
        return (("follow_up.working_days", str(policy.follow_up_days)),)
    if clock == "acknowledge":
        keys = [k for k in policy.targets if k.startswith("targets.acknowledge.")
                and k.endswith(f".{level}")]  # fmt: skip
    else:
        keys = [k for k in policy.targets if k.startswith(f"targets.{clock}.")]
    order = {p: i for i, p in enumerate(PRIORITIES)}
    keys.sort(key=lambda k: (k.count("."), k.rsplit(".", 1)[0], order.get(k.rsplit(".", 1)[1], 9)))
    return tuple((key, policy.targets[key].text) for key in keys)


def _timer_doc(target: Target, action: str, recipients: tuple[str, ...], warning: float) -> str:
    told = f" ({', '.join(recipients)})" if recipients else ""
    return (
        f"{target.describe()}; warning at {warning:.0%}; "
        f"on breach: {action}{told}. Timer duration: a {DEFAULT_PRIORITY}-priority "
        f"{DEFAULT_TIER} case; every target is listed in the extension elements."
    )


def _state_doc(state: StateSpec, level: Level | None) -> str:
    return state.description + (f" (level {level.name})" if level is not None else "")
