"""UTCDateTime values as the engine's hot-path statements send them (see :mod:`states.bulk`).

On SQLite a time is stored as the text ``isoformat(timespec="microseconds")``
writes for its UTC value (``2026-11-02T09:00:00.000000+00:00``, see
:class:`states.tables.UTCDateTime`); these functions write exactly that text,
for less Python than ``isoformat``. On PostgreSQL the driver takes datetimes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from states.errors import UnreadableValue

_TWO_DIGITS = tuple(f"{n:02d}" for n in range(100))
_THREE_DIGITS = tuple(f"{n:03d}" for n in range(1000))
_DAY_TEXTS: dict[int, str] = {}  # a date's ordinal: its ISO text


def utc_seconds_text(value: datetime) -> str:
    """``value.isoformat(timespec="seconds")`` of a UTC datetime, from tables of digits:
    the same text for a third of the instructions (``isoformat`` formats each field, and
    the offset, through the general formatter: ~12,000-15,000 instructions a time, and a
    command writes a few new instants). Spelled out here, in :func:`_utc_text` and in
    :func:`utc_iso_text` (no shared helper: a call is a fifth of the cost).

    The text's stored text is noted too (see :class:`_StoredTexts`): these are the texts
    of clock states (:func:`states.clocks.iso`), and the deadlines and interval ends among
    them are stored right after, as timers' and ledger segments' times."""
    two = _TWO_DIGITS
    day = _DAY_TEXTS.get(value.toordinal()) or _day_text(value)
    seconds = f"{day}T{two[value.hour]}:{two[value.minute]}:{two[value.second]}"
    text = f"{seconds}+00:00"
    _STORED.note(text, f"{seconds}.000000+00:00")
    return text


def _utc_text(value: datetime) -> str:
    """``value.isoformat(timespec="microseconds")`` of a UTC datetime (see
    :func:`utc_seconds_text`)."""
    two, three = _TWO_DIGITS, _THREE_DIGITS
    micro = value.microsecond
    day = _DAY_TEXTS.get(value.toordinal()) or _day_text(value)
    return (
        f"{day}T{two[value.hour]}:{two[value.minute]}:{two[value.second]}"
        f".{three[micro // 1000]}{three[micro % 1000]}+00:00"
    )


def utc_iso_text(value: datetime) -> str:
    """``value.isoformat()`` of a UTC datetime: the seconds' text of
    :func:`utc_seconds_text`, with the microseconds before the offset when there are
    some, as ``isoformat`` writes them.

    Its stored text is noted too, by value (see :class:`_StoredTexts`): an event's two
    instants are written here when it is sealed, and stored right after."""
    micro = value.microsecond
    if micro:
        text = _utc_text(value)
        _STORED.note(value, text)
        return text
    two = _TWO_DIGITS
    day = _DAY_TEXTS.get(value.toordinal()) or _day_text(value)
    seconds = f"{day}T{two[value.hour]}:{two[value.minute]}:{two[value.second]}"
    _STORED.note(value, f"{seconds}.000000+00:00")
    return f"{seconds}+00:00"


def _day_text(value: datetime) -> str:
    day = _DAY_TEXTS[value.toordinal()] = value.date().isoformat()
    return day


@lru_cache(maxsize=8192)
def sqlite_time_value(text: str) -> datetime:
    """The aware datetime of a SQLite time text; a value no tierflow writes (the database
    edited outside it: SQLite keeps any text, or a number, in any column) is one
    :class:`UnreadableValue` naming it, not a ValueError from deep inside a read."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise UnreadableValue("time", text, "is not an ISO 8601 instant") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class _StoredTexts(dict[Any, str]):
    """The stored texts of the instants converted lately, by value (at most 8,192).

    A command converts the same few instants several times (its time is its event's
    ``occurred_at``, the case's ``updated_at`` and ``state_entered_at``, each new
    timer's ``created_at``; a ledger segment starts when an earlier one ended), and a
    dict's own lookup is the cheapest way back to a text: no Python frame on a hit.
    Equal values have the same text (equal instants in different zones are one UTC
    instant); a value refused is not kept, so it is refused each time."""

    __slots__ = ()

    def __missing__(self, value: datetime | str) -> str:
        text = _text_of_iso(value) if value.__class__ is str else _text_of_aware(value)  # type: ignore[arg-type]
        self.note(value, text)
        return text

    def note(self, value: datetime | str, text: str) -> None:
        """Keep `text` as the stored text of `value` (a text worked out elsewhere)."""
        if len(self) >= 8192:
            self.clear()
        self[value] = text


_STORED = _StoredTexts()
#: UTCDateTime's SQLite text of an aware datetime, or of the ISO-8601 text of one (clock
#: states keep their instants as text, and timers and ledger segments take them as they
#: are instead of through a datetime and back); ValueError for a naive time or a text
#: that is no time. A dict's own lookup (see _StoredTexts): the bind processor of every
#: SQLite time column of the engine's statements.
sqlite_time: Callable[[datetime | str], str] = _STORED.__getitem__


def _text_of_aware(value: datetime) -> str:
    """The stored text of an aware datetime."""
    zone = value.tzinfo
    if zone is None:
        raise ValueError(f"naive datetime {value!r}: tierflow stores aware UTC times only")
    return _utc_text(value if zone is UTC else value.astimezone(UTC))


def _text_of_iso(text: str) -> str:
    """The stored text of an instant given as ISO-8601 text (still parsed: a text that is
    not a time, or a naive one, is refused).

    Clock states write ``isoformat(timespec="seconds")`` of UTC times
    (``2026-11-02T15:24:00+00:00``): such a text, with the separators where that format
    puts them, becomes the stored one by inserting the microseconds."""
    value = datetime.fromisoformat(text)
    if len(text) == 25 and text[4:17:3] == "--T::" and text.endswith("+00:00"):
        return f"{text[:19]}.000000+00:00"
    return _text_of_aware(value)


def time_from_text(bind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`bind` (a UTCDateTime bind processor that takes datetimes), taking ISO-8601 text too."""

    def process(value: Any) -> Any:
        return bind(datetime.fromisoformat(value) if value.__class__ is str else value)

    return process
