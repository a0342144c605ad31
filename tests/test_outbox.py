"""The notification outbox on real databases, and one real SMTP delivery."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select, update

from flows.senders import ConsoleSink, FileSink, MemorySink, SmtpSender
from states.errors import DeliveryError, InvalidInput
from states.outbox import (
    NOTIFICATION,
    NewNotification,
    OutgoingMessage,
    deliver_due,
    deliver_pending,
    enqueue,
    enqueue_many,
)
from states.store import read_connection, write_transaction

MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def add(db: Engine, count: int = 1, **fields: object) -> list[int | None]:
    notice = {
        "case_id": 7,
        "kind": "sla_warning",
        "recipient": "lead@example.com",
        "subject": "Case 7 nears its SLA",
        "body": "80 % of PT4H used.",
    } | fields
    with write_transaction(db) as conn:
        return [enqueue(conn, now=MONDAY, **notice) for _ in range(count)]  # type: ignore[arg-type]


def rows(db: Engine) -> list:
    with read_connection(db) as conn:
        return conn.execute(select(NOTIFICATION).order_by(NOTIFICATION.c.id)).all()


class Failing:
    def __init__(self, problem: str = "relay down", permanent: bool = False) -> None:
        self.problem, self.permanent, self.calls = problem, permanent, 0

    def send(self, message: OutgoingMessage) -> None:
        self.calls += 1
        raise DeliveryError(self.problem, permanent=self.permanent)


def test_enqueued_notification_is_delivered_and_marked_sent(db: Engine) -> None:
    [notification_id] = add(db)
    sink = MemorySink()

    report = deliver_pending(db, sink, now=MONDAY, worker="w1")

    assert (report.sent, report.failed, report.retried) == (1, 0, 0)
    [message] = sink.messages
    assert (message.notification_id, message.to, message.subject) == (
        notification_id,
        "lead@example.com",
        "Case 7 nears its SLA",
    )
    [row] = rows(db)
    assert (row.status, row.sent_at, row.attempts, row.claimed_by) == ("sent", MONDAY, 1, "w1")
    assert deliver_pending(db, sink, now=MONDAY, worker="w1").claimed == 0


def test_delivering_what_is_due_runs_batch_after_batch_up_to_a_limit(db: Engine) -> None:
    add(db, 5)
    sink = MemorySink()
    report, batches = deliver_due(
        db, sink, clock=lambda: MONDAY, worker="w", batch=2, max_batches=2
    )
    assert (report.sent, batches, len(sink.messages)) == (4, 2, 4)
    report, batches = deliver_due(db, sink, clock=lambda: MONDAY, worker="w", batch=2)
    assert (report.sent, batches) == (1, 1)


@pytest.mark.parametrize(
    ("batch", "max_batches", "field"),
    [(-1, None, "batch"), (0, None, "batch"), (10_001, None, "batch"), (True, None, "batch"),
     (10, 0, "max_batches"), (10, -1, "max_batches")],
)  # fmt: skip
def test_a_batch_out_of_range_is_refused_before_anything_is_claimed(
    db: Engine, batch: int, max_batches: int | None, field: str
) -> None:
    """batch=-1 was SQL's LIMIT -1: every pending message claimed and sent at once."""
    add(db, 3)
    sink = MemorySink()
    with pytest.raises(InvalidInput) as refused:
        deliver_due(
            db, sink, clock=lambda: MONDAY, worker="w", batch=batch, max_batches=max_batches
        )
    assert refused.value.field == field
    with pytest.raises(InvalidInput):
        deliver_pending(db, sink, now=MONDAY, worker="w", batch=batch if field == "batch" else -1)
    assert sink.messages == [] and {row.status for row in rows(db)} == {"pending"}


def test_delivering_what_is_due_stops_at_a_batch_that_sends_nothing(db: Engine) -> None:
    add(db, 3)
    failing = Failing()
    report, batches = deliver_due(db, failing, clock=lambda: MONDAY, worker="w", batch=2)
    assert (report.retried, batches, failing.calls) == (2, 1, 2)  # the third waits


def test_duplicate_dedupe_key_enqueues_once(db: Engine) -> None:
    first, second = add(db, 2, dedupe_key="timer:41:sla_warning")
    assert isinstance(first, int)
    assert second is None
    batch = [
        NewNotification(7, "sla_breach", "L2", "Breach", "late", dedupe_key=key)
        for key in ("timer:41:sla_warning", "timer:41:sla_breach", "timer:41:sla_breach")
    ]
    with write_transaction(db) as conn:
        assert enqueue_many(conn, batch, now=MONDAY) == 1
    assert [row.dedupe_key for row in rows(db)] == ["timer:41:sla_warning", "timer:41:sla_breach"]
    assert len(add(db, 2)) == 2 and len(rows(db)) == 4  # no key: never deduplicated


def test_enqueue_belongs_to_the_callers_transaction(db: Engine) -> None:
    with pytest.raises(RuntimeError), write_transaction(db) as conn:
        enqueue(
            conn,
            case_id=1,
            kind="escalated",
            recipient="manager",
            subject="s",
            body="b",
            now=MONDAY,
        )
        raise RuntimeError("the command failed after enqueueing")
    assert rows(db) == []


def test_unknown_kind_is_refused_with_the_allowed_kinds(db: Engine) -> None:
    with pytest.raises(InvalidInput, match="sla_warning, sla_breach"):
        add(db, kind="party_invite")


def test_failing_sender_retries_with_backoff_then_marks_failed(db: Engine) -> None:
    add(db)
    sender, now, reports = Failing("421 relay busy"), MONDAY, []
    for _ in range(3):
        reports.append(deliver_pending(db, sender, now=now, worker="w", max_attempts=3))
        [row] = rows(db)
        assert deliver_pending(db, sender, now=now, worker="w").claimed == 0  # backoff holds it
        now = row.due_at or now
    assert [(r.retried, r.failed) for r in reports] == [(1, 0), (1, 0), (0, 1)]
    [row] = rows(db)
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "421 relay busy")
    assert sender.calls == 3
    assert deliver_pending(db, sender, now=now + timedelta(days=9), worker="w").claimed == 0


def test_backoff_doubles_between_attempts(db: Engine) -> None:
    add(db)
    delay = timedelta(minutes=1)
    deliver_pending(db, Failing(), now=MONDAY, worker="w", retry_delay=delay)
    assert rows(db)[0].due_at == MONDAY + delay
    deliver_pending(db, Failing(), now=MONDAY + delay, worker="w", retry_delay=delay)
    assert rows(db)[0].due_at == MONDAY + 3 * delay


def test_permanent_failure_is_not_retried(db: Engine) -> None:
    add(db)
    report = deliver_pending(db, Failing("bad address", permanent=True), now=MONDAY, worker="w")
    assert (report.failed, report.retried) == (1, 0)
    assert (rows(db)[0].status, rows(db)[0].attempts) == ("failed", 1)


def test_notification_due_later_waits_for_its_time(db: Engine) -> None:
    add(db, kind="follow_up_due", due_at=MONDAY + timedelta(days=2))
    sink = MemorySink()
    assert deliver_pending(db, sink, now=MONDAY + timedelta(days=1), worker="w").claimed == 0
    assert deliver_pending(db, sink, now=MONDAY + timedelta(days=2), worker="w").sent == 1


def test_roles_map_to_addresses_and_unmapped_roles_pass_through_to_sinks(db: Engine) -> None:
    add(db, recipient="manager")
    add(db, recipient="board")
    sink = MemorySink()
    deliver_pending(db, sink, now=MONDAY, worker="w", recipients={"manager": "m@example.com"})
    assert [(m.recipient, m.to) for m in sink.messages] == [
        ("manager", "m@example.com"),
        ("board", "board"),
    ]


class Rendezvous(MemorySink):
    """Holds each thread's first message until the other thread has claimed a batch too."""

    def __init__(self) -> None:
        super().__init__()
        self.both_claimed = threading.Barrier(2, timeout=30)
        self.started: set[int] = set()

    def send(self, message: OutgoingMessage) -> None:
        if threading.get_ident() not in self.started:
            self.started.add(threading.get_ident())
            self.both_claimed.wait()
        super().send(message)


def test_concurrent_deliverers_deliver_each_notification_exactly_once(db: Engine) -> None:
    total = 300
    with write_transaction(db) as conn:
        enqueue_many(
            conn,
            [
                NewNotification(i, "escalated", "L2", f"case {i}", "taken over")
                for i in range(total)
            ],
            now=MONDAY,
        )
    sink, start, errors = Rendezvous(), threading.Barrier(2, timeout=30), []

    def work(worker: str) -> None:
        try:
            start.wait()
            while deliver_pending(db, sink, now=MONDAY, worker=worker, batch=7).claimed:
                pass
        except Exception as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    delivered = Counter(m.notification_id for m in sink.messages)
    assert len(sink.messages) == total and set(delivered.values()) == {1}
    assert {row.status for row in rows(db)} == {"sent"}
    assert {row.claimed_by for row in rows(db)} == {"w1", "w2"}


def test_expired_sending_claim_is_redelivered_but_a_live_one_is_not(db: Engine) -> None:
    crashed, busy = add(db, 2)
    n = NOTIFICATION.c
    with write_transaction(db) as conn:
        for notification_id, age in ((crashed, 301), (busy, 60)):
            conn.execute(
                update(NOTIFICATION)
                .where(n.id == notification_id)
                .values(
                    status="sending",
                    claimed_by="dead",
                    attempts=1,
                    claimed_at=MONDAY - timedelta(seconds=age),
                )
            )
    sink = MemorySink()

    report = deliver_pending(db, sink, now=MONDAY, worker="w2", lease_seconds=300)

    assert report.sent == 1 and [m.notification_id for m in sink.messages] == [crashed]
    assert [(r.status, r.attempts) for r in rows(db)] == [("sent", 2), ("sending", 1)]


def test_sender_bug_is_raised_and_releases_the_untried_rest(db: Engine) -> None:
    add(db, 3)

    class Broken:
        def send(self, message: OutgoingMessage) -> None:
            raise KeyError("template")

    with pytest.raises(KeyError):
        deliver_pending(db, Broken(), now=MONDAY, worker="w")
    assert [(r.status, r.attempts, r.claimed_by) for r in rows(db)] == [
        ("pending", 1, None),
        ("pending", 0, None),
        ("pending", 0, None),
    ]
    assert rows(db)[0].last_error == "KeyError('template')"
    assert deliver_pending(db, MemorySink(), now=MONDAY, worker="w").sent == 2


def test_slow_sending_stops_at_half_the_lease_and_releases_the_rest(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(db, 3)
    wall = [0.0]
    monkeypatch.setattr("states.outbox.monotonic", lambda: wall[0])

    class Slow(MemorySink):
        def send(self, message: OutgoingMessage) -> None:
            wall[0] += 200  # one message takes 200 s of a 300 s lease
            super().send(message)

    report = deliver_pending(db, Slow(), now=MONDAY, worker="w", lease_seconds=300)

    assert report.sent == 1
    assert [(r.status, r.attempts, r.claimed_by) for r in rows(db)] == [
        ("sent", 1, "w"),
        ("pending", 0, None),
        ("pending", 0, None),
    ]


def test_file_sink_writes_one_json_line_per_message(sqlite: Engine, tmp_path: Path) -> None:
    add(
        sqlite,
        case_id=None,
        kind="customer_notice",
        recipient="ana@example.com",
        subject="Your case moves to our specialists",
        body="Zoë will call you.",
    )
    add(sqlite, recipient="L2")
    path = tmp_path / "outbox" / "notifications.jsonl"

    assert deliver_pending(sqlite, FileSink(path), now=MONDAY, worker="w").sent == 2

    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(x["kind"], x["to"], x["case_id"]) for x in lines] == [
        ("customer_notice", "ana@example.com", None),
        ("sla_warning", "L2", 7),
    ]
    assert lines[0]["body"] == "Zoë will call you."
    assert lines[0]["created_at"] == MONDAY.isoformat()


def test_file_sink_failure_is_a_delivery_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    message = OutgoingMessage(1, None, "escalated", "L2", "s", "b", MONDAY, attempt=1, to="L2")
    with pytest.raises(DeliveryError, match="cannot write"):
        FileSink(tmp_path / "file" / "out.jsonl").send(message)


def test_console_sink_prints_a_readable_block(sqlite: Engine) -> None:
    add(sqlite)
    stream = io.StringIO()
    deliver_pending(sqlite, ConsoleSink(stream), now=MONDAY, worker="w")
    assert stream.getvalue() == (
        "[sla_warning case 7] to lead@example.com: Case 7 nears its SLA\n80 % of PT4H used.\n\n"
    )


def test_console_sink_shows_control_codes_escaped_never_obeyed(sqlite: Engine) -> None:
    """A subject or body with escape codes (a title rewrite, a screen clear, a bell, a
    right-to-left override) reached the terminal raw from `notify deliver --sink console`,
    as the CLI's own output never lets them; the body's line breaks stay line breaks."""
    add(sqlite, subject="evil\x1b]0;pwned\x07\x1b[2J\u202eRLO", body="line one\nline\x07 two")
    stream = io.StringIO()
    deliver_pending(sqlite, ConsoleSink(stream), now=MONDAY, worker="w")
    assert stream.getvalue() == (
        "[sla_warning case 7] to lead@example.com: evil\\x1b]0;pwned\\x07\\x1b[2J\\u202eRLO\n"
        "line one\nline\\x07 two\n\n"
    )


class Collect:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "sender_address", ["tierflow@example.org", "Support <tierflow@example.org>"]
)
def test_smtp_delivery_reaches_a_real_local_server(db: Engine, sender_address: str) -> None:
    """With a display name too: the Message-ID's domain was "example.org>"."""
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        [notification_id] = add(
            db,
            recipient="manager",
            subject="Case 7 escalated to manager",
            body="Refund of 900.00 EUR is above L2's limit.\nPlease review.",
        )
        sender = SmtpSender("127.0.0.1", controller.port, sender_address, timeout=5)
        report = deliver_pending(
            db, sender, now=MONDAY, worker="smtp", recipients={"manager": "mia@example.com"}
        )
    finally:
        controller.stop()
    assert report.sent == 1
    [envelope] = handler.envelopes
    assert envelope.mail_from == "tierflow@example.org"
    assert envelope.rcpt_tos == ["mia@example.com"]
    text = envelope.content.decode()
    assert "Subject: Case 7 escalated to manager" in text
    assert "Refund of 900.00 EUR is above L2's limit.\r\nPlease review." in text
    assert f"Message-ID: <tierflow.notification.{notification_id}@example.org>" in text
    assert rows(db)[0].status == "sent"


def test_a_customer_notice_is_mailed_to_the_customers_address(sqlite: Engine) -> None:
    """It went out To: customer:jane@example.com, which SMTP reads as a group named
    "customer" (it reached jane by accident of syntax); an id that is no address
    failed as "no address for role"."""
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        add(sqlite, kind="customer_notice", recipient="customer:Jane@Example.com")
        add(sqlite, kind="customer_notice", recipient="customer:C-1")
        sender = SmtpSender("127.0.0.1", controller.port, "tierflow@example.org", timeout=5)
        report = deliver_pending(sqlite, sender, now=MONDAY, worker="smtp", recipients={})
    finally:
        controller.stop()
    assert (report.sent, report.failed) == (1, 1)
    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == ["Jane@Example.com"]
    assert "\r\nTo: Jane@Example.com\r\n" in envelope.content.decode()
    errors = [row.last_error for row in rows(sqlite)]
    assert errors == [None, "customer 'C-1' has no mail address"]


def test_smtp_unmapped_role_fails_at_once_without_connecting(sqlite: Engine) -> None:
    add(sqlite, recipient="board")
    sender = SmtpSender("127.0.0.1", free_port(), "tierflow@example.org")
    report = deliver_pending(sqlite, sender, now=MONDAY, worker="w", recipients={})
    assert report.failed == 1
    [row] = rows(sqlite)
    assert (row.status, row.last_error) == ("failed", "no address for role 'board'")


def test_unreachable_smtp_server_is_retried(sqlite: Engine) -> None:
    add(sqlite)
    sender = SmtpSender("127.0.0.1", free_port(), "tierflow@example.org", timeout=2)
    assert deliver_pending(sqlite, sender, now=MONDAY, worker="w").retried == 1
    [row] = rows(sqlite)
    assert row.status == "pending" and "ConnectionRefusedError" in row.last_error
