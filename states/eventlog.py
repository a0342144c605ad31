"""The stored history read as an event log: one trace per case, one event per event.

The XES, CSV and OCEL writers (:mod:`states.export_xes`, :mod:`states.export_csv`,
:mod:`states.export_ocel`) all read through :func:`read_log`, so the three files
hold the same cases, events and attribute values.

Memory stays constant whatever the number of events: events are read with a
streaming cursor (a server-side cursor on PostgreSQL, a lazily fetched one on
SQLite) in (case, sequence) order, the matching cases with a second cursor in
case order, and one case's events are held at a time.

What a :class:`LogFilter` selects (the CLI's ``--from --to --state --team``):

* ``since``/``until``: the events that happened in ``[since, until)`` (event time,
  not recorded time). A case appears when any of its events did, with those events
  only: a window on history, as pm4py's ``filter_time_range(mode="events")``.
  Take the whole history of the cases active in a window by leaving ``--to`` open;
* ``state`` and ``team``: cases that are in that state, or belong to that team, now.

Event attributes describe the case as it stood at the event (its priority and
team then, the level after the event); trace attributes describe the case now,
with each SLA clock's outcome so far (``met``, ``late``, ``running``, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from states import fields as check
from states.errors import InvalidInput
from states.import_fold import IMPORTED
from states.policy import CLOCKS
from states.process import FIRST_LEVEL, ProcessDefinition
from states.store import CASE, EVENT

BATCH = 2_000
"""Event rows fetched per round trip: large enough to be fast, small enough to stay constant."""
CASE_BATCH = 200
"""Case rows per round trip: a case row (its clock states) weighs ten events' rows, and
a case's events outnumber it about ten to one."""

LIFECYCLE = "complete"
"""Every tierflow event is a completed, instantaneous fact (XES lifecycle:transition)."""

CASE_ATTRIBUTES = ("customer_id", "priority", "channel", "customer_tier", "team", "state",
                   "level", "escalation_count", "reopen_count", "satisfaction", "external_ref",
                   "process_version", "policy_version")  # fmt: skip
"""Columns of the case row exported as trace attributes, in this order."""

CLOCK_ATTRIBUTES = tuple(f"sla_{clock}" for clock in CLOCKS)
"""One trace attribute per SLA clock the case ran: its outcome (see :func:`clock_outcome`)."""

EVENT_DETAILS = ("clock", "action", "point", "reason", "flag")
"""Payload fields exported as event attributes when present: which clock warned or
breached, what its breach did, which escalation point (and reason) triggered it."""

_EVENT_COLUMNS = ("case_id", "seq", "type", "occurred_at", "recorded_at", "actor", "from_state",
                  "to_state", "from_level", "to_level")  # fmt: skip
_STAMPED = ("priority", "team")  # the case's once the event applied (states.dimensions)
_PAYLOAD_PATHS = ("priority", "team", ("changes", "priority"), ("changes", "team"), "activity",
                  *EVENT_DETAILS)  # fmt: skip
"""What the log reads of an event's payload, extracted by the database (JSON_EXTRACT on
SQLite, #>> on PostgreSQL): the payload's bulk, the clocks' states, is never decoded."""


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which part of the history to export (see the module docstring)."""

    since: datetime | None = None
    until: datetime | None = None
    state: str | None = None
    team: str | None = None


@dataclass(slots=True)
class LogEvent:
    """One event as the log shows it. `level` is the tier holding the case after it
    (``first_level`` below the ladder); `priority` and `team` are the case's then."""

    case_id: int
    seq: int
    activity: str
    occurred_at: datetime
    recorded_at: datetime
    resource: str
    from_state: str | None
    to_state: str
    from_level: str | None
    to_level: str | None
    level: str
    priority: str | None
    team: str | None
    details: dict[str, str]


@dataclass(slots=True)
class LogCase:
    """A case as the log shows it: its row now, and its clocks' outcomes."""

    case_id: int
    opened_at: datetime
    attributes: dict[str, str | int]
    clocks: dict[str, str]


def check_filter(conn: Connection, definition: ProcessDefinition, where: LogFilter) -> None:
    """Refuse a filter that can select nothing by mistake, naming the option and what is allowed."""
    if where.since is not None and where.until is not None and where.since >= where.until:
        raise InvalidInput("--to", where.until.isoformat(), f"a time after --from ({where.since})")
    if where.state is not None and where.state not in definition.state_names:
        raise InvalidInput("--state", where.state, "one of " + ", ".join(definition.state_names))
    if where.team is not None:
        check.name("--team", where.team)
        teams = conn.execute(select(CASE.c.team).where(CASE.c.team.is_not(None)).distinct())
        known = sorted(row.team for row in teams)
        if where.team not in known:
            raise InvalidInput("--team", where.team, "a team some case has: " + _listed(known))


def count_events(conn: Connection, where: LogFilter) -> int:
    """How many events :func:`read_log` yields for `where` (for a progress bar)."""
    query = event_filters(where, select(func.count()).select_from(EVENT))
    return int(conn.execute(query).scalar_one())


def read_log(conn: Connection, where: LogFilter) -> Iterator[tuple[LogCase, list[LogEvent]]]:
    """Every selected case with its selected events, in case order, each in sequence order."""
    columns = [EVENT.c[c] for c in (*_EVENT_COLUMNS, *_STAMPED)]
    columns += [EVENT.c.payload[path].as_string() for path in _PAYLOAD_PATHS]
    event_rows = _stream(conn, _event_query(where, select(*columns)))
    case_rows = _stream(conn, _case_query(where), CASE_BATCH)
    case_row: Any = None
    events: list[LogEvent] = []
    current: _CaseSoFar | None = None
    for row in event_rows:
        if current is None or row.case_id != current.case_id:
            if current is not None:
                yield _log_case(case_row), events
            while case_row is None or case_row.id < row.case_id:
                case_row = next(case_rows)
            current = _CaseSoFar(row.case_id)
            events = []
        events.append(current.event(row))
    if current is not None:
        yield _log_case(case_row), events


def clock_outcome(clock: dict[str, Any]) -> str:
    """A clock's outcome in the ledger's words (``met``, ``late``, ``met by resolution``,
    ``done``, ``cancelled``...) once it stopped; ``running``/``paused`` (``, breached``
    when its deadline passed) while it runs."""
    if clock.get("outcome"):
        return str(clock["outcome"])
    status = str(clock.get("status", "running"))
    return f"{status}, breached" if clock.get("breached") else status


class _CaseSoFar:
    """What the log needs to know of a case while reading its events in order."""

    __slots__ = ("case_id", "priority", "team")

    def __init__(self, case_id: int) -> None:
        self.case_id = case_id
        self.priority: str | None = None
        self.team: str | None = None

    def event(self, row: Any) -> LogEvent:
        """`row` (``_EVENT_COLUMNS``, ``_STAMPED``, then ``_PAYLOAD_PATHS``, in order) as a
        log event. The case's priority and team then are the event's own stamps (the fold
        of the whole history, states.dimensions): an export of a window (``--from``) has
        not read the events before it, and folded from the window alone it left them out.
        An event without stamps (a history that could not be replayed) takes them from
        the events read before it."""
        case_id, seq, kind, occurred, recorded, actor, from_state, to_state, from_level, \
            to_level, stamped_priority, stamped_team, priority, team, new_priority, new_team, \
            source_activity, *details = row  # fmt: skip
        if kind == "opened":
            self.priority, self.team = priority, team
        elif kind == "updated":
            self.priority = new_priority or self.priority
            self.team = new_team or self.team
        elif team:  # an assignment or a routing point moved the case
            self.team = team
        self.priority = stamped_priority or self.priority
        self.team = stamped_team or self.team
        found = {key: v for key, v in zip(EVENT_DETAILS, details, strict=True) if v is not None}
        if kind == IMPORTED and source_activity:
            # an imported event is its source's activity to a mining tool ("Accepted/In
            # Progress"), not "imported" for 65,533 of BPIC 2013's 73,087 events
            kind = source_activity
        return LogEvent(case_id, seq, kind, occurred, recorded, actor, from_state, to_state,
                        from_level, to_level, to_level or FIRST_LEVEL, self.priority, self.team,
                        found)  # fmt: skip


def _log_case(row: Any) -> LogCase:
    attributes = {
        name: row._mapping[name] for name in CASE_ATTRIBUTES if row._mapping[name] is not None
    }
    clocks = {f"sla_{name}": clock_outcome(state) for name, state in (row.clocks or {}).items()}
    return LogCase(case_id=row.id, opened_at=row.opened_at, attributes=attributes, clocks=clocks)


def _case_filters(where: LogFilter, query: Select[Any], case_id: Any) -> Select[Any]:
    if where.state is None and where.team is None:
        return query
    chosen = select(CASE.c.id)
    if where.state is not None:
        chosen = chosen.where(CASE.c.state == where.state)
    if where.team is not None:
        chosen = chosen.where(CASE.c.team == where.team)
    return query.where(case_id.in_(chosen))


def event_filters(where: LogFilter, query: Select[Any]) -> Select[Any]:
    """`query` over events kept to those `where` selects (its period, its cases)."""
    if where.since is not None:
        query = query.where(EVENT.c.occurred_at >= where.since)
    if where.until is not None:
        query = query.where(EVENT.c.occurred_at < where.until)
    return _case_filters(where, query, EVENT.c.case_id)


def _event_query(where: LogFilter, query: Select[Any]) -> Select[Any]:
    return event_filters(where, query).order_by(EVENT.c.case_id, EVENT.c.seq)


def _case_query(where: LogFilter) -> Select[Any]:
    """Cases in id order; those with no event in the time window are skipped while merging
    (cheaper than asking the database which have one)."""
    return _case_filters(where, select(CASE).order_by(CASE.c.id), CASE.c.id)


def _stream(conn: Connection, query: Select[Any], batch: int = BATCH) -> Iterator[Any]:
    """Rows of `query` fetched `batch` at a time (a server-side cursor where there is one)."""
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
    yield from result


def _listed(names: list[str], most: int = 10) -> str:
    if not names:
        return "(none: no case has a team)"
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
