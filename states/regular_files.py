"""Files tierflow writes at fixed names (the outbox, the anchors, the review reports),
opened so that something else at that name is an error, not a hang or a clobbered
device: a FIFO with no reader blocked the writer for good, one with a reader took the
text away, and a device took it in silence."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_FLAGS = {
    "r": os.O_RDONLY,
    "rb": os.O_RDONLY,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
}


def _open(path: Path, flags: int, kinds: tuple[Callable[[int], bool], ...]) -> int:
    """`os.open(path, flags)` without waiting on a FIFO, then refused (an OSError, "not a
    regular file") unless what is at `path` is one of `kinds`; blocking again after.

    O_NONBLOCK makes the open of a reader-less FIFO fail at once (``ENXIO``) instead of
    waiting for a reader; it means nothing to a regular file."""
    try:
        fd = os.open(path, flags | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO (or socket) nobody reads
            raise OSError(errno.EINVAL, "not a regular file", str(path)) from None
        raise
    try:
        if not any(kind(os.fstat(fd).st_mode) for kind in kinds):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: Path, mode: str) -> IO[Any]:
    """`open(path, mode)` (``r``, ``rb``, ``a`` or ``w``, text in UTF-8) for a regular
    file only: anything else at `path` is an OSError, "not a regular file"."""
    fd = _open(path, _FLAGS[mode], (stat.S_ISREG,))
    return os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8")


def read_whole(path: Path) -> bytes:
    """The bytes of a regular file, or of a pipe (`--process /dev/stdin`, `<(...)`) up
    to its end. A FIFO nobody writes to reads as empty at once instead of waiting for a
    writer (a pipe with no writer left reads as its end); anything else (a directory, a
    device) is an OSError, "not a regular file"."""
    with os.fdopen(_open(path, os.O_RDONLY, (stat.S_ISREG, stat.S_ISFIFO)), "rb") as handle:
        return handle.read()


def write_regular(path: Path, text: str) -> None:
    """Replace `path`'s content with `text` (UTF-8), a regular file or a new one."""
    with open_regular(path, "w") as out:
        out.write(text)
