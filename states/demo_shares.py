"""The shares and durations the demo draws from, taken from a real service desk.

Source: the BPI Challenge 2013 incident log of Volvo IT Belgium (7,554 incidents,
2010-2012; ``/work/shared/data/bpic2013_incidents.xes.gz``), counted by
``python benchmarks/bpic_shares.py``, whose output this is (``tests/test_demo.py``
recomputes it and compares). What the figures mean, and how support lines map onto
tierflow's ladder, is in that script's docstring. In short:

* 60 % of incidents never left the first line (4,546), 33 % reached the second
  (L2: 2,464), 6 % the third (manager: 482), under 1 % the third with a High or Major
  impact (board: 62);
* 95 % of escalations were accepted by the team they went to (3,084 of 3,245), half
  within the hour, 80 % within 20 hours;
* a third of the cases waited on their user (2,550), 7 % were reopened (514), a
  quarter were solved in the first call (1,882).

What the log does not tell, the demo assumes (see :mod:`states.demo`): channels and
customer tiers, amounts claimed (drawn within the authority of the level the case is
planned to reach), and the follow-up's timing: Volvo closes a resolved case by itself
about a week later (``follow_up_hours``), which is not tierflow's follow-up call.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

#: How far back the demo's cases were opened (arrivals evenly spread): the open ones are
#: those whose resolution time runs past now, so their ages are those of a live desk.
WINDOW = timedelta(days=60)

BPIC_2013: dict[str, Any] = {
    "cases": 7554,
    "top_level": {"first_level": 4546, "L2": 2464, "manager": 482, "board": 62},
    "priority": {"low": 3245, "normal": 4045, "high": 261, "urgent": 3},
    "waited": 2550,
    "reopened": 514,
    "first_contact": 1882,
    "followed_up": 5573,
    "escalations": 3245,
    "acknowledged": 3084,
    # hours from an escalation to its acknowledgement, at 0, 10, ..., 90, 99 %
    "ack_hours": (0.0, 0.03, 0.09, 0.22, 0.43, 0.95, 2.32, 7.5, 19.79, 63.43, 819.39),
    "follow_up_hours": (
        0.0,
        5.46,
        9.9,
        14.66,
        173.77,
        176.84,
        178.51,
        180.58,
        182.17,
        183.95,
        190.75,
    ),
    # calendar days from opening to resolution, by the highest level reached
    "days": {
        "first_level": (0.0, 0.0, 0.0, 0.01, 0.01, 0.02, 0.13, 1.21, 5.21, 11.31, 50.15),
        "L2": (0.0, 0.03, 0.12, 0.56, 1.67, 4.04, 6.69, 10.01, 15.21, 27.1, 213.97),
        "manager": (0.0, 0.06, 0.45, 1.78, 4.03, 6.22, 10.8, 14.05, 20.77, 35.04, 108.65),
    },
}

_POINTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)


def quantile_draw(quantiles: tuple[float, ...], u: float) -> float:
    """The value at probability `u` (0..0.99) of a distribution given by its quantiles
    at `_POINTS`, linear between them: a draw when `u` is uniform."""
    u = min(max(u, 0.0), _POINTS[-1])
    for i in range(1, len(_POINTS)):
        if u <= _POINTS[i]:
            low, high = _POINTS[i - 1], _POINTS[i]
            share = (u - low) / (high - low)
            return quantiles[i - 1] + share * (quantiles[i] - quantiles[i - 1])
    return quantiles[-1]


def share(name: str, key: str | None = None) -> float:
    """A count of :data:`BPIC_2013` as a share of all cases (or of escalations)."""
    count = BPIC_2013[name] if key is None else BPIC_2013[name][key]
    whole = BPIC_2013["escalations"] if name == "acknowledged" else BPIC_2013["cases"]
    return float(count) / whole
