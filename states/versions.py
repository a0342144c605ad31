"""The process and policy versions stored with the cases, for the ops page.

Every process definition and SLA policy a case ran under is stored with its
exact text (``process_version``, ``policy_version``); the running system
names the ones it loaded. Ops read here which is in force and since when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from states.tables import PolicyVersion, ProcessVersion

KINDS = {"process": ProcessVersion.__table__, "policy": PolicyVersion.__table__}


@dataclass(frozen=True, slots=True)
class StoredVersion:
    kind: str  # process | policy
    id: str
    name: str
    version: str
    digest: str
    loaded_at: datetime
    active: bool
    source_text: str


def stored_versions(conn: Connection, active: dict[str, str]) -> list[StoredVersion]:
    """Every stored version, newest first per kind; `active` maps each kind to the
    version id the running system loaded (it is marked active)."""
    found = []
    for kind, table in KINDS.items():
        rows = conn.execute(select(table).order_by(table.c.loaded_at.desc(), table.c.id))
        found.extend(
            StoredVersion(
                kind=kind,
                id=row.id,
                name=row.name,
                version=row.version,
                digest=row.digest,
                loaded_at=row.loaded_at,
                active=row.id == active.get(kind),
                source_text=row.source_text,
            )
            for row in rows
        )
    return found
