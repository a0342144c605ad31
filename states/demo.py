"""Demo data: a few hundred realistic cases over every state, level and age.

Generated through the engine (so every demo case has a verifiable history),
from a fixed seed, with times in the past: the same seed gives the same
cases, events and ages relative to `now`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from states.commands import Act, Command, OpenCase
from states.engine import Engine
from states.errors import CommandError
from states.store import CASE, EVENT, read_connection
from states.sweep import sweep

_SUBJECTS = [
    ("Refund for damaged delivery", "The parcel arrived broken, I want my money back."),
    ("Double charge on my card", "You charged me twice for the same order."),
    ("Subscription not cancelled", "I cancelled last month and was billed again."),
    ("Late delivery", "My order is two weeks late and nobody answers."),
    ("Wrong item received", "I received a different model than the one I ordered."),
    ("Warranty repair refused", "The repair shop refuses the warranty."),
    ("Unfair late fee", "This fee is unfair, I will complain to the ombudsman."),
    ("Service outage compensation", "Three days without service, I expect compensation."),
    ("Rude agent on the phone", "The agent hung up on me."),
    ("Data deletion request", "Please delete all my personal data."),
    ("Legal threat over invoice", "If this is not fixed I will take you to court."),
    ("Account locked", "I cannot log in since the last update."),
]
_AGENTS = ["ana", "ben", "chloe", "dario", "emma", "farid", "greta", "hugo"]
_SPECIALISTS = {"L2": "l2-team", "manager": "maria.manager", "board": "board-secretary"}
_SWEEP_EVERY = timedelta(hours=6)
_TARGETS = (
    ["open"] * 8
    + ["first_level"] * 20
    + ["waiting"] * 6
    + ["L2"] * 12
    + ["manager"] * 7
    + ["board"] * 3
    + ["resolved"] * 18
    + ["followed_up"] * 22
    + ["reopened"] * 4
)


def generate_demo(
    engine: Engine,
    cases: int,
    seed: int,
    now: datetime,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Open `cases` cases and walk each to a target state; returns counts by state.

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
    customers = [f"CUST-{n:05d}" for n in range(1, max(cases // 2, 2))]
    plans = []
    for _ in range(cases):
        opened_at = now - timedelta(days=rng.uniform(0, 120), hours=rng.uniform(0, 8))
        subject, words = rng.choice(_SUBJECTS)
        amount = rng.choice(
            [
                None,
                None,
                Decimal(rng.randrange(20, 180)),
                Decimal(rng.randrange(200, 950)),
                Decimal(rng.randrange(1000, 4800)),
            ]
        )
        opened = OpenCase(
            customer_id=rng.choice(customers),
            subject=subject,
            description=words,
            priority=rng.choice(["low", "normal", "normal", "normal", "high", "urgent"]),
            channel=rng.choice(["email", "phone", "chat", "web"]),
            customer_tier=rng.choice(["standard", "standard", "premium", "vip"]),
            amount_claimed=amount,
            external_ref=f"DEMO-{seed}-{len(plans) + 1:05d}",
        )
        plans.append((opened, opened_at, rng.choice(_TARGETS)))
    return _play(engine, rng, plans, now, on_progress)


def _play(
    engine: Engine,
    rng: random.Random,
    plans: list[tuple[OpenCase, datetime, str]],
    now: datetime,
    on_progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    """Apply every case's commands in time order, sweeping timers every six hours between.

    Timers fire as they would have (warnings, missed acknowledgements moving a
    case up), so a planned step can find its case moved on: like an agent
    would, the demo then skips it.
    """
    timeline: list[tuple[datetime, int, int, Command]] = []
    for index, (opened, at, target) in enumerate(plans):
        timeline.append((at, 0, index, opened))
        walk = _walk(engine, rng, 0, opened, at, target, now)
        timeline.extend((when, step, index, act) for step, (act, when) in enumerate(walk, 1))
    timeline.sort(key=lambda item: (item[0], item[2], item[1]))
    case_ids: dict[int, int] = {}
    skipped = 0
    next_sweep = timeline[0][0] + _SWEEP_EVERY if timeline else now
    for at, _, index, command in timeline:
        while next_sweep <= at:
            sweep(engine, next_sweep, worker="demo")
            next_sweep += _SWEEP_EVERY
        if isinstance(command, OpenCase):
            case_ids[index] = engine.apply(command, at).case_id
            if on_progress:
                on_progress(1)
            continue
        if _overtaken(engine, case_ids[index], command):
            skipped += 1
            continue
        try:
            engine.apply(replace(command, case_id=case_ids[index]), at)
        except CommandError:
            skipped += 1
    sweep(engine, now, worker="demo")
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
        "cases": len(plans),
        "events": events,
        "by_state": dict(rows),
        "skipped_steps": skipped,
        "already_loaded": 0,
    }


_LEVEL_OF = {person: level for level, person in _SPECIALISTS.items()}


def _overtaken(engine: Engine, case_id: int, command: Command) -> bool:
    """Whether a timer moved the case up past the level that planned this step: that
    level's acknowledgement or escalation no longer applies, as an agent would see."""
    if not isinstance(command, Act) or command.trigger not in ("acknowledge", "escalate"):
        return False
    planned = _LEVEL_OF.get(command.actor) if command.trigger == "escalate" else None
    if command.trigger == "acknowledge":
        planned = _LEVEL_OF.get(command.assignee or "")
    elif command.actor not in _LEVEL_OF:
        return False  # the first escalation, by the first-level agent: the case is not up yet
    with read_connection(engine.db) as conn:
        level = conn.execute(select(CASE.c.level).where(CASE.c.id == case_id)).scalar_one()
    return level != planned


def _walk(
    engine: Engine,
    rng: random.Random,
    case_id: int,
    opened: OpenCase,
    at: datetime,
    target: str,
    now: datetime,
) -> list[tuple[Act, datetime]]:
    """The commands that bring one case from open to `target`, spaced in time before `now`."""
    definition = engine.definition
    budget = max((now - at).total_seconds(), 60.0)
    steps: list[tuple[Act, datetime]] = []
    clock = [at]

    def act(trigger: str, actor: str, **fields: Any) -> None:
        clock[0] = min(
            clock[0] + timedelta(seconds=rng.uniform(0.02, 0.12) * budget),
            now - timedelta(seconds=len(steps) + 1),
        )
        steps.append((Act(case_id=case_id, trigger=trigger, actor=actor, **fields), clock[0]))

    if target == "open":
        return steps
    agent = rng.choice(_AGENTS)
    act("assign", agent, assignee=agent)
    if target == "first_level":
        return steps
    if target == "waiting":
        act("wait_on_customer", agent, note="asked the customer for a receipt")
        return steps
    needed = definition.lowest_level_covering(opened.amount_claimed or Decimal(0))
    levels = list(definition.level_names)
    top = {"L2": 0, "manager": 1, "board": 2}.get(target, -1)
    if needed not in (None, "first_level"):
        top = max(top, levels.index(needed))
    for rank in range(top + 1):
        level = levels[rank]
        act(
            "escalate",
            agent if rank == 0 else _SPECIALISTS[levels[rank - 1]],
            reason=rng.choice(
                [
                    "refund above authority",
                    "customer asked for a manager",
                    "technical investigation needed",
                    "complaint about handling",
                ]
            ),
            notice=f"Your case is now handled by our {definition.level(level).title}, who can "
            "decide on it directly.",
        )
        if rng.random() < 0.8:
            act("acknowledge", _SPECIALISTS[level], assignee=_SPECIALISTS[level])
    if target in ("L2", "manager", "board"):
        return steps
    resolver = _SPECIALISTS[levels[top]] if top >= 0 else agent
    act("resolve", resolver, note="Refund issued and apology sent.")
    if target == "resolved":
        return steps
    if target == "reopened":
        act("reopen", resolver, note="Customer says the problem is back.")
        return steps
    act(
        "follow_up",
        agent,
        satisfaction=rng.choice([2, 3, 4, 4, 5, 5]),
        comment=rng.choice(["Thanks, all good now.", "Took too long.", "Fine."]),
    )
    return steps
