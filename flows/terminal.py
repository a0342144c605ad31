"""Text people typed, made safe for a terminal.

Subjects, notes, names and message bodies reach the terminal with their control
characters and bidirectional overrides shown as escapes (``\\x1b``), never obeyed:
a subject cannot recolour, retitle, clear or reorder what the terminal shows. Used by
the CLI's output (:mod:`flows.cli.render`) and the console sink (:mod:`flows.senders`).
"""

from __future__ import annotations

_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_ESCAPES.update(
    (code, f"\\u{code:04x}")
    for code in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
)
_KEEP_LINES = {**_ESCAPES}
del _KEEP_LINES[0x0A]


def safe(text: str) -> str:
    """`text` with control characters and bidi overrides shown as escapes, on one line."""
    return text.translate(_ESCAPES)


def safe_lines(text: str) -> str:
    """`safe`, keeping the line breaks: a message body's lines stay lines."""
    return text.translate(_KEEP_LINES)
