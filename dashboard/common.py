"""What every page shares: the settings, the read-only database, the filters kept in
the URL, and the one place errors are shown.

A page is ``common.page(render)``: `render` reads the filters and the database
and draws; a :class:`TierflowError` (an unreachable database, a bad value in
the URL) becomes one ``st.error`` line instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import streamlit as st
from sqlalchemy import Connection, Engine

from flows.runtime import Runtime
from states.case import CHANNELS, PRIORITIES
from states.errors import InvalidInput, TierflowError
from states.readonly import make_readonly_engine, reading
from states.settings import Settings, load_settings
from states.view_filter import (
    DEFAULT_PERIOD_DAYS,
    PARAMS,
    PERIOD_DAYS,
    ViewFilter,
    filter_choices,
)

ANY = "(any)"


def settings() -> Settings:
    """The settings, read from the environment on every run (cheap; tests change them)."""
    return load_settings()


@st.cache_resource(show_spinner=False)
def _runtime(settings_json: str) -> Runtime:
    return Runtime(Settings.model_validate_json(settings_json))


def runtime() -> Runtime:
    """Process, policy and schedules as the CLI and the flows load them (cached per settings)."""
    return _runtime(settings().model_dump_json())


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return make_readonly_engine(url)


def read_engine() -> Engine:
    """The read-only engine on the configured database (one pool per URL)."""
    return _engine(settings().resolved_database_url)


@contextmanager
def connection() -> Iterator[Connection]:
    """A read-only connection; database errors arrive as one-line StoreErrors."""
    with reading(read_engine()) as conn:
        yield conn


def now() -> datetime:
    return datetime.now(UTC)


def page(render: Callable[[], None]) -> None:
    """Run a page; an error tierflow raised on purpose is shown as one message."""
    try:
        render()
    except TierflowError as exc:
        st.error(str(exc), icon="⚠️")


@st.cache_data(ttl=60, show_spinner=False)
def _choices(url: str) -> tuple[list[str], list[str]]:
    with connection() as conn:
        return filter_choices(conn)


def sidebar_filters() -> ViewFilter:
    """The shared filters in the sidebar, read from and written back to the URL, so that
    a view reloads as it was and can be sent to someone else. Each page draws them (a
    page switch clears the URL; the last filter is kept in the session and put back).
    A bad value in the URL is shown as an error and ignored."""
    try:
        teams, assignees = _choices(settings().resolved_database_url)
    except TierflowError:  # the page says why when it reads
        teams, assignees = [], []
    params = {key: st.query_params.get(key) for key in PARAMS}
    if not any(params.values()) and _KEPT in st.session_state:
        current = st.session_state[_KEPT]
    else:
        try:
            current = ViewFilter.from_params(params)
        except InvalidInput as exc:  # a mistyped shared URL: say so, show everything
            st.error(f"{exc}; the filter is ignored", icon="⚠️")
            current = ViewFilter()
    sb = st.sidebar
    sb.header("Filters")
    team = _choice(sb, "Team", teams, current.team)
    priority = _choice(sb, "Priority", list(PRIORITIES), current.priority)
    channel = _choice(sb, "Channel", list(CHANNELS), current.channel)
    assignee = _choice(sb, "Assignee", assignees, current.assignee)
    period = sb.selectbox(
        "Period (days up to now)",
        PERIOD_DAYS,
        index=PERIOD_DAYS.index(current.period_days),
        key="f_period",
        help="Flows (transitions, opened, resolved, escalated, breaches) are counted over "
        "this period; where cases sit now is not.",
    )
    chosen = ViewFilter(team, priority, channel, assignee, period or DEFAULT_PERIOD_DAYS)
    st.session_state[_KEPT] = chosen
    wanted = chosen.to_params()
    for key in PARAMS:
        if key in wanted:
            if st.query_params.get(key) != wanted[key]:
                st.query_params[key] = wanted[key]
        elif key in st.query_params:
            del st.query_params[key]
    return chosen


_KEPT = "tierflow_filter"


def _choice(sb: Any, label: str, options: list[str], value: str | None) -> str | None:
    choices = [ANY, *options]
    if value is not None and value not in choices:
        choices.append(value)  # a URL naming a value no case holds (yet) still shows it
    picked = sb.selectbox(
        label,
        choices,
        index=choices.index(value) if value is not None else 0,
        key=f"f_{label.lower()}",
    )
    return None if picked == ANY else picked
