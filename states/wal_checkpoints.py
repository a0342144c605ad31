"""Folding a SQLite database's write-ahead log into its file from a thread of its own.

In WAL mode a commit appends the pages it changed to the log; the commit that
finds the log past ``wal_autocheckpoint`` pages (10,000 here) then copies the
log's pages into the database file and syncs both before it returns. On a
2-core machine that was about a tenth of a busy engine's time (the process sat
waiting on the disk for 17 % of it), paid as a stall of tens of milliseconds by
whichever command crossed the mark, one in some 500.

The engine hands that work to a thread, as PostgreSQL hands it to its
checkpointer process: every :data:`CHECKPOINT_EVERY` events it writes it wakes
the thread, which runs a ``PASSIVE`` checkpoint on a connection of its own. A
passive checkpoint neither waits for nor blocks writers and readers, and SQLite
runs it with the GIL released, so the copy and the syncs overlap the commands
that follow. Each connection's own automatic checkpoint stays as it was, the
backstop: when the thread falls behind, fails or is gone (a forked child, a
process that never wrote enough to start it), a commit folds the log in as
before, finding most of it folded already. Nothing here decides what is
durable: a commit is as durable as ``synchronous`` makes it either way.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from typing import Any

from sqlalchemy import Engine as SAEngine

#: Events written between two wakings of the thread: some 1,200 log pages at one command's
#: ~19 (a command writes an event or two), well under the connections' own mark (10,000).
CHECKPOINT_EVERY = 64


class _Worker:
    """The thread's side (no reference back to its owner, so that an engine dropped
    without `close` is collected, and its finalizer stops the thread)."""

    def __init__(self, path: str, pragmas: tuple[str, ...]) -> None:
        self.path = path
        self.pragmas = pragmas
        self.wake = threading.Event()
        self.stopping = False
        #: checkpoints run, and SQLite's answer to the last: (busy, log pages, folded pages)
        self.runs = 0
        self.last: tuple[int, int, int] | None = None
        #: the last database error the thread met (it goes on; the backstop holds)
        self.failed: str | None = None

    def loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self.wake.wait()
                self.wake.clear()
                if self.stopping:
                    return
                try:
                    if conn is None:
                        conn = self._connect()
                    busy, log, folded = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.last = (busy, log, folded)
                    self.runs += 1
                except sqlite3.Error as exc:
                    self.failed = " ".join(str(exc).split())
                    if conn is not None:
                        conn.close()
                    conn = None
        finally:
            if conn is not None:
                conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in self.pragmas:
            conn.execute(pragma)
        return conn

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()


class WalCheckpoints:
    """The background checkpoints of one SQLite database file, for one engine.

    The thread starts at the first waking (an engine that writes fewer events never
    starts one), again in a forked child and after :meth:`close`, and stops
    at :meth:`close` or when its owner is collected."""

    def __init__(self, path: str, pragmas: tuple[str, ...], every: int = CHECKPOINT_EVERY) -> None:
        self.every = every
        self._since = 0  # events since the last waking
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._starting = threading.Lock()
        self._worker = self._new_worker(path, pragmas)

    def _new_worker(self, path: str, pragmas: tuple[str, ...]) -> _Worker:
        worker = _Worker(path, pragmas)
        weakref.finalize(self, worker.stop)
        return worker

    @property
    def runs(self) -> int:
        """Checkpoints the thread has run."""
        return self._worker.runs

    @property
    def last(self) -> tuple[int, int, int] | None:
        """SQLite's answer to the last one: (busy, pages in the log, pages folded)."""
        return self._worker.last

    @property
    def failed(self) -> str | None:
        return self._worker.failed

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def committed(self, events: int) -> None:
        """Count `events` just committed; every `every` of them, wake the thread."""
        self._since += events
        if self._since < self.every:
            return
        self._since = 0
        if self._thread is None or self._pid != os.getpid():  # (a thread is not forked)
            self._start()
        wake = self._worker.wake
        if not wake.is_set():
            wake.set()

    def _start(self) -> None:
        """Start the thread (once, whichever of an engine's threads wakes it first)."""
        with self._starting:
            if self._thread is not None and self._pid == os.getpid():
                return
            worker = self._worker
            worker.wake = threading.Event()  # not one a forked parent's thread waited on
            thread = threading.Thread(target=worker.loop, name="tierflow-wal-checkpoints")
            thread.daemon = True
            thread.start()
            self._thread, self._pid = thread, os.getpid()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread, after the checkpoint it is running (if any) ends (a later
        waking starts a new one)."""
        worker, thread = self._worker, self._thread
        worker.stop()
        if thread is not None and self._pid == os.getpid():
            thread.join(timeout)
        self._worker = self._new_worker(worker.path, worker.pragmas)
        self._thread = None


def wal_checkpoints(db: SAEngine, pragmas: tuple[str, ...]) -> WalCheckpoints | None:
    """Background checkpoints for `db` when it is a SQLite file (else None: an in-memory
    database has no log, and PostgreSQL checkpoints in a process of its own)."""
    if db.dialect.name != "sqlite":
        return None
    path: Any = db.url.database
    if not path or path == ":memory:" or str(path).startswith("file:"):
        return None
    # the file the engine's connections open (relative to the directory of now)
    return WalCheckpoints(os.path.abspath(path), pragmas)
