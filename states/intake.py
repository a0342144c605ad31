"""Intake: source records (file rows, mails) become commands, applied in batches.

A record is one item of a source: a row of a JSONL or CSV file
(:mod:`states.intake_rows`) or one mail (:mod:`states.intake_mail`). Parsing
it never raises: it gives a
:class:`Record` (what to do) or a :class:`RowError` (why not, naming the row,
the field, the value and what is allowed). :func:`apply_records` applies
records in batches through :meth:`Engine.apply_many`; a record the engine
refuses is taken out as rejected and the rest of its batch is applied again,
so the good rows of a file are kept, the bad ones reported, and nothing is
half written.

Idempotency, which callers may rely on: every record carries a key that is
the same each time the same row or mail is read (a row's own
``idempotency_key``, else a digest of source name, row number and row text;
a mail's ``Message-ID``). A record whose key was applied before is counted as
``replayed`` and changes nothing, so a file re-dropped, or re-read after a
crash part way through it, acts once per row.

No file or mailbox I/O here (that is `flows/sources.py`); the database is
read only to find the cases that records name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from states import fields as check
from states.commands import Act, Command, OpenCase, Update, fingerprint
from states.engine import Engine, Result
from states.errors import (
    BatchFailed,
    CommandError,
    ConcurrencyConflict,
    IdempotencyConflict,
    InvalidInput,
)
from states.instants import in_range
from states.store import CASE, EVENT

#: Command fields as a row names them.
COLUMN_OF = {"amount_claimed": "amount", "external_ref": "ref"}
INTAKE_ACTOR = "intake"


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one record of a source was not applied: a value, not an exception."""

    row: int
    field: str
    value: Any
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON object written to ``rejected/<file>.errors.jsonl``."""
        value = self.value
        if isinstance(value, Decimal | date):  # as the row wrote it, not a Python repr
            value = value.isoformat() if isinstance(value, date) else str(value)
        elif not isinstance(value, str | int | float | bool | type(None)):
            value = repr(value)
        if isinstance(value, str) and len(value) > 200:
            value = value[:200] + "…"
        return {"row": self.row, "field": self.field, "value": value, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Record:
    """One source item, parsed and validated: the command it becomes.

    An `Update` is built with case number 0 until the case it names is found
    (`case_id`, or the first of `case_refs` that a case has as external
    reference); when none is found, `fallback` is opened instead if there is
    one (a mail), else the record is rejected (a file row).

    A mail names its `sender` and lands only on a case of that customer (the
    customer id compared case-insensitively): anyone can type ``[#12]``, and a
    stranger must not write into case 12, nor escalate it. A mail naming only
    other customers' cases opens `foreign_fallback` for its sender instead (its
    text says which case it named). A file row (`sender` None) is trusted: ops
    wrote it.
    """

    source: str
    row: int
    key: str
    command: OpenCase | Update
    case_id: int | None = None
    case_refs: tuple[str, ...] = ()
    fallback: OpenCase | None = None
    customer_reply: bool = False  # resume the case if it waits on its customer
    sender: str | None = None  # a mail's sender, lower-cased: whose cases it may write to
    foreign_fallback: OpenCase | None = None

    @property
    def names_case(self) -> bool:
        return self.case_id is not None or bool(self.case_refs)

    @property
    def reference(self) -> str:
        if self.case_id is not None:
            return f"#{self.case_id}"
        return ", ".join(self.case_refs)


@dataclass(slots=True)
class IntakeResult:
    """What applying a source's records did."""

    opened: int = 0
    updated: int = 0
    resumed: int = 0  # waiting cases a customer's reply set running again
    escalated: int = 0  # records after which the case had moved up a level
    replayed: int = 0  # records applied before (same key): nothing done again
    rejected: list[RowError] = field(default_factory=list)
    #: (row, reference, new case id): records that named no existing case and opened one
    opened_for_unknown_reference: list[tuple[int, str, int]] = field(default_factory=list)
    #: (row, reference, new case id): mails that named only other customers' cases
    opened_for_foreign_reference: list[tuple[int, str, int]] = field(default_factory=list)

    def add(self, other: IntakeResult) -> None:
        self.opened += other.opened
        self.updated += other.updated
        self.resumed += other.resumed
        self.escalated += other.escalated
        self.replayed += other.replayed
        self.rejected.extend(other.rejected)
        self.opened_for_unknown_reference.extend(other.opened_for_unknown_reference)
        self.opened_for_foreign_reference.extend(other.opened_for_foreign_reference)


# -- applying ----------------------------------------------------------------------


@dataclass(slots=True)
class _Plan:
    """The commands one record became in this batch."""

    record: Record
    commands: list[Command]
    opens_for: str | None = None  # opened instead: for an "unknown" or a "foreign" reference


def apply_records(
    engine: Engine, records: Sequence[Record], now: datetime, batch: int = 1000
) -> IntakeResult:
    """Apply `records` in batches of `batch`, each all or nothing, keeping the good ones.

    A record the engine refuses is rejected with its reason and the rest of
    its batch applied again; records applied before (same key) are
    `replayed`. A database or concurrency failure propagates: the batches
    before it stay written, and running again acts once per record.
    """
    now = in_range("now", now)
    check.whole_number("batch", batch, 1, 100_000)
    result = IntakeResult()
    for segment in _segments(records, batch):
        result.add(_apply_batch(engine, segment, now))
    return result


def _segments(records: Sequence[Record], batch: int) -> list[Sequence[Record]]:
    """Batches of at most `batch` records, cut before a record that names a case by a
    reference an earlier record of the same batch opens (it must exist to be found)."""
    segments: list[Sequence[Record]] = []
    start = 0
    opened: set[str] = set()
    for index, record in enumerate(records):
        if index - start == batch or opened.intersection(record.case_refs):
            segments.append(records[start:index])
            start, opened = index, set()
        if isinstance(record.command, OpenCase) and record.command.external_ref:
            opened.add(record.command.external_ref)
    if start < len(records):
        segments.append(records[start:])
    return segments


def _apply_batch(engine: Engine, records: Sequence[Record], now: datetime) -> IntakeResult:
    result = IntakeResult()
    with engine.db.connect() as conn:
        applied = _applied_keys(conn, [record.key for record in records])
        cases = _named_cases(conn, [record for record in records if record.names_case])
    plans: list[_Plan] = []
    planned: dict[str, _Plan] = {}
    resuming: set[int] = set()
    for record in records:
        if record.key in applied:
            # the same command again is a replay; another one under its key is refused,
            # as the engine refuses it (it was counted as a replay and dropped unsaid)
            if applied[record.key] in _fingerprints(record, cases):
                result.replayed += 1
            else:
                result.rejected.append(_refusal(record, IdempotencyConflict(record.key)))
            continue
        first = planned.get(record.key)
        if first is not None:  # the engine would take a second use in one batch as a replay
            if fingerprint(first.record.command) != fingerprint(record.command):
                result.rejected.append(_key_reused(record, first.record.row))
            else:
                result.replayed += 1
            continue
        plan = _plan(record, cases, resuming)
        if isinstance(plan, RowError):
            result.rejected.append(plan)
            continue
        planned[record.key] = plan
        plans.append(plan)
    while plans:
        commands = [command for plan in plans for command in plan.commands]
        try:
            results = engine.apply_many(commands, now)
        except CommandError as exc:
            _take_out(plans, commands, exc, result)
            continue
        _tally(plans, results, result)
        break
    return result


def _plan(record: Record, cases: dict[Any, _Named], resuming: set[int]) -> _Plan | RowError:
    """The commands for `record`, given the cases it may name (id or ref → case)."""
    if not record.names_case:
        return _Plan(record, [record.command])
    named = _existing(record, cases)
    found = next((case for case in named if _may_write(record, case)), None)
    if found is None:
        instead, reason = (
            (record.foreign_fallback, "foreign") if named else (record.fallback, "unknown")
        )
        if instead is not None:
            return _Plan(record, [instead], opens_for=reason)
        field_name = "case_id" if record.case_id is not None else "case_ref"
        value = record.case_id if record.case_id is not None else record.case_refs[0]
        return RowError(record.row, field_name, value, "no case has it")
    case_id, is_waiting, _ = found
    commands: list[Command] = [replace(record.command, case_id=case_id)]
    if record.customer_reply and is_waiting and case_id not in resuming:
        resuming.add(case_id)
        commands.append(
            Act(
                case_id=case_id,
                trigger="customer_replied",
                actor=record.command.actor,
                note="the customer replied",
                idempotency_key=f"{record.key}:resume",
            )
        )
    return _Plan(record, commands)


def _take_out(
    plans: list[_Plan], commands: list[Command], exc: CommandError, result: IntakeResult
) -> None:
    """Remove the plan (or the resume) that made the batch fail, so the rest may go again."""
    if isinstance(exc, ConcurrencyConflict):
        raise exc
    if isinstance(exc, BatchFailed):
        index, cause = exc.index, exc.cause
    elif isinstance(exc, IdempotencyConflict):
        index, cause = next(i for i, c in enumerate(commands) if c.idempotency_key == exc.key), exc
    elif len(commands) == 1:  # a batch of one raises the cause itself
        index, cause = 0, exc
    else:
        raise exc
    owner, position = _locate(plans, index)
    if position > 0 and not isinstance(cause, IdempotencyConflict):
        del owner.commands[position:]  # the resume: the case no longer waits; keep the message
        return
    plans.remove(owner)
    result.rejected.append(_refusal(owner.record, cause))


def _locate(plans: list[_Plan], index: int) -> tuple[_Plan, int]:
    for plan in plans:
        if index < len(plan.commands):
            return plan, index
        index -= len(plan.commands)
    raise AssertionError("the failing command belongs to no record")


def _refusal(record: Record, cause: Exception) -> RowError:
    if isinstance(cause, InvalidInput):
        column = COLUMN_OF.get(cause.field, cause.field)
        return RowError(record.row, column, cause.value, cause.allowed)
    if isinstance(cause, IdempotencyConflict):
        return RowError(record.row, "idempotency_key", record.key, str(cause))
    if record.names_case:
        where = "case_id" if record.case_id is not None else "case_ref"
        value = record.case_id if record.case_id is not None else record.case_refs[0]
        return RowError(record.row, where, value, str(cause))
    return RowError(record.row, "row", None, str(cause))


def _key_reused(record: Record, first_row: int) -> RowError:
    return RowError(
        record.row, "idempotency_key", record.key,
        f"row {first_row} has the same key for a different command; a new command needs a new key",
    )  # fmt: skip


def _tally(plans: list[_Plan], results: list[Result], result: IntakeResult) -> None:
    position = 0
    for plan in plans:
        mine = results[position : position + len(plan.commands)]
        position += len(plan.commands)
        first = mine[0]
        if first.replayed:  # applied by another writer since the keys were read
            result.replayed += 1
            continue
        if isinstance(plan.commands[0], OpenCase):
            result.opened += 1
            if plan.opens_for is not None:
                said = (
                    result.opened_for_foreign_reference
                    if plan.opens_for == "foreign"
                    else result.opened_for_unknown_reference
                )
                said.append((plan.record.row, plan.record.reference, first.case_id))
        else:
            result.updated += 1
        result.resumed += len(mine) - 1
        if any(event.type == "escalate" for outcome in mine for event in outcome.events):
            result.escalated += 1


def _applied_keys(conn: Connection, keys: list[str]) -> dict[str, str]:
    """Each of `keys` already applied, with the fingerprint of the command it applied."""
    rows = conn.execute(
        select(EVENT.c.idempotency_key, EVENT.c.command_hash).where(
            EVENT.c.idempotency_key.in_(keys)
        )
    )
    return dict(rows.tuples().all())


def _fingerprints(record: Record, cases: dict[Any, _Named]) -> set[str]:
    """The fingerprints `record`'s first command may have had when it was applied: the
    command on any case it names that exists now (a mail naming two references went to
    the first that existed then, and the other may exist since), or the case it opened
    when it named none, or only other customers' cases (applied before they existed, or
    before mails were held to their sender's cases: a replay either way)."""
    fallbacks = (record.fallback, record.foreign_fallback)
    found = {fingerprint(fallback) for fallback in fallbacks if fallback is not None}
    if not record.names_case:
        found.add(fingerprint(record.command))
    for case in _existing(record, cases):
        found.add(fingerprint(replace(record.command, case_id=case.case_id)))
    return found


def _existing(record: Record, cases: dict[Any, _Named]) -> list[_Named]:
    """Each case `record` names that exists, in the order it names them (see
    `_named_cases`): its case number, else its references."""
    names = (record.case_id,) if record.case_id is not None else record.case_refs
    return [cases[name] for name in names if name in cases]


def _may_write(record: Record, case: _Named) -> bool:
    """Whether `record` may land on `case`: a file row may; a mail, on its sender's case."""
    return record.sender is None or case.customer.strip().lower() == record.sender


class _Named(NamedTuple):
    """A case a record names: its id, whether it waits on its customer, whose it is."""

    case_id: int
    waiting: bool
    customer: str


def _named_cases(conn: Connection, records: list[Record]) -> dict[Any, _Named]:
    """Case number and external reference → the case (see `_Named`) of the cases
    `records` name that exist."""
    # A number past the id column's range names no case (a mail's "[#99999999999]" was
    # "integer out of range" on PostgreSQL, an OverflowError on SQLite: the whole run failed)
    ids = {r.case_id for r in records if r.case_id is not None and 0 < r.case_id <= check.MAX_ID}
    # Nor does a reference no case can have (a NUL: PostgreSQL's driver refused the query,
    # failing the run; SQLite found no case): a file's rows are refused as they are read
    refs = {ref for record in records for ref in record.case_refs if _could_be_ref(ref)}
    found: dict[Any, _Named] = {}
    columns = (CASE.c.id, CASE.c.waiting, CASE.c.customer_id, CASE.c.external_ref)
    for names, column in ((ids, CASE.c.id), (refs, CASE.c.external_ref)):
        if names:
            for row in conn.execute(select(*columns).where(column.in_(names))):
                name = row.id if column is CASE.c.id else row.external_ref
                found[name] = _Named(row.id, bool(row.waiting), row.customer_id)
    return found


def _could_be_ref(ref: str) -> bool:
    """Whether `ref` is a name a case may have as its external reference."""
    try:
        check.name("case_ref", ref, required=True)
    except InvalidInput:
        return False
    return True
