"""UTCDateTime values as the engine's hot-path statements send them (see :mod:`states.bulk`).

On SQLite a time is stored as the text ``isoformat(timespec="microseconds")``
writes for its UTC value (``2026-11-02T09:00:00.000000+00:00``, see
:class:`states.tables.UTCDateTime`); these functions write exactly that text,
for less Python than ``isoformat``. On PostgreSQL the driver takes datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

_TWO_DIGITS = tuple(f"{n:02d}" for n in range(100))
_THREE_DIGITS = tuple(f"{n:03d}" for n in range(1000))
_DAY_TEXTS: dict[int, str] = {}  # a date's ordinal: its ISO text


@lru_cache(maxsize=8192)
def sqlite_time_text(value: datetime) -> str:
    """UTCDateTime's SQLite text, memoised: a batch repeats the same few instants."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: tierflow stores aware UTC times only")
    return _utc_text(value.astimezone(UTC))


def _utc_text(value: datetime) -> str:
    """``value.isoformat(timespec="microseconds")`` of a UTC datetime, from tables of
    digits: the same text for less than half the instructions (``isoformat`` formats each
    field, and the offset, through the general formatter: ~15,000 instructions a time,
    and a command writes a few new ones)."""
    ordinal = value.toordinal()
    day = _DAY_TEXTS.get(ordinal)
    if day is None:
        day = _DAY_TEXTS[ordinal] = value.date().isoformat()
    two, three, micro = _TWO_DIGITS, _THREE_DIGITS, value.microsecond
    return (
        f"{day}T{two[value.hour]}:{two[value.minute]}:{two[value.second]}"
        f".{three[micro // 1000]}{three[micro % 1000]}+00:00"
    )


@lru_cache(maxsize=8192)
def sqlite_time_value(text: str) -> datetime:
    """The aware datetime of a SQLite time text (memoised, as the texts repeat)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
