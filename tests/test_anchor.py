"""Anchors fix every case's chain head outside the database, signed with a key the
database does not hold: a history re-sealed after an edit (so that its chain alone
verifies) is caught, a wrong key reads as a wrong key, an edited or removed anchor line
shows, and a key others can read is refused."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from states.anchor import anchor_verified, check_anchors, merkle_root, write_anchor
from states.audit import verify_all, verify_case
from states.audit_key import AuditKey, create_key, ensure_key, load_key
from states.commands import Act, OpenCase
from states.engine import Engine
from states.errors import AuditKeyError
from states.store import CASE, EVENT, load_events, read_connection
from tests.conftest import MONDAY
from tests.forge import reseal

KEY = AuditKey(b"k" * 32, "test")


class Desk:
    def __init__(self, db, definition) -> None:
        self.db = db
        self.now = MONDAY
        self.engine = Engine(db, definition, clock=lambda: self.now)

    def open(self, customer: str) -> int:
        return self.engine.apply(OpenCase(customer_id=customer, subject="refund")).case_id

    def act(self, case_id: int, trigger: str, **fields) -> None:
        self.engine.apply(Act(case_id=case_id, trigger=trigger, actor="ana", **fields))

    def anchor(self, path: Path, key: AuditKey = KEY):
        with read_connection(self.db) as conn:
            return write_anchor(conn, key, path, self.now)

    def check(self, path: Path, key: AuditKey = KEY, case_id: int | None = None):
        with read_connection(self.db) as conn:
            return check_anchors(conn, key, path, case_id)


@pytest.fixture
def desk(db, definition) -> Desk:
    desk = Desk(db, definition)
    for number in range(3):
        case = desk.open(f"C{number}")
        desk.act(case, "assign", assignee="ana")
    return desk


def test_an_untouched_history_matches_its_anchor_and_may_grow_after_it(desk, tmp_path):
    path = tmp_path / "anchors.jsonl"
    anchor = desk.anchor(path)
    assert len(anchor.heads) == 3 and anchor.line == 1
    desk.now += timedelta(hours=1)
    desk.act(1, "resolve", note="refunded")
    desk.open("C9")  # a case opened after the anchor is not in it, and need not be
    check = desk.check(path)
    assert check.ok, check.problems()
    assert check.latest is not None and check.latest.root == merkle_root(anchor.heads)


def test_a_history_resealed_after_an_edit_verifies_alone_but_not_against_the_anchor(desk, tmp_path):
    path = tmp_path / "anchors.jsonl"
    desk.anchor(path)
    reseal(desk.db, 2, 2, actor="mallory")
    assert all(check.ok for check in verify_all(desk.db))  # the chain alone is fooled
    check = desk.check(path)
    assert list(check.changed) == [2] and check.wrong_key is None and not check.file_problems
    assert "its history changed after the anchor" in check.changed[2]
    assert check.problems()[0].startswith("case 2: event #2 was sealed as ")


def test_a_history_changed_since_the_last_anchor_is_never_anchored_again(desk, tmp_path):
    path = tmp_path / "anchors.jsonl"
    desk.anchor(path)
    reseal(desk.db, 1, 1, actor="mallory")
    run = anchor_verified(desk.db, KEY, path, desk.now)
    assert run.written is None and list(run.previous.changed) == [1]
    assert len(path.read_text().splitlines()) == 1


def test_a_deleted_case_and_a_case_slipped_in_before_the_anchor_are_named(desk, tmp_path):
    path = tmp_path / "anchors.jsonl"
    desk.now += timedelta(hours=1)
    desk.anchor(path)
    with desk.db.begin() as conn:
        conn.execute(delete(EVENT).where(EVENT.c.case_id == 3))
    with read_connection(desk.db) as conn:
        events = load_events(conn, 2)
        case = conn.execute(select(CASE).where(CASE.c.id == 2)).one()._asdict()
    with desk.db.begin() as conn:  # case 2's history, copied as a new case 7 dated long ago
        conn.execute(CASE.insert().values(**{**case, "id": 7, "external_ref": None}))
        for event in events:
            row = {c.name: getattr(event, c.name) for c in EVENT.columns if c.name != "id"}
            conn.execute(EVENT.insert().values(**{**row, "case_id": 7, "idempotency_key": None}))
    check = desk.check(path)
    assert set(check.changed) == {3, 7}
    assert "now missing" in check.changed[3]
    assert "it was added after the anchor" in check.changed[7]
    assert set(desk.check(path, case_id=7).changed) == {7}


def test_a_wrong_key_is_reported_as_such_not_as_tampering(desk, tmp_path):
    path = tmp_path / "anchors.jsonl"
    desk.anchor(path)
    other = AuditKey(b"o" * 32, "TIERFLOW_AUDIT_KEY")
    check = desk.check(path, other)
    assert not check.ok and not check.file_problems and not check.changed
    assert check.wrong_key == (
        f"wrong audit key: the latest anchor in {path} was signed with key id {KEY.key_id}; "
        f"the key from TIERFLOW_AUDIT_KEY has id {other.key_id}"
    )


def test_an_edited_anchor_line_is_reported(desk, tmp_path):
    path = tmp_path / "anchors.jsonl"
    desk.anchor(path)
    record = json.loads(path.read_text())
    record["heads"][0][2] = "0" * 64
    path.write_text(json.dumps(record) + "\n")
    check = desk.check(path)
    assert check.file_problems == [
        "anchor line 1 was altered: its signature does not match its content"
    ]
    assert check.wrong_key is None


def test_a_removed_anchor_line_is_reported(desk, tmp_path):
    path = tmp_path / "anchors.jsonl"
    for _ in range(3):
        desk.anchor(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    check = desk.check(path)
    assert check.file_problems == [
        "anchor line 2 does not follow line 1: a line was removed, reordered or altered before it"
    ]


def test_a_key_file_others_can_read_is_refused_naming_the_file_and_mode(tmp_path):
    path = tmp_path / "audit.key"
    created = create_key(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_key(None, path) == created
    path.chmod(0o644)
    with pytest.raises(AuditKeyError, match=r"audit.key has mode 0644: others may read"):
        load_key(None, path)
    with pytest.raises(AuditKeyError, match="exists already"):
        create_key(path)


def test_a_short_or_missing_key_is_refused_and_the_environment_wins(tmp_path):
    path = tmp_path / "audit.key"
    with pytest.raises(AuditKeyError, match="no audit key: set TIERFLOW_AUDIT_KEY"):
        load_key(None, path)
    with pytest.raises(AuditKeyError, match="has 5 bytes; allowed: at least 32"):
        load_key("short", path)
    assert load_key("e" * 40, path).source == "TIERFLOW_AUDIT_KEY"
    assert ensure_key("e" * 40, path) is None and not path.exists()
    assert ensure_key(None, path) is not None and ensure_key(None, path) is None


def test_the_merkle_root_changes_with_any_head_and_not_with_their_order():
    heads = {1: (3, "a" * 64), 2: (5, "b" * 64), 3: (1, "c" * 64)}
    root = merkle_root(heads)
    assert root == merkle_root(dict(reversed(list(heads.items()))))
    assert root != merkle_root({**heads, 2: (6, "b" * 64)})
    assert root != merkle_root({1: heads[1], 2: heads[2]})


def test_verify_case_alone_still_passes_a_resealed_case(desk):
    """Why anchors exist: the chain and the case row agree after a careful forgery."""
    reseal(desk.db, 1, 2, actor="mallory")
    with read_connection(desk.db) as conn:
        assert verify_case(conn, 1).ok
