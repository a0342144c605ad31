"""Case events: the only source of history, hash-chained per case.

An :class:`Event` is a fact ("case 12 was escalated to manager by ana because
legal risk"). :func:`evolve` folds one event into a :class:`CaseSnapshot`;
the engine stores exactly the fold of the events it writes, and the audit
replays the same fold, so projection and history cannot drift apart.

Each event's ``hash`` is SHA-256 over a canonical JSON of its content and the
previous event's hash (``GENESIS`` for the first), so editing, removing or
reordering any stored event breaks every hash after it.

Every event is stored with the number of the format its hash was computed
in, and verifies under that format's rules forever (:meth:`Event.canonical`):

* format 1 (events written before 2026-11-30): ``[1, case_id, seq, type,
  occurred_at, actor, from_state, to_state, from_level, to_level, payload,
  command_id, prev_hash]``. When the event was recorded and its idempotency
  key are not covered: an edit of either in a format-1 event cannot be seen.
* format 2 (written until 2026-11-30, and until 2026-12-01 for a payload format 3 could not
  hold, see below): ``[2, case_id, seq, type, occurred_at, recorded_at,
  actor, from_state, to_state, from_level, to_level, payload,
  idempotency_key, command_id, prev_hash]``: when it happened and when it
  was recorded, and the key a retry is recognised by, are sealed too.
* format 3 (written until 2026-12-01): format 2's array with 3 first, written by orjson
  (``orjson.dumps(array, option=OPT_SORT_KEYS)``) instead of the standard
  encoder: the same fields in the same order, but non-ASCII text as UTF-8
  instead of ``\\u`` escapes, floats in orjson's shortest form (``1e16``, NaN
  and infinities as ``null``), and datetimes, dataclasses and enums inside a
  payload as orjson writes them. The stored payload is that JSON, so reading it
  back and encoding it again gives the same bytes. orjson writes an event's
  JSON ten times faster than the standard encoder with sorted keys (the payload
  of an SLA event holds whole clock states). A payload orjson refuses (an
  integer beyond 64 bits, a text with a lone surrogate, a key that is not
  text, a type it does not know) was sealed in format 2 instead.
* format 4 (written now): ``[4, case_id, seq, type, occurred_at, recorded_at,
  actor, from_state, to_state, from_level, to_level, payload, idempotency_key,
  command_hash, command_id, prev_hash]`` written by orjson as format 3 is: the
  digest of a keyed command (what tells its retry from the key reused for another
  command) is sealed too, so an edit of it is seen, not only its effect on a retry.
* format 5: format 4's array with 5 first, written as formats 1 and 2 are, for a
  payload orjson refuses.

Formats 1, 2 and 5: a JSON array, compact separators (``,`` and ``:``), non-ASCII
escaped (``\\u00e9`` for an e acute), UTF-8, the payload with its keys sorted.
All formats: times as Python's ``isoformat()`` of the UTC instant
(``2026-11-02T09:00:00+00:00``, microseconds only when not zero). A history may
hold several formats (a case opened before a change and acted on after it);
the chain links them alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from states.case import CaseSnapshot
from states.fold_rules import HANDLERS, clocks_after
from states.fold_rules import apply_change as apply_change  # re-exported
from states.time_texts import utc_iso_text

EVENT_FORMAT = 4
FALLBACK_FORMAT = 5  # a payload orjson refuses
FORMATS = (1, 2, 3, 4, 5)  # formats this release reads and verifies
_SORTED = orjson.OPT_SORT_KEYS
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
_escape = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _scalar(value: str | int | None) -> str:
    """JSON of a string, an int or None, exactly as ``_CANONICAL`` writes it."""
    if value is None:
        return "null"
    return _escape(value) if isinstance(value, str) else str(value)


GENESIS = "0" * 64
_UNSET = object()
_sha256 = hashlib.sha256


def _isoformat(at: datetime) -> str:
    """``at.isoformat()``; a UTC datetime's (what the engine dates events with) put together
    from its fields, for a fifth of the instructions (see :mod:`states.time_texts`)."""
    if at.tzinfo is UTC and at.__class__ is datetime:
        return utc_iso_text(at)
    return at.isoformat()


@dataclass(slots=True)
class Event:
    type: str
    occurred_at: datetime
    actor: str
    from_state: str | None
    to_state: str
    from_level: str | None
    to_level: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    case_id: int | None = None
    seq: int = 0
    command_id: str | None = None
    idempotency_key: str | None = None
    format: int = EVENT_FORMAT
    prev_hash: str = ""
    hash: str = ""
    # When it was written down (hashed from format 2 on).
    recorded_at: datetime | None = None
    # The digest of the keyed command that caused it (to tell an idempotent retry from
    # a key reused for another command); hashed from format 4 on.
    command_hash: str | None = None
    # The payload as canonical JSON (keys sorted), set by `seal`: hashed and stored as is.
    payload_text: str | None = None
    # Not covered by the hash (see states.dimensions): the case's team, priority, channel
    # and assignee once this event applied, what a period's counts are filtered by; the
    # payload's point, reason and clock, what they are grouped by.
    team: str | None = None
    priority: str | None = None
    channel: str | None = None
    assignee: str | None = None
    point: str | None = None
    reason: str | None = None
    clock: str | None = None

    def canonical(self, payload_text: str | None = None, occurred: str | None = None) -> bytes:
        """The bytes the hash covers, in this event's format (see the module docstring);
        `occurred`: ``occurred_at.isoformat()`` when the caller has it already.

        Format 1: ``[format, case_id, seq, type, occurred_at, actor, from_state,
        to_state, from_level, to_level, payload, command_id, prev_hash]``.
        Formats 2 and 3: ``[format, case_id, seq, type, occurred_at, recorded_at, actor,
        from_state, to_state, from_level, to_level, payload, idempotency_key,
        command_id, prev_hash]`` (3: written by orjson). Formats 4 and 5: the same with
        ``command_hash`` after ``idempotency_key`` (4: written by orjson). Any other
        format, or a format-3 or 4 payload orjson cannot write, raises ValueError.
        """
        occurred = occurred or _isoformat(self.occurred_at)
        recorded = None if self.recorded_at is None else _isoformat(self.recorded_at)
        if self.format in (3, 4):
            return self._canonical_orjson(occurred, recorded, payload_text)
        payload = _CANONICAL.encode(self.payload) if payload_text is None else payload_text
        if self.format in (2, 5):
            values = [self.format, self.case_id, self.seq, self.type, occurred, recorded]
            tail = f"{_scalar(self.idempotency_key)},"
            if self.format == 5:
                tail += f"{_scalar(self.command_hash)},"
            tail += f"{_scalar(self.command_id)},"
        elif self.format == 1:
            values = [self.format, self.case_id, self.seq, self.type, occurred]
            tail = f"{_scalar(self.command_id)},"
        else:
            raise ValueError(f"event format {self.format!r} is not one of {FORMATS}")
        values += (self.actor, self.from_state, self.to_state, self.from_level, self.to_level)
        head = ",".join(
            [_escape(value) if value.__class__ is str else _scalar(value) for value in values]
        )
        tail += _scalar(self.prev_hash)
        return f"[{head},{payload},{tail}]".encode()

    def _canonical_orjson(
        self, occurred: str, recorded: str | None, payload_text: str | None
    ) -> bytes:
        """Formats 3 and 4, written by orjson."""
        payload = self.payload if payload_text is None else orjson.Fragment(payload_text)
        array = [
            self.format,
            self.case_id,
            self.seq,
            self.type,
            occurred,
            recorded,
            self.actor,
            self.from_state,
            self.to_state,
            self.from_level,
            self.to_level,
            payload,
            self.idempotency_key,
            self.command_hash,
            self.command_id,
            self.prev_hash,
        ]
        if self.format == 3:
            del array[13]  # format 3 did not seal the command's digest
        try:
            return orjson.dumps(array, option=_SORTED)
        except orjson.JSONEncodeError as exc:
            raise ValueError(
                f"a format-{self.format} event that orjson cannot write: {exc}"
            ) from None

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def seal(
    events: list[Event],
    case_id: int,
    last_seq: int,
    last_hash: str,
    occurred: list[str] | None = None,
) -> str:
    """Number and chain `events` after (`last_seq`, `last_hash`); returns the new head hash.
    `occurred`: each event's ``occurred_at.isoformat()``, when the caller has them (an
    import of a log, whose events' times are all different, made them already).

    The events of a command share the instants they occurred and were recorded at (the
    same objects): each instant's text is written once, not once per event."""
    head = last_hash
    at: datetime | None = None  # the last occurred_at written, `iso` its text
    iso = ""
    recorded_at: object = _UNSET  # the last recorded_at written, `recorded` its text
    recorded: str | None = None
    seq = last_seq
    for event in events:
        seq += 1
        event.case_id = case_id
        event.seq = seq
        event.prev_hash = head
        try:  # format 4, unless orjson refuses the payload (see the module docstring)
            text = orjson.dumps(event.payload, option=_SORTED).decode()
            event.format = EVENT_FORMAT
        except orjson.JSONEncodeError:
            text = _CANONICAL.encode(event.payload)
            event.format = FALLBACK_FORMAT
        event.payload_text = text
        if occurred is not None:
            iso = occurred[seq - last_seq - 1]
        elif event.occurred_at is not at:
            at = event.occurred_at
            iso = _isoformat(at)
        if event.recorded_at is not recorded_at:
            recorded_at = event.recorded_at
            recorded = None if event.recorded_at is None else _isoformat(event.recorded_at)
        if event.format == EVENT_FORMAT:  # what a new event is sealed in: straight to its writer
            canonical = event._canonical_orjson(iso, recorded, text)
        else:
            canonical = event.canonical(text, iso)
        event.hash = head = _sha256(canonical).hexdigest()
    return head


def new_snapshot(event: Event) -> CaseSnapshot:
    """The snapshot an ``opened`` event creates."""
    p = event.payload
    at = event.occurred_at
    return CaseSnapshot(
        id=event.case_id,
        customer_id=p["customer_id"],
        subject=p["subject"],
        description=p.get("description", ""),
        priority=p["priority"],
        channel=p["channel"],
        customer_tier=p.get("customer_tier", "standard"),
        amount_claimed_minor=p.get("amount_claimed_minor"),
        currency=p["currency"],
        external_ref=p.get("external_ref"),
        state=event.to_state,
        level=None,
        acknowledged=None,
        assignee=None,
        team=p.get("team"),
        waiting=False,
        flags=[],
        satisfaction=None,
        opened_at=at,
        updated_at=at,
        state_entered_at=at,
        escalated_at=None,
        resolved_at=None,
        resolved_level=None,
        followed_up_at=None,
        reopen_count=0,
        escalation_count=0,
        process_version=p["process_version"],
        policy_version=p.get("policy_version", ""),
        version=1,
        last_seq=event.seq,
        last_hash=event.hash,
        clocks=clocks_after({}, event),
    )


def evolve(snap: CaseSnapshot, event: Event, clocks: dict[str, Any] | None = None) -> None:
    """Fold `event` into `snap` in place (callers copy first when they must keep the old one).
    `clocks`: the clock states after `event`, when the caller has worked them out already
    (the engine's timer bookkeeping does, see :meth:`states.timers.TimerWrites.record`)."""
    if event.to_state != snap.state:
        snap.state_entered_at = event.occurred_at
    snap.state = event.to_state
    snap.level = event.to_level
    snap.updated_at = event.occurred_at
    snap.last_seq = event.seq
    snap.last_hash = event.hash
    if clocks is not None:
        snap.clocks = clocks
    elif event.payload.get("clocks"):
        snap.clocks = clocks_after(snap.clocks, event)
    handler = HANDLERS.get(event.type)
    if handler is not None:
        handler(snap, event)


def fold(
    events: list[Event], each: Callable[[Event, CaseSnapshot], None] | None = None
) -> CaseSnapshot:
    """Rebuild a case from its full history (the first event must be ``opened``);
    `each` sees every event with the case as it stood once that event applied."""
    if not events or events[0].type != "opened":
        raise ValueError("a case history starts with an 'opened' event")
    snap = new_snapshot(events[0])
    if each is not None:
        each(events[0], snap)
    versions = {events[0].command_id}
    for event in events[1:]:
        try:
            evolve(snap, event)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"event #{event.seq} ({event.type}) cannot be replayed: {type(exc).__name__} {exc}"
            ) from None
        if each is not None:
            each(event, snap)
        if event.command_id not in versions:
            versions.add(event.command_id)
            snap.version += 1
    return snap
