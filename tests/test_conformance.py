"""Conformance: each case's history against the process, native and imported cases alike."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine as SAEngine

from states.commands import Act, OpenCase
from states.conformance import check_history, conformance
from states.engine import Engine
from states.events import Event
from states.importer import import_log
from states.mapping import parse_mapping
from states.policy import load_policy
from states.process import ProcessDefinition
from states.store import read_connection
from states.sweep import sweep
from tests.clirun import Cli
from tests.conftest import MONDAY
from tests.test_import import MAPPING, hours, xes


def open_case(engine: Engine, **fields) -> int:
    fields.setdefault("customer_id", "CUST-1")
    fields.setdefault("subject", "A complaint")
    return engine.apply(OpenCase(**fields)).case_id


def act(engine: Engine, case_id: int, trigger: str, **fields) -> None:
    engine.apply(Act(case_id=case_id, trigger=trigger, actor="ana", **fields))


def escalate(engine: Engine, case_id: int, **fields) -> None:
    fields.setdefault("reason", "customer angry")
    act(engine, case_id, "escalate", notice="We escalated", **fields)


def findings(engine: Engine, definition: ProcessDefinition, case_id: int) -> list[tuple]:
    with read_connection(engine.db) as conn:
        report = conformance(conn, definition, engine.policy, case_id)
    (case,) = report.cases
    return [(f.kind, f.trigger, f.clock) for f in case.findings]


def test_a_native_case_that_follows_the_process_conforms(engine: Engine, definition):
    case_id = open_case(engine)
    act(engine, case_id, "assign", assignee="ana")
    escalate(engine, case_id)
    act(engine, case_id, "acknowledge", assignee="lena")
    act(engine, case_id, "resolve", note="refunded")
    assert findings(engine, definition, case_id) == []


def test_native_escalation_past_a_level_is_a_skipped_level_unless_a_point_cites_it(
    engine: Engine, definition
):
    case_id = open_case(engine)
    act(engine, case_id, "assign", assignee="ana")
    escalate(engine, case_id, to_level="manager")
    assert findings(engine, definition, case_id) == [("skipped_level", "escalate", None)]
    cited = open_case(engine, subject="we will see you in court", customer_id="CUST-2")
    with read_connection(engine.db) as conn:
        (case,) = conformance(conn, definition, engine.policy, cited).cases
    assert case.conforms, case.as_dict()  # legal_risk escalates to manager, citing its point


def resolved_at(engine: Engine, top: str) -> int:
    """A case escalated rung by rung up to `top`, acknowledged at each, resolved there."""
    case_id = open_case(engine)
    act(engine, case_id, "assign", assignee="ana")
    for level in ("L2", "manager", "board"):
        escalate(engine, case_id)
        act(engine, case_id, "acknowledge", assignee=f"{level}-lead")
        if level == top:
            break
    act(engine, case_id, "resolve", note="resolved")
    return case_id


def test_stage_two_board_review_after_the_manager_resolved_passes_over_no_level(
    engine: Engine, definition
):
    """Story 3 as the README documents it: the manager resolved, the customer asks for a
    board review, the case is reopened and sent to the board. It was reported as passing
    over L2 and manager, which had both had the case: only rungs the case never reached
    are passed over."""
    case_id = resolved_at(engine, "manager")
    act(engine, case_id, "reopen", note="customer asks for a board review")
    escalate(engine, case_id, to_level="board", reason="Stage Two review")
    assert findings(engine, definition, case_id) == []


def test_a_jump_to_the_board_passes_over_the_rungs_the_case_never_reached(
    engine: Engine, definition
):
    reached_l2 = resolved_at(engine, "L2")
    act(engine, reached_l2, "reopen", note="customer asks for a board review")
    escalate(engine, reached_l2, to_level="board")
    never = open_case(engine, customer_id="CUST-2")
    act(engine, never, "assign", assignee="ana")
    escalate(engine, never, to_level="board")
    with read_connection(engine.db) as conn:
        report = conformance(conn, definition, engine.policy)
    details = {c.case_id: [f.detail for f in c.findings] for c in report.cases}
    assert details[reached_l2] == ["first_level to board passes over manager"]
    assert details[never] == ["first_level to board passes over L2, manager"]


def test_an_imported_stage_two_review_is_marked_as_conformance_judges_a_native_one(
    sqlite: SAEngine, tmp_path: Path, definition
):
    """The import marks the same step the same way while it writes: a case the manager
    resolved, reopened at first level and sent to the board passes over nothing; one
    sent from first level to the board with no escalation before passes over both."""
    policy = load_policy(None, definition)
    log = tmp_path / "log.xes"
    log.write_text(
        xes(
            {
                "stage-two": [
                    ("Work", "G1", hours(0)),
                    ("Queued", "V 2nd", hours(1)),
                    ("Work", "V 2nd", hours(2)),
                    ("Queued", "V 3rd", hours(3)),
                    ("Work", "V 3rd", hours(4)),
                    ("Resolved", "V 3rd", hours(5)),
                    ("Work", "G1", hours(6)),
                    ("Queued", "V board", hours(7)),
                ],
                "straight": [("Work", "G1", hours(0)), ("Queued", "V board", hours(1))],
            }
        )
    )
    board = '[[rules]]\nwhen.team.ends_with = " board"\nlevel = "board"\n[[rules]]\nwhen.activity'
    mapping = parse_mapping(MAPPING.replace("[[rules]]\nwhen.activity", board, 1), definition)
    result = import_log(sqlite, log, mapping, definition, policy)
    assert dict(result.deviations) == {"skipped_level": 1}
    with read_connection(sqlite) as conn:
        report = conformance(conn, definition, policy)
    by_ref = {c.ref: [(f.kind, f.detail) for f in c.findings] for c in report.cases}
    assert by_ref["stage-two"] == []
    assert by_ref["straight"] == [("skipped_level", "first_level to board passes over L2, manager")]


def cited_history(*before: tuple[str, dict], evidence: str | None = None) -> list[Event]:
    """A crafted native history (the guard now refuses to write one citing a point that
    does not hold; histories written before it, or by hand, may): opened, assigned, the
    events `before` (type, payload), then an escalation to the manager citing legal_risk."""
    payload = {
        "customer_id": "C",
        "subject": "printer jam",
        "priority": "normal",
        "channel": "email",
        "currency": "EUR",
        "process_version": "p",
    }
    events = [
        Event("opened", MONDAY, "intake", None, "open", None, None, payload, seq=1),
        Event("assign", MONDAY, "ana", "open", "first_level", None, None, {"assignee": "ana"}),
    ]
    for kind, fields in before:
        events.append(
            Event(kind, MONDAY, "system:points", "first_level", "first_level", None, None, fields)
        )
    cited = {"point": "legal_risk", "notice": "The manager takes over", "assignee": None}
    if evidence is not None:
        cited["evidence"] = evidence
    events.append(
        Event("escalate", MONDAY, "ana", "first_level", "escalated", None, "manager", cited)
    )
    for seq, event in enumerate(events, start=1):
        event.seq = seq
    return events


def test_a_cited_point_that_never_held_does_not_justify_a_skipped_level(definition):
    """Citing legal_risk on a printer jam sent the case past L2 and conformance accepted
    it: a cited point justifies a jump only where the history shows it held."""
    policy = load_policy(None, definition)
    found = check_history(cited_history(), definition, policy)
    assert [(f.seq, f.kind, f.detail) for f in found] == [
        (3, "skipped_level", "first_level to manager passes over L2")
    ]


def test_a_cited_point_the_history_shows_held_justifies_the_jump(definition):
    """It held when the case was flagged for it earlier, or when the escalation records
    the evidence the point gave (as the engine's own escalations, and a cited point whose
    condition held, do)."""
    policy = load_policy(None, definition)
    flag = {"flag": "legal_risk", "point": "legal_risk", "action": "flag", "evidence": "x"}
    assert check_history(cited_history(("flagged", flag)), definition, policy) == []
    other = {**flag, "flag": "authority", "point": "authority"}
    assert len(check_history(cited_history(("flagged", other)), definition, policy)) == 1
    evidence = 'phrase "court" in message'
    assert check_history(cited_history(evidence=evidence), definition, policy) == []


def test_native_resolution_the_level_never_acknowledged(engine: Engine, definition):
    case_id = open_case(engine)
    escalate(engine, case_id)
    act(engine, case_id, "resolve", note="done")
    assert findings(engine, definition, case_id) == [("resolved_unacknowledged", "resolve", None)]


def test_native_breaches_are_counted_by_clock(engine: Engine, definition):
    case_id = open_case(engine, priority="normal")
    sweep(engine, MONDAY + timedelta(days=3), worker="test")
    found = findings(engine, definition, case_id)
    assert ("breach", None, "first_response") in found
    assert {kind for kind, _, _ in found} == {"breach"}


def test_a_disallowed_native_transition_is_found_in_a_crafted_history(definition):
    """The engine never writes one; a history from an older process version may hold one."""
    policy = load_policy(None, definition)
    payload = {
        "customer_id": "C",
        "subject": "s",
        "priority": "normal",
        "channel": "email",
        "currency": "EUR",
        "process_version": "p",
    }
    at = MONDAY
    events = [
        Event("opened", at, "a", None, "open", None, None, payload, seq=1),
        Event("resolve", at, "a", "open", "resolved", None, None, {}, seq=2),
        Event("follow_up", at, "a", "resolved", "followed_up", None, None, {}, seq=3),
        Event("resolve", at, "a", "followed_up", "resolved", None, None, {}, seq=4),
    ]
    found = check_history(events, definition, policy)
    assert [(f.seq, f.kind, f.trigger) for f in found] == [(4, "disallowed_transition", "resolve")]


def test_imported_cases_report_their_marks_and_clock_breaches(
    sqlite: SAEngine, tmp_path: Path, definition
):
    policy = load_policy(None, definition)
    log = tmp_path / "log.xes"
    log.write_text(
        xes(
            {
                "fine": [("Work", "G1", hours(0)), ("Resolved", "G1", hours(2))],
                "slow": [("Work", "G1", hours(0)), ("Resolved", "G1", hours(24 * 21))],
                "waited": [
                    ("Work", "G1", hours(0)),
                    ("Wait - Customer", "G1", hours(1)),
                    ("Work", "G1", hours(24 * 21)),
                    ("Resolved", "G1", hours(24 * 21 + 2)),
                ],
                "twice": [
                    ("Work", "G1", hours(0)),
                    ("Resolved", "G1", hours(1)),
                    ("Resolved", "G1", hours(2)),
                ],
                "unack": [("Queued", "V 2nd", hours(0)), ("Resolved", "V 2nd", hours(1))],
            },
            impact="Low",
        )
    )
    import_log(sqlite, log, parse_mapping(MAPPING, definition), definition, policy)
    with read_connection(sqlite) as conn:
        report = conformance(conn, definition, policy)
    by_ref = {c.ref: [(f.kind, f.clock) for f in c.findings] for c in report.cases}
    assert by_ref == {
        "fine": [],
        "slow": [("breach", "resolution")],  # low: 80 business hours; three weeks is 120
        "waited": [],  # the wait on the customer paused the resolution clock
        "twice": [("disallowed_transition", None)],
        "unack": [("resolved_unacknowledged", None)],
    }
    summary = report.summary()
    assert summary["totals"] == {
        "disallowed_transition": 1,
        "skipped_level": 0,
        "resolved_unacknowledged": 1,
        "breach": 1,
    }
    assert (summary["cases"], summary["conforming"], summary["imported"]) == (5, 2, 5)
    assert summary["breaches_by_clock"] == {"resolution": 1}


def test_cli_conformance_prints_totals_and_one_case(tmp_path: Path):
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    log = tmp_path / "log.xes"
    log.write_text(xes({"A": [("Queued", "V 3rd", hours(0)), ("Resolved", "V 3rd", hours(1))]}))
    mapping = tmp_path / "map.toml"
    mapping.write_text(MAPPING)
    cli.ok("audit", "import", str(log), "--mapping", str(mapping))
    cli.ok("case", "open", "--customer", "C-9", "--subject", "Late parcel")
    report = cli.json("audit", "conformance")
    assert (report["cases"], report["conforming"], report["imported"]) == (2, 1, 1)
    assert report["totals"]["skipped_level"] == 1
    assert [c["ref"] for c in report["deviating_cases"]] == ["A"]
    text = cli.ok("audit", "conformance", "--case", "1")
    assert "skipped_level" in text and "first_level to manager passes over L2" in text


def test_cli_conformance_of_a_period_takes_the_cases_its_export_holds_and_names_deviators(
    tmp_path: Path,
):
    """Story 16: the auditor exports Q3 and checks it; the conformance report had no
    period, and its text named no deviating case (only --json listed them)."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    for day, customer in ((2, "C-1"), (9, "C-2"), (16, "C-3")):
        at = f"2026-11-{day:02d}T09:00:00+00:00"
        cli.ok("case", "open", "--customer", customer, "--subject", "S", "--at", at)
    # case 2 climbs from first level straight to the manager: a skipped level
    cli.ok("case", "assign", "2", "--assignee", "ana", "--at", "2026-11-09T09:10:00Z")
    cli.ok(
        "case", "escalate", "2", "--to-level", "manager", "--reason", "r", "--notice", "n",
        "--at", "2026-11-09T09:20:00Z",
    )  # fmt: skip
    period = ("--from", "2026-11-05T00:00:00+00:00", "--to", "2026-11-12T00:00:00+00:00")
    report = cli.json("audit", "conformance", *period)
    exported = cli.json(
        "audit", "export", "--format", "csv", "--output", str(tmp_path / "p.csv"), *period
    )
    assert report["cases"] == exported["cases"] == 1
    assert [c["case_id"] for c in report["deviating_cases"]] == [2]
    text = cli.ok("audit", "conformance", *period)
    assert "case 2: skipped_level 1" in text
    everything = cli.ok("audit", "conformance", "--list", "1")
    assert "cases: 3 " in everything and "case 2: skipped_level 1" in everything
    backwards = cli.refused("audit", "conformance", "--from", period[3], "--to", period[1])
    assert backwards.startswith("error: invalid --to ") and "a time after --from" in backwards
