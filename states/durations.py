"""SLA durations: ISO 8601 text in policy files, `timedelta` in the domain.

Targets are measured in business time, so only units of fixed length are
accepted: weeks, days, hours, minutes and seconds. Months and years are
refused because "one month of business time" has no single length.
"""

from __future__ import annotations

from datetime import timedelta

import isodate

from states.errors import PolicyError

MAX_DURATION = timedelta(days=3653)
"""Ten years: no SLA target, reopen or repeat-customer window is longer, and every
deadline computed from one stays far inside the dates Python can represent."""
ALLOWED = (
    "an ISO 8601 duration such as PT4H or P2D (days, hours, minutes, seconds), "
    "in whole seconds, at most P3653D (ten years)"
)


def parse_duration(text: str, source: str, key: str) -> timedelta:
    """Parse a positive ISO 8601 duration (``PT4H``, ``P2D``, ``P1W``).

    Raises `PolicyError(source, key, ...)` for anything else: text that is
    not ISO 8601, years or months, zero or negative durations, fractions of a
    second, and durations longer than :data:`MAX_DURATION`.
    """
    if not isinstance(text, str):
        raise PolicyError(source, key, f"{text!r} is not a text; allowed: {ALLOWED}")
    try:
        parsed = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise PolicyError(
            source, key, f"{text!r} is not an ISO 8601 duration; allowed: {ALLOWED}"
        ) from exc
    except OverflowError:  # more days than Python's timedelta holds
        raise PolicyError(source, key, f"{text!r} is too long; allowed: {ALLOWED}") from None
    if not isinstance(parsed, timedelta):
        raise PolicyError(
            source,
            key,
            f"{text!r} uses years or months, which have no fixed length in business time; "
            f"allowed: {ALLOWED}",
        )
    if parsed <= timedelta(0):
        raise PolicyError(source, key, f"{text!r} is not longer than zero; allowed: {ALLOWED}")
    if parsed > MAX_DURATION:
        raise PolicyError(source, key, f"{text!r} is too long; allowed: {ALLOWED}")
    if parsed % timedelta(seconds=1):  # clocks count whole seconds: PT0.5S was a target of 0
        raise PolicyError(source, key, f"{text!r} has a fraction of a second; allowed: {ALLOWED}")
    return parsed


def format_duration(td: timedelta, in_hours: bool = False) -> str:
    """Compact human form: ``2d 4h 05m``, ``3h 00m``, ``45m``, ``0m``.

    Seconds are dropped (truncated toward zero); a negative duration, such as
    the time since a breach, gets a leading ``-``. `in_hours` never counts days
    (``52h 05m``): for business time, where "a day" would read as a working day
    but mean 24 business hours.
    """
    if td < timedelta(0):
        formatted = format_duration(-td, in_hours)
        return formatted if formatted == "0m" else f"-{formatted}"
    total_minutes = td // timedelta(minutes=1)
    day = 10**9 if in_hours else 24 * 60
    days, minutes_of_day = divmod(total_minutes, day)
    hours, minutes = divmod(minutes_of_day, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"
