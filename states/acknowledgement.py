"""The acknowledgement a customer gets when their mail opens a case.

Why: the customer learns the case number only from it, and a reply lands on a
case only when its subject carries ``[#12]`` (:mod:`states.intake_mail`).
Without it, story 13 of the scenarios could not happen.

What a caller may rely on:

* The mail intake marks the `OpenCase` it builds from a mail
  (:func:`ask_acknowledgement`); nothing else asks for one, so a case opened
  at the desk, from a file or from a reply that lands on a case sends none.
* The acknowledgement is queued with the ``opened`` event, in the same
  transaction (the decision's notifications), to the customer's address; its
  dedupe key is the mail's key, so a mail read twice queues one.
* It says the case number, that a reply to it lands on the case, and the
  subject the customer wrote: nothing of the case they did not send. The
  number is not known when the decision is made (the case row is written
  after); the subject and body say :data:`states.outbox.CASE_NUMBER` where it
  goes, and delivery writes the row's case id there.

`Decider.open` adds the message to what it decides for a marked command, first,
so the customer has the number before any notice of an escalation at intake.
"""

from __future__ import annotations

from states.commands import OpenCase
from states.outbox import ACKNOWLEDGEMENT, CASE_NUMBER, NewNotification

_ASKED = "acknowledge"  # beside the command's fields: not part of what it asks the case

BODY = (
    f"We received your message and opened case #{CASE_NUMBER} for it.\n\n"
    f"To add to it, reply to this mail: a reply whose subject keeps [#{CASE_NUMBER}] "
    "goes to the case."
)


def ask_acknowledgement(command: OpenCase) -> OpenCase:
    """`command`, marked to acknowledge the case it opens to its customer.

    The mark is not a field: a mail read before acknowledgements existed, or
    with them turned off, is the same command read again (a replay)."""
    object.__setattr__(command, _ASKED, True)
    return command


def asks_acknowledgement(command: OpenCase) -> bool:
    """Whether `command` was marked by :func:`ask_acknowledgement`."""
    return bool(command.__dict__.get(_ASKED))


def acknowledgement(command: OpenCase) -> NewNotification:
    """The message telling `command`'s customer (an address) the number of their case."""
    subject = " ".join(command.subject.split())
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    key = command.idempotency_key
    return NewNotification(
        None,  # the engine writes the new case's id here
        ACKNOWLEDGEMENT,
        command.customer_id.strip(),
        f"[#{CASE_NUMBER}] {subject}",
        BODY,
        dedupe_key=f"{ACKNOWLEDGEMENT}:{key}" if key else None,
    )
