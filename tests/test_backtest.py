"""Policy backtest: stored histories replayed under a policy give the clocks, warnings,
breaches and breach escalations the engine gives, and under another policy the
difference ops would see.

Native histories are written by the real engine on a real database, with a
sweeper that fires every timer at its due instant (`OnTimeWorld`): the
backtest fires timers on time too, so under the policy the history was
written with, it must reproduce the engine's record exactly. MONDAY is
2026-11-02 09:00 UTC (10:00 in Brussels, where the shipped calendar counts).
"""

from __future__ import annotations

import hashlib
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine as SAEngine
from sqlalchemy import func, select

from states.backtest import CaseRun, Replayer, verdict
from states.backtest_report import backtest
from states.commands import Act, OpenCase, Update
from states.decision import SYSTEM_SLA
from states.engine import Engine
from states.errors import CommandError, IntegrityError
from states.events import Event
from states.importer import import_log
from states.ledger import clock_rounds
from states.machine import machine_for
from states.mapping import parse_mapping
from states.policy import load_policy, parse_policy
from states.process import load_process
from states.queries import get_case
from states.store import CASE, load_events, make_engine, read_connection
from states.sweep import sweep
from states.tables import ClockSegment, Timer
from tests.clirun import Cli
from tests.conftest import MONDAY, sqlite_db
from tests.test_import import MAPPING as IMPORT_MAPPING
from tests.test_import import hours as import_at
from tests.test_import import xes as import_xes

DEFINITION = load_process()
POLICY = load_policy(None, DEFINITION)
MACHINE = machine_for(DEFINITION)
TIMER = Timer.__table__
SEGMENT = ClockSegment.__table__


class OnTimeWorld:
    """The engine on a real database, with a sweeper that never runs late: before each
    command at `t`, every timer due before `t` fires at its own due instant."""

    def __init__(self, db: SAEngine) -> None:
        self.db = db
        self.now = MONDAY
        self.engine = Engine(db, DEFINITION, POLICY, clock=lambda: self.now)

    def sweep_until(self, t: datetime, *, inclusive: bool = False) -> None:
        while True:
            due_before = TIMER.c.due_at <= t if inclusive else TIMER.c.due_at < t
            with read_connection(self.db) as conn:
                due = conn.execute(
                    select(func.min(TIMER.c.due_at)).where(TIMER.c.status == "pending", due_before)
                ).scalar_one_or_none()
            if due is None:
                return
            sweep(self.engine, due, worker="on-time")

    def at(self, t: datetime, command: Any) -> int | None:
        """Apply `command` at `t` after the sweeps before it; the case id, None if refused."""
        self.sweep_until(t)
        self.now = t
        try:
            return self.engine.apply(command, t).case_id
        except CommandError:
            return None

    def histories(self) -> dict[int, list[Event]]:
        with read_connection(self.db) as conn:
            ids = conn.execute(select(CASE.c.id).order_by(CASE.c.id)).scalars().all()
            return {case_id: load_events(conn, case_id) for case_id in ids}

    def segments(self, case_id: int) -> list[tuple[Any, ...]]:
        with read_connection(self.db) as conn:
            rows = conn.execute(select(SEGMENT).where(SEGMENT.c.case_id == case_id)).all()
        return sorted(_segment(r._mapping) for r in rows)


def _segment(row: Any) -> tuple[Any, ...]:
    return (
        row["seq"],
        row["clock"],
        row["generation"],
        row["status"],
        _instant(row["started_at"]),
        _instant(row["ended_at"]),
        row["business_seconds"],
        row["ended_because"],
    )


def _instant(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat(timespec="seconds")


def replayed_segments(run: CaseRun) -> list[tuple[Any, ...]]:
    return sorted(
        _segment({**change["segment"], "seq": event.seq})
        for event in run.events
        for change in event.payload.get("clocks") or ()
        if change.get("segment")
    )


def recorded_marks(history: list[Event]) -> list[tuple[str, str, datetime]]:
    kinds = {"sla_warning": "warning", "sla_breached": "breach"}
    return [
        (event.payload["clock"], kinds[event.type], event.occurred_at)
        for event in history
        if event.type in kinds
    ]


def recorded_escalations(history: list[Event]) -> list[tuple[datetime, str | None, str | None]]:
    return [
        (event.occurred_at, event.from_level or "first_level", event.to_level)
        for event in history
        if event.type == "escalate" and event.actor == SYSTEM_SLA
    ]


# -- native histories: the same policy reproduces the engine's record ----------------

step = st.tuples(
    st.integers(0, 2),  # which case (opened on first use)
    st.integers(0, 6),  # which of the triggers the case's state allows (or an update)
    st.one_of(st.just(0), st.integers(1, 4 * 24 * 4).map(lambda q: q * 15 * 60)),  # delay
    st.sampled_from((None, "L2", "manager", "board")),
    st.sampled_from(("low", "normal", "high", "urgent")),
    st.sampled_from(("standard", "premium", "vip")),
    st.sampled_from(("email", "chat")),
)


@pytest.mark.slow  # about 30 s: a real engine and database per example
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(step, min_size=1, max_size=18), tail_hours=st.integers(0, 24 * 20))
def test_backtest_under_the_live_policy_reproduces_what_the_engine_recorded(
    steps: list[tuple[Any, ...]], tail_hours: int
) -> None:
    """Clock rounds (outcome, deadlines, warned, breached and when), ledger segments, every
    warning and breach, and every breach escalation: the engine's and the replay's agree."""
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite_db(Path(tmp))
        try:
            world = OnTimeWorld(db)
            _drive(world, steps)
            until = world.now + timedelta(hours=tail_hours)
            world.sweep_until(until, inclusive=True)
            replayer = Replayer(DEFINITION, POLICY)
            for case_id, history in world.histories().items():
                run = replayer.run(history, until)
                assert clock_rounds(run.events) == clock_rounds(history)
                final = [{**state, "clock": key[0]} for key, state in run.rounds.items()]
                assert final == [state for state, _ in clock_rounds(history)]
                assert replayed_segments(run) == world.segments(case_id)
                marks = [(m.clock, m.kind, m.at) for m in run.marks]
                assert marks == recorded_marks(history)
                fired = [(e.at, e.from_level, e.to_level) for e in run.escalations]
                assert fired == recorded_escalations(history)
                assert run.recorded_escalations == {e.round: e.at for e in run.escalations}
        finally:
            db.dispose()


def _drive(world: OnTimeWorld, steps: list[tuple[Any, ...]]) -> None:
    cases: dict[int, int] = {}
    t = MONDAY
    for which, pick, delay, level, priority, tier, channel in steps:
        t += timedelta(seconds=delay)
        if which not in cases:
            opened = OpenCase(
                customer_id=f"C{which}",
                subject="s",
                priority=priority,
                customer_tier=tier,
                channel=channel,
            )
            case_id = world.at(t, opened)
            assert case_id is not None
            cases[which] = case_id
            continue
        case_id = cases[which]
        with read_connection(world.db) as conn:
            allowed = MACHINE.allowed_triggers(get_case(conn, case_id)[0].state)
        trigger = allowed[pick] if pick < len(allowed) else "update"
        if trigger == "update":
            command: Any = Update(case_id=case_id, actor="p", priority=priority, message="hi")
        else:
            command = Act(
                case_id=case_id,
                trigger=trigger,
                actor="p",
                assignee="ana" if trigger == "assign" else None,
                reason="needs them",
                notice="Your case is with our specialists.",
                note="done",
                to_level=level if trigger == "escalate" else None,
                satisfaction=4 if trigger == "follow_up" else None,
            )
        world.at(t, command)


# -- a policy change on crafted cases (SCENARIOS 15: L2 acknowledges in 2 hours, not 4) ---

L2_IN_2H = parse_policy(
    POLICY.source_text.replace('L2 = "PT4H"', 'L2 = "PT2H"').replace(
        'version = "2026.11"', 'version = "2026.12"'
    ),
    "l2-2h.toml",
    DEFINITION,
)
# Escalated to L2 at MONDAY (10:00 in Brussels): PT4H ends 13:00 UTC, warned 12:12;
# PT2H ends 11:00 UTC, warned 10:36.
#: when each story's L2 acknowledges after the escalation (the old target: PT4H)
ACKNOWLEDGED_AFTER = {
    "quick": timedelta(hours=1),
    "slow": timedelta(hours=3),
    "never": None,
    "just in time": timedelta(hours=4, seconds=-1),  # the second before the old deadline
}


def _escalated_cases(world: OnTimeWorld) -> dict[str, int]:
    """One case per story, each escalated to L2 at MONDAY and acknowledged (or not) as long
    after as ACKNOWLEDGED_AFTER says; the live sweeper fires on time up to Tuesday."""
    ids = {}
    for story in ACKNOWLEDGED_AFTER:
        case_id = world.at(MONDAY, OpenCase(customer_id=story, subject="refund"))
        assert case_id is not None
        world.at(MONDAY, Act(case_id=case_id, trigger="assign", actor="ana", assignee="ana"))
        world.at(
            MONDAY,
            Act(case_id=case_id, trigger="escalate", actor="ana", reason="refund", notice="n"),
        )
        ids[story] = case_id
    never = timedelta(days=99)
    for story, after in sorted(ACKNOWLEDGED_AFTER.items(), key=lambda item: item[1] or never):
        if after is not None:
            acknowledge = Act(case_id=ids[story], trigger="acknowledge", actor="lee")
            assert world.at(MONDAY + after, acknowledge) == ids[story]
    world.sweep_until(MONDAY + timedelta(days=1), inclusive=True)
    return ids


def test_a_shorter_l2_acknowledgement_shows_the_extra_breaches_and_earlier_escalations(
    db: SAEngine,
) -> None:
    """On SQLite and PostgreSQL (histories read as one stream)."""
    world = OnTimeWorld(db)
    ids = _escalated_cases(world)
    until = MONDAY + timedelta(days=1)
    with read_connection(db) as conn:
        report = backtest(conn, DEFINITION, POLICY, L2_IN_2H, until=until)
    assert report.cases == 4
    l2 = report.by_priority_level[("normal", "L2")]
    assert (l2["current"].warnings, l2["current"].breaches) == (2, 1)  # never; just in time
    assert (l2["new"].warnings, l2["new"].breaches) == (3, 3)  # all but the quick one
    changed = {(c.case_id, c.clock, c.level): (c.current, c.new) for c in report.changes}
    assert changed == {
        (ids["slow"], "acknowledge", "L2"): ("met", "late"),
        (ids["just in time"], "acknowledge", "L2"): ("met", "late"),
    }
    at_11, at_13 = MONDAY + timedelta(hours=2), MONDAY + timedelta(hours=4)
    moved = {
        e.case_id: (e.change, e.current_at, e.new_at, e.happened_at) for e in report.escalations
    }
    assert moved == {
        ids["slow"]: ("new", None, at_11, None),
        ids["never"]: ("earlier", at_13, at_11, at_13),  # it did escalate, at 13:00
        ids["just in time"]: ("new", None, at_11, None),
    }
    assert {e.to_level for e in report.escalations} == {"manager"}


def test_a_history_that_does_not_start_with_opened_is_an_integrity_error() -> None:
    """It was a TypeError: the error was built with one argument where it takes two."""
    with pytest.raises(IntegrityError, match="starts with an 'opened' event"):
        Replayer(DEFINITION, POLICY).run([], MONDAY)


def test_the_same_policy_changes_nothing(sqlite: SAEngine) -> None:
    world = OnTimeWorld(sqlite)
    _escalated_cases(world)
    with read_connection(sqlite) as conn:
        report = backtest(conn, DEFINITION, POLICY, POLICY, until=MONDAY + timedelta(days=2))
    assert report.changes == [] and report.escalations == []
    # never acknowledged: L2 → manager Monday 13:00 UTC, manager → board Tuesday 13:00
    assert report.escalation_counts()["unchanged"] == 2
    totals = report.totals()
    assert totals["current"] == totals["new"] and totals["new"].breaches >= 1


def test_from_and_to_select_cases_by_when_they_were_opened(sqlite: SAEngine) -> None:
    world = OnTimeWorld(sqlite)
    for day in range(3):
        world.at(MONDAY + timedelta(days=day), OpenCase(customer_id=f"c{day}", subject="s"))
    tuesday = MONDAY + timedelta(days=1)
    with read_connection(sqlite) as conn:
        counts = [
            backtest(
                conn,
                DEFINITION,
                POLICY,
                L2_IN_2H,
                until=MONDAY + timedelta(days=9),
                opened_from=start,
                opened_to=end,
            ).cases
            for start, end in ((None, None), (tuesday, None), (None, tuesday), (tuesday, tuesday))
        ]
    assert counts == [3, 2, 1, 0]


# -- the command ------------------------------------------------------------------------


def test_backtest_command_reports_in_json_and_writes_nothing(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    db = make_engine(f"sqlite:///{cli.home / 'tierflow.db'}", create=False)
    world = OnTimeWorld(db)
    ids = _escalated_cases(world)
    world.engine.close()  # the engine keeps a connection of its own (SQLite)
    db.dispose()  # the last connection closed: everything is in the database file
    new_file = tmp_path / "l2-2h.toml"
    new_file.write_text(L2_IN_2H.source_text)
    before = (cli.rows(), hashlib.sha256((cli.home / "tierflow.db").read_bytes()).hexdigest())

    report = cli.json("policy", "backtest", str(new_file), "--from", MONDAY.isoformat())

    after = (cli.rows(), hashlib.sha256((cli.home / "tierflow.db").read_bytes()).hexdigest())
    assert after == before
    assert report["cases"] == 4 and report["policies"]["new"]["version"] == "2026.12"
    assert report["totals"]["new"]["breaches"] - report["totals"]["current"]["breaches"] >= 2
    changed = {(c["case_id"], c["current"], c["new"]) for c in report["outcome_changes"]}
    assert {(ids["slow"], "met", "late"), (ids["just in time"], "met", "late")} <= changed
    assert report["escalations"]["earlier"] == 1
    text = cli.ok("policy", "backtest", str(new_file), "--against", str(new_file))
    assert "outcome changes: 0 clock rounds in 0 cases" in text


def test_backtest_command_refuses_a_bad_policy_in_one_line(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    bad = tmp_path / "bad.toml"
    bad.write_text(POLICY.source_text.replace('L2 = "PT4H"', 'L2 = "four hours"'))
    line = cli.refused("policy", "backtest", str(bad))
    assert "bad.toml" in line and "targets.acknowledge.L2" in line
    good = tmp_path / "good.toml"
    good.write_text(POLICY.source_text)
    assert "--from" in cli.refused("policy", "backtest", str(good), "--from", "yesterday")
    line = cli.refused(
        "policy", "backtest", str(good), "--from", MONDAY.isoformat(), "--to", "2026-11-01T00:00Z"
    )
    assert "--to" in line and "not after --from" in line


# -- imported histories (tierflow audit import) -----------------------------------------


def test_imported_logs_are_backtested_like_native_ones(tmp_path: Path) -> None:
    """Two incidents moved to a second-line team at 09:30 UTC on a Monday (10:30 in
    Brussels), taken in hand there 1 and 3 hours later: under PT4H both acknowledgements
    are met; under PT2H the slow one is late, and its breach would escalate at 11:30."""
    db = sqlite_db(tmp_path)
    log = tmp_path / "log.xes"
    cases = {
        ref: [
            ("Queued", "Desk", import_at(0)),
            ("Queued", "Desk 2nd", import_at(0.5)),
            ("Work", "Desk 2nd", import_at(0.5 + taken)),
            ("Resolved", "Desk 2nd", import_at(6)),
            ("Closed", "Desk 2nd", import_at(7)),
        ]
        for ref, taken in (("quick", 1), ("slow", 3))
    }
    log.write_text(import_xes(cases, impact="High"))
    import_log(db, log, parse_mapping(IMPORT_MAPPING, DEFINITION), DEFINITION, POLICY)
    with read_connection(db) as conn:
        slow = conn.execute(select(CASE.c.id).where(CASE.c.external_ref == "slow")).scalar_one()
        report = backtest(conn, DEFINITION, POLICY, L2_IN_2H, until=import_at(24 * 30))
        history = load_events(conn, slow)
    assert report.cases == 2
    assert [(c.case_id, c.clock, c.level, c.current, c.new) for c in report.changes] == [
        (slow, "acknowledge", "L2", "met", "late")
    ]
    l2 = report.by_priority_level[("high", "L2")]
    assert (l2["current"].breaches, l2["new"].breaches) == (0, 1)
    assert [(e.case_id, e.change, e.new_at, e.to_level) for e in report.escalations] == [
        (slow, "new", import_at(2.5), "manager")
    ]
    # every clock ran off the imported effects: escalate, acknowledge, resolve, follow_up
    run = Replayer(DEFINITION, POLICY).run(history, import_at(24 * 30))
    assert {key[0]: verdict(state) for key, state in run.rounds.items()} == {
        "first_response": "met",  # the escalation took it in hand
        "resolution": "met",
        "acknowledge": "met",
        "escalation": "met",
        "follow_up": "done",
    }
