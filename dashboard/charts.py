"""Small rendering helpers the manager pages share: durations as text, Altair charts
and DataFrames built from what the states/ queries return (a page's worth of rows)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import altair as alt
import pandas as pd

from states.durations import format_duration

STATUS_COLOURS = {
    "breached": "#f8d7da",
    "warning": "#fff3cd",
    "paused": "#e2e3e5",
    "ok": "#d1e7dd",
    "at risk": "#fff3cd",
}


def coloured(frame: pd.DataFrame, column: str) -> Any:
    """`frame` with each row's background the colour of its SLA status in `column`."""

    def paint(row: pd.Series) -> list[str]:
        colour = STATUS_COLOURS.get(row[column])
        return [f"background-color: {colour}" if colour else ""] * len(row)

    return frame.style.apply(paint, axis=1).format(precision=1, na_rep="")


def business(td: timedelta | None) -> str:
    """Business time in hours (a "day" would read as a working day but mean 24 hours)."""
    return "-" if td is None else format_duration(td, in_hours=True)


def days_hours(td: timedelta) -> str:
    """Calendar time to the hour (``12d 3h``): short enough for a metric."""
    return f"{td.days}d {td.seconds // 3600}h" if td.days else f"{td.seconds // 3600}h"


def hours(td: timedelta | None) -> float | None:
    return None if td is None else round(td.total_seconds() / 3600, 1)


def level_text(state: str, level: str | None) -> str:
    return f"{state} ({level})" if level else state


def bar(frame: pd.DataFrame, x: str, y: str, colour: str | None = None, **kw: object) -> alt.Chart:
    """A bar chart of `frame`: `x` categories, `y` counts, stacked by `colour`."""
    encoding: dict[str, object] = {
        "x": alt.X(
            x,
            sort=kw.pop("sort", None),
            title=kw.pop("x_title", None),
            axis=alt.Axis(labelAngle=0),
        ),
        "y": alt.Y(y, title=kw.pop("y_title", None)),
        "tooltip": list(frame.columns),
    }
    if colour:
        encoding["color"] = alt.Color(colour, sort=kw.pop("colour_sort", None))
    return alt.Chart(frame).mark_bar().encode(**encoding).properties(height=260)


def activity_frame(rows: Iterable[tuple[date, str, int]], weekly: bool) -> pd.DataFrame:
    """Opened, resolved and escalated per day, or per week (weeks start on Monday)."""
    frame = pd.DataFrame(list(rows), columns=["day", "what", "cases"])
    if frame.empty:
        return frame
    frame["day"] = pd.to_datetime(frame["day"])
    if weekly:
        frame["day"] = frame["day"] - pd.to_timedelta(frame["day"].dt.weekday, unit="D")
        frame = frame.groupby(["day", "what"], as_index=False)["cases"].sum()
    return frame
