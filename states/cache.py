"""A cache of committed case snapshots, always checked against the stored version."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from states.case import CaseSnapshot


class SnapshotCache:
    """Snapshots this engine committed, reused while the database still has that version.

    A batch *takes* its snapshots out (so two threads never share one and a
    rolled-back batch leaves nothing stale behind) and puts the committed
    results back; every use is checked against the version read in the same
    transaction, so the cache can only save a read, never serve old state.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[int, CaseSnapshot] = OrderedDict()
        self._lock = threading.Lock()

    def take_current(self, versions: dict[int, int]) -> dict[int, CaseSnapshot]:
        taken: dict[int, CaseSnapshot] = {}
        with self._lock:
            for case_id, version in versions.items():
                snap = self._items.pop(case_id, None)
                if snap is not None and snap.version == version:
                    taken[case_id] = snap
        return taken

    def take(self, case_ids: Iterable[int]) -> dict[int, CaseSnapshot]:
        """The cached snapshots of `case_ids`, unchecked: for a writer that holds the
        database's only write lock (SQLite) and whose write checks the version anyway."""
        taken: dict[int, CaseSnapshot] = {}
        with self._lock:
            for case_id in case_ids:
                snap = self._items.pop(case_id, None)
                if snap is not None:
                    taken[case_id] = snap
        return taken

    def put_all(self, snaps: Iterable[CaseSnapshot]) -> None:
        if not self.size:
            return
        with self._lock:
            for snap in snaps:
                self._items[snap.id] = snap  # type: ignore[index]
                self._items.move_to_end(snap.id)  # type: ignore[arg-type]
            while len(self._items) > self.size:
                self._items.popitem(last=False)
