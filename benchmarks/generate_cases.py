"""A load fixture: a SQLite tierflow database with a million cases and ten million events.

    python benchmarks/generate_cases.py /tmp/tf-1m.db [--cases 1000000] [--events 10000000]
        [--days 730] [--seed 1]

Written straight to SQLite (the raw driver's ``executemany`` in batches, journal and
sync off while loading, secondary indexes built once at the end) in minutes, into the
schema tierflow's own ``init_schema`` creates, so every table, column and index is the
release's. What it holds, and why:

* cases opened evenly over the last `--days` (730: the BPI Challenge 2013 log spans two
  years; a million cases is a desk of about 1,400 a day), ids in opening order as the
  engine gives them;
* the shares of a real desk (:mod:`states.demo_shares`, from BPIC 2013): highest level
  reached, priority, resolution time per level, waits on the customer, reopens,
  first-contact resolutions, acknowledgement delays, follow-ups; channels, tiers and
  teams as :mod:`states.demo` assumes (teams: eight, of unequal size);
* each case's events in time order, as the engine would have stored them, interleaved
  across cases by time (the table's order is the order they happened), about ten a case
  (BPIC has 8.7; the rest are waits on the customer and hand-overs): opened, flagged,
  assign, wait_on_customer / customer_replied, escalate, acknowledge, sla_warning /
  sla_breached (the clock in the payload), resolve, reopen, follow_up; each with
  from/to state and level and the payload keys the dashboard reads (point, reason,
  clock, assignee) and a replay needs (``states.events.fold`` replays them);
* the case row as those events leave it, with a ``clocks`` column in the engine's
  shape (first_response, resolution, acknowledge, escalation, follow_up): running
  clocks with deadlines (business targets turned into calendar time at 8 working hours
  a day, five days a week: an approximation) and breached flags on open cases;
* timers for the running clocks of open cases: pending, or fired when the deadline
  passed (generation 1, the clock's ``armed_seq``).

Synthetic, and said so: hashes and command ids are random (``verify`` fails on these
cases; it is a load fixture, not a history), event payloads carry no clock changes
(the engine's do, which makes its events three to five times larger), no clock-ledger
rows, notifications or timers of stopped clocks are written.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sqlite3
import sys
import time
from bisect import bisect
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from states.demo_shares import BPIC_2013, quantile_draw, share
from states.policy import load_policy
from states.process import load_process
from states.store import init_schema, make_engine, register_process
from states.tables import PolicyVersion

DAY = 86400.0
TEAMS = {"billing": 30, "delivery": 22, "returns": 15, "accounts": 12, "technical": 9}
TEAMS |= {"warranty": 6, "senior": 4, "vip": 2}
CHANNELS = {"email": 38, "phone": 28, "web": 18, "chat": 10, "social": 4, "letter": 2}
TIERS = {"standard": 7, "premium": 2, "vip": 1}
SUBJECTS = ["Refund for damaged delivery", "Double charge on my card", "Late delivery"]
SUBJECTS += ["Wrong item received", "Warranty repair refused", "Account locked"]
REASONS = ["refund above authority", "customer asked for a manager"]
REASONS += ["technical investigation needed", "complaint about handling"]
LADDER = ("L2", "manager", "board")
PEOPLE = {"L2": 40, "manager": 8, "board": 1}
# business targets (hours) of the shipped policy, by priority; acknowledge by level
RESOLUTION_H = {"low": 80, "normal": 40, "high": 16, "urgent": 8}
FIRST_RESPONSE_H = {"low": 16, "normal": 8, "high": 4, "urgent": 1}
ACK_H = {"L2": 4, "manager": 8, "board": 48}
_CASE_COLUMNS = [
    "id",
    "customer_id",
    "subject",
    "description",
    "priority",
    "channel",
    "customer_tier",
    "amount_claimed_minor",
    "currency",
    "external_ref",
    "state",
    "level",
    "acknowledged",
    "assignee",
    "team",
    "waiting",
    "flags",
    "satisfaction",
    "opened_at",
    "updated_at",
    "state_entered_at",
    "escalated_at",
    "resolved_at",
    "resolved_level",
    "followed_up_at",
    "reopen_count",
    "escalation_count",
    "process_version",
    "policy_version",
    "version",
    "last_seq",
    "last_hash",
    "clocks",
    "extra",
]
_EVENT_COLUMNS = [
    "id",
    "case_id",
    "seq",
    "type",
    "occurred_at",
    "recorded_at",
    "actor",
    "from_state",
    "to_state",
    "from_level",
    "to_level",
    "payload",
    "command_id",
    "idempotency_key",
    "command_hash",
    "format",
    "prev_hash",
    "hash",
]
_TIMER_COLUMNS = ["case_id", "clock", "kind", "generation", "due_at", "status", "created_at"]


def _insert(table: str, columns: list[str]) -> str:
    return f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'


_DAYS: dict[int, str] = {}


def ts(at: float) -> str:
    """The stored form of an instant (states.tables.UTCDateTime on SQLite), built from a
    cached date: ``datetime.isoformat`` for each of ten million events took minutes."""
    micros = round(at * 1_000_000)
    day, rest = divmod(micros, 86_400_000_000)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = _DAYS[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")
    seconds, fraction = divmod(rest, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{fraction:06d}+00:00"


_PAYLOADS: dict[tuple[Any, ...], str] = {}


def payload_text(data: dict[str, Any]) -> str:
    """Compact JSON of a small payload; most repeat (a note, an assignee), so cached."""
    key = tuple(sorted(data.items()))
    text = _PAYLOADS.get(key)
    if text is None:
        text = _PAYLOADS[key] = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return text


def iso(at: float) -> str:
    """The form of a deadline in the clocks JSON (states.clocks.iso)."""
    return datetime.fromtimestamp(int(at), UTC).isoformat(timespec="seconds")


def business(hours: float) -> float:
    """Calendar seconds a business target takes: 8 working hours a day, 5 days a week."""
    return hours / 8 * 7 / 5 * DAY


class Desk:
    """Draws cases; `case(...)` returns one case's row, its events and its timers."""

    def __init__(self, seed: int, now: float, days: float, process: str, policy: str) -> None:
        self.rng = random.Random(seed)
        self.now, self.days = now, days
        self.process, self.policy = process, policy
        self.waits = 2.4  # mean wait pairs per case, tuned so events average the target
        self.first_contact = share("first_contact") / share("top_level", "first_level")
        self.agents = [f"agent-{n:04d}" for n in range(1, 401)]
        self.tables: dict[int, tuple[list[str], list[int]]] = {}

    def pick(self, weights: dict[str, int]) -> str:
        """A weighted draw (cumulative weights computed once per table)."""
        table = self.tables.get(id(weights))
        if table is None:
            table = self.tables[id(weights)] = (list(weights), list(accumulate(weights.values())))
        names, cumulative = table
        return names[bisect(cumulative, self.rng.random() * cumulative[-1])]

    def case(self, case_id: int, opened: float) -> tuple[dict[str, Any], list[list[Any]]]:
        """One case: the case row's values and its events, cut at now (timestamps float)."""
        rng = self.rng
        top = self.pick(BPIC_2013["top_level"])
        priority = self.pick(BPIC_2013["priority"])
        climb = list(LADDER[: LADDER.index(top) + 1]) if top != "first_level" else []
        agent = rng.choice(self.agents)
        amount = rng.choice([None, rng.randrange(2000, 20000 * (1 + 5 * len(climb)))])
        row = {
            "id": case_id,
            "customer_id": f"CUST-{rng.randrange(400_000):06d}",
            "subject": rng.choice(SUBJECTS),
            "priority": priority,
            "channel": self.pick(CHANNELS),
            "customer_tier": self.pick(TIERS),
            "amount_claimed_minor": amount,
            "team": self.pick(TEAMS),
            "opened_at": opened,
        }
        steps: list[tuple[float, str, str, dict[str, Any]]] = []
        add = steps.append
        if rng.random() < 0.3:
            add((opened, "flagged", "system:points", {"flag": "authority", "point": "authority"}))
        quantiles = BPIC_2013["days"]["manager" if top == "board" else top]
        if not climb and rng.random() < self.first_contact:
            took = rng.uniform(180, 1800)
            add((opened + took, "resolve", agent, {"assignee": agent, "note": "Solved in call"}))
        else:
            above = self.first_contact if not climb else 0.0
            took = quantile_draw(quantiles, (above + (1 - above) * rng.random()) * 0.99) * DAY
            took += rng.uniform(180, 1800)
            add((opened + min(took * 0.05, rng.uniform(120, 5400)), "assign", agent, {}))
            for _ in range(self._poisson(self.waits)):
                at = opened + took * rng.uniform(0.05, 0.9)
                add((at, "wait_on_customer", agent, {"note": "asked for a receipt"}))
                add((at + took * rng.uniform(0.0, 0.1), "customer_replied", agent, {}))
            holder = agent
            for rank, level in enumerate(climb):
                at = opened + took * (0.4 + 0.5 * rank / len(climb) + rng.uniform(0, 0.05))
                reason = rng.choice(REASONS)
                add((at, "escalate", holder, {"reason": reason, "assignee": None}))
                holder = f"{level}-{rng.randrange(PEOPLE[level]) + 1:02d}"
                if rng.random() < share("acknowledged"):
                    delay = quantile_draw(BPIC_2013["ack_hours"], rng.random() * 0.99) * 3600
                    add((at + min(delay, took * 0.05) + 60, "acknowledge", holder, {}))
            add((opened + took, "resolve", holder, {"note": "Refund issued"}))
        target = business(RESOLUTION_H[priority])
        if took > target:
            add((opened + target * 0.8, "sla_warning", "system:sla", {"clock": "resolution"}))
            add((opened + target, "sla_breached", "system:sla", {"clock": "resolution"}))
        if rng.random() < share("reopened"):
            took += rng.uniform(1, 10) * DAY
            add((opened + took, "reopen", agent, {"note": "It is back", "assignee": agent}))
            took += rng.uniform(0.1, 3) * DAY
            add((opened + took, "resolve", agent, {"note": "Fixed again"}))
        if rng.random() < share("followed_up") / (1 - share("first_contact")):
            add((opened + took + rng.uniform(2, 48) * 3600, "follow_up", agent, {}))
        steps.sort(key=lambda step: step[0])
        return row, self._events(row, steps)

    def _poisson(self, mean: float) -> int:
        count, limit, product = 0, pow(2.718281828459045, -mean), self.rng.random()
        while product > limit:
            count += 1
            product *= self.rng.random()
        return count

    def _events(self, row: dict[str, Any], steps: list[Any]) -> list[list[Any]]:
        """The events up to now with their transitions; fills the case row as they leave it
        (the fold of states.events, for the fields the dashboard reads)."""
        opened = row["opened_at"]
        payload = {k: row[k] for k in ("customer_id", "subject", "priority", "channel", "team")}
        payload |= {"currency": "EUR", "process_version": self.process}
        payload |= {"policy_version": self.policy, "customer_tier": row["customer_tier"]}
        payload["amount_claimed_minor"] = row["amount_claimed_minor"]
        events = [[opened, "opened", "intake", None, "open", None, None, payload]]
        state, level = "open", None
        row |= {"acknowledged": None, "assignee": None, "waiting": 0, "flags": []}
        row |= {"escalated_at": None, "resolved_at": None, "resolved_level": None}
        row |= {"followed_up_at": None, "reopen_count": 0, "escalation_count": 0}
        row |= {"satisfaction": None, "state_entered_at": opened, "breached": set()}
        for at, kind, actor, data in steps:
            if at > self.now:
                break
            before = (state, level)
            if kind == "assign":
                state, row["assignee"] = "first_level", actor
                data = {"assignee": actor}
            elif kind == "escalate":
                level = LADDER[LADDER.index(level) + 1] if level else "L2"
                state, row["acknowledged"], row["escalated_at"] = "escalated", False, at
                row["escalation_count"] += 1
                row["assignee"] = None
                data = {**data, "notice": f"Your case is now with our {level} team."}
            elif kind == "acknowledge":
                row["acknowledged"], row["assignee"] = True, actor
                data = {"assignee": actor}
            elif kind == "resolve":
                row["resolved_level"] = level or "first_level"
                state, level, row["resolved_at"], row["waiting"] = "resolved", None, at, 0
                row["acknowledged"] = None
                if "assignee" in data:
                    row["assignee"] = data["assignee"]
            elif kind == "reopen":
                state, row["resolved_at"], row["resolved_level"] = "first_level", None, None
                row["reopen_count"] += 1
                row["followed_up_at"] = row["escalated_at"] = row["acknowledged"] = None
                row["assignee"] = actor
            elif kind == "follow_up":
                if state != "resolved":
                    continue
                state, row["followed_up_at"] = "followed_up", at
                row["satisfaction"] = self.rng.choice([2, 3, 4, 4, 5, 5])
                data = {"satisfaction": row["satisfaction"], "comment": "Fine."}
            elif kind in ("wait_on_customer", "customer_replied"):
                if state in ("resolved", "followed_up"):
                    continue
                row["waiting"] = int(kind == "wait_on_customer")
            elif kind == "flagged":
                row["flags"] = ["authority"]
            elif kind == "sla_breached":
                row["breached"].add(data["clock"])
                data = {**data, "action": "notify", "timer": "breach"}
            if state != before[0]:
                row["state_entered_at"] = at
            events.append([at, kind, actor, before[0], state, before[1], level, data])
        row |= {"state": state, "level": level, "updated_at": events[-1][0]}
        return events

    def clocks(
        self, row: dict[str, Any]
    ) -> tuple[dict[str, Any], list[tuple[str, str, float, str]]]:
        """The case's clocks JSON in the engine's shape, and the timers its running clocks
        wait on: (clock, kind, due)."""
        opened, priority, resolved = row["opened_at"], row["priority"], row["resolved_at"]
        clocks = {"first_response": self._clock(opened, FIRST_RESPONSE_H[priority], "stopped")}
        timers: list[tuple[str, str, float, str]] = []

        def run(name: str, since: float, hours: float, spent: bool) -> None:
            state = self._clock(since, hours, "stopped" if spent else "running")
            deadline = since + business(hours)
            if not spent:
                state |= {"deadline": iso(deadline), "warn_at": iso(since + business(hours * 0.8))}
                state["breached"] = name in row["breached"] or deadline < self.now
                state["warned"] = state["breached"]
                state["armed_seq"] = 1  # the round its timers belong to (their generation)
                kind = "due" if name == "follow_up" else "breach"
                status = "fired" if state["breached"] else "pending"
                timers.append((name, kind, deadline, status))
            clocks[name] = state

        if row["state"] == "open":
            run("first_response", opened, FIRST_RESPONSE_H[priority], False)
        run("resolution", opened, RESOLUTION_H[priority], resolved is not None)
        if row["escalated_at"] is not None:
            level = row["level"] or "L2"
            run("acknowledge", row["escalated_at"], ACK_H[level], row["acknowledged"] is not False)
            clocks["acknowledge"]["level"] = level
            run("escalation", row["escalated_at"], 30 * 24 * 5 / 7, resolved is not None)
        if row["state"] == "resolved":
            run("follow_up", resolved, 16, False)
        return clocks, timers

    def _clock(self, since: float, hours: float, status: str) -> dict[str, Any]:
        return {
            "gen": 1,
            "status": status,
            "calendar": "support_eu",
            "target": f"PT{hours:g}H",
            "target_s": int(hours * 3600),
            "warning_at": 0.8,
            "source": "targets",
            "calendar_key": "default_calendar",
            "consumed_s": 0,
            "started_at": iso(since),
            "since": iso(since),
            "since_reason": "opened by intake",
            "warned": False,
            "breached": False,
            "deadline": None,
            "warn_at": None,
            "armed_seq": None,
            "outcome": "met" if status == "stopped" else None,
        }


def _case_values(row: dict[str, Any], clocks: dict[str, Any], ids: tuple[int, str]) -> tuple:
    """The case row as the table stores it."""
    stored = {
        **row,
        "description": "",
        "currency": "EUR",
        "external_ref": None,
        "flags": json.dumps(row["flags"]),
        "process_version": "",
        "policy_version": "",
        "version": ids[0],
        "last_seq": ids[0],
        "last_hash": ids[1],
        "clocks": json.dumps(clocks, separators=(",", ":")),
        "extra": "{}",
    }
    for name in ("opened_at", "updated_at", "state_entered_at", "escalated_at"):
        stored[name] = ts(row[name]) if row[name] is not None else None
    for name in ("resolved_at", "followed_up_at"):
        stored[name] = ts(row[name]) if row[name] is not None else None
    if stored["acknowledged"] is not None:
        stored["acknowledged"] = int(stored["acknowledged"])
    return tuple(stored[c] for c in _CASE_COLUMNS)


@dataclass(frozen=True)
class Part:
    """One worker's share: cases `first` to `last` (inclusive) into the file `path`."""

    path: Path
    first: int
    last: int
    cases: int
    events: int
    days: float
    seed: int
    now: float
    process: str
    policy: str
    tables: tuple[str, ...]  # CREATE TABLE statements of the case, case_event, timer tables


def write_part(part: Part) -> dict[str, int]:
    """Generate one part's cases into a file of its own, events in time order (a heap holds
    those not yet due while later cases open)."""
    db = sqlite3.connect(part.path, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-131072"):
        db.execute(f"PRAGMA {pragma}")
    for sql in part.tables:
        db.execute(sql)
    desk = Desk(part.seed * 1_000_003 + part.first, part.now, part.days, part.process, part.policy)
    target = part.events / part.cases
    pending: list[tuple[float, int, int, list[Any]]] = []  # (at, case, seq, event)
    case_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    timer_rows: list[tuple[Any, ...]] = []
    written = {"cases": 0, "events": 0, "timers": 0}
    produced = 0
    db.execute("BEGIN")

    def flush(until: float) -> None:
        while pending and pending[0][0] <= until:
            at, case_id, seq, (_, kind, actor, fs, tos, fl, tl, data, prev, digest) = heapq.heappop(
                pending
            )
            stamp = ts(at)
            text = payload_text(data) if len(data) < 6 else json.dumps(data, sort_keys=True)
            command = f"{desk.rng.getrandbits(128):032x}"
            written["events"] += 1
            event_rows.append(
                (
                    written["events"],
                    case_id,
                    seq,
                    kind,
                    stamp,
                    stamp,
                    actor,
                    fs,
                    tos,
                    fl,
                    tl,
                    text,
                    command,
                    None,
                    None,
                    2,
                    prev,
                    digest,
                )
            )
        if len(event_rows) >= 50_000 or until == float("inf"):
            db.executemany(_insert("case_event", _EVENT_COLUMNS), event_rows)
            event_rows.clear()

    for n in range(part.first, part.last + 1):
        opened = part.now - part.days * DAY * (1 - (n - 1 + desk.rng.random()) / part.cases)
        flush(opened)
        row, history = desk.case(n, opened)
        previous = "0" * 64
        for seq, event in enumerate(history, 1):
            digest = f"{desk.rng.getrandbits(256):064x}"
            heapq.heappush(pending, (event[0], n, seq, [*event, previous, digest]))
            previous = digest
        clocks, timers = desk.clocks(row)
        case_rows.append(_case_values(row, clocks, (len(history), previous)))
        for clock, kind, due, status in timers:
            timer_rows.append((n, clock, kind, 1, ts(due), status, ts(row["updated_at"])))
        produced += len(history)
        done = n - part.first + 1
        if done % 100 == 0:  # keep events near the target: more waits when short of it
            desk.waits = max(0.0, desk.waits + (target * done - produced) / done / 2)
        if len(case_rows) >= 20_000 or n == part.last:
            db.executemany(_insert("case", _CASE_COLUMNS), case_rows)
            db.executemany(_insert("timer", _TIMER_COLUMNS), timer_rows)
            written["cases"] += len(case_rows)
            written["timers"] += len(timer_rows)
            case_rows.clear()
            timer_rows.clear()
    flush(float("inf"))
    db.execute("COMMIT")
    db.close()
    return written


def generate(
    path: Path, cases: int, events: int, days: float, seed: int, workers: int = 4
) -> dict[str, Any]:
    """Write the fixture to `path` (which must not exist); returns counts and seconds.

    `workers` processes each write a contiguous range of cases (so a range of opening
    times) to a file of their own, merged in order: events are in time order within a
    range; a long case's late events stay with its range."""
    started = time.perf_counter()
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    process = load_process()
    policy = load_policy(None, process)
    with engine.begin() as conn:
        at = datetime.now(UTC)
        d, p = process, policy
        register_process(conn, d.version_id, d.name, d.version, d.digest, d.source_text, at)
        register_process(
            conn,
            p.version_id,
            p.name,
            p.version,
            p.digest,
            p.source_text,
            at,
            table=PolicyVersion.__table__,
        )
    engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode=OFF",
        "synchronous=OFF",
        "cache_size=-262144",
        "temp_store=MEMORY",
    ):
        db.execute(f"PRAGMA {pragma}")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:  # built once at the end: much faster than row by row
        db.execute(f'DROP INDEX "{name}"')
    tables = tuple(
        sql
        for (sql,) in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' "
            "AND name IN ('case', 'case_event', 'timer')"
        )
    )
    now = time.time()
    chunks = max(workers, 1) * 4
    edges = [1 + cases * i // chunks for i in range(chunks + 1)]
    parts = [
        Part(
            path.with_name(f"{path.name}.part{i:03d}"),
            edges[i],
            edges[i + 1] - 1,
            cases,
            events,
            days,
            seed,
            now,
            process.version_id,
            policy.version_id,
            tables,
        )
        for i in range(chunks)
        if edges[i + 1] > edges[i]
    ]
    written = {"cases": 0, "events": 0, "timers": 0}
    with ProcessPoolExecutor(max(workers, 1)) as pool:
        for part, counts in zip(parts, pool.map(write_part, parts), strict=True):
            _merge(db, part.path, written["events"])
            written = {k: written[k] + counts[k] for k in written}
            print(
                f"  {written['cases']:>9,} cases {written['events']:>11,} events "
                f"{time.perf_counter() - started:6.0f} s",
                file=sys.stderr,
                flush=True,
            )
    loaded = time.perf_counter()
    for _, sql in indexes:
        db.execute(sql)
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    done = time.perf_counter()
    return {
        **written,
        "load_seconds": round(loaded - started, 1),
        "index_seconds": round(done - loaded, 1),
        "bytes": path.stat().st_size,
    }


def _merge(db: sqlite3.Connection, part: Path, events_before: int) -> None:
    """Copy one part's rows into the fixture (event ids after those already there)."""
    db.execute("ATTACH DATABASE ? AS part", (str(part),))
    db.execute("BEGIN")
    db.execute('INSERT INTO "case" SELECT * FROM part."case" ORDER BY id')
    columns = ", ".join(_EVENT_COLUMNS[1:])
    db.execute(
        f"INSERT INTO case_event (id, {columns}) "
        f"SELECT id + {events_before}, {columns} FROM part.case_event ORDER BY id"
    )
    timers = ", ".join(_TIMER_COLUMNS)
    db.execute(f"INSERT INTO timer ({timers}) SELECT {timers} FROM part.timer ORDER BY id")
    db.execute("COMMIT")
    db.execute("DETACH DATABASE part")
    part.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=float, default=730)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4, help="processes writing parts")
    args = parser.parse_args()
    if args.path.exists():
        parser.error(f"{args.path} exists; remove it or pick another path")
    result = generate(args.path, args.cases, args.events, args.days, args.seed, args.workers)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
