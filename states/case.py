"""The case projection: what a case looks like now, derived from its events.

`Case` rows in the database are exactly :class:`CaseSnapshot` values (and the
running deadlines derived from them, :data:`DEADLINE_COLUMNS`); the only way a
snapshot changes is :func:`states.events.evolve`, so replaying a case's events
always rebuilds the stored row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
CHANNELS: tuple[str, ...] = ("email", "phone", "chat", "web", "letter", "social", "import")
TIERS: tuple[str, ...] = ("standard", "premium", "vip")


#: The SLA clocks whose deadline the case row also holds in a column of its own,
#: ``deadline_<clock>``, while it is in force (NULL otherwise): while the clock runs, and
#: while it is paused after it reached its deadline (a spent clock keeps its deadline and
#: stays breached through a wait; a clock paused in time has none). The dashboard's deadlines
#: at risk or breached and the aging table's most urgent cases are read from an index on
#: each. Indexes on the same values read out of the ``clocks`` JSON cost a tenth of an
#: SLA command's instructions: every update of a case rewrote all five of their entries
#: (SQLite recomputes an expression index whenever its column is set, and ``clocks`` is
#: set by nearly every command), where a column is set only when its deadline moves.
DEADLINE_CLOCKS: tuple[str, ...] = (
    "first_response",
    "acknowledge",
    "resolution",
    "escalation",
    "follow_up",
)
DEADLINE_COLUMNS: tuple[str, ...] = tuple(f"deadline_{clock}" for clock in DEADLINE_CLOCKS)


_IN_FORCE = ("running", "paused")


def running_deadlines(clocks: dict[str, dict[str, Any]]) -> tuple[str | None, ...]:
    """The values of :data:`DEADLINE_COLUMNS` for clock states `clocks`: each clock's
    deadline in force (its ISO text, as its state keeps it), else None: while it runs,
    and while it is paused with a deadline (only a spent clock keeps one through a wait).

    All five in one call: a case update compares them before and after a change of the
    clocks, and one frame costs a fifth of five descriptor reads."""
    deadlines = []
    for clock in DEADLINE_CLOCKS:
        state = clocks.get(clock)
        active = state is not None and state["status"] in _IN_FORCE
        deadlines.append(state.get("deadline") if active else None)  # type: ignore[union-attr]
    return tuple(deadlines)


class _RunningDeadline:
    """``snap.deadline_<clock>``: :func:`running_deadlines`' value of one clock. Derived
    from ``clocks`` on every read, so it can never disagree with the state it comes from;
    the row's column is written from it."""

    __slots__ = ("index",)

    def __init__(self, clock: str) -> None:
        self.index = DEADLINE_CLOCKS.index(clock)

    def __get__(self, snap: Any, owner: Any = None) -> Any:
        if snap is None:
            return self
        return running_deadlines(snap.clocks)[self.index]  # one rule for one and for all five


@dataclass(slots=True)
class CaseSnapshot:
    """Current state of one case. Field names are the `case` table's columns."""

    id: int | None
    customer_id: str
    subject: str
    description: str
    priority: str
    channel: str
    customer_tier: str
    amount_claimed_minor: int | None
    currency: str
    external_ref: str | None
    state: str
    level: str | None
    acknowledged: bool | None
    assignee: str | None
    team: str | None
    waiting: bool
    flags: list[str]
    satisfaction: int | None
    opened_at: datetime
    updated_at: datetime
    state_entered_at: datetime
    escalated_at: datetime | None
    resolved_at: datetime | None
    resolved_level: str | None
    followed_up_at: datetime | None
    reopen_count: int
    escalation_count: int
    process_version: str
    policy_version: str
    version: int
    last_seq: int
    last_hash: str
    clocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    deadline_first_response = _RunningDeadline("first_response")
    deadline_acknowledge = _RunningDeadline("acknowledge")
    deadline_resolution = _RunningDeadline("resolution")
    deadline_escalation = _RunningDeadline("escalation")
    deadline_follow_up = _RunningDeadline("follow_up")

    def copy(self) -> CaseSnapshot:
        clone = CaseSnapshot(**{name: getattr(self, name) for name in FIELD_NAMES})
        clone.flags = list(self.flags)
        clone.clocks = dict(self.clocks)
        clone.extra = dict(self.extra)
        return clone

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(CaseSnapshot))
#: Every column of the case row: the snapshot's fields, then the running deadlines.
CASE_COLUMNS: tuple[str, ...] = FIELD_NAMES + DEADLINE_COLUMNS
