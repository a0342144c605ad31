"""Checks of single values at the edge: the limits every caller meets, on every database.

Commands, list filters and sweeper names go through these before any
database sees a value, so SQLite and PostgreSQL refuse the same inputs with
the same message (PostgreSQL alone would fail on its indexes, for values
past ~2,700 bytes, with a driver error; SQLite would store 100 KB).

The limits:

* names and keys (customer id, actor, assignee, team, external reference,
  idempotency key, level, sweeper name): 1 to :data:`MAX_NAME` characters, not
  blank, no control characters;
* free text (subject, description, notes, reasons, notices, comments,
  messages): at most :data:`MAX_TEXT` characters;
* every text is valid Unicode: a lone surrogate (a byte the command line could
  not decode) cannot be stored as UTF-8 and is refused;
* case ids and versions: whole numbers up to :data:`MAX_ID`, the range of the
  ``integer`` columns of PostgreSQL (SQLite's are wider; both refuse the same).

Every check is a few ``isinstance`` tests and one regex search at most (none for
the usual name: ``str.isprintable`` clears it of both): they run on every command.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from typing import Any

from states.errors import InvalidInput

MAX_NAME = 200
MAX_TEXT = 20_000
MAX_ID = 2**31 - 1
"""The largest case id or version: PostgreSQL's ``integer`` (SQLite's holds more)."""

#: Control characters (C0, DEL, C1): never in a name, nor in a setting sent on a line.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text(field: str, value: Any, *, required: bool = False, nullable: bool = True) -> None:
    """Free text of at most MAX_TEXT characters; None when `nullable`, blank unless `required`."""
    if value is None and nullable and not required:
        return
    if not isinstance(value, str) or (required and _blank(value)):
        raise InvalidInput(field, value, "a non-empty text" if required else "text")
    if len(value) > MAX_TEXT:
        raise InvalidInput(field, value, f"at most {MAX_TEXT:,} characters")
    if "\x00" in value:  # PostgreSQL cannot store it (SQLite did): the same on both
        raise InvalidInput(field, value, "text without NUL characters")
    _unicode(field, value)


_NAME_ALLOWED = f"a name of 1 to {MAX_NAME} characters without control characters"


def name(field: str, value: Any, *, required: bool = False) -> None:
    """A name or key: None (unless `required`), or 1 to MAX_NAME printable characters."""
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise InvalidInput(field, value, _NAME_ALLOWED)
    if _blank(value):
        blank = "a non-empty name" + ("" if required else ", or leave the option out")
        raise InvalidInput(field, value, blank)
    if len(value) > MAX_NAME:
        raise InvalidInput(field, value, _NAME_ALLOWED)
    if not value.isprintable():  # control characters and lone surrogates never are
        if CONTROL.search(value):
            raise InvalidInput(field, value, _NAME_ALLOWED)
        _unicode(field, value)


def multiline_text(field: str, value: Any, *, required: bool = False) -> None:
    """Free text (:func:`text`) with no control character but line breaks and tabs: text a
    file sets once for many cases (a notice, a description), which a terminal, a
    PostgreSQL column (no NUL) and an XML export (a BPMN file) all take as written."""
    text(field, value, required=required)
    if isinstance(value, str) and CONTROL.search(value.translate(_LINE_BREAKS_AND_TABS)):
        raise InvalidInput(field, value, "text without control characters but line breaks and tabs")


_LINE_BREAKS_AND_TABS = str.maketrans("", "", "\n\t")


def choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(field, value, f"one of {', '.join(allowed)}")


def whole_number(field: str, value: Any, low: int, high: int = MAX_ID) -> None:
    """An int (not a bool) from `low` to `high`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(field, value, f"a whole number from {low} to {high}")


def positive_duration(field: str, value: Any) -> None:
    """A timedelta longer than zero (a lease, an interval)."""
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidInput(field, value, "a duration longer than zero (a timedelta)")


def _blank(value: str) -> bool:
    """Nothing a reader sees: spaces, and format characters alone (a zero-width space, a
    bidirectional override), which `str.strip` keeps and a list shows as an empty cell.
    Text whose ends are printable is not blank, found without a look at each character
    (every command's names and subject pass here)."""
    stripped = value.strip()
    if not stripped or (stripped[0].isprintable() and stripped[-1].isprintable()):
        return not stripped
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in stripped)


def _unicode(field: str, value: str) -> None:
    if not value.isascii() and _SURROGATE.search(value):
        raise InvalidInput(
            field, value, "valid UTF-8 text (a byte of it is not; check the terminal's encoding)"
        )
