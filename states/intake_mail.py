"""A mail becomes an intake record: a new case, or a customer's message on one.

Rules a caller may rely on:

* A mail whose subject carries a case reference, ``[#12]`` or ``[REF]``
  where REF is a case's external reference, is a reply: its new text becomes
  a customer message on that case (`Update`), so the escalation points run on
  it, and a case waiting on its customer starts running again. A reference
  that names no case opens a new case instead (as Zendesk does), and the
  intake result says so.
* A reply lands only on a case of its sender: the case's customer id must be
  the sender's address (compared case-insensitively; the display name does
  not count). Anyone can type ``[#12]``; a mail from someone else opens a new
  case for its sender, as an untagged mail would, whose description first says
  which case the mail named, so an agent can link them. Nothing of it reaches
  the case it named (as Freshdesk and Zendesk treat a reply from a stranger).
* Any other mail opens a case: the sender's address, lower-cased, is the
  customer; the subject is the subject; the text body (text/plain, else the
  HTML with its tags removed) is the description; the channel is ``email``.
* The resume is a second command (`Act` ``customer_replied``) that the
  intake puts after the `Update` in the same batch, when the case waits as
  the batch is read; it is not a rule of `Update` itself, because an update
  is also an agent recording news from elsewhere (a phone call, a note),
  which must not end a wait the agent chose. A case that stopped waiting
  between the read and the write keeps the message; only the resume is
  dropped. A mail read again never resumes: its key was applied before.
* Quoted history is left out of a reply (lines starting with ``>``, and all
  after an "On … wrote:" or "-----Original Message-----" line): the case has
  those words already, and a desk that re-read them would escalate a case
  again for the "lawyer" of a message it already handled. The full mail stays
  in the mailbox. A reply with no new text still counts as the customer
  answering (the message says it had none).
* A mail that opens a case asks for an acknowledgement to its sender, saying
  the case number to reply to (:mod:`states.acknowledgement`), unless the
  caller turned them off or the mail was sent by a machine (``Auto-Submitted``
  other than ``no``, ``Precedence`` bulk, junk or list, a mailer daemon): an
  answer to an out-of-office reply or a bounce could go back and forth for ever
  (RFC 3834).
* The idempotency key is the ``Message-ID`` (a digest of it when long), or a
  digest of the raw bytes for a mail without one: the same mail read twice
  acts once.
"""

from __future__ import annotations

import hashlib
import re
from email.message import EmailMessage
from email.utils import parseaddr
from html.parser import HTMLParser

from states.acknowledgement import ask_acknowledgement
from states.commands import MAX_TEXT, OpenCase, Update
from states.errors import InvalidInput
from states.fields import MAX_ID
from states.intake import Record, RowError

MAIL_CHANNEL = "email"
NO_NEW_TEXT = "(a reply with no new text)"
#: How a case opened for a mail that named someone else's case begins (see the module doc)
FOREIGN_NOTE = (
    "(The mail named case {}, whose customer is someone else: it was not added to that "
    "case. Link the two if they belong together.)\n\n"
)
MAX_SUBJECT = 250
_TRUNCATED = "\n… (cut here; the full mail is in the mailbox)"
_CASE_NUMBER = re.compile(r"\[#(\d{1,18})\]")
_TAG = re.compile(r"\[([^\[\]\s#][^\[\]\s]{0,99})\]")
_ATTRIBUTION = re.compile(
    r"^(on|le|am|el|il|op)\s.*(wrote|écrit|schrieb|escribió|scritto|geschreven)\s*:$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^-{2,}\s*(original message|forwarded message)\s*-{2,}$", re.IGNORECASE)
_BLOCKS = frozenset(
    {"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr"}
)
_HIDDEN = frozenset({"script", "style", "head", "title"})


def record_from_mail(
    message: EmailMessage, raw: bytes, source: str, number: int, acknowledge: bool = True
) -> Record | RowError:
    """The record a mail (parsed with ``email.policy.default``) asks for, or why not;
    with `acknowledge`, a case it opens is acknowledged unless a machine sent it."""
    try:
        key = mail_key(message, raw)
        sender = parseaddr(str(message.get("From") or ""))[1].strip().lower()
        subject = " ".join(str(message.get("Subject") or "").split())
        text = body_text(message)
        acknowledge = acknowledge and not sent_by_a_machine(message, sender)
    except Exception as exc:  # a mail from outside may be malformed in any way: reject it
        return RowError(number, "mail", None, f"the mail cannot be read: {exc}")
    if not sender or "@" not in sender:
        return RowError(number, "from", str(message.get("From") or ""), "a sender address")
    # a number past the id range names no case: the next one may ("[#99999999999] [#38]")
    case_numbers = [n for found in _CASE_NUMBER.findall(subject) if 0 < (n := int(found)) <= MAX_ID]
    refs = tuple(_TAG.findall(subject))
    title = " ".join(_CASE_NUMBER.sub("", subject).split())
    try:
        if not case_numbers and not refs:
            return Record(source, number, key, _open(sender, title, text, key, acknowledge))
        reply = strip_quoted(text) or NO_NEW_TEXT
        named = f"#{case_numbers[0]}" if case_numbers else ", ".join(refs)
        return Record(
            source,
            number,
            key,
            Update(case_id=0, actor=sender, message=_cut(reply), idempotency_key=key),
            case_id=case_numbers[0] if case_numbers else None,
            case_refs=() if case_numbers else refs,
            fallback=_open(sender, title, reply, key, acknowledge),
            customer_reply=True,
            sender=sender,
            foreign_fallback=_open(
                sender, title, FOREIGN_NOTE.format(named) + reply, key, acknowledge
            ),
        )
    except InvalidInput as exc:
        return RowError(number, exc.field, exc.value, exc.allowed)


def _open(sender: str, subject: str, text: str, key: str, acknowledge: bool) -> OpenCase:
    subject = subject or "(no subject)"
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1] + "…"
    command = OpenCase(
        customer_id=sender,
        subject=subject,
        description=_cut(text),
        channel=MAIL_CHANNEL,
        idempotency_key=key,
    )
    return ask_acknowledgement(command) if acknowledge else command


def sent_by_a_machine(message: EmailMessage, sender: str) -> bool:
    """Whether `message` is an automatic one (an auto-reply, a bounce, a list's mail),
    which no automatic answer may go to (RFC 3834)."""
    auto_submitted = str(message.get("Auto-Submitted") or "no").split(";")[0].strip().lower()
    precedence = str(message.get("Precedence") or "").strip().lower()
    return (
        auto_submitted != "no"
        or precedence in ("bulk", "junk", "list")
        or sender.partition("@")[0] in ("mailer-daemon", "postmaster")
    )


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - len(_TRUNCATED)] + _TRUNCATED


def mail_key(message: EmailMessage, raw: bytes) -> str:
    """``mail:<Message-ID>`` (or a digest of it when long), else a digest of the raw bytes."""
    message_id = str(message.get("Message-ID") or "").strip().strip("<>").strip()
    if message_id and len(message_id) <= 80 and message_id.isprintable():
        return f"mail:{message_id}"
    seed = message_id.encode(errors="surrogateescape") if message_id else raw
    return "mail:sha256:" + hashlib.sha256(seed).hexdigest()[:32]


def body_text(message: EmailMessage) -> str:
    """The text/plain body, else the HTML body as text; quoted HTML becomes ``>`` lines."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # an unknown or wrong charset: read it as UTF-8
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        content = html_to_text(content)
    return content.replace("\r\n", "\n").strip()


def strip_quoted(text: str) -> str:
    """The new text of a reply: without ``>`` lines and without the history after an
    attribution ("On … wrote:") or an "Original Message" separator."""
    lines = text.splitlines()
    kept: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        two_lines = f"{stripped} {lines[index + 1].strip()}" if index + 1 < len(lines) else ""
        if _ATTRIBUTION.match(stripped) or _SEPARATOR.match(stripped):
            break
        if stripped.lower().startswith("on ") and _ATTRIBUTION.match(two_lines):
            break
        if not stripped.startswith(">"):
            kept.append(line)
    return "\n".join(kept).strip()


def html_to_text(html: str) -> str:
    """Visible text of an HTML body, one line per block; text inside ``<blockquote>``
    is prefixed with ``>`` as a plain-text client would quote it."""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    return "\n".join(line for line in lines if line and line != ">")


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.quoted = 0

    def _break(self) -> None:
        self.parts.append("\n> " if self.quoted else "\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
            return
        if tag == "blockquote":
            self.quoted += 1
        if tag == "blockquote" or tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
            return
        if tag == "blockquote":
            self.quoted = max(0, self.quoted - 1)
        if tag == "blockquote" or tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data.replace("\n", "\n> ") if self.quoted else data)
