"""Pipeline (managers): where every case sits, how long it has waited, what moved in
the period and what is about to breach."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard import charts, common
from dashboard.diagram import process_dot
from states import pipeline_view as view

HORIZONS = {"4 hours": 4, "1 day": 24, "2 days": 48, "1 week": 168}


def render() -> None:
    where = common.sidebar_filters()
    st.title("Pipeline")
    runtime, now = common.runtime(), common.now()
    since = where.since(now)
    horizon = st.sidebar.selectbox("At risk within", list(HORIZONS), index=1, key="horizon")
    with common.connection() as conn:
        horizon_span = timedelta(hours=HORIZONS[horizon])
        seen = view.pipeline(conn, where, runtime.policy, now, horizon_span, runtime.process)
    positions, urgent_counts = seen.positions, seen.deadline_counts
    st.caption(
        f"As of {now:%Y-%m-%d %H:%M} UTC. Flows over the last {where.period_days} days "
        f"(from {since:%Y-%m-%d %H:%M} UTC)."
    )
    total = sum(p.cases for p in positions)
    columns = st.columns(5)
    columns[0].metric("Cases", total)
    columns[1].metric("Deadlines breached", urgent_counts["breached"])
    columns[2].metric(f"Deadlines within {horizon}", urgent_counts["at risk"])
    columns[3].metric("Escalations in period", sum(n for _, _, n in seen.escalations))
    columns[4].metric("Breaches in period", sum(seen.breaches.values()))

    st.subheader("The process")
    st.graphviz_chart(process_dot(runtime.process, positions, seen.flows), width="stretch")
    st.caption(
        "Nodes: cases there now and the median business time they have waited in that "
        "state. Arrows: moves in the period (width by count); dashed: allowed, not taken."
    )
    left, right = st.columns([2, 3])
    with left:
        st.subheader("Cases per state and level")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "state": p.state,
                        "level": p.level or "",
                        "cases": p.cases,
                        "median wait": charts.business(p.median_wait),
                    }
                    for p in positions
                ],
                columns=["state", "level", "cases", "median wait"],
            ),
            hide_index=True,
            width="stretch",
        )
    with right:
        _waiting(seen.waiting)
    _urgent(seen.deadlines, urgent_counts, horizon)
    _flows_in_period(seen.escalations, seen.activity, seen.breaches)


def _waiting(waits: dict[str, list[int]]) -> None:
    st.subheader("How long open cases have waited in their state")
    frame = pd.DataFrame(
        [
            {"state": state, "waited": label, "cases": count}
            for state, counts in waits.items()
            for label, count in zip(view.WAIT_LABELS, counts, strict=True)
        ],
        columns=["state", "waited", "cases"],
    )
    if frame.empty:
        st.info("No open cases.")
    else:
        st.altair_chart(
            charts.bar(frame, "waited:N", "sum(cases):Q", "state:N", sort=list(view.WAIT_LABELS)),
            width="stretch",
        )
    st.caption(
        "Business time since the case entered its current state, in the policy's default "
        "calendar (its opening hours and holidays); 1 d = 8 business hours. Bucket edges are "
        "turned into instants once and the database counts the cases between them."
    )


def _urgent(urgent: list[view.Deadline], counts: dict[str, int], horizon: str) -> None:
    st.subheader(f"Breached and at risk within {horizon}, most urgent first")
    if not urgent:
        st.success("No running deadline is breached or due in the horizon.")
        return
    frame = pd.DataFrame(
        [
            {
                "case": d.case_id,
                "clock": d.clock,
                "deadline (UTC)": d.deadline.strftime("%Y-%m-%d %H:%M"),
                "status": "breached" if d.breached else "at risk",
                "state": charts.level_text(d.state, d.level),
                "priority": d.priority,
                "assignee": d.assignee or "",
            }
            for d in urgent
        ]
    )
    st.dataframe(
        charts.coloured(frame, "status"),
        hide_index=True,
        width="stretch",
    )
    shown = len(urgent)
    if shown < counts["breached"] + counts["at risk"]:
        st.caption(f"The {shown} most urgent of {counts['breached'] + counts['at risk']}.")


def _flows_in_period(
    escalations: list[tuple[str, str, int]],
    activity: list,
    breaches: dict[str, int],
) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("Escalations: points and reasons")
        frame = pd.DataFrame(escalations, columns=["point", "reason", "cases"])
        if frame.empty:
            st.info("No escalation in the period.")
        else:
            st.altair_chart(
                charts.bar(frame, "point:N", "sum(cases):Q", "point:N", sort="-y"),
                width="stretch",
            )
            st.dataframe(frame, hide_index=True, width="stretch")
    with right:
        st.subheader("Breaches per clock")
        frame = pd.DataFrame(sorted(breaches.items()), columns=["clock", "breaches"])
        if frame.empty:
            st.info("No breach in the period.")
        else:
            st.altair_chart(charts.bar(frame, "clock:N", "breaches:Q"), width="stretch")
    st.subheader("Opened, resolved and escalated")
    weekly = st.radio("per", ["day", "week"], horizontal=True, key="activity_per") == "week"
    frame = charts.activity_frame(activity, weekly)
    if frame.empty:
        st.info("Nothing opened, resolved or escalated in the period.")
    else:
        chart = (
            charts.alt.Chart(frame)
            .mark_line(point=True)
            .encode(x="day:T", y="cases:Q", color="what:N", tooltip=["day:T", "what:N", "cases:Q"])
            .properties(height=260)
        )
        st.altair_chart(chart, width="stretch")


common.page(render)
