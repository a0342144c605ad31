"""How notifications leave tierflow: by SMTP, to a JSON-lines file, to the console,
or into memory (tests). Each implements :class:`states.outbox.Sender`; the outbox
(:func:`states.outbox.deliver_pending`) decides what to send and records the
outcome, these only deliver. A sender raises :class:`DeliveryError`, ``permanent``
when trying again cannot help.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import sys
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import TextIO

from flows.terminal import safe, safe_lines
from states.errors import DeliveryError
from states.outbox import ACKNOWLEDGEMENT, CUSTOMER, OutgoingMessage
from states.regular_files import open_regular


@dataclass(frozen=True)
class SmtpSender:
    """Mail through an SMTP server with the standard library, one connection per message.

    An unmapped role (no ``@`` in ``to``) and refused recipients fail
    permanently; network and other SMTP errors are retried.
    """

    host: str
    port: int
    sender_address: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = 10

    def compose(self, message: OutgoingMessage) -> EmailMessage:
        if message.to.startswith(CUSTOMER):  # a customer id that is no address
            customer = message.to[len(CUSTOMER) :]
            raise DeliveryError(f"customer {customer!r} has no mail address", permanent=True)
        if "@" not in message.to:
            raise DeliveryError(f"no address for role {message.to!r}", permanent=True)
        # the address's domain, also when the sender has a display name (Support <a@b.io>)
        domain = parseaddr(self.sender_address)[1].rpartition("@")[2] or "tierflow"
        email = EmailMessage()
        try:
            email["From"] = self.sender_address
            email["To"] = message.to
            email["Subject"] = " ".join(message.subject.split())
            email["Date"] = format_datetime(message.created_at)
            email["Message-ID"] = f"<tierflow.notification.{message.notification_id}@{domain}>"
            email["X-Tierflow-Kind"] = message.kind
            if message.case_id is not None:
                email["X-Tierflow-Case"] = str(message.case_id)
            if message.kind == ACKNOWLEDGEMENT:  # an automatic answer (RFC 3834): none back
                email["Auto-Submitted"] = "auto-replied"
            email.set_content(message.body)
        except (ValueError, TypeError) as exc:
            raise DeliveryError(
                f"cannot compose mail to {message.to!r}: {exc}", permanent=True
            ) from None
        return email

    def send(self, message: OutgoingMessage) -> None:
        email = self.compose(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"SMTP server refused {message.to!r}: {exc.recipients}", permanent=True
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}"
            ) from None


class FileSink:
    """Appends one JSON object per line to ``path`` (the default for local runs)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> None:
        line = json.dumps(asdict(message), ensure_ascii=False, default=datetime.isoformat)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, open_regular(self.path, "a") as out:
                out.write(line + "\n")
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.path}: {exc}") from None


class ConsoleSink:
    """Prints each message as a short readable block (for demos), its text made safe for
    the terminal (a subject's escape codes are shown, not obeyed: :mod:`flows.terminal`)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def send(self, message: OutgoingMessage) -> None:
        case = f" case {message.case_id}" if message.case_id is not None else ""
        head = safe(f"[{message.kind}{case}] to {message.to}: {message.subject}")
        self.stream.write(f"{head}\n{safe_lines(message.body)}\n\n")
        self.stream.flush()


class MemorySink:
    """Keeps messages in ``messages`` (for tests)."""

    def __init__(self) -> None:
        self.messages: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> None:
        self.messages.append(message)
