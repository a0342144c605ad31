"""Cases of the load fixture made from played ones: a million cases from a pool of
templates played through the engine (:mod:`benchmarks.fixture_play`), because playing
costs about 65 microseconds of processor time an event and copying a few.

A template is a case played to a horizon past now, with what it looked like after each
command. A clone of it is that case opened a whole number of weeks earlier or later
(so its weekdays and hours of day are the template's) and cut at now: the template's
events up to the matching instant, the case row as it stood after the last of them,
the timers armed by then (pending when they fired or were cancelled only after it), the
clock-ledger segments closed by then. Its case id, customer and first-level agents are
its own: ids, dates, customer ids and agent names are rewritten in every field that
holds them (payload JSON, reasons, the case row's clocks), the command ids shifted with
the time they encode, and the events sealed again into a chain of its own with
:meth:`states.events.Event.canonical` (the bytes the engine hashes). So its chain
verifies and its row is the fold of its events, as ``verify_case`` checks.

What a clone does not recompute, said so: its deadlines are the template's shifted by
the same weeks. A template and its clones open at most a few weeks apart, but a holiday
of the business calendar near one of them, or a change of daylight saving time between
them (the calendar works in local hours, the shift is in UTC), is not the clone's own:
a deadline may fall an hour off its calendar's working hours, or on a holiday, or miss
one. Its amounts, team, priority, channel and the path it takes are the template's.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from benchmarks.fixture_play import CASE_COLUMNS, TIMERS_PER_CASE, Rows
from states.events import GENESIS, Event

WEEK = timedelta(weeks=1)
_WEEK_NS = 604_800 * 10**9
_AGENTS = 400  # benchmarks.fixture_plan.AGENTS: agent-0001 to agent-0400
# What a clone spells its own way, wherever it appears: a date (of an instant), a
# customer id, a first-level agent, a timer id (in the events the sweep wrote).
_TOKENS = re.compile(r'(\d{4}-\d\d-\d\d(?=T)|CUST-\d{6}|agent-\d{4}|"timer_id":\d+)')
_ID, _LAST_HASH = CASE_COLUMNS.index("id"), CASE_COLUMNS.index("last_hash")
_NO_PAYLOAD: dict[str, Any] = {}  # hashed from the text: the dict is not read


def _split(value: Any) -> Any:
    """A text as its literal parts and tokens (odd places), split once per template."""
    return tuple(_TOKENS.split(value)) if value.__class__ is str else value


def _splits(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_split(value) for value in row)


@dataclass(slots=True)
class Template:
    """A played case: its rows (events, timers, segments, with when each timer was
    cancelled) and, after each command, (its instant, last seq, the case row); the texts
    a clone spells its own way (actors, payloads, case row, segments) split by
    :func:`_split`."""

    case_id: int
    marks: list[tuple[str, int, tuple[Any, ...]]]
    events: list[tuple[Any, ...]]
    timers: list[list[Any]]
    cancelled: dict[int, str]
    segments: list[tuple[Any, ...]]

    @classmethod
    def of(cls, case_id: int, rows: Rows) -> Template:
        assert rows.marks is not None
        marks = [(at, seq, _splits(row)) for at, seq, row in rows.marks]
        events = [
            (*row[:5], _split(row[5]), *row[6:10], _split(row[10]), *row[11:20], *_splits(row[20:]))
            for row in rows.events
        ]
        segments = [_splits(row) for row in rows.segments]
        return cls(case_id, marks, events, rows.timers, rows.cancelled, segments)

    def at(self, cut: str) -> tuple[int, tuple[Any, ...]]:
        """Its number of events and its case row at `cut` (an instant, stored spelling)."""
        _, last_seq, row = self.marks[bisect_right(self.marks, (cut, 1 << 62)) - 1]
        return last_seq, row


class _Spelling(dict[str, str]):
    """A token of the template → the clone's spelling of it (memoised per clone)."""

    def __init__(self, template: int, clone: int, weeks: int, customer: str, agents: int) -> None:
        super().__init__()
        self.template, self.clone = template, clone
        self.shift, self.customer, self.agents = WEEK * weeks, customer, agents

    def text(self, parts: tuple[str, ...]) -> str:
        """A text split by :func:`_split`, spelled the clone's way."""
        if len(parts) == 1:
            return parts[0]
        spelled = list(parts)
        for n in range(1, len(spelled), 2):
            spelled[n] = self[spelled[n]]
        return "".join(spelled)

    def __missing__(self, token: str) -> str:
        if token.startswith("CUST-"):
            value = self.customer
        elif token.startswith("agent-"):
            value = f"agent-{(int(token[6:]) - 1 + self.agents) % _AGENTS + 1:04d}"
        elif token.startswith('"'):
            number = int(token[11:]) - self.template * TIMERS_PER_CASE
            value = f'"timer_id":{self.clone * TIMERS_PER_CASE + number}'
        else:
            value = (date.fromisoformat(token) + self.shift).isoformat()
        self[token] = value
        return value

    def at(self, stamp: str | None) -> str | None:
        """A stored instant, shifted (whole weeks: only its date changes)."""
        return None if stamp is None else self[stamp[:10]] + stamp[10:]

    def texts(self, row: tuple[Any, ...]) -> list[Any]:
        return [self.text(v) if v.__class__ is tuple else v for v in row]


def clone(
    template: Template,
    case_id: int,
    weeks: int,
    cut: str,
    customer: str,
    agents: int,
    rows: Rows,
) -> int:
    """Append to `rows` the template opened `weeks` later as case `case_id`, cut at
    `cut` (an instant of the template's time, stored spelling); its number of events."""
    last_seq, case_row = template.at(cut)
    spell = _Spelling(template.case_id, case_id, weeks, customer, agents)
    text, commands = spell.text, {}
    head, salt = GENESIS, (case_id * 0x9E3779B97F4A7C15) & (1 << 64) - 1
    append = rows.events.append
    for row in template.events[:last_seq]:
        when, seq, command = spell.at(row[0]), row[2], row[11]
        command_id = commands.get(command)
        if command_id is None:
            ns = int(command[:16], 16) + weeks * _WEEK_NS
            command_id = commands[command] = f"{ns:016x}{int(command[16:], 16) ^ salt:016x}"
        kind, moves, format_ = row[3], row[6:10], row[14]
        actor, payload, instant = text(row[5]), text(row[10]), datetime.fromisoformat(when)
        event = Event(kind, instant, actor, *moves, _NO_PAYLOAD, case_id, seq, command_id)
        event.format, event.prev_hash, event.recorded_at = format_, head, instant
        sealed = hashlib.sha256(event.canonical(payload)).hexdigest()
        append((when, case_id, seq, kind, when, actor, *moves, payload, command_id, None, None,
                format_, head, sealed, *row[17:20], *spell.texts(row[20:])))  # fmt: skip
        head = sealed
    case = spell.texts(case_row)
    case[_ID], case[_LAST_HASH] = case_id, head
    rows.cases.append(tuple(case))
    _timers(template, spell, cut, rows)
    for segment in template.segments:
        if segment[-1] <= last_seq:
            rows.segments.append((case_id, *spell.texts(segment[1:])))
    return last_seq


def _timers(template: Template, spell: _Spelling, cut: str, rows: Rows) -> None:
    """The timers armed by `cut`, as they stood then."""
    first = template.case_id * TIMERS_PER_CASE
    for timer in template.timers:
        if timer[10] > cut:
            break  # armed in creation order
        status, claimed, claimed_at, fired = timer[6:10]
        if (status == "fired" and fired > cut) or (
            status == "cancelled" and template.cancelled[timer[0]] > cut
        ):
            status, claimed, claimed_at, fired = "pending", None, None, None
        timer_id = spell.clone * TIMERS_PER_CASE + timer[0] - first
        row = [timer_id, spell.clone, *timer[2:5], spell.at(timer[5]), status, claimed]
        rows.timers.append([*row, spell.at(claimed_at), spell.at(fired), spell.at(timer[10])])
