"""Escalation points: pre-established conditions that call for escalation.

The policy file configures each point (``[points.NAME]``, read by
:mod:`states.points_config`); this module holds those definitions, evaluates them
against a case and renders the customer notice an automatic escalation sends.
Everything is pure: callers pass what needs I/O (the customer's recent case count)
and the clock.

Matches come strongest first: ``legal_risk``, ``priority``,
``repeat_customer``, ``authority``. The engine acts on the first
``escalate`` and records every ``flag`` and ``route``. ``breach`` is fired by
timers through :func:`breach_match`, never by :func:`evaluate_points`.

Evaluation keeps repeated runs (on every update) from undoing decisions: an
``escalate`` that cannot move the case up (it is already at or above the
target, or at the top of the ladder) is reported as a ``flag`` so the
evidence is still recorded; ``priority`` only sends a case that was never
escalated (a case handed back stays handed back); ``route`` does not fire
when the case already sits in that team. A case in a state the process does
not escalate from (resolved, followed up) is flagged, not escalated: a
customer's "my lawyer will call" after the resolution is recorded on the case
as a flag with its evidence, and an agent decides whether to reopen it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from states.case import CaseSnapshot
from states.durations import format_duration
from states.errors import InvalidInput
from states.money import format_money, from_minor
from states.process import FIRST_LEVEL, ProcessDefinition

if TYPE_CHECKING:
    from states.policy import Policy

POINTS = ("legal_risk", "priority", "repeat_customer", "authority", "breach")
"""Point names, strongest first: the order of :func:`evaluate_points`' result."""
POINT_ACTIONS = ("escalate", "flag", "route")
NOTICE_PLACEHOLDERS = ("level_title", "level", "reason")


@dataclass(frozen=True, kw_only=True)
class Point:
    """One configured point. For ``escalate``, `to_level` None means one level up."""

    name: str
    enabled: bool
    action: str
    reason: str  # customer-facing, the {reason} of notices
    to_level: str | None = None
    route_to_team: str | None = None

    @property
    def source_key(self) -> str:
        return f"points.{self.name}"

    def level_for(self, priority: str) -> str | None:
        """Where an escalation citing this point goes (None: one level up)."""
        return self.to_level


@dataclass(frozen=True, kw_only=True)
class LegalRiskPoint(Point):
    phrases: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RepeatCustomerPoint(Point):
    min_cases: int = 3  # cases of the customer within `within`, this one included
    within: timedelta = timedelta(days=90)  # calendar time


@dataclass(frozen=True, kw_only=True)
class PriorityPoint(Point):
    levels: Mapping[str, str] = field(default_factory=dict)  # priority -> level it goes to

    def level_for(self, priority: str) -> str | None:
        return self.levels.get(priority)


@dataclass(frozen=True)
class PointSet:
    legal_risk: LegalRiskPoint
    priority: PriorityPoint
    repeat_customer: RepeatCustomerPoint
    authority: Point
    breach: Point

    def __getitem__(self, name: str) -> Point:
        if name not in POINTS:
            raise InvalidInput("point", name, "one of " + ", ".join(POINTS))
        return getattr(self, name)

    def __iter__(self) -> Iterator[Point]:
        return (getattr(self, name) for name in POINTS)


@dataclass(frozen=True)
class PointMatch:
    """A point that fired, with the evidence an auditor reads."""

    point: str  # legal_risk | priority | repeat_customer | authority | breach
    action: str  # escalate | flag | route
    evidence: str  # 'phrase "court" in description', 'EUR 800.00 > EUR 200.00 (first_level)'
    to_level: str | None  # escalate: the target level (None: one level up)
    route_to_team: str | None = None
    phrases: tuple[str, ...] = ()  # legal_risk: the phrases that matched


# -- matching phrases ----------------------------------------------------------


_Patterns = tuple[tuple[str, re.Pattern[str]], ...]


@lru_cache(maxsize=64)
def _patterns(phrases: tuple[str, ...]) -> tuple[re.Pattern[str] | None, _Patterns]:
    """One compiled pattern per phrase: whole words, any case, any whitespace between;
    and their union (None: no phrase), which matches where any of them does. Most texts
    hold no phrase: one scan with the union tells, instead of one per phrase. The union
    tests the word boundaries once around all the phrases (a branch that fails its end
    falls back to the next), not around each: a text position after a letter is then
    refused at once instead of once per phrase (about a fifth of the instructions)."""
    each = tuple(
        (phrase, re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE))
        for phrase in phrases
        if (words := _words(phrase))
    )
    union = "|".join(_words(phrase) for phrase, _ in each)
    return (re.compile(rf"(?<!\w)(?:{union})(?!\w)", re.IGNORECASE) if each else None), each


def _words(phrase: str) -> str:
    """The pattern of `phrase`'s words, any run of whitespace between them."""
    return r"\s+".join(re.escape(word) for word in phrase.split())


def match_phrases(phrases: Sequence[str], text: str) -> list[str]:
    """The phrases that occur in `text` as whole words, in the order of `phrases`.

    Case-insensitive; a phrase of several words matches across any run of
    whitespace. "court" matches "take you to court." but not "courtesy".
    """
    union, each = _patterns(tuple(phrases))
    if union is None or not union.search(text):
        return []
    return [phrase for phrase, pattern in each if pattern.search(text)]


# -- evaluating ----------------------------------------------------------------


def evaluate_points(
    policy: Policy,
    process: ProcessDefinition,
    *,
    case: CaseSnapshot,
    texts: Mapping[str, str] | Sequence[str],
    recent_case_count: int | None,
    now: datetime,
) -> list[PointMatch]:
    """Every enabled point that fires for `case`, strongest first.

    `texts` are the customer's words to scan for legal risk: a mapping of
    label to text (``{"description": ...}``, named in the evidence) or a
    sequence (labelled "text 1", "text 2"...). `recent_case_count` is the
    number of the customer's cases opened within the repeat-customer window
    up to `now`, this one included (None: not counted, the point is skipped).
    No point depends on `now` yet; it is taken so that callers never need to
    change when one does.
    """
    points = policy.points
    found = (
        _legal_risk(points.legal_risk, _labelled(texts)),
        _priority(points.priority, case),
        _repeat_customer(points.repeat_customer, case, recent_case_count),
        _authority(points.authority, process, case),
    )
    return [_settle(match, process, case) for match in found if match is not None]


def holding_points(
    policy: Policy, process: ProcessDefinition, *, case: CaseSnapshot, cited: str, now: datetime
) -> dict[str, str | None]:
    """The points an escalation of `case` may cite, when it cites `cited`: each with the
    evidence its condition gives now, or None when it holds because it fired earlier.

    A cited point is a claim that it held, and moves the case where the point sends it,
    so only these may be cited (:func:`states.guards.has_escalation_reason`): the points
    the case was flagged for (they fired at intake, on an update, on a breach), and
    those whose condition holds now, judged by :func:`evaluate_points` on the case and
    its subject and description. The customer's recent cases are not counted here (that
    needs the database): ``repeat_customer`` holds where it marked the case. When
    `cited` is among the flags, the rest is not evaluated: the escalation goes ahead.
    """
    held: dict[str, str | None] = dict.fromkeys(flag for flag in case.flags if flag in POINTS)
    if cited in held:
        return held
    texts = {"subject": case.subject, "description": case.description}
    for match in evaluate_points(
        policy, process, case=case, texts=texts, recent_case_count=None, now=now
    ):
        held.setdefault(match.point, match.evidence)
    return held


def breach_match(
    policy: Policy,
    process: ProcessDefinition,
    *,
    case: CaseSnapshot,
    clock: str,
    due_at: datetime | None = None,
) -> PointMatch | None:
    """The ``breach`` point for a missed `clock`, when the policy escalates on it."""
    if not policy.points.breach.enabled:
        return None
    plan = policy.breach_plan(clock, level=case.level, process=process)
    if plan.action != "escalate":
        return None
    when = f" (due {due_at:%Y-%m-%d %H:%M %Z})" if due_at is not None else ""
    evidence = f"{clock} target missed at {plan.level}{when}; {plan.source_key} = escalate"
    return PointMatch("breach", "escalate", evidence, plan.to_level)


def _labelled(texts: Mapping[str, str] | Sequence[str]) -> list[tuple[str, str]]:
    if isinstance(texts, str):
        return [("text", texts)]
    if isinstance(texts, Mapping):
        return list(texts.items())
    return [(f"text {number}", text) for number, text in enumerate(texts, 1)]


def _fired(point: Point, evidence: str, to_level: str | None, **extra: Any) -> PointMatch:
    return PointMatch(
        point.name,
        point.action,
        evidence,
        to_level,
        point.route_to_team if point.action == "route" else None,
        **extra,
    )


def _legal_risk(point: LegalRiskPoint, texts: list[tuple[str, str]]) -> PointMatch | None:
    if not point.enabled:
        return None
    matched: dict[str, None] = {}
    where = []
    for label, text in texts:
        phrases = match_phrases(point.phrases, text or "")
        if phrases:
            matched.update(dict.fromkeys(phrases))
            where.append(label)
    if not matched:
        return None
    quoted = ", ".join(f'"{phrase}"' for phrase in matched)
    noun = "phrase" if len(matched) == 1 else "phrases"
    evidence = f"{noun} {quoted} in {', '.join(where)}"
    return _fired(point, evidence, point.to_level, phrases=tuple(matched))


def _priority(point: PriorityPoint, case: CaseSnapshot) -> PointMatch | None:
    level = point.levels.get(case.priority)
    if not point.enabled or level is None or case.escalation_count:
        return None
    return _fired(point, f'priority "{case.priority}" goes straight to {level}', level)


def _repeat_customer(
    point: RepeatCustomerPoint, case: CaseSnapshot, count: int | None
) -> PointMatch | None:
    if not point.enabled or count is None or count < point.min_cases:
        return None
    if point.action == "route" and case.team == point.route_to_team:
        return None
    window = point.within
    span = (
        f"{window.days} days" if window == timedelta(days=window.days) else format_duration(window)
    )
    return _fired(point, f"{count} cases in {span}", point.to_level)


def _authority(point: Point, process: ProcessDefinition, case: CaseSnapshot) -> PointMatch | None:
    amount = from_minor(case.amount_claimed_minor)
    limit = process.authority_of(case.level)
    if not point.enabled or amount is None or amount <= limit:
        return None
    covering = process.lowest_level_covering(amount) or process.ladder[-1].name
    evidence = (
        f"{format_money(amount, case.currency)} > {format_money(limit, case.currency)} "
        f"({case.level or FIRST_LEVEL})"
    )
    return _fired(point, evidence, point.to_level or covering)


def _settle(match: PointMatch, process: ProcessDefinition, case: CaseSnapshot) -> PointMatch:
    """An escalate that cannot move the case up becomes a flag (see the module doc)."""
    if match.action != "escalate":
        return match
    if not process.allows("escalate", case.state):  # resolved: the words are recorded
        return replace(match, action="flag")
    current = -1 if case.level is None else process.level(case.level).rank
    target = current + 1 if match.to_level is None else process.level(match.to_level).rank
    if current < target < len(process.ladder):
        return match
    return replace(match, action="flag")


# -- customer notices ----------------------------------------------------------


class _SafeValues(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def notice_for(
    policy: Policy, process: ProcessDefinition, match: PointMatch, level: str | None
) -> str:
    """The notice telling the customer who takes over (`level`) and why.

    Uses ``[notices].<point>`` or ``[notices].default``; the placeholders are
    checked when the policy loads, and rendering never evaluates anything.
    """
    template = policy.notices.get(match.point, policy.notices["default"])
    if level is None or level == FIRST_LEVEL:
        name, title = FIRST_LEVEL, "customer service team"
    else:
        name, title = level, process.level(level).title
    values = {"level_title": title, "level": name, "reason": policy.points[match.point].reason}
    return template.format_map(_SafeValues(values))
