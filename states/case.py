"""The case projection: what a case looks like now, derived from its events.

`Case` rows in the database are exactly :class:`CaseSnapshot` values; the
only way a snapshot changes is :func:`states.events.evolve`, so replaying a
case's events always rebuilds the stored row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
CHANNELS: tuple[str, ...] = ("email", "phone", "chat", "web", "letter", "social", "import")
TIERS: tuple[str, ...] = ("standard", "premium", "vip")


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

    def copy(self) -> CaseSnapshot:
        clone = CaseSnapshot(**{name: getattr(self, name) for name in FIELD_NAMES})
        clone.flags = list(self.flags)
        clone.clocks = dict(self.clocks)
        clone.extra = dict(self.extra)
        return clone

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(CaseSnapshot))
