"""File rows become intake records: which columns mean what, and each row's key.

A row with `case_id` or `case_ref` brings news about that case (`Update`:
message, amount, priority, tier); any other row opens a case (`OpenCase`).
Unknown columns are refused, naming the allowed ones, so a typo such as
``priorty`` is never silently dropped. Empty cells and JSON ``null`` mean
absent. Parsing never raises: a row becomes a `Record` or a `RowError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from states import fields as check
from states.commands import OpenCase, Update
from states.errors import InvalidInput
from states.intake import COLUMN_OF, INTAKE_ACTOR, Record, RowError

#: Columns of a row that opens a case.
NEW_CASE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "subject",
    "description",
    "priority",
    "channel",
    "customer_tier",
    "amount",
    "team",
    "ref",
)
#: Columns of a row that brings news about an existing case.
UPDATE_COLUMNS: tuple[str, ...] = (
    "case_id",
    "case_ref",
    "message",
    "amount",
    "priority",
    "customer_tier",
)
COLUMNS: tuple[str, ...] = (*dict.fromkeys((*NEW_CASE_COLUMNS, *UPDATE_COLUMNS)), "idempotency_key")
_NUMERIC_COLUMNS = frozenset({"amount", "case_id"})
MAX_KEY = 100  # characters of an idempotency key
FILE_CHANNEL = "import"  # a row that does not say how the customer reached us


def default_key(source: str, row: int, raw: str) -> str:
    """The key of a row without its own: same file name, row number and text, same key."""
    digest = hashlib.sha256(f"{source}\x00{row}\x00{raw}".encode(errors="surrogateescape"))
    return "intake:" + digest.hexdigest()[:24]


def record_from_row(
    row: Mapping[Any, Any], source: str, number: int, raw: str
) -> Record | RowError:
    """The record a file row asks for, or the first thing wrong with it.

    Empty cells (``""``) and JSON ``null`` mean absent. A row with `case_id`
    or `case_ref` updates that case; any other row opens one.
    """
    values: dict[str, Any] = {}
    for name, value in row.items():
        if name not in COLUMNS:
            allowed = ", ".join(COLUMNS)
            return RowError(number, str(name), value, f"unknown column; allowed: {allowed}")
        if value is None or value == "":
            continue
        if name not in _NUMERIC_COLUMNS and not isinstance(value, str):
            return RowError(number, name, value, "text")
        if name != "description" and isinstance(value, str) and not value.strip():
            return RowError(number, name, value, "a non-empty text, or leave the cell empty")
        values[name] = value
    own_key = values.pop("idempotency_key", None)
    if own_key is not None and len(own_key) > MAX_KEY:
        return RowError(number, "idempotency_key", own_key, f"at most {MAX_KEY} characters")
    key = own_key or default_key(source, number, raw)
    try:
        if "case_id" in values or "case_ref" in values:
            return _update_row(values, source, number, key)
        return _open_row(values, source, number, key)
    except InvalidInput as exc:
        return RowError(number, COLUMN_OF.get(exc.field, exc.field), exc.value, exc.allowed)


def _open_row(values: dict[str, Any], source: str, number: int, key: str) -> Record | RowError:
    if "message" in values:
        return RowError(
            number,
            "message",
            values["message"],
            "only on a row that names an existing case (case_id or case_ref); "
            "a new case takes a description",
        )
    if "customer_id" not in values:
        return RowError(number, "customer_id", None, "required for a new case")
    command = OpenCase(
        customer_id=values["customer_id"],
        subject=values.get("subject", ""),
        description=values.get("description", ""),
        priority=values.get("priority", "normal"),
        channel=values.get("channel", FILE_CHANNEL),
        customer_tier=values.get("customer_tier", "standard"),
        amount_claimed=values.get("amount"),
        team=values.get("team"),
        external_ref=values.get("ref"),
        actor=INTAKE_ACTOR,
        idempotency_key=key,
    )
    return Record(source, number, key, command)


def _update_row(values: dict[str, Any], source: str, number: int, key: str) -> Record | RowError:
    allowed = ", ".join(UPDATE_COLUMNS)
    for name in sorted(set(values) - set(UPDATE_COLUMNS)):
        reason = f"not allowed on a row that names a case; allowed: {allowed}"
        return RowError(number, name, values[name], reason)
    if "case_id" in values and "case_ref" in values:
        reason = "give case_id or case_ref, not both"
        return RowError(number, "case_ref", values["case_ref"], reason)
    if not any(name in values for name in ("message", "amount", "priority", "customer_tier")):
        return RowError(
            number, "message", None, "a row that names a case needs a message, amount, priority "
            "or customer_tier"
        )  # fmt: skip
    case_id = _case_number(values["case_id"]) if "case_id" in values else None
    # A reference names the case; it is no field of the command, so the command's checks
    # never saw it: checked as the reference a case is opened with is (`ref`).
    check.name("case_ref", values.get("case_ref"))
    command = Update(
        case_id=0,
        actor=INTAKE_ACTOR,
        message=values.get("message"),
        amount_claimed=values.get("amount"),
        priority=values.get("priority"),
        customer_tier=values.get("customer_tier"),
        idempotency_key=key,
    )
    refs = (values["case_ref"],) if "case_ref" in values else ()
    return Record(source, number, key, command, case_id=case_id, case_refs=refs)


def _case_number(value: Any) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise InvalidInput("case_id", value, "a positive case number")
    return value
