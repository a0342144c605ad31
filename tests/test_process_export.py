"""The process definition exported as BPMN 2.0 (read by SpiffWorkflow's parser, a
test-only dependency, against the BPMN XSD) and as Mermaid (kept equal to the README)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from flows.cli import main
from states.bpmn import BPMN, BPMNDI, TIERFLOW, process_bpmn
from states.bpmn_model import DEFAULT_PRIORITY, DEFAULT_TIER, node_id
from states.mermaid import process_mermaid
from states.policy import Policy, load_policy
from states.process import GUARDS, ProcessDefinition

README = Path(__file__).resolve().parents[1] / "README.md"
NS = {"bpmn": BPMN, "bpmndi": BPMNDI, "tierflow": TIERFLOW}


@pytest.fixture(scope="module")
def policy(definition: ProcessDefinition) -> Policy:
    return load_policy(None, definition)


@pytest.fixture(scope="module")
def document(definition: ProcessDefinition, policy: Policy) -> str:
    return process_bpmn(definition, policy)


@pytest.fixture(scope="module")
def root(document: str) -> ET.Element:
    return ET.fromstring(document)


def parse_spec(document: str, definition: ProcessDefinition):
    parser = BpmnParser(validator=BpmnValidator())  # validates against the BPMN 2.0 XSD
    parser.add_bpmn_str(document.encode())
    return parser.get_spec(node_id(definition.name))


def tasks_of(definition: ProcessDefinition) -> dict[str, tuple[str, str | None]]:
    """Task id -> (state, level) as the definition says they must be."""
    tasks = {}
    for state in definition.states:
        if state.carries_level:
            for level in definition.level_names:
                tasks[node_id("task", state.name, level)] = (state.name, level)
        else:
            tasks[node_id("task", state.name)] = (state.name, None)
    return tasks


def timer(root: ET.Element, task: str, clock: str) -> ET.Element:
    found = root.find(f".//bpmn:boundaryEvent[@id='{node_id('timer', task[5:], clock)}']", NS)
    assert found is not None, f"no {clock} timer on {task}"
    assert found.get("attachedToRef") == task
    return found


def test_spiffworkflow_parses_a_user_task_per_state_and_rung_of_the_ladder(
    document: str, definition: ProcessDefinition
):
    spec = parse_spec(document, definition)
    user_tasks = {name for name, t in spec.task_specs.items() if type(t).__name__ == "UserTask"}
    assert user_tasks == set(tasks_of(definition))
    assert len(user_tasks) == len(definition.states) - 1 + len(definition.ladder)
    gateways = [t for t in spec.task_specs.values() if type(t).__name__ == "ExclusiveGateway"]
    assert {g.name for g in gateways if g.name.startswith("split_")} >= {
        "split_open",
        "split_first_level",
    }
    assert type(spec.task_specs["start"]).__name__ == "StartEvent"
    assert type(spec.task_specs["end_closed"]).__name__ == "EndEvent"


def test_every_transition_is_a_flow_conditioned_on_its_trigger_and_guards(
    root: ET.Element, definition: ProcessDefinition
):
    conditions = {}
    for flow in root.iterfind(".//bpmn:sequenceFlow", NS):
        expression = flow.find("bpmn:conditionExpression", NS)
        if expression is not None:
            conditions.setdefault(flow.get("sourceRef"), []).append(expression.text)
    for spec in definition.transitions:
        for source in spec.sources:
            for task, (state, level) in tasks_of(definition).items():
                if state != source or (level == definition.level_names[-1] and
                                       "below_top_of_ladder" in spec.guards):  # fmt: skip
                    continue
                wanted = f'trigger == "{spec.trigger}"'
                found = [c for c in conditions[f"split_{task[5:]}"] if c.startswith(wanted)]
                assert found, f"{spec.trigger} from {task}"
                guards = set(re.findall(r"\w+", found[0])) & set(GUARDS)
                assert guards == set(spec.guards), (task, spec.trigger, found)


def test_timers_carry_the_policys_durations_for_each_clock_and_rung(
    root: ET.Element, definition: ProcessDefinition, policy: Policy
):
    def duration(element: ET.Element) -> str:
        return element.find("bpmn:timerEventDefinition/bpmn:timeDuration", NS).text

    first = policy.target("first_response", priority=DEFAULT_PRIORITY, level=None,
                          tier=DEFAULT_TIER)  # fmt: skip
    assert duration(timer(root, node_id("task", definition.initial), "first_response")) == (
        first.text
    )
    for level in definition.level_names:
        task = node_id("task", "escalated", level)
        ack = policy.target("acknowledge", priority=DEFAULT_PRIORITY, level=level, tier="standard")
        assert duration(timer(root, task, "acknowledge")) == ack.text
        escalation = timer(root, task, "escalation")
        assert duration(escalation) == policy.targets["targets.escalation.all"].text
    resolution = timer(root, node_id("task", "first_level"), "resolution")
    listed = {
        t.get("key"): t.get("duration")
        for t in resolution.iterfind("bpmn:extensionElements/tierflow:target", NS)
    }
    assert listed == {
        key: value.text
        for key, value in policy.targets.items()
        if key.startswith("targets.resolution.")
    }
    assert len(listed) > len(set(listed.values())) > 1  # every priority, tier and channel


def test_a_breach_that_escalates_is_an_interrupting_timer_to_the_next_rung(
    root: ET.Element, definition: ProcessDefinition, policy: Policy
):
    flows = {
        f.get("sourceRef"): f.get("targetRef") for f in root.iterfind(".//bpmn:sequenceFlow", NS)
    }
    ladder = definition.level_names
    for rung, level in enumerate(ladder):
        ack = timer(root, node_id("task", "escalated", level), "acknowledge")
        plan = policy.breach_plan("acknowledge", level=level, process=definition)
        if plan.action == "escalate" and rung + 1 < len(ladder):
            assert ack.get("cancelActivity") == "true"
            assert flows[ack.get("id")].endswith(f"escalated_{ladder[rung + 1]}")
        else:
            assert ack.get("cancelActivity") == "false"
            assert flows[ack.get("id")].startswith("notify_")
    assert plan.action == "notify"  # the top rung has nobody to escalate to


def test_every_element_is_drawn_and_every_shape_and_edge_names_an_element(root: ET.Element):
    process = root.find("bpmn:process", NS)
    elements = {e.get("id") for e in process if e.get("id")}
    flows = {e.get("id") for e in process.iterfind("bpmn:sequenceFlow", NS)}
    shapes = [s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", NS)]
    edges = [e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", NS)]
    assert set(shapes) == elements - flows and len(shapes) == len(set(shapes))
    assert set(edges) == flows and len(edges) == len(flows)
    for edge in root.iterfind(".//bpmndi:BPMNEdge", NS):
        assert len(edge.findall("{*}waypoint")) >= 2
    bounds = [
        tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))
        for b in root.iterfind(".//bpmndi:BPMNShape/{*}Bounds", NS)
    ]
    tasks = [
        b for b, s in zip(bounds, shapes, strict=True) if s.startswith(("task_", "join_", "split_"))
    ]
    for i, a in enumerate(tasks):  # tasks and gateways never overlap
        for b in tasks[i + 1 :]:
            apart = (
                a[0] + a[2] <= b[0]
                or b[0] + b[2] <= a[0]
                or a[1] + a[3] <= b[1]
                or b[1] + b[3] <= a[1]
            )
            assert apart, (a, b)


def test_spiffworkflow_runs_a_case_up_the_ladder_to_closing(
    document: str, definition: ProcessDefinition
):
    spec = parse_spec(document, definition)
    durations = set(re.findall(r"<bpmn:timeDuration[^>]*>([^<]+)<", document))
    # SpiffWorkflow evaluates timer expressions as Python: each ISO duration names itself.
    engine = PythonScriptEngine(environment=TaskDataEnvironment({d: d for d in durations}))
    workflow = BpmnWorkflow(spec, script_engine=engine)
    workflow.do_engine_steps()
    visited = []
    for trigger in ("assign", "escalate", "acknowledge", "escalate", "resolve", "follow_up", "-"):
        (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
        visited.append(task.task_spec.name)
        task.data.update(dict.fromkeys(GUARDS, True), trigger=trigger)
        task.run()
        workflow.do_engine_steps()
    assert visited == ["task_open", "task_first_level", "task_escalated_L2", "task_escalated_L2",
                       "task_escalated_manager", "task_resolved", "task_followed_up"]  # fmt: skip
    assert workflow.is_completed()


def test_the_same_process_and_policy_give_the_same_bytes(
    definition: ProcessDefinition, policy: Policy, document: str
):
    assert process_bpmn(definition, policy) == document


def cli_output(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["process", "export", *args]) == 0
    return capsys.readouterr().out


def test_the_readme_diagram_is_what_the_mermaid_export_prints(capsys: pytest.CaptureFixture[str]):
    printed = cli_output(capsys, "--format", "mermaid")
    blocks = re.findall(r"```mermaid\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert printed in blocks, (
        "README's process diagram is stale: paste `tierflow process export --format mermaid`"
    )


def test_mermaid_draws_every_transition_and_the_ladder(definition: ProcessDefinition):
    text = process_mermaid(definition)
    arrows = re.findall(r"^\s+(\S+) --> (\S+): (.+)$", text, re.MULTILINE)
    for spec in definition.transitions:
        for source in spec.sources:
            dest = spec.dest or source
            if spec.trigger == "escalate" and dest == source:
                rungs = [f"{dest}_{level}" for level in definition.level_names]
                climbed = [(a, b) for a, b, t in arrows if t == "escalate" and a in rungs]
                assert list(pairwise(rungs)) == climbed
                continue
            drawn = [t.split(", ") for a, b, t in arrows if (a, b) == (source, dest)]
            assert any(spec.trigger in triggers for triggers in drawn), (spec.trigger, source)


def test_cli_writes_the_bpmn_to_a_file_as_it_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: str
):
    assert cli_output(capsys) == document
    out = tmp_path / "process.bpmn"
    cli_output(capsys, "--format", "bpmn", "--output", str(out))
    assert out.read_text(encoding="utf-8") == document


@pytest.mark.parametrize(
    ("args", "named"),
    [(["--format", "png"], "--format"), (["--output", "no/such/dir.bpmn"], "--output")],
)
def test_bad_process_export_options_are_one_line_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], named: str
):
    args = [str(tmp_path / a) if a.startswith("no/") else a for a in args]
    assert main(["process", "export", *args]) != 0
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and named in err
    assert list(tmp_path.iterdir()) == []
