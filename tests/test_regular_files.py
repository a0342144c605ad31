"""Files tierflow writes at fixed names (the outbox, the anchors, the review reports):
a FIFO or a device at that name is an error at once. A FIFO nobody read made the
writer wait for ever (a scheduled delivery or report never ended); a device took the
text in silence."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flows.senders import FileSink
from states.anchor import check_anchors, write_anchor
from states.audit_key import AuditKey
from states.errors import AuditKeyError, DeliveryError, PolicyError, TierflowError
from states.import_read import LogReader, file_digest
from states.outbox import OutgoingMessage
from states.regular_files import open_regular, write_regular
from states.store import read_connection
from states.tomlsource import read_toml
from tests.conftest import MONDAY


def finishes(call: Callable[[], Any], seconds: float = 10) -> BaseException | None:
    """Run `call` on a thread: the exception it raised (None if it returned), or a
    failure if it is still waiting after `seconds` (the hang this file is about)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still waiting after {seconds} s")
    return outcome[0]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("mode", ["a", "rb"])
def test_a_fifo_is_not_a_regular_file_whichever_way_it_is_opened(fifo: Path, mode: str):
    error = finishes(lambda: open_regular(fifo, mode))
    assert isinstance(error, OSError) and error.strerror == "not a regular file", error


def test_a_device_is_not_replaced_or_written(tmp_path: Path):
    error = finishes(lambda: write_regular(Path("/dev/null"), "report"))
    assert isinstance(error, OSError) and error.strerror == "not a regular file"
    write_regular(tmp_path / "review.md", "first")
    write_regular(tmp_path / "review.md", "second")  # a regular file is replaced
    assert (tmp_path / "review.md").read_text() == "second"


def test_the_file_sink_on_a_fifo_fails_the_delivery_at_once(fifo: Path):
    message = OutgoingMessage(1, None, "escalated", "L2", "s", "b", MONDAY, attempt=1, to="L2")
    error = finishes(lambda: FileSink(fifo).send(message))
    assert isinstance(error, DeliveryError) and "not a regular file" in str(error), error


def test_an_anchor_file_that_is_a_fifo_is_refused_for_writing_and_reading(db, fifo: Path):
    key = AuditKey(b"k" * 32, "test")
    with read_connection(db) as conn:
        for call in (
            lambda: write_anchor(conn, key, fifo, MONDAY),
            lambda: check_anchors(conn, key, fifo, None),
        ):
            error = finishes(call)
            assert isinstance(error, AuditKeyError) and "not a regular file" in str(error)


@pytest.mark.parametrize(
    "read",
    [lambda path: file_digest(path), lambda path: list(LogReader(path, "csv", "case"))],
    ids=["digest", "log"],
)
def test_a_fifo_given_as_a_log_to_import_is_refused_at_once(
    fifo: Path, read: Callable[[Path], Any]
):
    """The import reads its log twice (its digest, then its cases): a pipe cannot be; the
    reader waited for a writer for ever."""
    error = finishes(lambda: read(fifo))
    assert isinstance(error, TierflowError) and "not a regular file" in str(error), error


def test_a_toml_file_may_come_through_a_pipe_and_a_fifo_nobody_writes_to_reads_empty(
    fifo: Path,
):
    """`--process /dev/stdin` and `<(...)` are read to their end (refused for a while, as
    "not a regular file"); a FIFO nobody writes to no longer makes the reader wait."""
    read, write = os.pipe()
    os.write(write, b'name = "piped"\n')
    os.close(write)
    try:
        assert read_toml(Path(f"/dev/fd/{read}"), PolicyError).data == {"name": "piped"}
    finally:
        os.close(read)
    source: list[Any] = []
    assert finishes(lambda: source.append(read_toml(fifo, PolicyError))) is None
    assert source[0].data == {}
    error = finishes(lambda: read_toml(Path("/dev/zero"), PolicyError))
    assert isinstance(error, TierflowError) and "not a regular file" in str(error), error
