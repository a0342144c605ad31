"""Flow schedules: what ops configure in ``schedules.toml`` and what runs next.

The file is read once, validated whole, and every error names the file, the
line, the key and what is allowed (like the process and policy files). Cron
expressions and intervals are checked, and next runs computed, with the
schedule classes Prefect's own scheduler uses, so the runs ``tierflow
schedules list`` shows are the runs Prefect will create. Pause windows
(``paused_between``) are tierflow's: Prefect schedules have no exclusions, so
a run that falls inside one is skipped by the flow itself.

Edits (``set_schedule``, the CLI's and the dashboard's) are in
:mod:`flows.schedule_edit`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import isodate

from states.errors import ScheduleError, shown
from states.tomlsource import TomlSource, parse_toml, read_toml

SHIPPED = Path(__file__).with_name("schedules.toml")
FORMAT = 1
MIN_INTERVAL = timedelta(seconds=5)
MAX_INTERVAL = timedelta(days=366)
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_TOP_KEYS = ("format", "timezone", "schedules")
_KEYS = ("flow", "cron", "interval", "timezone", "parameters", "paused", "paused_between")
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_SEARCH_LIMIT = 2_000
_KIND_NAMES = {
    int: "an integer",
    str: "a text",
    bool: "true or false",
    float: "a number",
}  # candidate runs examined to find the next ones outside pause windows


@dataclass(frozen=True)
class FlowParameter:
    """One parameter a flow takes from its schedule: its type and, if closed, its values."""

    kind: type
    choices: tuple[Any, ...] = ()
    low: int | None = None
    high: int | None = None


#: The flows a schedule may name and the parameters each accepts.
FlowCatalogue = Mapping[str, Mapping[str, FlowParameter]]


@dataclass(frozen=True)
class FlowSchedule:
    """One deployment: a flow, when it runs, with which parameters."""

    name: str
    flow: str
    timezone: str
    cron: str | None = None
    interval: timedelta | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    paused: bool = False
    paused_between: tuple[date, date] | None = None

    @property
    def when(self) -> str:
        """The schedule as ops wrote it: the cron text or the ISO 8601 interval."""
        return self.cron if self.cron is not None else isodate.duration_isoformat(self.interval)

    @property
    def anchor(self) -> datetime:
        """Where an interval's runs are counted from: fixed, so listed runs are the runs."""
        return _EPOCH.replace(tzinfo=ZoneInfo(self.timezone))

    def skips(self, at: datetime) -> bool:
        """Whether a run at `at` falls on a day of the pause window (in the schedule's zone)."""
        if self.paused_between is None:
            return False
        first, last = self.paused_between
        return first <= at.astimezone(ZoneInfo(self.timezone)).date() <= last

    def next_runs(self, after: datetime, count: int = 3) -> list[datetime]:
        """The next `count` runs after `after`, none for a paused schedule."""
        if self.paused or count <= 0:
            return []
        runs: list[datetime] = []
        start = after
        examined = 0
        while len(runs) < count and examined < _SEARCH_LIMIT:
            batch = [_aware(at) for at in _dates(self._prefect_schedule(), 50, start)]
            if not batch:
                break
            examined += len(batch)
            runs.extend(at for at in batch if at > after and not self.skips(at))
            start = batch[-1] + timedelta(seconds=1)
        return runs[:count]

    def _prefect_schedule(self) -> Any:
        # Imported here: Prefect takes a second to import, and only next runs need it.
        from prefect.server.schemas import schedules as prefect_schedules

        if self.cron is not None:
            return prefect_schedules.CronSchedule(cron=self.cron, timezone=self.timezone)
        return prefect_schedules.IntervalSchedule(
            interval=self.interval,
            anchor_date=self.anchor,
            timezone=self.timezone,
        )


@dataclass(frozen=True)
class Schedules:
    """A validated schedules file."""

    source: str
    timezone: str
    entries: dict[str, FlowSchedule]

    def get(self, name: str) -> FlowSchedule:
        try:
            return self.entries[name]
        except KeyError:
            raise ScheduleError(
                self.source, "schedules", f"no schedule {name!r}; known: {', '.join(self.entries)}"
            ) from None


def load_schedules(path: str | Path, catalogue: FlowCatalogue) -> Schedules:
    """Read and validate the schedules file at `path`."""
    return validate(read_toml(path, ScheduleError), catalogue)


def parse_schedules(text: str, source: str, catalogue: FlowCatalogue) -> Schedules:
    """Validate schedules given as text (the dashboard's editor, `set_schedule`)."""
    return validate(parse_toml(text, source, ScheduleError), catalogue)


def validate(toml: TomlSource, catalogue: FlowCatalogue) -> Schedules:
    data = toml.data
    for key in data:
        if key not in _TOP_KEYS:
            raise toml.error(ScheduleError, key, f"unknown key; allowed: {', '.join(_TOP_KEYS)}")
    if data.get("format", FORMAT) != FORMAT:
        raise toml.error(
            ScheduleError, "format", f"unsupported format {data['format']!r}; allowed: 1"
        )
    default_zone = _zone(toml, "timezone", data.get("timezone", "UTC"))
    table = data.get("schedules", {})
    if not isinstance(table, dict):
        raise toml.error(ScheduleError, "schedules", "must be a table of [schedules.NAME]")
    entries = {
        name: _entry(toml, name, body, default_zone, catalogue) for name, body in table.items()
    }
    return Schedules(toml.path, default_zone, entries)


def _entry(
    toml: TomlSource, name: str, body: Any, default_zone: str, catalogue: FlowCatalogue
) -> FlowSchedule:
    where = f"schedules.{name}"
    if not _NAME.match(name):
        raise toml.error(
            ScheduleError, where, "a schedule name is lower-case letters, digits, '_' or '-'"
        )
    if not isinstance(body, dict):
        raise toml.error(ScheduleError, where, "must be a table")
    for key in body:
        if key not in _KEYS:
            raise toml.error(
                ScheduleError, f"{where}.{key}", f"unknown key; allowed: {', '.join(_KEYS)}"
            )
    flow = body.get("flow", name)
    if flow not in catalogue:
        raise toml.error(
            ScheduleError,
            f"{where}.flow" if "flow" in body else where,
            f"unknown flow {flow!r}; allowed: {', '.join(catalogue)}",
        )
    if ("cron" in body) == ("interval" in body):
        raise toml.error(ScheduleError, where, "give exactly one of cron or interval")
    zone = _zone(toml, f"{where}.timezone", body.get("timezone", default_zone))
    paused = body.get("paused", False)
    if not isinstance(paused, bool):
        raise toml.error(ScheduleError, f"{where}.paused", f"{paused!r} is not true or false")
    schedule = FlowSchedule(
        name=name,
        flow=flow,
        timezone=zone,
        cron=_cron(toml, f"{where}.cron", body["cron"]) if "cron" in body else None,
        interval=_interval(toml, f"{where}.interval", body["interval"])
        if "interval" in body
        else None,
        parameters=_parameters(
            toml, f"{where}.parameters", body.get("parameters", {}), catalogue[flow]
        ),
        paused=paused,
        paused_between=_window(toml, f"{where}.paused_between", body.get("paused_between")),
    )
    if schedule.cron is not None and not _fires(schedule):
        raise toml.error(ScheduleError, f"{where}.cron", f"{schedule.cron!r} never fires")
    return schedule


def _fires(schedule: FlowSchedule) -> bool:
    """Whether a valid cron names a date that exists (``0 0 31 2 *`` does not)."""
    from prefect._vendor.croniter.croniter import CroniterBadDateError

    try:
        return bool(_dates(schedule._prefect_schedule(), 1, _EPOCH))
    except CroniterBadDateError:
        return False


def _zone(toml: TomlSource, key: str, value: Any) -> str:
    try:
        if not isinstance(value, str) or not value:
            raise ValueError
        ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError):
        raise toml.error(
            ScheduleError,
            key,
            f"unknown time zone {value!r}; allowed: an IANA name such as 'Europe/Brussels'",
        ) from None
    return value


def _cron(toml: TomlSource, key: str, value: Any) -> str:
    from prefect._internal.schemas.validators import validate_cron_string

    allowed = "five fields (minute hour day-of-month month day-of-week), e.g. '0 7 1 * *'"
    # ASCII only: croniter reads other scripts' digits (Arabic-Indic zero) as 0; a reader won't
    if not isinstance(value, str) or not value.isascii() or len(value.split()) != 5:
        raise toml.error(
            ScheduleError, key, f"{shown(value)} is not a cron expression; allowed: {allowed}"
        )
    try:
        validate_cron_string(value)
    except ValueError:
        raise toml.error(
            ScheduleError, key, f"{shown(value)} is not a valid cron expression; allowed: {allowed}"
        ) from None
    return value


def _interval(toml: TomlSource, key: str, value: Any) -> timedelta:
    allowed = f"an ISO 8601 duration from {_iso(MIN_INTERVAL)} to {_iso(MAX_INTERVAL)}, e.g. 'PT1M'"
    try:
        if not isinstance(value, str):
            raise ValueError
        duration = isodate.parse_duration(value)
    except (ValueError, isodate.ISO8601Error, OverflowError):
        raise toml.error(
            ScheduleError, key, f"{value!r} is not a duration; allowed: {allowed}"
        ) from None
    if not isinstance(duration, timedelta):  # months and years have no fixed length
        raise toml.error(ScheduleError, key, f"{value!r} has months or years; allowed: {allowed}")
    if not MIN_INTERVAL <= duration <= MAX_INTERVAL:
        raise toml.error(ScheduleError, key, f"{value!r} is out of range; allowed: {allowed}")
    return duration


def _parameters(
    toml: TomlSource, key: str, value: Any, accepted: Mapping[str, FlowParameter]
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise toml.error(ScheduleError, key, 'must be a table, e.g. { period = "month" }')
    for name, given in value.items():
        problem = parameter_problem(name, given, accepted)
        if problem is not None:
            raise toml.error(ScheduleError, f"{key}.{name}", problem)
    return dict(value)


def parameter_problem(name: str, value: Any, accepted: Mapping[str, FlowParameter]) -> str | None:
    """What is wrong with parameter `name` = `value` for a flow that takes `accepted`."""
    spec = accepted.get(name)
    if spec is None:
        allowed = ", ".join(accepted) or "none (this flow takes no parameters)"
        return f"unknown parameter; allowed: {allowed}"
    given = shown(value)  # a 100 KB value is cut, not echoed whole
    if not isinstance(value, spec.kind) or (isinstance(value, bool) and spec.kind is not bool):
        return f"{given} is not {_KIND_NAMES.get(spec.kind, spec.kind.__name__)}"
    if spec.choices and value not in spec.choices:
        return f"{given} is not allowed; allowed: {', '.join(map(str, spec.choices))}"
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        return f"{given} is out of range; allowed: {spec.low} to {spec.high}"
    if isinstance(value, str) and (not value.strip() or not value.isprintable()):
        # an intake folder "" was the data directory itself
        return f"{given} is blank or holds control characters; allowed: a name or a path"
    return None


def _window(toml: TomlSource, key: str, value: Any) -> tuple[date, date] | None:
    if value is None:
        return None
    allowed = "two dates [FIRST_DAY, LAST_DAY], e.g. [2026-12-24, 2027-01-02]"
    days: list[date] = []
    for item in value if isinstance(value, list) else [value]:
        try:
            day = item if type(item) is date else date.fromisoformat(item)
        except (TypeError, ValueError):
            raise toml.error(
                ScheduleError, key, f"{item!r} is not a date; allowed: {allowed}"
            ) from None
        days.append(day)
    if len(days) != 2:
        raise toml.error(ScheduleError, key, f"{value!r}; allowed: {allowed}")
    if days[0] > days[1]:
        raise toml.error(ScheduleError, key, f"{days[0]} is after {days[1]}; allowed: {allowed}")
    return days[0], days[1]


def _dates(schedule: Any, count: int, start: datetime) -> list[datetime]:
    """Prefect's own `get_dates` (a coroutine that does no I/O), run to completion here,
    or on a thread of its own inside a running event loop (an async flow's)."""
    dates = schedule.get_dates(count, start=start)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(dates)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, dates).result()


def _iso(delta: timedelta) -> str:
    return isodate.duration_isoformat(delta)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
