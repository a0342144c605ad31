"""Audit anchors: every case's chain head, signed outside the database.

A hash chain shows an edit only to someone who does not recompute it: a person
with write access to the database can change an event and re-seal every hash
after it, and the chain alone verifies again. An anchor fixes the chains at an
instant outside the database, as ledger databases publish digests: one line of
an append-only JSON-lines file (:func:`write_anchor`) holding, for every case,
the number and hash of its last event, a Merkle root over those heads, and an
HMAC-SHA256 signature under a key the database does not hold
(``TIERFLOW_AUDIT_KEY``, or a key file only its owner may read). Each line also
carries the signature of the line before it, so a line removed or reordered
shows.

:func:`check_anchors` reads the file back with the key and compares the latest
anchor with the history: a case whose anchored head is no longer in its chain
(rewritten, cut or deleted since), and a case whose history began before the
anchor but is not in it (added behind the engine's back), are named. Events
appended after the anchor are fine: the anchored head is still in the chain,
and the chain check proves what follows links to it.

What it proves: the history up to the latest anchor is the one anchored,
unless someone who holds the key AND can write the anchor file forged both.
What it does not prove: events after the latest anchor (the next anchor
covers them), nor that the anchored history was true (anchor after verifying).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from states.audit import Verification, verify_all
from states.audit_key import AuditKey
from states.errors import AuditKeyError
from states.regular_files import open_regular
from states.store import EVENT, read_connection

ANCHOR_FORMAT = 1
#: A case whose first event was recorded this long before an anchor must be in it (a case
#: written while the anchor read the heads may be missing from it; later ones are fine).
UNANCHORED_GRACE = timedelta(minutes=5)
_LEAF, _NODE = b"\x00", b"\x01"


def merkle_root(heads: dict[int, tuple[int, str]]) -> str:
    """SHA-256 Merkle root over the heads in case order: a leaf is ``0x00 || "case:seq:hash"``,
    a node ``0x01 || left || right``; an odd node is carried up as it is."""
    level = [
        hashlib.sha256(_LEAF + f"{case_id}:{seq}:{digest}".encode()).digest()
        for case_id, (seq, digest) in sorted(heads.items())
    ]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        paired = [
            hashlib.sha256(_NODE + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        level = paired + level[len(paired) * 2 :]
    return level[0].hex()


@dataclass(slots=True)
class Anchor:
    """One line of the anchor file."""

    line: int
    anchored_at: datetime
    heads: dict[int, tuple[int, str]]
    root: str
    key_id: str
    prev: str
    mac: str

    @property
    def events(self) -> int:
        return sum(seq for seq, _ in self.heads.values())


def chain_heads(conn: Connection) -> dict[int, tuple[int, str]]:
    """Every case's last event number and hash, read from the events (not the case row)."""
    last = (
        select(EVENT.c.case_id, func.max(EVENT.c.seq).label("seq"))
        .group_by(EVENT.c.case_id)
        .subquery()
    )
    rows = conn.execute(
        select(EVENT.c.case_id, EVENT.c.seq, EVENT.c.hash).join(
            last, (EVENT.c.case_id == last.c.case_id) & (EVENT.c.seq == last.c.seq)
        )
    )
    return {case_id: (seq, digest) for case_id, seq, digest in rows}


def write_anchor(conn: Connection, key: AuditKey, path: Path, now: datetime) -> Anchor:
    """Append an anchor of every case's chain head as it is now to `path` (created if
    missing), signed with `key` and linked to the line before it."""
    heads = chain_heads(conn)
    previous = _last_line(path)
    body: dict[str, Any] = {
        "format": ANCHOR_FORMAT,
        "anchored_at": now.isoformat(),
        "cases": len(heads),
        "root": merkle_root(heads),
        "key_id": key.key_id,
        "prev": "" if previous is None else str(previous.get("mac", "")),
        "heads": [[case_id, seq, digest] for case_id, (seq, digest) in sorted(heads.items())],
    }
    mac = key.sign(_canonical(body))
    text = json.dumps({**body, "mac": mac}, sort_keys=True, separators=(",", ":")) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open_regular(path, "a") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise AuditKeyError(f"cannot write anchor file {path}: {exc.strerror}") from None
    lines = 1 if previous is None else int(previous["_line"]) + 1
    return Anchor(lines, now, heads, body["root"], key.key_id, body["prev"], mac)


@dataclass(slots=True)
class AnchorCheck:
    """The anchor file read back with the key, and the history against its latest line.

    `wrong_key`: the latest line was signed with another key (nothing could be checked,
    which is not a sign of tampering); `file_problems`: lines altered, removed or
    unreadable; `changed`: per case, how its history differs from the latest anchor."""

    path: Path
    lines: int = 0
    latest: Anchor | None = None
    wrong_key: str | None = None
    file_problems: list[str] = field(default_factory=list)
    changed: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.wrong_key is None and not self.file_problems and not self.changed

    def problems(self) -> list[str]:
        found = [self.wrong_key] if self.wrong_key else []
        found += self.file_problems
        found += [f"case {case_id}: {what}" for case_id, what in sorted(self.changed.items())]
        return found


def check_anchors(
    conn: Connection, key: AuditKey, path: Path, case_id: int | None = None
) -> AnchorCheck:
    """Every line of `path` checked (signature, link to the line before), then the history
    (of `case_id` only, if given) against the latest line (see the module docstring)."""
    result = AnchorCheck(path)
    previous_mac = ""
    other_keys: set[str] = set()
    for number, raw in _lines(path):
        result.lines = number
        try:
            record = json.loads(raw)
            mac = record.pop("mac")
            key_id, prev = record["key_id"], record["prev"]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            result.file_problems.append(f"anchor line {number} is not an anchor ({exc})")
            result.latest, previous_mac = None, ""
            continue
        if prev != previous_mac:
            result.file_problems.append(
                f"anchor line {number} does not follow line {number - 1}: a line was "
                "removed, reordered or altered before it"
            )
        previous_mac = mac
        if key_id != key.key_id:
            other_keys.add(key_id)
            result.latest = None
            continue
        if not hmac.compare_digest(key.sign(_canonical(record)), str(mac)):
            result.file_problems.append(
                f"anchor line {number} was altered: its signature does not match its content"
            )
            result.latest = None
            continue
        result.latest = _anchor(number, record, mac)
    if result.lines and result.latest is None and not result.file_problems:
        result.wrong_key = (
            f"wrong audit key: the latest anchor in {path} was signed with key id "
            f"{', '.join(sorted(other_keys))}; the key from {key.source} has id {key.key_id}"
        )
    if result.latest is not None and result.latest.line == result.lines:
        result.changed = _changes(conn, result.latest, case_id)
    return result


def _changes(conn: Connection, anchor: Anchor, only: int | None) -> dict[int, str]:
    """How each case's history differs from `anchor`: its anchored head no longer in its
    chain, the case gone, or a case older than the anchor that is not in it."""
    query = select(EVENT.c.case_id, EVENT.c.seq, EVENT.c.hash, EVENT.c.recorded_at)
    if only is not None:
        query = query.where(EVENT.c.case_id == only)
    seen: dict[int, tuple[str | None, datetime | None]] = {}
    for case_id, seq, digest, recorded_at in conn.execute(query.execution_options(yield_per=10000)):
        head = anchor.heads.get(case_id)
        hashed, began = seen.get(case_id, (None, None))
        if head is not None and seq == head[0]:
            hashed = digest
        if seq == 1:
            began = recorded_at
        seen[case_id] = (hashed, began)
    when = anchor.anchored_at.isoformat(timespec="seconds")
    changed: dict[int, str] = {}
    for case_id, (seq, sealed) in anchor.heads.items():
        if only is not None and case_id != only:
            continue
        if case_id not in seen:
            changed[case_id] = f"anchored at {when} with head #{seq} and now missing"
            continue
        found = seen[case_id][0]
        if found is None:
            changed[case_id] = f"event #{seq}, its head when anchored at {when}, is missing"
        elif found != sealed:
            changed[case_id] = (
                f"event #{seq} was sealed as {sealed} when anchored at {when} and is now "
                f"sealed as {found}: its history changed after the anchor"
            )
    for case_id, (_found, began) in seen.items():
        if case_id in anchor.heads or began is None:
            continue
        if began < anchor.anchored_at - UNANCHORED_GRACE:
            changed[case_id] = (
                f"its history was recorded from {began.isoformat(timespec='seconds')}, before "
                f"the anchor of {when}, but it is not in it: it was added after the anchor"
            )
    return changed


def _anchor(number: int, record: dict[str, Any], mac: str) -> Anchor:
    return Anchor(
        line=number,
        anchored_at=datetime.fromisoformat(record["anchored_at"]),
        heads={int(c): (int(s), str(h)) for c, s, h in record["heads"]},
        root=record["root"],
        key_id=record["key_id"],
        prev=record["prev"],
        mac=mac,
    )


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """The non-empty lines of the anchor file, numbered from 1 (none if it is missing)."""
    try:
        handle = open_regular(path, "r")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise AuditKeyError(f"cannot read anchor file {path}: {exc.strerror}") from None
    with handle:
        number = 0
        for raw in handle:
            if raw.strip():
                number += 1
                yield number, raw


def _last_line(path: Path) -> dict[str, Any] | None:
    """The last line of `path` as JSON (with its number as ``_line``), None when empty."""
    last: tuple[int, str] | None = None
    for last in _lines(path):  # noqa: B007 - only the last one counts
        pass
    if last is None:
        return None
    try:
        record = json.loads(last[1])
    except ValueError:
        record = {}
    return {**(record if isinstance(record, dict) else {}), "_line": last[0]}


@dataclass(slots=True)
class AnchorRun:
    """What anchoring found: the chains verified, the history against the previous
    anchor, and the anchor written (None: something did not verify, nothing written)."""

    checks: list[Verification]
    previous: AnchorCheck
    written: Anchor | None

    @property
    def failing(self) -> list[Verification]:
        return [check for check in self.checks if not check.ok]


def anchor_verified(db: Engine, key: AuditKey, path: Path, now: datetime) -> AnchorRun:
    """Anchor only a history that verifies: every chain, and the history against the
    latest anchor (a history re-sealed since would otherwise be blessed by the new one)."""
    checks = verify_all(db)
    with read_connection(db) as conn:
        previous = check_anchors(conn, key, path)
        if any(not check.ok for check in checks) or not previous.ok:
            return AnchorRun(checks, previous, None)
        return AnchorRun(checks, previous, write_anchor(conn, key, path, now))
