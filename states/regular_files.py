"""Files tierflow writes at fixed names (the outbox, the anchors, the review reports),
opened so that something else at that name is an error, not a hang or a clobbered
device: a FIFO with no reader blocked the writer for good, one with a reader took the
text away, and a device took it in silence."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def open_regular(path: Path, flags: int, mode: int = 0o644) -> int:
    """`os.open(path, flags)` for a regular file only: an OSError (``ENXIO`` for a FIFO
    nobody reads, else "not a regular file") for anything else at `path`.

    O_NONBLOCK makes the open of a reader-less FIFO fail at once instead of waiting
    for a reader; it means nothing to a regular file and is cleared after the check."""
    try:
        fd = os.open(path, flags | os.O_NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO (or socket) nobody reads
            raise OSError(errno.EINVAL, "not a regular file", str(path)) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_whole(path: Path) -> bytes:
    """The bytes of a regular file, or of a pipe (`--process /dev/stdin`, `<(...)`) up
    to its end. A FIFO nobody writes to reads as empty at once instead of waiting for a
    writer; anything else (a directory, a device) is an OSError, "not a regular file"."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(errno.EINVAL, "not a regular file", str(path)) from None
        raise
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)  # a pipe with no writer left reads as its end
        return handle.read()


def write_regular(path: Path, text: str) -> None:
    """Replace `path`'s content with `text` (UTF-8), a regular file or a new one."""
    fd = open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
