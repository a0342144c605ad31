"""The filters every dashboard view shares: who (team, assignee), what (priority,
channel) and when (a period of days ending now).

They travel in a page's URL so that a view can be shared and reloaded:
:meth:`ViewFilter.from_params` reads them back from the query string and
refuses values no case can hold with the field, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, select

from states import fields as check
from states.case import CHANNELS, PRIORITIES
from states.dimensions import DIMENSIONS
from states.errors import InvalidInput
from states.json_sql import not_indexed
from states.store import CASE

PERIOD_DAYS: tuple[int, ...] = (1, 7, 30, 90, 365)
DEFAULT_PERIOD_DAYS = 30
#: The query-string keys a filter occupies (other keys, e.g. ``case``, are the page's own).
PARAMS: tuple[str, ...] = ("team", "priority", "channel", "assignee", "period")


@dataclass(frozen=True, slots=True)
class ViewFilter:
    team: str | None = None
    priority: str | None = None
    channel: str | None = None
    assignee: str | None = None
    period_days: int = DEFAULT_PERIOD_DAYS

    def __post_init__(self) -> None:
        check.name("team", self.team)
        check.name("assignee", self.assignee)
        if self.priority is not None:
            check.choice("priority", self.priority, PRIORITIES)
        if self.channel is not None:
            check.choice("channel", self.channel, CHANNELS)
        if self.period_days not in PERIOD_DAYS:
            raise InvalidInput(
                "period", self.period_days, f"one of {', '.join(map(str, PERIOD_DAYS))} (days)"
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ViewFilter:
        """The filter a URL's query string names (missing or empty keys: no filter)."""
        values = {key: params.get(key) or None for key in PARAMS}
        period = values.pop("period")
        if period is None:
            return cls(**values)
        try:
            days = int(period)
        except (TypeError, ValueError):
            raise InvalidInput(
                "period", period, f"one of {', '.join(map(str, PERIOD_DAYS))} (days)"
            ) from None
        return cls(**values, period_days=days)

    def to_params(self) -> dict[str, str]:
        """The query string that names this filter (defaults left out, so URLs stay short)."""
        params = {
            key: value
            for key, value in (
                ("team", self.team),
                ("priority", self.priority),
                ("channel", self.channel),
                ("assignee", self.assignee),
            )
            if value is not None
        }
        if self.period_days != DEFAULT_PERIOD_DAYS:
            params["period"] = str(self.period_days)
        return params

    def since(self, now: datetime) -> datetime:
        """The start of the period that ends at `now`."""
        return now - timedelta(days=self.period_days)

    def case_conditions(self) -> list[ColumnElement[bool]]:
        """WHERE conditions on the case table (team and assignee as the case stands now)."""
        return self.conditions(CASE)

    def conditions(self, table: Table, indexed: bool = True) -> list[ColumnElement[bool]]:
        """WHERE conditions on `table`'s team, priority, channel and assignee columns: the
        case's (as it stands now), or an event's (as the case stood once the event
        applied, see states.dimensions). Not `indexed`: no index is looked up by them
        (see states.json_sql.not_indexed), for reads through another index."""
        spell = (lambda column: column) if indexed else not_indexed
        return [
            spell(table.c[column]) == value
            for column in DIMENSIONS
            if (value := getattr(self, column)) is not None
        ]


def filter_choices(conn: Connection) -> tuple[list[str], list[str]]:
    """The teams and assignees cases have, for the filter lists (sorted)."""
    teams, assignees = (
        sorted(
            conn.execute(
                select(CASE.c[column]).where(CASE.c[column].is_not(None)).distinct()
            ).scalars()
        )
        for column in ("team", "assignee")
    )
    return teams, assignees
