"""How values are stored and read back: times as UTC (ISO 8601 text on SQLite), JSON as
orjson writes it; and a stored value no tierflow writes (the database edited outside
it: SQLite keeps any value in any column) read as one :class:`UnreadableValue` naming
it, instead of a ValueError from deep inside a read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import DateTime, String
from sqlalchemy.types import TypeDecorator

from states.errors import UnreadableValue
from states.time_texts import sqlite_time_value


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive values are refused.

    PostgreSQL stores ``timestamptz``. SQLite has no time type: values are
    fixed-width ISO 8601 UTC text (``2026-11-02T09:00:00.000000+00:00``), which
    sorts and compares correctly as text and parses with the C
    ``fromisoformat`` (SQLAlchemy's own SQLite DateTime parses with a regex,
    several times slower on the engine's hot path).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: tierflow stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.isoformat(timespec="microseconds") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # SQLite's text (or anything an edit put there)
            return sqlite_time_value(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def stored_json(text: str | bytes) -> Any:
    """A JSON column's stored text, decoded (orjson: 3x the standard decoder); text no
    tierflow writes is one :class:`UnreadableValue` naming it."""
    try:
        return orjson.loads(text)
    except (TypeError, orjson.JSONDecodeError):
        raise UnreadableValue("JSON", text, "does not decode") from None
