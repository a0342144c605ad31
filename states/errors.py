"""The one exception hierarchy of tierflow.

Every error a caller can act on is a :class:`TierflowError`; the CLI and the
dashboard catch it at their edge and print ``str(error)`` as one line.
Anything else escaping the domain is a bug.

    TierflowError
    ├── ConfigError                 a process/policy/settings file is wrong
    │   ├── ProcessDefinitionError  the process TOML
    │   ├── PolicyError             the SLA / escalation policy TOML
    │   └── ScheduleError           the flow schedules TOML
    ├── CommandError                a command cannot be applied
    │   ├── InvalidInput            a field has a value that is not allowed
    │   │   └── OutOfOrder          an instant earlier than the case's last event
    │   ├── CaseNotFound
    │   ├── InvalidTransition       trigger not allowed in the current state
    │   ├── GuardFailed             trigger allowed, but a guard refused it
    │   │   └── AuthorityExceeded   amount above the acting level's limit
    │   ├── ConcurrencyConflict     the case changed under the writer
    │   ├── IdempotencyConflict     key reused for a different command
    │   └── BatchFailed             one command of a batch failed (all rolled back)
    ├── StoreError                  the database refused or is unreachable
    │   ├── ConnectionLost          the connection died before the commit: nothing written
    │   └── UnreadableValue         a stored value tierflow cannot read (edited outside it)
    ├── DeliveryError               a notification could not be delivered
    └── IntegrityError              stored history does not verify
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any


class TierflowError(Exception):
    """Base of every error tierflow raises on purpose."""


class ConfigError(TierflowError):
    """A configuration file is invalid; names the file, the key and what is allowed."""

    def __init__(self, source: str, key: str, problem: str, line: int | None = None) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        self.line = line
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {key}: {problem}")


class ProcessDefinitionError(ConfigError):
    """The process definition TOML is invalid."""


class PolicyError(ConfigError):
    """The SLA / escalation policy TOML is invalid."""


class ScheduleError(ConfigError):
    """The flow schedules TOML (or an edit of it) is invalid."""


class MappingError(ConfigError):
    """An import mapping TOML (how an external event log maps onto tierflow) is invalid."""


class CommandError(TierflowError):
    """A command could not be applied; nothing was written."""


class InvalidInput(CommandError):
    """A field of a command has a value that is not allowed."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {field} {shown(value)}: {allowed}")


SHOWN = 80
"""Characters of a value an error quotes whole; a longer one (a 100 KB option value) is
cut to its start and its end, which name it (a path ends with the file's name)."""


def shown(value: Any) -> str:
    """`value` as an error quotes it: its repr, cut when long, with its length."""
    if isinstance(value, str) and len(value) > SHOWN:
        return f"{value[:50] + '…' + value[-20:]!r} ({len(value):,} characters)"
    return cut(repr(value))


def cut(text: str) -> str:
    """`text` whole, or when long its start and end, which name it, with its length."""
    if len(text) <= SHOWN:
        return text
    return f"{text[:50]}…{text[-20:]} ({len(text):,} characters)"


class OutOfOrder(InvalidInput):
    """A command dated earlier than the case's last event: history never runs backwards."""

    def __init__(
        self, case_id: Any, at: datetime, earliest: datetime, from_clock: bool = False
    ) -> None:
        self.case_id = case_id
        self.at = at
        self.earliest = earliest
        if from_clock:  # no time was given: the clock's is earlier than a logged event
            field, allowed = (
                "now",
                (
                    f"the clock is before case {case_id}'s last event (logged as happening at "
                    f"{earliest.isoformat()}); give the time it happened, at or after that"
                ),
            )
        else:
            field, allowed = (
                "at",
                (
                    f"not before case {case_id}'s last event; earliest allowed: "
                    f"{earliest.isoformat()}"
                ),
            )
        super().__init__(field, at.isoformat(), allowed)


class CaseNotFound(CommandError):
    def __init__(self, case_id: Any) -> None:
        self.case_id = case_id
        super().__init__(f"case {case_id} not found")


class InvalidTransition(CommandError):
    """The trigger is not defined from the case's current state."""

    def __init__(self, case_id: Any, trigger: str, state: str, allowed: Iterable[str]) -> None:
        self.case_id = case_id
        self.trigger = trigger
        self.state = state
        self.allowed = sorted(allowed)
        allowed_text = ", ".join(self.allowed) if self.allowed else "none"
        super().__init__(
            f"case {case_id}: cannot {trigger} from state {state!r}; allowed here: {allowed_text}"
        )


class GuardFailed(CommandError):
    """The trigger exists from this state but a guard refused it."""

    def __init__(self, trigger: str, reason: str, case_id: Any = None) -> None:
        self.case_id = case_id
        self.trigger = trigger
        self.reason = reason
        prefix = f"case {case_id}: " if case_id is not None else ""
        super().__init__(f"{prefix}{trigger} refused: {reason}")


class AuthorityExceeded(GuardFailed):
    """Resolving would settle an amount above the acting level's authority."""

    def __init__(
        self,
        trigger: str,
        amount: str,
        acting_level: str,
        limit: str,
        required_level: str | None,
        case_id: Any = None,
    ) -> None:
        self.amount = amount
        self.acting_level = acting_level
        self.limit = limit
        self.required_level = required_level
        who = (
            f"the lowest level that may resolve it is {required_level!r}"
            if required_level
            else "no level of the ladder has enough authority"
        )
        super().__init__(
            trigger,
            f"amount claimed {amount} is above the authority limit {limit} of level "
            f"{acting_level!r}; {who}",
            case_id,
        )


class ConcurrencyConflict(CommandError):
    def __init__(self, case_id: Any, expected: int | None, actual: int | None) -> None:
        self.case_id = case_id
        self.expected = expected
        self.actual = actual
        if expected is None or actual is None:  # a writer lost every retry to others
            why = "changed concurrently"
        elif actual > expected:
            why = "changed since that version was read"
        else:  # an expected version the case never had: a mistyped one, not a race
            why = "has not reached that version"
        super().__init__(f"case {case_id} {why}: expected version {expected}, found {actual}")


class IdempotencyConflict(CommandError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"idempotency key {key!r} was already used for a different command; "
            "use a new key for a new command"
        )


class BatchFailed(CommandError):
    """One command of a batch failed; the whole batch was rolled back."""

    def __init__(self, index: int, cause: TierflowError) -> None:
        self.index = index
        self.cause = cause
        super().__init__(f"command #{index} of the batch failed, nothing written: {cause}")


class StoreError(TierflowError):
    """The database refused an operation or could not be reached.

    ``transient`` is True where trying again may succeed (a lock held too long,
    a dropped connection); scheduled flows retry those, and only those.
    """

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ConnectionLost(StoreError):
    """The database connection was lost before the transaction's commit was sent.

    The server rolled the transaction back, so running it again on a fresh
    connection is safe (the engine does, once); a connection lost during the
    commit itself is a plain :class:`StoreError`, as its outcome is unknown.
    """


class UnreadableValue(StoreError):
    """A stored value is not one tierflow writes (a time that is not ISO 8601 text): the
    database was edited outside tierflow. Verification reports the case holding it as
    not verified; any other read fails with this one line instead of a traceback."""

    def __init__(self, what: str, value: Any, problem: str) -> None:
        super().__init__(
            f"stored {what} {shown(value)} {problem}: the database was edited outside "
            "tierflow (tierflow replay --all --verify finds the cases)"
        )


class DeliveryError(TierflowError):
    """A sender could not deliver a message.

    ``permanent`` failures (no address, recipient refused) are not retried.
    """

    def __init__(self, problem: str, *, permanent: bool = False) -> None:
        self.problem = problem
        self.permanent = permanent
        super().__init__(problem)


class IntegrityError(TierflowError):
    """Stored history does not verify (hash chain broken or projection differs)."""

    def __init__(self, case_id: Any, problems: list[str]) -> None:
        self.case_id = case_id
        self.problems = problems
        super().__init__(f"case {case_id}: history does not verify: " + "; ".join(problems))


class AuditKeyError(TierflowError):
    """The key that signs audit anchors is missing, too short, or kept where others can
    read it; names where the key was looked for and what is allowed."""


class NotAnchored(TierflowError):
    """Anchoring was refused: the history does not verify, and an anchor would bless it."""
