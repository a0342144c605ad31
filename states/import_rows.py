"""Imported events as rows of ``case_event``, sealed (see :mod:`states.importer`)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam

from states.dimensions import COLUMNS
from states.events import GENESIS, seal
from states.import_plan import CasePlan
from states.store import EVENT


class EventRows:
    """Imported events as rows of ``case_event``, sealed: values in the driver's form,
    read off the plan (the times as the ISO text the hash chain covered), without the
    per-value conversions of :class:`states.bulk.BulkStatements`."""

    def __init__(self, dialect: Any) -> None:
        self.columns = [c.name for c in EVENT.columns if c.name != "id"]
        compiled = EVENT.insert().values({n: bindparam(n) for n in self.columns})
        compiled = compiled.compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = dialect.positional
        if self.positional:
            assert list(compiled.positiontup) == self.columns
        self.text_times = dialect.name == "sqlite"  # UTCDateTime's column type there

    def sealed(self, plan: CasePlan, case_id: int, at: datetime) -> list[Any]:
        """Number, chain and hash `plan`'s events as case `case_id`'s, recorded `at`."""
        events = plan.events
        for event in events:
            event.recorded_at = at
            event.command_id = _command_id(event.idempotency_key or "")
        seal(events, case_id, 0, GENESIS, plan.times)
        recorded: Any = _sqlite_time(at.astimezone(UTC).isoformat()) if self.text_times else at
        rows = [
            (
                case_id,
                e.seq,
                e.type,
                _sqlite_time(iso) if self.text_times else e.occurred_at,
                recorded,
                e.actor,
                e.from_state,
                e.to_state,
                e.from_level,
                e.to_level,
                e.payload_text,
                e.command_id,
                e.idempotency_key,
                None,
                e.format,
                e.prev_hash,
                e.hash,
                *(getattr(e, name) for name in COLUMNS),
            )
            for e, iso in zip(events, plan.times, strict=True)
        ]
        if self.positional:
            return rows
        return [dict(zip(self.columns, row, strict=True)) for row in rows]


def _sqlite_time(iso: str) -> str:
    """UTCDateTime's SQLite text (microseconds always written) from a UTC instant's
    ``isoformat()``, which leaves them out when they are zero."""
    return iso if len(iso) > 25 else f"{iso[:19]}.000000{iso[19:]}"


def _command_id(key: str) -> str:
    """Each imported event is a command of its own, named by its key: the same in every
    import of the file, and 32 hex digits like the engine's."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]
