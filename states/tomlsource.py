"""Reading TOML configuration so that every error can point at a line.

`tomllib` reports syntax errors with a line but forgets positions once
parsed; ops still deserve "file:line: key: problem" for semantic errors, so
:func:`locate` finds the line of a dotted key (``ladder[1].authority_limit``)
by scanning the source text for its table header and key.

The checks of single values every reader shares live here too: a value is
never coerced (``"yes"`` is no boolean, ``5`` no title), and names and free
text meet the limits of :mod:`states.fields`, the ones every command meets, so a
file cannot hold what a database, a terminal or a BPMN export would refuse.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Any

from states import fields
from states.errors import SHOWN, ConfigError, InvalidInput, shown
from states.regular_files import read_whole

NAME_ALLOWED = f"a non-empty string of at most {fields.MAX_NAME} characters, no control characters"
TEXT_ALLOWED = (
    f"a non-empty string of at most {fields.MAX_TEXT:,} characters, no control characters "
    "but line breaks and tabs"
)
_TOML_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),  # before int: Python's bool is an int, TOML's is not
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    (list, "an array"),
    (dict, "a table"),
    (datetime, "a date-time"),  # before date, of which it is a subclass
    (date, "a date"),
    (time, "a time"),
)
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_INDEX = re.compile(r"^(.*)\[(\d+)\]$")
_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)")
_AT_END = "(at end of document)"
_HUGE_NUMBER = re.compile(r"[0-9][0-9_]{4300,}")


class VersionedText:
    """For definitions loaded from a file: the exact text names the version.

    Subclasses (frozen dataclasses) have ``name``, ``version`` and ``source_text``.
    """

    name: str
    version: str
    source_text: str

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.source_text.encode()).hexdigest()

    @property
    def version_id(self) -> str:
        """What a case records: name, version and a digest of the exact text."""
        return f"{self.name}@{self.version}#{self.digest[:12]}"


@dataclass(frozen=True)
class TomlSource:
    """Parsed TOML plus the text it came from, for locating keys."""

    path: str
    text: str
    data: dict[str, Any]
    error_class: type[ConfigError] = ConfigError
    """What the checks below raise: the reader's error (ProcessDefinitionError...)."""

    def error(self, cls: type[ConfigError], key: str, problem: str) -> ConfigError:
        """Build a `cls` error for `key`, with the line where `key` is written.

        A key longer than a value an error quotes whole (a table named by 100,000
        characters) is cut as such a value is, to keep the error one readable line.
        """
        named = key if len(key) <= SHOWN else shown(key)
        return cls(self.path, named, problem, locate(self.text, key))

    def refuse(self, key: str, problem: str | None) -> None:
        """Raise the reader's error for `key` at its line when a check found a `problem`."""
        if problem is not None:
            raise self.error(self.error_class, key, problem)

    def name_at(self, key: str, value: Any, allowed: str = NAME_ALLOWED) -> str:
        """`value` of `key` as a name or key (see :func:`name_problem`), stripped."""
        self.refuse(key, name_problem(value, allowed))
        return value.strip()

    def text_at(self, key: str, value: Any, allowed: str = TEXT_ALLOWED) -> str:
        """`value` of `key` as free text (see :func:`text_problem`), stripped."""
        self.refuse(key, text_problem(value, allowed))
        return value.strip()

    def boolean_at(self, key: str, value: Any) -> bool:
        """`value` of `key` as a TOML boolean: ``"yes"`` is refused, not read as true."""
        self.refuse(key, type_problem(value, "a boolean", "true or false"))
        return value


def toml_type(value: Any) -> str:
    """The TOML type `value` was written as ("a boolean", "a float"), for errors."""
    return next((called for kind, called in _TOML_TYPES if isinstance(value, kind)), "no value")


def type_problem(value: Any, wanted: str, allowed: str) -> str | None:
    """Why `value` is not of the TOML type `wanted` (as :func:`toml_type` names it), or None.

    Nothing is coerced: ``bool("no")`` is True and ``str(5)`` a title, so either
    would turn a mistake into a setting nobody wrote.
    """
    found = toml_type(value)
    if found == wanted:
        return None
    if value is None:
        return f"missing; allowed: {allowed}"
    return f"{shown(value)} is {found}, not {wanted}; allowed: {allowed}"


def name_problem(value: Any, allowed: str = NAME_ALLOWED) -> str | None:
    """Why `value` cannot be a name or key (of a process, state, level, calendar, team or
    recipient), or None: :func:`states.fields.name`'s limits, which every command meets, so
    a name in a file can be stored, typed and exported like any other."""
    return type_problem(value, "a string", allowed) or _fields_problem(fields.name, value, allowed)


def text_problem(value: Any, allowed: str = TEXT_ALLOWED) -> str | None:
    """Why `value` cannot be free text (a description, a reason, a notice), or None.

    :func:`states.fields.text`'s limits, and no control character but line breaks and
    tabs, which multi-line text needs: NUL cannot be stored on PostgreSQL, ESC would
    drive a terminal and XML (a BPMN export) has no place for either.
    """
    return type_problem(value, "a string", allowed) or _fields_problem(
        fields.multiline_text, value, allowed
    )


def _fields_problem(check: Callable[..., None], value: str, allowed: str) -> str | None:
    try:
        check("value", value, required=True)
    except InvalidInput:
        return f"{shown(value)} is not allowed; allowed: {allowed}"
    return None


def read_toml(path: str | Path, cls: type[ConfigError]) -> TomlSource:
    """Read and parse a TOML file; unreadable or malformed files raise `cls`."""
    path = Path(path)
    try:  # a FIFO nobody writes to made every reader wait for ever: see read_whole
        data = read_whole(path)
    except OSError as exc:
        raise cls(str(path), "(file)", f"cannot read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:  # TOML files are UTF-8; say where the bad byte is
        line = data.count(b"\n", 0, exc.start) + 1
        problem = f"byte 0x{data[exc.start]:02x} is not UTF-8; allowed: a UTF-8 text file"
        raise cls(str(path), "(encoding)", problem, line) from None
    return parse_toml(text, str(path), cls)


def parse_toml(text: str, source: str, cls: type[ConfigError]) -> TomlSource:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = _AT_LINE.sub("", str(exc)).strip()
        raise cls(
            source, "(syntax)", f"not valid TOML: {message}", _syntax_line(exc, text)
        ) from exc
    except RecursionError:  # arrays or tables nested thousands deep
        problem = "nested too deeply; allowed: TOML nested at most a few hundred levels"
        raise cls(source, "(syntax)", problem) from None
    except ValueError:  # an integer past Python's limit of 4,300 digits (not a TOML error)
        found = _HUGE_NUMBER.search(text)
        line = text.count("\n", 0, found.start()) + 1 if found else None
        problem = "a number of more than 4,300 digits; allowed: a number Python can read"
        raise cls(source, "(syntax)", problem, line) from None
    return TomlSource(source, text, data, cls)


def _syntax_line(exc: tomllib.TOMLDecodeError, text: str) -> int | None:
    """The line of a syntax error: an error at the end of the document (an array or
    string left open) is on the file's last line, as an editor shows it."""
    if str(exc).endswith(_AT_END):
        return max(1, len(text.splitlines()))
    # Python 3.11's error has no lineno attribute; its message ends "(at line L, column C)"
    found = _AT_LINE.search(str(exc))
    return getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)


def locate(text: str, dotted_key: str) -> int | None:
    """Best-effort 1-based line of `dotted_key` in TOML `text`, or None.

    Handles ``table.key``, ``array[2].key`` (the third ``[[array]]``) and
    inline/dotted keys on the line; good enough to point a human at the spot.
    """
    parts = dotted_key.split(".")
    lines = text.splitlines()
    for split in range(len(parts), 0, -1):
        table, rest = parts[:split], parts[split:]
        start = _find_table(lines, table)
        if start is None:
            continue
        if not rest:
            return start + 1 if start >= 0 else None
        line = _find_key(lines, start + 1, rest[0].split("[")[0])
        if line is not None:
            return line + 1
        return start + 1 if start >= 0 else None
    line = _find_key(lines, 0, parts[0].split("[")[0])
    return line + 1 if line is not None else None


def _find_table(lines: list[str], table: list[str]) -> int | None:
    name = ".".join(table)
    match = _INDEX.match(name)
    wanted, index = (match.group(1), int(match.group(2))) if match else (name, 0)
    seen = 0
    for number, line in enumerate(lines):
        header = _HEADER.match(line)
        if header and header.group(2).replace(" ", "") == wanted:
            if seen == index:
                return number
            seen += 1
    return None


def _find_key(lines: list[str], start: int, key: str) -> int | None:
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*(=|\.)")
    for number in range(start, len(lines)):
        if _HEADER.match(lines[number]):
            return None
        if pattern.match(lines[number]):
            return number
    return None
