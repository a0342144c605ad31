"""What `tierflow init` checks of the schema it finds, before it says "initialised".

`init` creates what is missing of a new database, never what was changed in a used
one: a column dropped, or whose type was changed by hand, passed `init`, and every
command after it failed on the column. Each is refused in one :class:`StoreError` line
naming the table and the column, and what to do.

A column's type is compared by its class (integer, text, real, boolean, timestamp,
JSON...), the type the model has on that database against the type reflected there:
``VARCHAR(32)`` and ``TEXT``, or ``INTEGER`` and ``BIGINT``, are the same class;
``INTEGER`` and ``TEXT`` are not.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Dialect, inspect
from sqlalchemy import types as sqltypes
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel

from states.errors import StoreError

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
