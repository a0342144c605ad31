"""How the CLI words what went wrong before or around a command: a value an option could
not take, a group run without a command, a file-system fault.

A value the option parser refuses reads as the domain's refusals do (``invalid --limit
'1e400': a whole number from 1 to 100000``): the option, the value given and what is
allowed, worked out here once from the option's type and bounds rather than per option.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from states.errors import InvalidInput, TierflowError, cut

_NEGATIVE = re.compile(r"-\d[\d.,]*")


def usage_message(exc: Any) -> str:
    """The one line for a click/typer usage error `exc` (without the ``error:`` prefix)."""
    cause = exc.__cause__
    param = getattr(exc, "param", None)
    if isinstance(cause, ValidationError) and param is not None and cause.errors():
        first = cause.errors()[0]
        return str(InvalidInput(param_name(param), first.get("input"), allowed(param, first)))
    option = getattr(exc, "option_name", None)
    if isinstance(option, str) and _NEGATIVE.fullmatch(option):
        return (
            f"invalid {option}: not an option, and not a case id or count "
            "(those are whole numbers from 1)"
        )
    return exc.format_message()


def param_name(param: Any) -> str:
    """`--limit` for an option, `ID` for an argument."""
    if getattr(param, "param_type_name", "") == "argument":
        return (param.metavar or param.name.upper()).strip("[]")
    return param.opts[0] if param.opts else str(param.name)


def allowed(param: Any, error: dict[str, Any]) -> str:
    """What `param` allows, in words, for the validation `error` its value failed."""
    if error.get("type") == "value_error":  # a parser of ours said what is wrong
        return str(error.get("ctx", {}).get("error", error["msg"]))
    kind = param.bare_type() if callable(getattr(param, "bare_type", None)) else None
    if kind == "int":
        return "a whole number (ASCII digits)" + _range(param.min, param.max)
    if kind == "float":
        return "a number" + _range(param.min, param.max)
    if error.get("type") == "string_unicode":
        return "valid UTF-8 text (a byte of it is not; check the terminal's encoding)"
    return str(error["msg"])


def _range(low: object, high: object) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" of at least {low}"
    if high is not None:
        return f" of at most {high}"
    return ""


#: The CLI option of each command field whose name differs from it or that the CLI
#: takes as an option: a refusal names what the user typed (`--customer`, not
#: `customer_id`). Fields with no option here (a time, a file, a batch) keep their name.
OPTION_OF_FIELD = {
    "customer_id": "--customer",
    "customer_tier": "--tier",
    "amount_claimed": "--amount",
    "external_ref": "--ref",
    "idempotency_key": "--idempotency-key",
    "to_level": "--to-level",
    **{
        name: f"--{name}"
        for name in ("subject", "description", "priority", "channel", "team", "actor",
                     "assignee", "reason", "point", "notice", "note", "satisfaction",
                     "comment", "message", "worker")
    },
}  # fmt: skip


def refusal_message(exc: TierflowError) -> str:
    """`exc` in the CLI's words: an InvalidInput of a command field names its option."""
    option = OPTION_OF_FIELD.get(exc.field) if isinstance(exc, InvalidInput) else None
    if option is None:
        return str(exc)
    return str(InvalidInput(option, exc.value, exc.allowed))  # type: ignore[attr-defined]


def os_message(exc: OSError) -> str:
    """An OSError that escaped a command, as `<what went wrong>: <file>`."""
    what = exc.strerror or str(exc) or type(exc).__name__
    names = [cut(str(name)) for name in (exc.filename, exc.filename2) if name is not None]
    return ": ".join([what, *names])
