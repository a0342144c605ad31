"""What happens to each case of the load fixture: the commands a desk of a million cases
would have sent, at the times a real desk's shares give (:mod:`states.demo_shares`,
from the BPI Challenge 2013 log).

A :class:`CasePlan` is the intake and the planned commands of one case, as
:mod:`states.demo` plans them (highest level reached, priority, resolution time per
level, waits on the customer, reopens, first-contact resolutions, follow-ups), with
what a desk this size has and the demo does not: eight teams of unequal size, 400
agents, specialists per level, six channels. Acknowledgements and what the timers do
are not planned here: :mod:`benchmarks.fixture_play` decides them as the case is
played, as the demo does.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import accumulate
from typing import Any

from states.commands import Act, OpenCase, Update
from states.demo_shares import BPIC_2013, quantile_draw, share

TEAMS = {"billing": 30, "delivery": 22, "returns": 15, "accounts": 12, "technical": 9}
TEAMS |= {"warranty": 6, "senior": 4, "vip": 2}
CHANNELS = {"email": 38, "phone": 28, "web": 18, "chat": 10, "social": 4, "letter": 2}
TIERS = {"standard": 7, "premium": 2, "vip": 1}
SUBJECTS = [
    ("Refund for damaged delivery", "The parcel arrived broken, I want my money back."),
    ("Double charge on my card", "You charged me twice for the same order."),
    ("Late delivery", "My order is two weeks late and nobody answers."),
    ("Wrong item received", "I received a different model than the one I ordered."),
    ("Warranty repair refused", "The repair shop refuses the warranty."),
    ("Account locked", "I cannot log in since the last update."),
]
MESSAGES = [
    "Any news on my case?",
    "I sent the receipt by mail yesterday.",
    "Please call me back in the afternoon.",
    "Here is the order number you asked for.",
    "The photos of the damage are attached.",
]
REASONS = [
    "refund above authority",
    "customer asked for a manager",
    "technical investigation needed",
    "complaint about handling",
]
LADDER = ("L2", "manager", "board")
PEOPLE = {"L2": 40, "manager": 8, "board": 1}
AGENTS = [f"agent-{n:04d}" for n in range(1, 401)]
# amounts claimed (EUR), by the level a case is planned to reach: within its authority,
# as the demo draws them, so that the planned resolver may resolve
AMOUNTS = {"first_level": (20, 200), "L2": (200, 1000), "manager": (1000, 5000)}
AMOUNTS["board"] = (5000, 20000)


@dataclass(slots=True)
class Step:
    """A planned command; `planner` is the level whose holder planned it (None: the
    first-level agent), so a step the case has moved past is dropped."""

    at: datetime
    act: Act | Update
    planner: str | None = None


@dataclass(slots=True)
class CasePlan:
    opened_at: datetime
    intake: OpenCase
    steps: list[Step] = field(default_factory=list)


@lru_cache(maxsize=8192)
def act(trigger: str, actor: str, **fields: Any) -> Act:
    """A command without its case: commands are values, and the few thousand a desk
    sends are built (and validated) once, not once per case."""
    return Act(case_id=0, trigger=trigger, actor=actor, **fields)


@lru_cache(maxsize=64)
def message(text: str) -> Update:
    """A customer's message recorded on the case (case 1: commands are values here)."""
    return Update(case_id=1, actor="intake", message=text)


def person(level: str, rng: random.Random) -> str:
    return f"{level}-{rng.randrange(PEOPLE[level]) + 1:02d}"


class Desk:
    """Draws case plans from one random stream (`rng`)."""

    def __init__(self, rng: random.Random, messages: float = 4.0) -> None:
        self.rng = rng
        self.messages = messages  # mean customer messages per worked case (tuned by the caller)
        self.waited = share("waited") / (1 - share("first_contact"))
        self.first_contact = share("first_contact") / share("top_level", "first_level")
        self._tables: dict[int, tuple[list[str], list[int]]] = {}

    def pick(self, weights: dict[str, int]) -> str:
        """A weighted draw (cumulative weights computed once per table)."""
        table = self._tables.get(id(weights))
        if table is None:
            table = self._tables[id(weights)] = (list(weights), list(accumulate(weights.values())))
        names, cumulative = table
        return names[bisect(cumulative, self.rng.random() * cumulative[-1])]

    def plan(self, customer: str, opened: datetime) -> CasePlan:
        """One case: its intake and its commands in time order (uncut: some lie after now)."""
        rng = self.rng
        top = self.pick(BPIC_2013["top_level"])
        priority = self.pick(BPIC_2013["priority"])
        if priority == "urgent" and top == "first_level":
            priority = "high"  # the priority point sends urgent cases to L2 at intake
        subject, words = rng.choice(SUBJECTS)
        low, high = AMOUNTS[top]
        amount = Decimal(rng.randrange(low, high)) if rng.random() < 0.5 else None
        intake = OpenCase(
            customer_id=customer,
            subject=subject,
            description=words,
            priority=priority,
            channel=self.pick(CHANNELS),
            customer_tier=self.pick(TIERS),
            amount_claimed=amount,
            team=self.pick(TEAMS),
        )
        plan = CasePlan(opened, intake)
        self._walk(plan, top)
        plan.steps.sort(key=lambda step: step.at)
        return plan

    def _walk(self, plan: CasePlan, top: str) -> None:
        rng = self.rng
        climb = list(LADDER[: LADDER.index(top) + 1]) if top != "first_level" else []
        agent = rng.choice(AGENTS)
        steps = plan.steps

        def add(after: timedelta, command: Act, planner: str | None = None) -> None:
            steps.append(Step(plan.opened_at + after, command, planner))

        if not climb and rng.random() < self.first_contact:
            took = timedelta(minutes=rng.uniform(3, 30))
            add(took, act("resolve", agent, note="Solved during the call."))
            self._follow_up(plan, took, agent)
            return
        took = self._days(top, self.first_contact if not climb else 0.0)
        add(
            min(took * 0.05, timedelta(minutes=rng.uniform(2, 90))),
            act("assign", agent, assignee=agent),
        )
        if rng.random() < self.waited:
            start = rng.uniform(0.05, 0.85)
            add(took * start, act("wait_on_customer", agent, note="asked for a receipt"))
            replied = act("customer_replied", agent, note="receipt received")
            add(took * (start + rng.uniform(0.01, 0.1)), replied)
        for _ in range(self._poisson(self.messages)):
            add(took * rng.uniform(0.02, 0.95), message(rng.choice(MESSAGES)))
        holder, planner = agent, None
        for rank, level in enumerate(climb):
            after = took * (0.5 + 0.4 * rank / len(climb) + rng.uniform(0.0, 0.05))
            notice = f"Your case is now with our {level} team, who can decide on it directly."
            command = act("escalate", holder, reason=rng.choice(REASONS), notice=notice)
            add(after, command, planner)
            holder, planner = person(level, rng), level
        add(took, act("resolve", holder, note="Refund issued and apology sent."), planner)
        if rng.random() < share("reopened"):
            took += timedelta(days=rng.uniform(1, 10))
            add(took, act("reopen", agent, note="The customer says the problem is back."))
            took += self._days("first_level")
            add(took, act("resolve", agent, note="Fixed for good this time."))
        self._follow_up(plan, took, agent)

    def _days(self, top: str, above: float = 0.0) -> timedelta:
        """A resolution time drawn from the log's for cases reaching `top`, from the part
        of the distribution above probability `above`."""
        quantiles = BPIC_2013["days"]["manager" if top == "board" else top]
        days = quantile_draw(quantiles, (above + (1 - above) * self.rng.random()) * 0.99)
        return timedelta(days=days, minutes=self.rng.uniform(3, 30))

    def _follow_up(self, plan: CasePlan, resolved: timedelta, agent: str) -> None:
        """The follow-up call, for the share of cases the log closed."""
        rng = self.rng
        if rng.random() >= share("followed_up") / (1 - share("first_contact")):
            return
        satisfaction = rng.choice([2, 3, 4, 4, 5, 5])
        comment = rng.choice(["Thanks, all good now.", "Took too long.", "Fine."])
        command = act("follow_up", agent, satisfaction=satisfaction, comment=comment)
        plan.steps.append(
            Step(plan.opened_at + resolved + timedelta(hours=rng.uniform(2, 48)), command)
        )

    def acknowledgement(self, escalated: datetime, before: datetime | None) -> datetime | None:
        """When the level an escalation reached accepts it, as the log's teams did (one in
        twenty never: its timer fires), and before the case's next planned step."""
        rng = self.rng
        if rng.random() >= share("acknowledged"):
            return None
        hours = quantile_draw(BPIC_2013["ack_hours"], rng.random() * 0.99)
        when = escalated + timedelta(hours=hours, minutes=rng.uniform(1, 10))
        if before is not None and when >= before:
            when = escalated + (before - escalated) * rng.uniform(0.2, 0.9)
        return when

    def _poisson(self, mean: float) -> int:
        count, limit, product = 0, pow(2.718281828459045, -mean), self.rng.random()
        while product > limit:
            count += 1
            product *= self.rng.random()
        return count
