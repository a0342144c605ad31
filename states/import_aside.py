"""Reading a log in a second process, while this one plans and writes what it has read.

Parsing XML is a third of an import's time and needs nothing of the rest, so on
a machine with more than one CPU the import runs :class:`~states.import_read.LogReader`
in a child process (``python -m states.import_aside``), the same reader with the
same defusedxml protections. The child sends the cases it has read in frames
(length-prefixed ``marshal`` data, which the standard library writes and reads
in C: a tenth of what reading the XML costs), a few hundred cases a frame; the
pipe's buffer holds the child back when the importer falls behind, so memory
stays bounded. A refused log is refused with the same :class:`InvalidInput` as
in-process; a child that fails otherwise is reported with its last words.
"""

from __future__ import annotations

import gc
import marshal
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from states.errors import InvalidInput
from states.import_read import LogReader, SourceCase

FRAME_CASES = 250
PIPE_BYTES = 8 << 20  # room for several frames in the pipe
_HEADER = struct.Struct("<Q")


class ReaderAside:
    """A :class:`LogReader` run in a child process: the same cases, the same `position`."""

    def __init__(self, path: Path, fmt: str, case_id: str, delimiter: str = ",") -> None:
        self.args = [str(path), fmt, case_id, delimiter]
        self.position = 0

    def __iter__(self) -> Iterator[SourceCase]:
        package_root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        child = subprocess.Popen(
            [sys.executable, "-m", "states.import_aside", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None and child.stderr is not None
        _widen(child.stdout)
        try:
            while (frame := _receive(child.stdout)) is not None:
                kind = frame[0]
                if kind == "cases":
                    self.position = frame[1]
                    for ref, attrs, events in frame[2]:
                        yield SourceCase(ref, attrs, events)
                elif kind == "refused":
                    raise InvalidInput(*frame[1:])
                else:  # "end"
                    self.position = frame[1]
                    return
            last = child.stderr.read().decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"the log reader process stopped: {' / '.join(last)}")
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            child.stdout.close()
            child.stderr.close()


def _widen(stream: IO[bytes]) -> None:
    """Let the child run ahead of the importer by a few frames: a pipe holds 64 KiB, a
    fraction of a frame, so while the importer wrote a batch the child stood blocked,
    and the importer then waited for most of the next batch to be read. Linux lets a
    pipe grow (``F_SETPIPE_SZ``) up to ``/proc/sys/fs/pipe-max-size``; elsewhere, or
    when refused, the pipe stays as it is."""
    try:
        import fcntl

        command = fcntl.F_SETPIPE_SZ  # type: ignore[attr-defined]  # Linux only
        limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
        fcntl.fcntl(stream.fileno(), command, min(limit, PIPE_BYTES))
    except (ImportError, AttributeError, OSError, ValueError):
        pass


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    return marshal.loads(stream.read(size))


def _send(stream: IO[bytes], frame: Any) -> None:
    data = marshal.dumps(frame)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)


def serve(path: str, fmt: str, case_id: str, delimiter: str) -> None:
    """The child's side: read the log at `path` and send its cases on stdout."""
    gc.disable()  # the reader makes no cycles; see states.importer
    out = sys.stdout.buffer
    reader = LogReader(Path(path), fmt, case_id, delimiter)
    batch: list[tuple[str, dict[str, str], list[dict[str, str]]]] = []
    try:
        for case in reader:
            batch.append((case.ref, case.attrs, case.events))
            if len(batch) >= FRAME_CASES:
                _send(out, ("cases", reader.position, batch))
                batch = []
    except InvalidInput as exc:
        _send(out, ("refused", exc.field, str(exc.value), exc.allowed))
        out.flush()
        return
    _send(out, ("cases", reader.position, batch))
    _send(out, ("end", reader.position))
    out.flush()


if __name__ == "__main__":
    serve(*sys.argv[1:5])
