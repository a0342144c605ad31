"""Reading TOML configuration so that every error can point at a line.

`tomllib` reports syntax errors with a line but forgets positions once
parsed; ops still deserve "file:line: key: problem" for semantic errors, so
:func:`locate` finds the line of a dotted key (``ladder[1].authority_limit``)
by scanning the source text for its table header and key.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from states.errors import ConfigError

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_INDEX = re.compile(r"^(.*)\[(\d+)\]$")
_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)")


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

    def error(self, cls: type[ConfigError], key: str, problem: str) -> ConfigError:
        """Build a `cls` error for `key`, with the line where `key` is written."""
        return cls(self.path, key, problem, locate(self.text, key))


def read_toml(path: str | Path, cls: type[ConfigError]) -> TomlSource:
    """Read and parse a TOML file; unreadable or malformed files raise `cls`."""
    path = Path(path)
    try:
        data = path.read_bytes()
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
        # Python 3.11's error has no lineno attribute; its message ends "(at line L, column C)"
        found = _AT_LINE.search(str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        message = _AT_LINE.sub("", str(exc)).strip()
        raise cls(source, "(syntax)", f"not valid TOML: {message}", line) from exc
    return TomlSource(source, text, data)


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
