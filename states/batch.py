"""A write batch: what one engine transaction carries, and what the engine reads off
its commands before it begins.

The engine (:mod:`states.engine`) decides each command of a batch, then writes the
events, case rows, timers and notices the batch produced in one transaction. What it
collects in between is a `Work`; `survey` walks the commands once, whatever the
retries; `new_command_id` names each command's events.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from states.case import CASE_COLUMNS, CaseSnapshot
from states.commands import Command, OpenCase
from states.events import Event
from states.outbox import NewNotification
from states.timers import TimerWrites

_IMMUTABLE = frozenset(
    {
        "id",
        "customer_id",
        "subject",
        "description",
        "channel",
        "currency",
        "external_ref",
        "opened_at",
        "process_version",
    }
)
#: The case columns an update writes: all but those fixed when the case opens.
UPDATE_COLUMNS = tuple(name for name in CASE_COLUMNS if name not in _IMMUTABLE)


class Retry(Exception):
    """The optimistic write lost a race; the batch may be retried on a fresh read."""


class Work:
    """Per-batch scratch: cases touched, with the version each had when read.

    A plain class rather than a dataclass: one is built per batch, and the dataclass's
    `default_factory` fields called `dict`, `set` and `list` for each (~6,000 instructions
    a batch; literals cost a tenth of a call of the type, and `unchecked` is only ever
    replaced, never added to, so its empty default is one shared frozenset)."""

    __slots__ = (
        "events",
        "notifications",
        "read_values",
        "read_version",
        "recorded_at",
        "snapshots",
        "timers",
        "unchecked",
    )

    def __init__(self, recorded_at: datetime) -> None:
        self.snapshots: dict[int, CaseSnapshot] = {}
        self.read_version: dict[int, int] = {}
        #: each case's update-column values as read (or inserted): what its update may skip
        self.read_values: dict[int, tuple[Any, ...]] = {}
        #: cases taken from the cache without reading their version (see `Engine._load`)
        self.unchecked: AbstractSet[int] = NO_CASES
        self.events: list[Event] = []
        self.notifications: list[NewNotification] = []
        self.timers = TimerWrites()
        self.recorded_at = recorded_at  # when this transaction writes its events down

    def remember_read(self, values_of: Callable[[CaseSnapshot], tuple[Any, ...]]) -> None:
        """Note each loaded case's version and column values, as read."""
        for case_id, snap in self.snapshots.items():
            self.read_version[case_id] = snap.version
            self.read_values[case_id] = values_of(snap)


NO_CASES: AbstractSet[int] = frozenset()


#: The random bits of command ids: a generator of tierflow's own, so that applying a
#: command leaves the `random` module's shared one as it was (a program that seeds it for
#: a reproducible run gets the same numbers with tierflow called in between); reseeded
#: in a forked child, as the shared one is, so parent and child never draw alike.
_ids = random.Random()
_id_bits = _ids.getrandbits
os.register_at_fork(after_in_child=_ids.seed)


def new_command_id() -> str:
    """32 hex digits, time first: new ids land at the end of the command_id index instead
    of on a random page of it (a random id dirtied one index page per command written).
    The 64 random bits after the nanoseconds keep two writers apart (an id names a
    command, it guards no secret). One 128-bit number (the nanoseconds fit 64 bits until
    2554), its 16 bytes in hex: the same text as ``f"{number:032x}"`` for half the
    instructions (no format spec to parse)."""
    return (time.time_ns() << 64 | _id_bits(64)).to_bytes(16).hex()


def survey(commands: list[Command]) -> tuple[set[int], bool, bool]:
    """One walk of a batch, once whatever its retries: the cases it acts on (not those it
    opens), whether a command of it expects a version, whether one carries an idempotency
    key (a batch without any has no earlier results to read)."""
    case_ids: set[int] = set()
    pinned = keyed = False
    for command in commands:
        if command.idempotency_key:
            keyed = True
        if not isinstance(command, OpenCase):
            case_ids.add(command.case_id)
            if command.expected_version:
                pinned = True
    return case_ids, pinned, keyed


def first_case(commands: Sequence[Command]) -> Any:
    for command in commands:
        if not isinstance(command, OpenCase):
            return command.case_id
    return None
