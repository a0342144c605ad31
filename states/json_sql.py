"""One field of one SLA clock in a case's ``clocks`` JSON, as SQL an index can hold.

Schema 5's deadline indexes were on these expressions; schema 6 keeps the running
deadlines in columns of their own (:data:`states.case.DEADLINE_COLUMNS`), and the
migration fills them with these (:mod:`states.migrations`). A database uses an
expression index only when the query spells the expression exactly as the index
does, with the JSON path written out.
SQLAlchemy's JSON paths (``clocks["resolution"]["deadline"]``) send the path as a
bound parameter, which no index matches; :func:`clock_value` writes it out, on
SQLite ``json_extract(clocks, '$.resolution.deadline')``, on PostgreSQL
``(clocks -> 'resolution' ->> 'deadline')``, the same text in the index and in
the query. Clock and field names are checked (letters, digits, underscores), so
the literal path cannot carry anything else. :func:`moved` spells the condition of
the partial index of moves the same way.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, String, TextClause, literal_column, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
#: the literal a partial index's WHERE and the query's condition both compare with
RUNNING = literal_column("'running'", String)
PAUSED = literal_column("'paused'", String)


class clock_value(FunctionElement[str]):
    """``clock_value(column, clock, field)``: the field as text (NULL when absent)."""

    type = String()
    inherit_cache = True
    name = "clock_value"

    def __init__(self, column: Any, clock: str, field: str) -> None:
        for what, value in (("clock", clock), ("field", field)):
            if not _NAME.fullmatch(value):
                raise ValueError(f"{what} {value!r}: expected letters, digits and underscores")
        super().__init__(column, literal_column(f"'{clock}'"), literal_column(f"'{field}'"))


def _parts(element: clock_value, compiler: Any, **kw: Any) -> tuple[str, str, str]:
    column, clock, field = (compiler.process(c, **kw) for c in element.clauses)
    return column, clock.strip("'"), field.strip("'")


@compiles(clock_value, "sqlite")
def _sqlite(element: clock_value, compiler: Any, **kw: Any) -> str:
    column, clock, field = _parts(element, compiler, **kw)
    return f"json_extract({column}, '$.{clock}.{field}')"


@compiles(clock_value, "postgresql")
def _postgresql(element: clock_value, compiler: Any, **kw: Any) -> str:
    column, clock, field = _parts(element, compiler, **kw)
    return f"({column} -> '{clock}' ->> '{field}')"


@compiles(clock_value)
def _other(element: clock_value, compiler: Any, **kw: Any) -> str:
    column, clock, field = _parts(element, compiler, **kw)
    return f"json_extract({column}, '$.{clock}.{field}')"


def running(column: Any, clock: str) -> ColumnElement[bool]:
    """The condition "this clock runs", read from the ``clocks`` JSON."""
    return clock_value(column, clock, "status") == RUNNING


def moved(dialect: str) -> TextClause:
    """The condition "this event moved its case to another state or level", as the
    partial index of moves (``ix_case_event_moves``) and the queries on it spell it: a
    database uses a partial index only for a query that states its condition."""
    differs = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    return text(
        f"from_state IS NOT NULL AND (from_state <> to_state OR from_level {differs} to_level)"
    )


class not_indexed(FunctionElement[str]):
    """``not_indexed(column)``: the column, which SQLite's planner then will not look up
    through an index of its own. SQLite (no statistics) takes an index whose first column
    a condition names as the best for it: for a filter on assignee, the agent's cases,
    whose clocks it then reads, instead of the running deadlines' index that holds the
    assignee too (146 ms against 16 at a million cases). On SQLite the column is written
    ``+column`` (unary plus, which keeps the value, text included); other databases
    plan from statistics and get the column as it is."""

    type = String()
    inherit_cache = True
    name = "not_indexed"


@compiles(not_indexed)
def _plain(element: not_indexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(not_indexed, "sqlite")
def _plus(element: not_indexed, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"
