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
backstop: when the thread falls behind, fails or has not started (a process
that wrote fewer events than one waking), a commit folds the log in as before,
finding most of it folded already. Nothing here decides what is
durable: a commit is as durable as ``synchronous`` makes it either way. A fork
waits for a checkpoint in progress to end (a child must not inherit SQLite's
locks held by a thread it does not have), and the child starts its own thread.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine as SAEngine

from states.store import SQLITE_PRAGMAS

#: Events written between two wakings of the thread: some 1,200 log pages at one command's
#: ~19 (a command writes an event or two), well under the connections' own mark (10,000).
CHECKPOINT_EVERY = 64

#: What a checkpoint's connection takes of the store's settings: how it syncs (the log
#: before the copy, the file after, as `synchronous` says). It never waits: a PASSIVE
#: checkpoint does not, and the thread holds the fork lock meanwhile.
_PRAGMAS = (
    "PRAGMA busy_timeout=0",
    *(pragma for pragma in SQLITE_PRAGMAS if pragma.startswith("PRAGMA synchronous")),
)


#: Held by a checkpoint thread while it is inside SQLite, and by a thread that forks
#: (os.register_at_fork): a child forked while the thread was inside SQLite would inherit
#: SQLite's process-wide mutexes locked, and its first SQLite call would wait forever.
_IN_SQLITE = threading.Lock()


def _before_fork() -> None:
    _IN_SQLITE.acquire()


def _after_fork() -> None:
    _IN_SQLITE.release()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)


class _Worker:
    """The thread's side (no reference back to its owner, so that an engine dropped
    without `close` is collected, and its finalizer stops the thread)."""

    def __init__(self, path: str) -> None:
        self.path = path
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
                with _IN_SQLITE:
                    conn = self._checkpoint(conn)
        finally:
            if conn is not None:
                with _IN_SQLITE:
                    conn.close()

    def _checkpoint(self, conn: sqlite3.Connection | None) -> sqlite3.Connection | None:
        """One checkpoint on `conn` (opened first if need be); the connection to use next."""
        try:
            if conn is None:
                conn = self._connect()
            busy, log, folded = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.last = (busy, log, folded)
            self.runs += 1
            return conn
        except sqlite3.Error as exc:
            self.failed = " ".join(str(exc).split())
            if conn is not None:
                conn.close()
            return None

    def _connect(self) -> sqlite3.Connection:
        """A connection to the engine's file, which must exist (``mode=rw``: never a new,
        empty database where the file is not)."""
        uri = f"file:{quote(self.path)}?mode=rw"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        for pragma in _PRAGMAS:
            conn.execute(pragma)
        return conn

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()


def _stop_current(current: list[_Worker]) -> None:
    current[0].stop()


class WalCheckpoints:
    """The background checkpoints of one SQLite database file, for one engine.

    The thread starts at the first waking (an engine that writes fewer events never
    starts one), again in a forked child and after :meth:`close`, and stops at
    :meth:`close` or when its owner is collected."""

    def __init__(self, path: str, every: int = CHECKPOINT_EVERY) -> None:
        self.every = every
        self._since = 0  # events since the last waking
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._starting = threading.Lock()  # a start and a close, one at a time
        #: the worker of the thread running or to start (one slot: its finalizer reads it)
        self._current = [_Worker(path)]
        weakref.finalize(self, _stop_current, self._current)

    @property
    def _worker(self) -> _Worker:
        return self._current[0]

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
        with self._starting:
            worker, thread = self._worker, self._thread
            worker.stop()
            self._current[0] = _Worker(worker.path)
            self._thread = None
            ours = self._pid == os.getpid()
        if thread is not None and ours:
            thread.join(timeout)


def wal_checkpoints(db: SAEngine) -> WalCheckpoints | None:
    """Background checkpoints for `db` when it is a SQLite file (else None: an in-memory
    database has no log, and PostgreSQL checkpoints in a process of its own)."""
    if db.dialect.name != "sqlite":
        return None
    path: Any = db.url.database
    if not path or path == ":memory:" or str(path).startswith("file:"):
        return None
    # the file the engine's connections open (relative to the directory of now)
    return WalCheckpoints(os.path.abspath(path))
