"""A statement's parameters for one object, by a function made for that statement.

:class:`states.bulk.BulkStatements` sends the driver each row's parameters in
the statement's order, every value read off an object (a snapshot, an event, a
dict row) and converted by its column's bind processor where it has one. Done
generically (read all values, loop over the processors, build a tuple) that
cost more Python per row than spelling the row out; so each statement gets a
function that is the row spelled out, made once from its column list (as
:func:`collections.namedtuple` makes its class): with columns ``seq`` and
``occurred_at`` it is ``lambda o: (o.seq, None if (v := o.occurred_at) is None
else p1(v))``. The names it is made from are the tables' column names (quoted
where they are not plain identifiers), never input.
"""

from __future__ import annotations

from collections.abc import Callable
from keyword import iskeyword
from typing import Any


def parameter_maker(
    columns: list[tuple[str, Callable[[Any], Any] | None]],
    extra: int,
    keys: list[str] | None,
    keyed: bool,
) -> Callable[..., Any]:
    """A function of an object and `extra` more values that returns a statement's
    parameters: a tuple in `columns`' order then the extra values, or with `keys`
    (a named-parameter driver) a dict of them under those keys.

    Each of `columns` names the attribute to read (with `keyed`: the key of a dict
    row) and the processor its value goes through when it is not None."""
    namespace: dict[str, Any] = {}
    values: list[str] = []
    for i, (source, processor) in enumerate(columns):
        if keyed:
            read = f"o[{source!r}]"
        elif source.isidentifier() and not iskeyword(source):
            read = f"o.{source}"
        else:
            read = f"getattr(o, {source!r})"
        if processor is not None:
            namespace[f"p{i}"] = processor
            read = f"(None if (v{i} := {read}) is None else p{i}(v{i}))"
        values.append(read)
    tail = [f"t{j}" for j in range(extra)]
    values += tail
    if keys is None:
        body = f"({''.join(value + ', ' for value in values)})"
    else:
        items = (f"{key!r}: {value}" for key, value in zip(keys, values, strict=True))
        body = f"{{{', '.join(items)}}}"
    exec(f"def parameters({', '.join(['o', *tail])}):\n    return {body}\n", namespace)
    return namespace["parameters"]  # type: ignore[no-any-return]
