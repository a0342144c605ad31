"""What of a source case an import can take, before it is planned: its events' times
(UTC, in time order, to the whole second, as every event's) and whether its values are
ones a command could carry. Split out of :mod:`states.import_plan`, which plans the
events from them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from states import fields as check
from states.errors import InvalidInput
from states.import_read import SourceCase
from states.instants import EARLIEST, MAX_SKEW
from states.mapping import Mapping

Timed = tuple[datetime, int, str, dict[str, str]]
"""An event the import takes: its instant, its position in the trace, the instant's ISO
text as the hash chain writes it, and its attributes."""


def timed_events(
    case: SourceCase, mapping: Mapping, rejected: Counter[str], now: datetime
) -> list[Timed] | None:
    """`case`'s events with a usable time (one from 1970 to `now`, as any instant tierflow
    is given), in time order (ties: the file's), or None when none has one or a value of
    the case is one no command could carry (see :func:`refusal`). What is left out is
    counted in `rejected` by reason: an event alone, or the case whole."""
    timed = []
    latest = now + MAX_SKEW
    for position, attrs in enumerate(case.events):
        found = _instant(attrs.get(mapping.timestamp), mapping)
        if found is None:
            rejected["timestamp missing or not ISO 8601"] += 1
        elif not EARLIEST <= found[0] <= latest:
            rejected["timestamp before 1970 or in the future"] += 1
        else:
            timed.append((found[0], position, found[1], attrs))
    if not timed:
        rejected["case without a usable timestamp"] += 1
        return None
    refused = refusal(case, mapping)
    if refused is not None:
        rejected[refused] += len(timed)
        return None
    timed.sort(key=_at)  # stable: ties keep the file's order
    # Kept to the whole second once in order, as every event is (README: "when it
    # happened"); fractions sort the events of one second first, and are then cut.
    return [
        (whole, position, whole.isoformat(), attrs)
        for at, position, _, attrs in timed
        for whole in (at.replace(microsecond=0),)
    ]


def refusal(case: SourceCase, mapping: Mapping) -> str | None:
    """Why a case cannot be imported as it stands, or None: a value no command could carry
    (a case id, customer, resource or team that is not a name of tierflow's, a subject too long,
    a NUL anywhere: PostgreSQL cannot store one, SQLite would), named by its field."""
    names = [("case id", case.ref)]
    texts = []
    for attrs in (case.attrs, *case.events):
        names += [(f"customer ({mapping.customer_id})", attrs.get(mapping.customer_id or ""))]
        names += [(f"resource ({mapping.resource})", attrs.get(mapping.resource or ""))]
        names += [(f"team ({mapping.team})", attrs.get(mapping.team or ""))]
        texts += [(f"subject ({mapping.subject})", attrs.get(mapping.subject or ""))]
        texts += [(f"attribute {key!r}", f"{key}{value}") for key, value in attrs.items()]
    try:
        for name, value in names:
            check.name(name, value or None)
        for name, value in texts:
            check.text(name, value)
    except InvalidInput as exc:
        return f"case with an invalid {exc.field}: {exc.allowed}"
    return None


def _at(item: tuple[Any, ...]) -> datetime:
    return item[0]  # type: ignore[no-any-return]


def _instant(text: str | None, mapping: Mapping) -> tuple[datetime, str] | None:
    """The UTC instant `text` names (in the mapping's zone when it names none), and its
    ISO text as the hash chain writes it."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=mapping.timezone)
    try:
        at = at.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past the last UTC instant
        return None
    return at, at.isoformat()
