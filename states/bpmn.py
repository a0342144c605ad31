"""The process definition as BPMN 2.0 XML, with diagram interchange (BPMN DI).

:func:`process_bpmn` is what ``tierflow process export --format bpmn`` prints:
one executable process (see :mod:`states.bpmn_model` for how states, the ladder,
guards and SLA timers become BPMN elements) and one diagram whose shapes and edges
come from :mod:`states.bpmn_layout`, so bpmn.io and Camunda Modeler draw it laid out.
Written with :mod:`xml.etree.ElementTree` (escaping is the library's); the same
process and policy always give the same bytes.

Gateway conditions are Python expressions over the task data (``trigger`` and one
boolean per guard), which is what SpiffWorkflow evaluates; timer durations are plain
ISO 8601 (``PT4H``), what Camunda and bpmn.io expect.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from states.bpmn_layout import Bounds, Layout, layout
from states.bpmn_model import BpmnGraph, Flow, Node, build_graph
from states.policy import Policy
from states.process import ProcessDefinition

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
TIERFLOW = "https://tierflow.dev/schema/bpmn"
_PREFIXES = {"bpmn": BPMN, "bpmndi": BPMNDI, "dc": DC, "di": DI, "xsi": XSI, "tierflow": TIERFLOW}
for _prefix, _uri in _PREFIXES.items():
    ET.register_namespace(_prefix, _uri)


def process_bpmn(definition: ProcessDefinition, policy: Policy) -> str:
    """The BPMN 2.0 document of `definition`, with the timers of `policy`."""
    graph = build_graph(definition, policy)
    root = ET.Element(
        _q(BPMN, "definitions"),
        {
            "id": "tierflow_definitions",
            "targetNamespace": TIERFLOW,
            "exporter": "tierflow",
            "exporterVersion": definition.version_id,
        },
    )
    process = _sub(root, BPMN, "process", id=graph.process_id, name=graph.name,
                   isExecutable="true")  # fmt: skip
    _documentation(process, f"{definition.version_id} with SLA policy {policy.version_id}")
    for node in graph.nodes.values():
        _node(process, graph, node)
    for flow in graph.flows:
        _flow(process, flow)
    _diagram(root, graph, layout(graph))
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _sub(parent: ET.Element, namespace: str, tag: str, **attributes: str) -> ET.Element:
    return ET.SubElement(parent, _q(namespace, tag), attributes)


def _documentation(parent: ET.Element, text: str) -> None:
    if text:
        _sub(parent, BPMN, "documentation").text = text


def _node(process: ET.Element, graph: BpmnGraph, node: Node) -> None:
    attributes = {"id": node.id}
    if node.name:
        attributes["name"] = node.name
    if node.id in graph.default_flows:
        attributes["default"] = graph.default_flows[node.id]
    if node.timer is not None and node.attached_to is not None:
        attributes["attachedToRef"] = node.attached_to
        attributes["cancelActivity"] = "true" if node.timer.interrupting else "false"
    element = _sub(process, BPMN, node.kind, **attributes)
    _documentation(element, node.documentation or (node.timer.documentation if node.timer else ""))
    if node.timer is not None:
        extensions = _sub(element, BPMN, "extensionElements")
        for key, duration in node.timer.targets:
            _sub(extensions, TIERFLOW, "target", key=key, duration=duration)
    for flow_id in node.incoming:
        _sub(element, BPMN, "incoming").text = flow_id
    for flow_id in node.outgoing:
        _sub(element, BPMN, "outgoing").text = flow_id
    if node.timer is not None:
        definition = _sub(element, BPMN, "timerEventDefinition", id=f"{node.id}_definition")
        duration = _sub(definition, BPMN, "timeDuration")
        duration.set(_q(XSI, "type"), "bpmn:tFormalExpression")
        duration.text = node.timer.duration


def _flow(process: ET.Element, flow: Flow) -> None:
    attributes = {"id": flow.id, "sourceRef": flow.source, "targetRef": flow.target}
    if flow.name:
        attributes["name"] = flow.name
    element = _sub(process, BPMN, "sequenceFlow", **attributes)
    _documentation(element, flow.documentation)
    if flow.condition is not None:
        condition = _sub(element, BPMN, "conditionExpression")
        condition.set(_q(XSI, "type"), "bpmn:tFormalExpression")
        condition.text = flow.condition


def _diagram(root: ET.Element, graph: BpmnGraph, placed: Layout) -> None:
    diagram = _sub(root, BPMNDI, "BPMNDiagram", id="tierflow_diagram")
    plane = _sub(diagram, BPMNDI, "BPMNPlane", id="tierflow_plane", bpmnElement=graph.process_id)
    for node_id, bounds in placed.shapes.items():
        attributes = {"id": f"{node_id}_di", "bpmnElement": node_id}
        if graph.nodes[node_id].kind == "exclusiveGateway":
            attributes["isMarkerVisible"] = "true"
        shape = _sub(plane, BPMNDI, "BPMNShape", **attributes)
        _bounds(shape, bounds)
        if node_id in placed.labels:
            _bounds(_sub(shape, BPMNDI, "BPMNLabel"), placed.labels[node_id])
    for flow_id, points in placed.edges.items():
        edge = _sub(plane, BPMNDI, "BPMNEdge", id=f"{flow_id}_di", bpmnElement=flow_id)
        for x, y in points:
            _sub(edge, DI, "waypoint", x=_n(x), y=_n(y))


def _bounds(parent: ET.Element, bounds: Bounds) -> None:
    _sub(parent, DC, "Bounds", x=_n(bounds.x), y=_n(bounds.y), width=_n(bounds.width),
         height=_n(bounds.height))  # fmt: skip


def _n(value: float) -> str:
    return f"{value:g}"
