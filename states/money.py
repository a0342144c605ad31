"""Amounts of money: parsed once at the edge into `Decimal`, stored in minor units.

Floats never touch money. Authority limits may be ``"unlimited"``, which is
``Decimal("Infinity")`` so that plain comparisons hold.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

UNLIMITED = Decimal("Infinity")
MAX_AMOUNT = Decimal("999999999999.99")  # a trillion less a cent: stored in cents, it fits int64
_SYMBOLS = "€$£"
#: The currency each symbol an amount may be written with stands for: "$100" is 100 USD,
#: never 100 of a process's EUR (see `written_currency`).
SYMBOL_CURRENCIES = {"€": "EUR", "$": "USD", "£": "GBP"}


# ASCII digits only: Python's \d and Decimal() read "٨٠٠" (Arabic-Indic) as 800.
_AMOUNT_TEXT = re.compile(r"([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]+)?")


def parse_amount(value: object) -> Decimal:
    """A non-negative amount with at most two decimals ("800", "€800.50", "1,000", 800).

    Text is plain ASCII digits with a decimal point, optionally with thousands commas:
    "800,50" is refused, not read as 80,050, "1e3" is not an amount anyone types, and
    other scripts' digits ("٨٠٠") are refused rather than silently read as 800.
    """
    allowed = "a number such as 800, 800.50 or 1,250.00"
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an amount; allowed: {allowed}")
    if isinstance(value, str):
        text = value.strip().lstrip(_SYMBOLS).strip()
        if text.startswith("-"):
            raise ValueError(f"{value!r} is not allowed; allowed: a non-negative finite amount")
        if not _AMOUNT_TEXT.fullmatch(text):
            raise ValueError(f"{value!r} is not an amount; allowed: {allowed}")
        value = text.replace(",", "")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount; allowed: {allowed}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} is not allowed; allowed: a non-negative finite amount")
    if amount > MAX_AMOUNT:
        raise ValueError(f"{value!r} is too large; allowed: at most {MAX_AMOUNT:,}")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{value!r} has more than two decimals; allowed: cents at most")
    return amount.quantize(Decimal("0.01"))


def written_currency(value: object) -> str | None:
    """The currency a text amount's symbol names ("$100": USD, "€ 800": EUR), else None.

    `parse_amount` reads the number alone; the caller that knows the case's currency
    refuses an amount written in another one, which would otherwise be stored as that
    many of the case's own."""
    if not isinstance(value, str):
        return None
    return SYMBOL_CURRENCIES.get(value.strip()[:1])


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
