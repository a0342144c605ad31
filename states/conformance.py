"""Conformance: does each case's history follow the process definition?

For every case, native or imported, the history is walked event by event:

* native events of a trigger are checked with :func:`states.deviations.step_deviations`
  on the case as it stood before them (disallowed transitions, levels the
  case never reached passed over without an escalation point the history shows
  held, resolutions a level never acknowledged);
  their clocks' breaches are the ``sla_breached`` events the timers wrote;
* imported events carry the marks the import made with the same checks on
  the same states (:mod:`states.importer`); they carry no clocks, so their
  breaches are computed here from the event times under the policy: the
  first response, each escalation's acknowledgement and the resolution, in
  business time, the resolution paused while the case waited on its
  customer when the policy pauses it.

A case conforms when it has no finding; the report totals findings per
kind, breaches per clock, and the cases with at least one of each kind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from states.decision import SYSTEM_POINTS, SYSTEM_SLA
from states.deviations import BREACH, KINDS, reached_after, step_deviations
from states.errors import CaseNotFound
from states.eventlog import LogFilter, event_filters
from states.events import Event, evolve, new_snapshot
from states.policy import Policy
from states.process import TRIGGERS, ProcessDefinition
from states.store import CASE, EVENT, row_to_event

_TAKEN = frozenset({"assign", "escalate", "acknowledge", "resolve"})  # ends first_response


@dataclass(slots=True)
class Finding:
    seq: int
    kind: str
    detail: str
    trigger: str | None = None
    clock: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("seq", "kind", "trigger", "clock", "detail")}


@dataclass(slots=True)
class CaseConformance:
    case_id: int
    ref: str | None
    imported: bool
    events: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def conforms(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "ref": self.ref,
            "imported": self.imported,
            "events": self.events,
            "conforms": self.conforms,
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass(slots=True)
class ConformanceReport:
    cases: list[CaseConformance] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(f.kind for case in self.cases for f in case.findings)
        return {kind: counts.get(kind, 0) for kind in KINDS}

    @property
    def cases_with(self) -> dict[str, int]:
        counts = Counter(kind for case in self.cases for kind in {f.kind for f in case.findings})
        return {kind: counts.get(kind, 0) for kind in KINDS}

    @property
    def breaches_by_clock(self) -> dict[str, int]:
        counts = Counter(f.clock for c in self.cases for f in c.findings if f.kind == BREACH)
        return dict(sorted(counts.items(), key=lambda item: str(item[0])))

    def summary(self) -> dict[str, Any]:
        conforming = sum(case.conforms for case in self.cases)
        return {
            "cases": len(self.cases),
            "conforming": conforming,
            "deviating": len(self.cases) - conforming,
            "imported": sum(case.imported for case in self.cases),
            "totals": self.totals,
            "cases_with": self.cases_with,
            "breaches_by_clock": self.breaches_by_clock,
        }


def check_history(events: list[Event], process: ProcessDefinition, policy: Policy) -> list[Finding]:
    """The findings of one case's history (`events` in sequence, ``opened`` first)."""
    snap = new_snapshot(events[0])
    findings: list[Finding] = []
    imported = False
    held: set[str] = set()  # the escalation points the history shows held so far
    reached = -1  # the highest rank of the ladder the case has reached so far
    for event in events[1:]:
        payload = event.payload
        _note_points_held(event, held)
        if event.type == "imported":
            imported = True
            for mark in payload.get("deviations", ()):
                findings.append(Finding(event.seq, mark["kind"], mark["detail"], mark["trigger"]))
        elif event.type in TRIGGERS:
            for found in step_deviations(
                process,
                event.from_state or snap.state,
                event.from_level,
                snap.acknowledged,
                event.type,
                event.to_level,
                cited_point=payload.get("point") in held,
                reached=reached,
            ):
                findings.append(Finding(event.seq, found["kind"], found["detail"], event.type))
        elif event.type == "sla_breached":
            clock = payload.get("clock")
            detail = f"{clock}: target {payload.get('target')} missed (due {payload.get('due_at')})"
            findings.append(Finding(event.seq, BREACH, detail, None, clock))
        evolve(snap, event)
        reached = reached_after(process, reached, event)
    if imported:
        findings.extend(_clock_breaches(events, policy))
    return sorted(findings, key=lambda f: f.seq)


def _note_points_held(event: Event, held: set[str]) -> None:
    """Add to `held` the escalation points `event` shows held. A cited point justifies a
    jump up the ladder only where the history shows it held, whenever and however the
    history was written: the case was flagged for it (a ``flagged`` event), the engine
    escalated for it, or the escalation records the evidence the point gave (the
    engine's own do, and so does one citing a point whose condition held then)."""
    payload = event.payload
    if event.type == "flagged" and payload.get("flag"):
        held.add(payload["flag"])
    elif (
        event.type == "escalate"
        and payload.get("point")
        and (event.actor in (SYSTEM_POINTS, SYSTEM_SLA) or payload.get("evidence"))
    ):
        held.add(payload["point"])


def _clock_breaches(events: list[Event], policy: Policy) -> list[Finding]:
    """Breaches of an imported history, from its times (it carries no clocks)."""
    opened = events[0]
    p = opened.payload
    start = opened.occurred_at
    found: list[Finding] = []

    def target(clock: str, level: str | None = None) -> Any:
        return policy.target(
            clock,
            priority=p["priority"],
            level=level,
            tier=p.get("customer_tier", "standard"),
            channel=p.get("channel"),
        )

    def check(clock: str, began: datetime, ended: Event, paused: timedelta | None = None) -> None:
        goal = target(clock, ended.from_level if clock == "acknowledge" else None)
        if goal is None or goal.duration is None or ended.occurred_at <= goal.due_at(began):
            return
        used = goal.calendar.elapsed(began, ended.occurred_at)
        if paused is not None:
            used -= paused
        if used > goal.duration:
            hours = used.total_seconds() / 3600
            detail = f"{clock}: {hours:.1f} h of business time, target {goal.text}"
            found.append(Finding(ended.seq, BREACH, detail, None, clock))

    responded = resolved = False
    escalated: tuple[datetime, str] | None = None
    waited, wait_began = timedelta(0), None
    pauses = "resolution" in policy.paused_while_waiting
    for event in events[1:]:
        effects = event.payload.get("effects", ())
        if not responded and _TAKEN.intersection(effects):
            responded = True
            check("first_response", start, event)
        for effect in effects:
            if effect == "acknowledge" and escalated is not None:
                check("acknowledge", escalated[0], event)
                escalated = None
            elif effect == "escalate":
                escalated = (event.occurred_at, event.to_level or "")
            elif effect in ("de_escalate", "resolve", "reopen"):
                escalated = None
            if effect == "wait_on_customer" and wait_began is None:
                wait_began = event.occurred_at
            elif effect in ("customer_replied", "resolve") and wait_began is not None:
                waited += _elapsed(target("resolution"), wait_began, event.occurred_at)
                wait_began = None
            if effect == "resolve" and not resolved:
                resolved = True
                check("resolution", start, event, waited if pauses else None)
    return found


def _elapsed(goal: Any, began: datetime, ended: datetime) -> timedelta:
    return goal.calendar.elapsed(began, ended) if goal is not None else timedelta(0)


def conformance(
    conn: Connection,
    process: ProcessDefinition,
    policy: Policy,
    case_id: int | None = None,
    batch: int = 2000,
    where: LogFilter | None = None,
) -> ConformanceReport:
    """The conformance of one case (`case_id`) or of every case, read in batches of cases.

    With `where`, of the cases with an event it selects: the cases an export with that
    filter holds (``audit export --from --to``), each judged on its whole history, as a
    step is judged on where the case stood before it."""
    query = select(CASE.c.id, CASE.c.external_ref).order_by(CASE.c.id)
    if case_id is not None:
        query = query.where(CASE.c.id == case_id)
    if where is not None and where != LogFilter():  # an empty filter selects every case
        selected = event_filters(where, select(EVENT.c.case_id).where(EVENT.c.case_id == CASE.c.id))
        query = query.where(selected.exists())
    cases = conn.execute(query).all()
    if case_id is not None and not cases:
        raise CaseNotFound(case_id)
    report = ConformanceReport()
    for first in range(0, len(cases), batch):
        chunk = cases[first : first + batch]
        ids = [row.id for row in chunk]
        histories: dict[int, list[Event]] = {cid: [] for cid in ids}
        rows = conn.execute(
            select(EVENT)
            .where(EVENT.c.case_id >= ids[0], EVENT.c.case_id <= ids[-1])
            .order_by(EVENT.c.case_id, EVENT.c.seq)
        )
        for row in rows:
            if row.case_id in histories:
                histories[row.case_id].append(row_to_event(row))
        for row in chunk:
            events = histories[row.id]
            if not events or events[0].type != "opened":
                continue
            report.cases.append(
                CaseConformance(
                    row.id,
                    row.external_ref,
                    events[0].payload.get("channel") == "import" and "import" in events[0].payload,
                    len(events),
                    check_history(events, process, policy),
                )
            )
    return report
