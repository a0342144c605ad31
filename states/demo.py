"""Demo data: a few hundred cases of a desk that works, over every state, level and age.

Generated through the engine (so every demo case has a verifiable history), from a
fixed seed, with times in the past: the same seed gives the same cases, events and
ages relative to `now`.

The shares are a real service desk's (:mod:`states.demo_shares`, from the BPI
Challenge 2013 log): most cases are resolved at first level, a third reach the
specialists, a few the manager and a handful the board. Cases arrive evenly over the
last :data:`~states.demo_shares.WINDOW`; each is resolved after a time drawn from the
log for the level it reaches, so the cases still open at `now` are the recent ones and
the long-running few. Escalations are acknowledged as the log's were (most within an
hour, some the next day, one in twenty never): the policy's timers fire on the late
ones, so some cases breach and move up, not most.

Assumed, since the log does not say: channels (email 40 %, phone 30 %, web 20 %,
chat 10 %), customer tiers (standard 70 %, premium 20 %, VIP 10 %), amounts claimed
(drawn within the authority of the level the case is planned to reach, or none), and
a follow-up call between two hours and two days after the resolution.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from states.commands import Act, Command, OpenCase
from states.demo_shares import BPIC_2013, WINDOW, quantile_draw, share
from states.engine import Engine
from states.errors import CommandError
from states.store import CASE, EVENT, read_connection
from states.sweep import sweep
from states.timers import TIMER

_PLAIN_SUBJECTS = [
    ("Refund for damaged delivery", "The parcel arrived broken, I want my money back."),
    ("Double charge on my card", "You charged me twice for the same order."),
    ("Subscription not cancelled", "I cancelled last month and was billed again."),
    ("Late delivery", "My order is two weeks late and nobody answers."),
    ("Wrong item received", "I received a different model than the one I ordered."),
    ("Warranty repair refused", "The repair shop refuses the warranty."),
    ("Service outage compensation", "Three days without service, I expect compensation."),
    ("Rude agent on the phone", "The agent hung up on me."),
    ("Data deletion request", "Please delete all my personal data."),
    ("Account locked", "I cannot log in since the last update."),
]
# These name a legal risk: the legal_risk point sends them to the manager at intake,
# so only cases planned to reach the manager use them.
_LEGAL_SUBJECTS = [
    ("Unfair late fee", "This fee is unfair, I will complain to the ombudsman."),
    ("Legal threat over invoice", "If this is not fixed I will take you to court."),
]
_AGENTS = ["ana", "ben", "chloe", "dario", "emma", "farid", "greta", "hugo"]
_SPECIALISTS = {"L2": "l2-team", "manager": "maria.manager", "board": "board-secretary"}
_LEVEL_OF = {person: level for level, person in _SPECIALISTS.items()}
_SWEEP_EVERY = timedelta(hours=6)
_CHANNELS = {"email": 4, "phone": 3, "web": 2, "chat": 1}
_TIERS = {"standard": 7, "premium": 2, "vip": 1}
# amounts claimed by the level a case is planned to reach: none, or within its authority
_AMOUNTS = {"first_level": (20, 200), "L2": (200, 1000), "manager": (1000, 5000)}
_AMOUNTS["board"] = (5000, 20000)
_REASONS = [
    "refund above authority",
    "customer asked for a manager",
    "technical investigation needed",
    "complaint about handling",
]


@dataclass(slots=True)
class _Plan:
    opened: OpenCase
    at: datetime
    steps: list[tuple[datetime, Act]] = field(default_factory=list)


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def generate_demo(
    engine: Engine,
    cases: int,
    seed: int,
    now: datetime,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Open `cases` cases over the last weeks and play each one's life up to `now`;
    returns counts by state.

    Demo cases carry ``external_ref`` ``DEMO-<seed>-<n>``; when the database
    already holds demo cases nothing is added (``already_loaded`` in the result).
    """
    with read_connection(engine.db) as conn:
        existing = conn.execute(
            select(func.count()).select_from(CASE).where(CASE.c.external_ref.like("DEMO-%"))
        ).scalar_one()
    if existing:
        return {"cases": 0, "events": 0, "by_state": {}, "already_loaded": existing}
    rng = random.Random(seed)
    customers = [f"CUST-{n:05d}" for n in range(1, max(cases, 2))]
    plans = [
        _plan(engine, rng, rng.choice(customers), f"DEMO-{seed}-{n:05d}", now)
        for n in range(1, cases + 1)
    ]
    return _play(engine, rng, plans, now, on_progress)


def _plan(engine: Engine, rng: random.Random, customer: str, ref: str, now: datetime) -> _Plan:
    """One case: its attributes, the level it is to reach, and its steps up to `now`."""
    top = _weighted(rng, BPIC_2013["top_level"])
    priority = _weighted(rng, BPIC_2013["priority"])
    if priority == "urgent" and top == "first_level":
        priority = "high"  # the priority point sends urgent cases to L2 at intake
    subjects = _PLAIN_SUBJECTS + (_LEGAL_SUBJECTS if top in ("manager", "board") else [])
    subject, words = rng.choice(subjects)
    low, high = _AMOUNTS[top]
    amount = rng.choice([None, Decimal(rng.randrange(low, high))])
    opened = OpenCase(
        customer_id=customer,
        subject=subject,
        description=words,
        priority=priority,
        channel=_weighted(rng, _CHANNELS),
        customer_tier=_weighted(rng, _TIERS),
        amount_claimed=amount,
        external_ref=ref,
    )
    plan = _Plan(opened, now - rng.uniform(0, 1) * WINDOW)
    _walk(engine, rng, plan, top)
    plan.steps = [(when, act) for when, act in plan.steps if when <= now]
    return plan


def _days(rng: random.Random, top: str, above: float = 0.0) -> timedelta:
    """A resolution time drawn from the log's for cases reaching `top` (at least minutes),
    from the part of the distribution above probability `above`."""
    quantiles = BPIC_2013["days"]["manager" if top == "board" else top]
    days = quantile_draw(quantiles, (above + (1 - above) * rng.random()) * 0.99)
    return timedelta(days=days) + timedelta(minutes=rng.uniform(3, 30))


def _walk(engine: Engine, rng: random.Random, plan: _Plan, top: str) -> None:
    """The commands that take one case from open to resolved and followed up, at times
    drawn from the log; acknowledgements are not planned here (see `_play`)."""
    levels = list(engine.definition.level_names)
    climb = levels[: levels.index(top) + 1] if top != "first_level" else []
    agent = rng.choice(_AGENTS)
    # a quarter of the log's cases were solved in the first call: its quickest ones
    first_contact = share("first_contact") / share("top_level", "first_level")
    if not climb and rng.random() < first_contact:
        plan.steps.append(
            (
                plan.at + timedelta(minutes=rng.uniform(3, 30)),
                Act(case_id=0, trigger="resolve", actor=agent, note="Solved during the call."),
            )
        )
        _follow_up(rng, plan, agent)
        return
    took = _days(rng, top, first_contact if not climb else 0.0)

    def act(after: timedelta, trigger: str, actor: str, **fields: Any) -> None:
        act_ = Act(case_id=0, trigger=trigger, actor=actor, **fields)
        plan.steps.append((plan.at + after, act_))

    act(min(took * 0.05, timedelta(minutes=rng.uniform(2, 90))), "assign", agent, assignee=agent)
    if rng.random() < share("waited"):
        act(took * rng.uniform(0.1, 0.3), "wait_on_customer", agent, note="asked for a receipt")
        act(took * rng.uniform(0.3, 0.5), "customer_replied", agent, note="receipt received")
    holder = agent
    for rank, level in enumerate(climb):
        act(
            took * (0.5 + 0.4 * rank / len(climb) + rng.uniform(0.0, 0.05)),
            "escalate",
            holder,
            reason=rng.choice(_REASONS),
            notice=f"Your case is now handled by our {engine.definition.level(level).title}, "
            "who can decide on it directly.",
        )
        holder = _SPECIALISTS[level]
    act(took, "resolve", holder, note="Refund issued and apology sent.")
    if rng.random() < share("reopened"):
        took += timedelta(days=rng.uniform(1, 10))
        act(took, "reopen", agent, note="The customer says the problem is back.")
        took += _days(rng, "first_level")
        act(took, "resolve", agent, note="Fixed for good this time.")
    _follow_up(rng, plan, agent)


def _follow_up(rng: random.Random, plan: _Plan, agent: str) -> None:
    """The follow-up call after the last resolution, for the share of cases the log
    closed (the log's own closing comes a week later by itself: not a call)."""
    if rng.random() >= share("followed_up") / (1 - share("first_contact")):
        return
    follow = Act(
        case_id=0,
        trigger="follow_up",
        actor=agent,
        satisfaction=rng.choice([2, 3, 4, 4, 5, 5]),
        comment=rng.choice(["Thanks, all good now.", "Took too long.", "Fine."]),
    )
    plan.steps.append((plan.steps[-1][0] + timedelta(hours=rng.uniform(2, 48)), follow))


def _play(
    engine: Engine,
    rng: random.Random,
    plans: list[_Plan],
    now: datetime,
    on_progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    """Apply every case's commands in time order, sweeping timers every six hours between.

    Timers fire as they would have (warnings, missed acknowledgements moving a case
    up), and whoever holds an escalated case acknowledges it after a delay drawn from
    the log, wherever it came from (a hand, an intake point or a breach). A planned
    step that finds its case moved on is skipped, as an agent would.
    """
    queue: list[tuple[datetime, int, int, Command]] = []
    order = iter(range(1 << 62))
    for index, plan in enumerate(plans):
        queue.append((plan.at, next(order), index, plan.opened))
        queue.extend((when, next(order), index, act) for when, act in plan.steps)
    heapq.heapify(queue)
    case_ids: dict[int, int] = {}
    index_of: dict[int, int] = {}
    acked: set[tuple[int, str]] = set()
    skipped = 0

    def acknowledge(at: datetime, case_id: int, level: str) -> None:
        """Plan the acknowledgement of an escalation, by its level, as the log's were."""
        if (case_id, level) in acked:
            return
        acked.add((case_id, level))
        if rng.random() >= share("acknowledged"):
            return  # one escalation in twenty is never acknowledged: its timer fires
        hours = quantile_draw(BPIC_2013["ack_hours"], rng.random() * 0.99)
        when = at + timedelta(hours=hours, minutes=rng.uniform(1, 10))
        # the log's teams accepted a case before working it: not after its next step
        later = [step for step, _ in plans[index_of[case_id]].steps if step > at]
        if later and when >= min(later):
            when = at + (min(later) - at) * rng.uniform(0.2, 0.9)
        if when <= now:
            person = _SPECIALISTS[level]
            act = Act(case_id=case_id, trigger="acknowledge", actor=person, assignee=person)
            heapq.heappush(queue, (when, next(order), index_of[case_id], act))

    next_sweep = queue[0][0] + _SWEEP_EVERY if queue else now
    while queue:
        if next_sweep <= queue[0][0]:
            due = _earliest_due(engine)
            if due is None or due > next_sweep:  # nothing to fire: skip the empty sweeps
                target = max(min(due or queue[0][0], queue[0][0]), next_sweep + _SWEEP_EVERY)
                next_sweep += _SWEEP_EVERY * math.ceil((target - next_sweep) / _SWEEP_EVERY)
                continue
            if sweep(engine, next_sweep, worker="demo").events:
                for case_id, level in _unacknowledged(engine):
                    acknowledge(next_sweep, case_id, level)
            next_sweep += _SWEEP_EVERY
            continue
        at, _, index, command = heapq.heappop(queue)
        if isinstance(command, OpenCase):
            result = engine.apply(command, at)
            case_ids[index], index_of[result.case_id] = result.case_id, index
            if on_progress:
                on_progress(1)
        elif _overtaken(engine, case_ids[index], command):
            skipped += 1
            continue
        else:
            try:
                result = engine.apply(replace(command, case_id=case_ids[index]), at)
            except CommandError:
                skipped += 1
                continue
        if result.state == "escalated" and result.level is not None:
            acknowledge(at, result.case_id, result.level)
    sweep(engine, now, worker="demo")
    return _summary(engine, len(plans), skipped)


def _earliest_due(engine: Engine) -> datetime | None:
    with read_connection(engine.db) as conn:
        return conn.execute(
            select(func.min(TIMER.c.due_at)).where(TIMER.c.status == "pending")
        ).scalar_one()


def _unacknowledged(engine: Engine) -> list[tuple[int, str]]:
    """Demo cases escalated and not yet acknowledged (a sweep may have moved some up)."""
    with read_connection(engine.db) as conn:
        rows = conn.execute(
            select(CASE.c.id, CASE.c.level).where(
                CASE.c.state == "escalated",
                CASE.c.acknowledged.is_(False),
                CASE.c.external_ref.like("DEMO-%"),
            )
        ).all()
    return [(case_id, level) for case_id, level in rows]


def _summary(engine: Engine, cases: int, skipped: int) -> dict[str, Any]:
    with read_connection(engine.db) as conn:
        rows = conn.execute(
            select(CASE.c.state, func.count())
            .where(CASE.c.external_ref.like("DEMO-%"))
            .group_by(CASE.c.state)
        ).all()
        events = conn.execute(
            select(func.count())
            .select_from(EVENT)
            .join(CASE, CASE.c.id == EVENT.c.case_id)
            .where(CASE.c.external_ref.like("DEMO-%"))
        ).scalar_one()
    return {
        "cases": cases,
        "events": events,
        "by_state": dict(rows),
        "skipped_steps": skipped,
        "already_loaded": 0,
    }


def _overtaken(engine: Engine, case_id: int, command: Command) -> bool:
    """Whether the case moved on past the level that planned this step: that level's
    acknowledgement or escalation no longer applies, as an agent would see; a first-level
    agent does not escalate a case an intake point or a timer already escalated."""
    if not isinstance(command, Act) or command.trigger not in ("acknowledge", "escalate"):
        return False
    with read_connection(engine.db) as conn:
        state, level = conn.execute(
            select(CASE.c.state, CASE.c.level).where(CASE.c.id == case_id)
        ).one()
    if command.trigger == "acknowledge":
        return level != _LEVEL_OF.get(command.assignee or "")
    if command.actor not in _LEVEL_OF:
        return state == "escalated"
    return level != _LEVEL_OF[command.actor]
