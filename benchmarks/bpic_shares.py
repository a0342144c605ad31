"""Where the demo's shares come from: the BPI Challenge 2013 incident log (Volvo IT).

Run: ``python benchmarks/bpic_shares.py [/work/shared/data/bpic2013_incidents.xes.gz]``.
It prints the figures that :mod:`states.demo_shares` holds, in the same shape, so the
two can be compared (``tests/test_demo.py`` does). Mapping onto tierflow's ladder:

* a case's highest support line is the highest ``org:group`` it visited (names ending in
  `` 2nd`` / `` 3rd`` are second and third line): 1st only → resolved at first level,
  2nd → L2, 3rd → manager, 3rd with impact High or Major → board;
* impact Low / Medium / High / Major → priority low / normal / high / urgent;
* an escalation is a move to a higher line; it is acknowledged when that group next
  accepts the case (``Accepted`` / ``In Progress``), after the hours counted;
* waited: a ``Wait - User`` or ``Wait - Customer`` sub-status; reopened: any event after
  a ``Completed`` one; first-contact: the last event is ``Completed`` / ``In Call``;
  followed up: the last event is ``Completed`` / ``Closed``, the hours from the last
  ``Resolved`` before it;
* time to resolution in calendar days, per highest line: from a case's first event to
  its last ``Completed`` one that is not ``Closed`` (Volvo closes a resolved case by
  itself a week later: that week is not work).

Quantiles are taken at 0, 10, …, 90 and 99 % (the 99th stands for the maximum, so one
stray case open for years does not stretch the demo).
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

DATA = Path("/work/shared/data/bpic2013_incidents.xes.gz")
_NS = "{http://www.xes-standard.org/}"
_POINTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)
_PRIORITY = {"Low": "low", "Medium": "normal", "High": "high", "Major": "urgent"}


def _traces(path: Path) -> list[list[dict[str, str]]]:
    traces = []
    with gzip.open(path) as handle:
        for _, element in ET.iterparse(handle, events=("end",)):
            if element.tag == _NS + "trace":
                events = element.findall(_NS + "event")
                traces.append([{a.get("key"): a.get("value") for a in e} for e in events])
                element.clear()
    return traces


def _line(event: dict[str, str]) -> int:
    group = event["org:group"]
    return 3 if group.endswith(" 3rd") else 2 if group.endswith(" 2nd") else 1


def _at(event: dict[str, str]) -> datetime:
    return datetime.fromisoformat(event["time:timestamp"])


def _quantiles(values: list[float]) -> tuple[float, ...]:
    ordered = sorted(values)
    return tuple(round(ordered[int(p * (len(ordered) - 1))], 2) for p in _POINTS)


def _hours(start: dict[str, str], end: dict[str, str]) -> float:
    return (_at(end) - _at(start)).total_seconds() / 3600


def shares(path: Path = DATA) -> dict[str, Any]:
    """The counts and quantiles the demo draws from, computed from the log at `path`."""
    traces = _traces(path)
    top = {"first_level": 0, "L2": 0, "manager": 0, "board": 0}
    priority = dict.fromkeys(_PRIORITY.values(), 0)
    days: dict[str, list[float]] = {"first_level": [], "L2": [], "manager": []}
    acks: list[float] = []
    close: list[float] = []
    escalations = waited = reopened = first_contact = followed_up = 0
    for trace in traces:
        line = max(_line(e) for e in trace)
        impact = trace[0]["impact"]
        name = ("first_level", "L2", "manager")[line - 1]
        top["board" if line == 3 and impact in ("High", "Major") else name] += 1
        priority[_PRIORITY[impact]] += 1
        statuses = [(e["concept:name"], e["lifecycle:transition"]) for e in trace]
        solved = [
            i for i, (st, sub) in enumerate(statuses) if st == "Completed" and sub != "Closed"
        ]
        days[name].append(_hours(trace[0], trace[solved[-1] if solved else -1]) / 24)
        waited += any(sub in ("Wait - User", "Wait - Customer") for _, sub in statuses)
        completed = [i for i, (status, _) in enumerate(statuses) if status == "Completed"]
        after = statuses[completed[0] :] if completed else []
        reopened += any(status != "Completed" for status, _ in after)
        first_contact += statuses[-1] == ("Completed", "In Call")
        if statuses[-1] == ("Completed", "Closed"):
            followed_up += 1
            resolved = [i for i, s in enumerate(statuses) if s == ("Completed", "Resolved")]
            if resolved:
                close.append(_hours(trace[resolved[-1]], trace[-1]))
        for i in range(1, len(trace)):
            if _line(trace[i]) > _line(trace[i - 1]):
                escalations += 1
                group = trace[i]["org:group"]
                accepted = next(
                    (
                        e
                        for e in trace[i:]
                        if e["org:group"] == group
                        and (e["concept:name"], e["lifecycle:transition"])
                        == ("Accepted", "In Progress")
                    ),
                    None,
                )
                if accepted is not None:
                    acks.append(_hours(trace[i], accepted))
    return {
        "cases": len(traces),
        "top_level": top,
        "priority": priority,
        "waited": waited,
        "reopened": reopened,
        "first_contact": first_contact,
        "followed_up": followed_up,
        "escalations": escalations,
        "acknowledged": len(acks),
        "ack_hours": _quantiles(acks),
        "follow_up_hours": _quantiles(close),
        "days": {name: _quantiles(values) for name, values in days.items()},
    }


def main() -> None:
    import argparse
    import pprint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", nargs="?", type=Path, default=DATA, help=f"default: {DATA}")
    args = parser.parse_args()
    if not args.log.is_file():
        raise SystemExit(f"error: log: {args.log} is not a file (the BPIC 2013 XES log, gzipped)")
    pprint.pprint(shares(args.log), sort_dicts=False)


if __name__ == "__main__":
    main()
