"""What `tierflow init` and every command check of the schema they find, before using it.

`init` creates what is missing of a new database, never what was lost or changed in a
used one: a table missing from a database that holds cases lost its rows (all of its
history, when it is ``case_event``), and creating it empty hid the loss; a column
dropped, or whose type was changed by hand, passed `init`, and every command after it
failed on the column. Each is refused in one :class:`StoreError` line naming the tables
or the column, and what to do.

A column's type is compared by its class (integer, text, real, boolean, timestamp,
JSON...), the type the model has on that database against the type reflected there:
``VARCHAR(32)`` and ``TEXT``, or ``INTEGER`` and ``BIGINT``, are the same class;
``INTEGER`` and ``TEXT`` are not.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Dialect, inspect, literal_column, select, table
from sqlalchemy import types as sqltypes
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel

from states.errors import StoreError
from states.tables import Case, CaseEvent, ProcessVersion, SchemaInfo

#: Type classes, most specific first (SQLAlchemy's Float is a Numeric; Boolean no Integer).
_CLASSES: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
    (sqltypes.Boolean, "boolean"),
    (sqltypes.Integer, "integer"),
    (sqltypes.Numeric, "real"),
    (sqltypes.String, "text"),
    (sqltypes.DateTime, "timestamp"),
    (sqltypes.Date, "date"),
    (sqltypes.Time, "time"),
    (sqltypes.JSON, "json"),
    (sqltypes.LargeBinary, "binary"),
)
#: The tables whose rows are cases and their history.
_CASE_TABLES = (Case.__tablename__, CaseEvent.__tablename__)
#: The tables every schema version had (the first one: these only).
_EVERY_SCHEMA = (*_CASE_TABLES, ProcessVersion.__tablename__, SchemaInfo.__tablename__)


def tierflow_tables() -> list[str]:
    """The names of tierflow's tables, in the order they are created."""
    return [t.name for t in SQLModel.metadata.sorted_tables]


def missing_tables(conn: Connection, *, older: bool = False) -> list[str]:
    """tierflow's tables the database does not have: none, some, or all (a new one).

    Of a database of an `older` schema, only the tables every schema had: one a later
    release added is not lost but still to be made, by `init` (which migrates it)."""
    present = set(inspect(conn).get_table_names())
    wanted = _EVERY_SCHEMA if older else tierflow_tables()
    return [name for name in wanted if name not in present]


def refuse_incomplete(conn: Connection, missing: list[str], *, finishing: bool) -> None:
    """Refuse a database that has some of tierflow's tables and not others (`missing`).

    One that holds cases lost what the missing tables held: it is refused whoever asks,
    `init` too, which would create them empty. One without cases is what a first `init`
    stopped part way could leave: `init` (`finishing`) creates the rest; any other
    command says to run it.
    """
    if not missing or set(missing) >= set(_EVERY_SCHEMA):  # none of them: a new database
        return
    named = f"table {missing[0]} is" if len(missing) == 1 else f"tables {', '.join(missing)} are"
    if _holds_cases(conn, missing):
        raise StoreError(
            f"the database is incomplete: {named} missing while it holds cases (history "
            "lost); restore it from a backup"
        )
    if not finishing:
        raise StoreError(
            f"the database is incomplete: {named} missing; run `tierflow init` to finish it"
        )


def _holds_cases(conn: Connection, missing: list[str]) -> bool:
    """Whether a case or an event is stored (in whichever of their tables is present)."""
    for name in _CASE_TABLES:
        if name in missing:
            continue
        query = select(literal_column("1")).select_from(table(name)).limit(1)
        if conn.execute(query).first() is not None:
            return True
    return False


def refuse_name_taken(missing: list[str], exc: SQLAlchemyError) -> None:
    """Creating the `missing` tables of an incomplete database failed (`exc`) on a name one
    of them needs, an index's, held by what was that table, renamed by hand: said as
    incomplete, naming the tables (PostgreSQL said only "relation … already exists").
    Any other failure is left to the caller."""
    problem = " ".join(str(getattr(exc, "orig", None) or exc).split())
    if not missing or set(missing) >= set(_EVERY_SCHEMA) or "already exists" not in problem:
        return
    named = f"table{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    raise StoreError(
        f"the database is incomplete: cannot create {named} ({problem}): a tierflow table "
        "was renamed or changed by hand; restore the database from a backup"
    ) from None


def refuse_changed_columns(conn: Connection) -> None:
    """A column of tierflow's tables missing, or of another class of type than the model's
    (see the module's note): `create_all` skips an existing table, so `init` said
    "initialised" and every command then failed on the column. Said once, here, naming
    the table and the column."""
    found = inspect(conn)
    dialect = conn.dialect
    for model in SQLModel.metadata.sorted_tables:
        columns = {column["name"]: column["type"] for column in found.get_columns(model.name)}
        missing = [column.name for column in model.columns if column.name not in columns]
        if missing:
            raise StoreError(
                f"table {model.name} has no column {', '.join(missing)}: the database was "
                "altered outside tierflow; restore it from a backup"
            )
        for column in model.columns:
            wanted, have = column.type, columns[column.name]
            if type_class(wanted, dialect) != type_class(have, dialect):
                raise StoreError(
                    f"table {model.name} column {column.name} is {_spelt(have, dialect)} "
                    f"({type_class(have, dialect)}), not {_spelt(wanted, dialect)} "
                    f"({type_class(wanted, dialect)}): the schema was changed by hand; "
                    "restore the database from a backup"
                )


def type_class(type_: TypeEngine[Any], dialect: Dialect) -> str:
    """The class of values a column of `type_` holds on `dialect`: a model's type as that
    database stores it (a time is text on SQLite), or a type reflected from it."""
    stored = type_.dialect_impl(dialect)
    if isinstance(stored, TypeDecorator):
        stored = stored.impl_instance
    found = next((name for kind, name in _CLASSES if isinstance(stored, kind)), None)
    return found or type(stored).__name__.lower()


def _spelt(type_: TypeEngine[Any], dialect: Dialect) -> str:
    """`type_` as `dialect` writes it in a table's definition (``VARCHAR(32)``)."""
    try:
        return str(type_.compile(dialect=dialect))
    except SQLAlchemyError:  # a type the dialect has no name for (SQLite: none declared)
        return type(type_).__name__
