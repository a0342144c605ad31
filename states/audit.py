"""Replay and verification of a case's history.

`replay` folds the stored events into a fresh projection; `verify` checks
the hash chain event by event and compares the replayed projection with the
stored case row, field by field, so an edited event, a removed one, or a
projection written behind the engine's back is reported. It covers:

* every field an event's format hashes (formats 4 and 5: when it happened, when
  it was recorded, the idempotency key, the keyed command's digest, and every
  fact; formats 2 and 3: all but the digest; format 1: all but the digest, the
  recording time and the key). A hash cannot say which field changed; where the
  engine's own rules tell the original value (an event recorded when it
  happened, the events of one command recorded together and with one digest, a
  key only on a keyed command's first event) the report names the field and
  both values;
* the links and the numbering of the chain;
* the case row against the replayed history, field by field;
* each event's stored team, priority, channel and assignee (not hashed: see
  :mod:`states.dimensions`) against the case as the history says it stood then;
* the stored text of the process and the policy the case ran under: its
  digest must match the text and the version the case recorded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from states.case import DEADLINE_COLUMNS, FIELD_NAMES, CaseSnapshot
from states.dimensions import mismatches
from states.errors import CaseNotFound, IntegrityError, UnreadableValue
from states.events import GENESIS, Event, fold
from states.store import CASE, load_events, read_connection, row_to_snapshot
from states.tables import PolicyVersion, ProcessVersion


@dataclass(frozen=True, slots=True)
class BrokenEvent:
    """Where a case's chain first stops verifying: the event number, what the chain
    (or its recorded head) says should be there, and what is stored instead."""

    case_id: int
    seq: int
    expected: str
    found: str

    def __str__(self) -> str:
        return (
            f"case {self.case_id}: first broken event #{self.seq}: expected {self.expected}; "
            f"found {self.found}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "seq": self.seq,
            "expected": self.expected,
            "found": self.found,
        }


@dataclass(slots=True)
class Verification:
    case_id: int
    events: int
    problems: list[str] = field(default_factory=list)
    first_broken: BrokenEvent | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.first_broken is None


def replay(conn: Connection, case_id: int) -> tuple[CaseSnapshot, list[Event]]:
    events = load_events(conn, case_id)
    if not events:
        raise CaseNotFound(case_id)
    try:
        return fold(events), events
    except ValueError as exc:
        raise IntegrityError(case_id, [str(exc)]) from None


def chain_problems(events: list[Event]) -> list[str]:
    """What is wrong with the chain: gaps in the numbering (each gap once), links to
    anything but the event before, and events whose content no longer matches its hash."""
    problems = []
    previous, expected = GENESIS, 1
    for event in events:
        if event.seq > expected:
            gap = (
                f"#{expected}" if event.seq == expected + 1 else f"#{expected} to #{event.seq - 1}"
            )
            problems.append(f"event {gap} is missing")
        elif event.seq < expected:
            problems.append(f"event #{event.seq} appears again after #{expected - 1}")
        if event.prev_hash != previous:
            problems.append(f"event #{event.seq} does not link to the event before it")
        try:
            altered = event.compute_hash() != event.hash
        except ValueError as exc:
            problems.append(f"event #{event.seq} ({event.type}) cannot be checked: {exc}")
        else:
            if altered:
                problems.append(_altered(event, events))
        previous, expected = event.hash, max(expected, event.seq + 1)
    return problems


def first_break(
    case_id: int, events: list[Event], head: tuple[int, str] | None = None
) -> BrokenEvent | None:
    """The first event at which the chain breaks, walking from the first: a number out of
    sequence (an event deleted, or inserted with a number already passed), a link to
    anything but the event before, content that no longer hashes to its seal; then the
    end of the chain against `head` (number and hash the chain must end with: the case
    row's, or an anchor's), which shows events deleted from or appended to the end."""
    previous, expected = GENESIS, 1
    for event in events:
        if event.seq != expected:
            what = "deleted" if event.seq > expected else "inserted out of sequence"
            return BrokenEvent(
                case_id,
                expected,
                f"event #{expected} linked to {previous}",
                f"event #{event.seq} ({event.type}): an event was {what}",
            )
        if event.prev_hash != previous:
            return BrokenEvent(
                case_id, event.seq, f"a link to {previous}", f"a link to {event.prev_hash}"
            )
        try:
            content = event.compute_hash()
        except ValueError as exc:
            content = f"content that cannot be hashed ({exc})"
        if content != event.hash:
            return BrokenEvent(
                case_id,
                event.seq,
                f"content sealed as {event.hash}",
                f"content hashing to {content}",
            )
        previous, expected = event.hash, expected + 1
    if head is None or head == (expected - 1, previous):
        return None
    seq, sealed = head
    if seq >= expected:
        return BrokenEvent(
            case_id,
            expected,
            f"events up to #{seq}, the last sealed as {sealed}",
            f"the chain ends at #{expected - 1}: events were deleted",
        )
    if seq < expected - 1:
        return BrokenEvent(
            case_id,
            seq + 1,
            f"no event after #{seq}, sealed as {sealed}",
            f"events #{seq + 1} to #{expected - 1}: events were inserted",
        )
    return BrokenEvent(
        case_id, seq, f"the head sealed as {sealed}", f"an event sealed as {previous}"
    )


def _altered(event: Event, events: list[Event]) -> str:
    """The report of an event whose content no longer matches its hash: the field and its
    hashed value when the engine's rules give the original (see the module docstring)."""
    head = f"event #{event.seq} ({event.type}) was altered"
    if event.format >= 2:
        for name, value in _originals(event, events):
            if replace(event, **{name: value}).compute_hash() == event.hash:
                return (
                    f"{head}: field {name} is {_text(getattr(event, name))}, "
                    f"{_text(value)} was hashed"
                )
        first = next(e for e in events if e.command_id == event.command_id)
        if event.idempotency_key is None and event.command_hash and first is event:
            return f"{head}: field idempotency_key was removed (its command had a key)"
    return f"{head}: hash mismatch"


def _originals(event: Event, events: list[Event]) -> list[tuple[str, Any]]:
    """What `event`'s recording time, key and command digest were, if the engine's rules
    hold: recorded when it happened (no time given), with the other events of its command,
    or next to its neighbours'; a key on the first event of a keyed command only; the
    digest its command's other events carry (or none, for an unkeyed command's)."""
    index = events.index(event)
    near = [e for e in events if e.command_id == event.command_id and e is not event]
    near += events[max(index - 1, 0) : index] + events[index + 1 : index + 2]
    times = dict.fromkeys([event.occurred_at, *(e.recorded_at for e in near)])
    found: list[tuple[str, Any]] = [
        ("recorded_at", at) for at in times if at is not None and at != event.recorded_at
    ]
    if event.idempotency_key is not None:
        found.append(("idempotency_key", None))
    siblings = [e for e in near if e.command_id == event.command_id]  # one command, one digest
    found += [("command_hash", e.command_hash) for e in siblings[:1]]
    if event.command_hash is not None and not siblings:
        found.append(("command_hash", None))
    return found


def _text(value: Any) -> str:
    if value is None:
        return "empty"
    return value.isoformat() if isinstance(value, datetime) else repr(value)


def definition_problems(
    conn: Connection, snap: CaseSnapshot, known: dict[tuple[str, str], list[str]] | None = None
) -> list[str]:
    """Whether the process and policy texts the case ran under are stored as they were:
    each text's digest must match the stored digest and the version the case recorded
    (``name@version#digest``). `known` keeps answers across cases (one check per version)."""
    known = {} if known is None else known
    problems: list[str] = []
    for kind, table, version_id in (
        ("process", ProcessVersion.__table__, snap.process_version),
        ("policy", PolicyVersion.__table__, snap.policy_version),
    ):
        if not version_id:  # cases written before the policy was recorded
            continue
        if (kind, version_id) not in known:
            row = conn.execute(select(table).where(table.c.id == version_id)).first()
            known[(kind, version_id)] = _version_problems(kind, version_id, row)
        problems.extend(known[(kind, version_id)])
    return problems


def _version_problems(kind: str, version_id: str, row: Any) -> list[str]:
    where = f"{kind} {version_id}"
    if row is None:
        return [f"{where}: its text is not stored ({kind}_version has no such row)"]
    digest = hashlib.sha256(row.source_text.encode()).hexdigest()
    problems = []
    if digest != row.digest:
        problems.append(
            f"{where}: field source_text of {kind}_version was edited: its digest is "
            f"{digest[:12]}, the stored digest {row.digest[:12]}"
        )
    if f"{row.name}@{row.version}#{row.digest[:12]}" != version_id:
        problems.append(
            f"{where}: {kind}_version's name, version or digest was edited: it reads "
            f"{row.name}@{row.version}#{row.digest[:12]}"
        )
    if not problems and f"{row.name}@{row.version}#{digest[:12]}" != version_id:
        problems.append(f"{where}: field source_text of {kind}_version does not match it")
    return problems


def projection_problems(stored: CaseSnapshot, replayed: CaseSnapshot) -> list[str]:
    """Fields of the stored row that differ from the replayed case; for the clock
    states and other documents, only the keys that differ (a whole state is kilobytes)."""
    problems = []
    for name in FIELD_NAMES:
        mine, theirs = getattr(stored, name), getattr(replayed, name)
        if mine == theirs:
            continue
        if isinstance(mine, dict) and isinstance(theirs, dict):
            problems.append(f"field {name}: {'; '.join(_dict_differences(mine, theirs))}")
        else:
            problems.append(f"field {name}: stored {mine!r}, replayed {theirs!r}")
    return problems


def deadline_problems(row: Any, replayed: CaseSnapshot) -> list[str]:
    """Running-deadline columns of the stored row (`row`: its mapping) that differ from
    the replayed case's: the dashboard reads deadlines there, not in the clock states."""
    return [
        f"field {name}: stored {row[name]!r}, replayed {getattr(replayed, name)!r}"
        for name in DEADLINE_COLUMNS
        if row[name] != getattr(replayed, name)
    ]


def _dict_differences(stored: dict, replayed: dict, prefix: str = "", most: int = 5) -> list[str]:
    found: list[str] = []
    for key in sorted(set(stored) | set(replayed), key=str):
        mine, theirs = stored.get(key, _ABSENT), replayed.get(key, _ABSENT)
        if mine == theirs:
            continue
        path = f"{prefix}{key}"
        if isinstance(mine, dict) and isinstance(theirs, dict):
            found.extend(_dict_differences(mine, theirs, f"{path}.", most))
        else:
            found.append(f"{path} stored {mine!r}, replayed {theirs!r}")
    if len(found) > most:
        return [*found[:most], f"and {len(found) - most} more"]
    return found


_ABSENT = "(absent)"


def verify_case(
    conn: Connection, case_id: int, known: dict[tuple[str, str], list[str]] | None = None
) -> Verification:
    """Everything the module docstring lists, for one case (`known`: see
    :func:`definition_problems`). Rows holding values no tierflow writes (a time that is
    not ISO 8601, text in a number's column: SQLite keeps any type anywhere) make the
    case not verified, named, instead of stopping the check of every other case."""
    try:
        return _verify_case(conn, case_id, known)
    except (UnreadableValue, ValueError, TypeError, KeyError, AttributeError) as exc:
        problem = f"its stored rows cannot be checked: {type(exc).__name__}: {exc}"
        return Verification(case_id, 0, [problem])


def _verify_case(
    conn: Connection, case_id: int, known: dict[tuple[str, str], list[str]] | None
) -> Verification:
    row = conn.execute(select(CASE).where(CASE.c.id == case_id)).first()
    if row is None:
        raise CaseNotFound(case_id)
    events = load_events(conn, case_id)
    stored = row_to_snapshot(row)
    result = Verification(case_id, len(events), chain_problems(events))
    result.first_broken = first_break(case_id, events, (stored.last_seq, stored.last_hash))
    result.problems.extend(definition_problems(conn, stored, known))
    if not events:
        result.problems.append("the case has no history")
        return result
    stamped: list[str] = []
    try:
        replayed = fold(events, lambda event, snap: stamped.extend(mismatches(event, snap)))
    except (KeyError, TypeError, ValueError) as exc:
        result.problems.append(f"history cannot be replayed: {type(exc).__name__}: {exc}")
        return result
    result.problems.extend(stamped)
    result.problems.extend(projection_problems(stored, replayed))
    result.problems.extend(deadline_problems(row._mapping, replayed))
    return result


def verify_all(engine: Engine) -> list[Verification]:
    with read_connection(engine) as conn:
        ids = [row.id for row in conn.execute(select(CASE.c.id).order_by(CASE.c.id))]
        known: dict[tuple[str, str], list[str]] = {}
        return [verify_case(conn, case_id, known) for case_id in ids]


def storage_problems(engine: Engine, most: int = 20) -> list[str] | None:
    """What SQLite's own check of the file finds (``PRAGMA quick_check``: every page of
    every table and index is well formed), at most `most`; None where the database has
    no such check (PostgreSQL). The histories can verify while an index page is damaged
    (a count the dashboard reads from it is then wrong): an audit of everything asks."""
    if engine.dialect.name != "sqlite":
        return None
    with read_connection(engine) as conn:
        rows = conn.exec_driver_sql(f"PRAGMA quick_check({int(most)})").scalars().all()
    if rows == ["ok"]:
        return []
    # one line a problem (a row may hold several), without the header naming the schema
    lines = (line for row in rows for line in str(row).splitlines())
    return [line for line in lines if not line.startswith("*** in database")][:most]
