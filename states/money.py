"""Amounts of money: parsed once at the edge into `Decimal`, stored in minor units.

Floats never touch money. Authority limits may be ``"unlimited"``, which is
``Decimal("Infinity")`` so that plain comparisons hold.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

UNLIMITED = Decimal("Infinity")
_SYMBOLS = "€$£"


def parse_amount(value: object) -> Decimal:
    """A non-negative amount with at most two decimals ("800", "€800.50", 800)."""
    text = str(value).strip().replace(",", "").lstrip(_SYMBOLS).strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(
            f"{value!r} is not an amount; allowed: a number such as 800 or 800.50"
        ) from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} is not allowed; allowed: a non-negative finite amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{value!r} has more than two decimals; allowed: cents at most")
    return amount.quantize(Decimal("0.01"))


def parse_limit(value: object) -> Decimal:
    if isinstance(value, str) and value.strip().lower() == "unlimited":
        return UNLIMITED
    return parse_amount(value)


def to_minor(amount: Decimal | None) -> int | None:
    return None if amount is None else int(amount * 100)


def from_minor(minor: int | None) -> Decimal | None:
    return None if minor is None else (Decimal(minor) / 100).quantize(Decimal("0.01"))


def format_money(amount: Decimal | None, currency: str = "EUR") -> str:
    if amount is None:
        return "-"
    if amount.is_infinite():
        return "unlimited"
    return f"{currency} {amount:,.2f}"
