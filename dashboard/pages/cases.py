"""Cases (managers): the aging table of open cases, most urgent first, paged by the
database; a selected row opens the case."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, common
from states.aging import SORTS, AgingQuery, AgingRow, aging

PAGE_SIZES = (25, 50, 100)
ANY = common.ANY


def render() -> None:
    where = common.sidebar_filters()
    st.title("Cases")
    runtime, now = common.runtime(), common.now()
    process = runtime.process
    top = st.columns([2, 2, 2, 1, 1])
    state = top[0].selectbox("State", [ANY, *process.state_names], key="cases_state")
    level = top[1].selectbox("Level", [ANY, *process.level_names], key="cases_level")
    sort = top[2].selectbox("Sort by", list(SORTS), format_func=SORTS.__getitem__, key="cases_sort")
    reverse = top[3].toggle("Reverse", key="cases_reverse")
    size = top[4].selectbox("Rows", PAGE_SIZES, index=1, key="cases_size")
    page_number = int(st.session_state.get("cases_page", 1))
    query = AgingQuery(
        state=None if state == ANY else state,
        level=None if level == ANY else level,
        sort=sort,
        descending=reverse,
        limit=size,
        offset=(page_number - 1) * size,
    )
    with common.connection() as conn:
        rows, total = aging(conn, where, query, runtime.policy, now)
    pages = max(1, -(-total // size))
    st.caption(
        f"{total} open cases; page {page_number} of {pages}. Ages and time left in business "
        f"hours, as of {now:%Y-%m-%d %H:%M} UTC; select a row to open the case."
    )
    frame = _frame(rows)
    picked = st.dataframe(
        charts.coloured(frame, "SLA"),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="cases_table",
        height=min(len(frame), 20) * 35 + 40,
        column_config={"case": st.column_config.NumberColumn(format="%d")},
    )
    st.columns([1, 5])[0].number_input(
        "Page", 1, pages, value=min(page_number, pages), key="cases_page"
    )
    chosen = picked.selection.rows if picked is not None else []
    if chosen:
        open_case(int(frame.iloc[chosen[0]]["case"]))


def open_case(case_id: int) -> None:
    """Show the Case page for `case_id` (its number in the URL, so it can be shared)."""
    st.switch_page("pages/case.py", query_params={"case": str(case_id)})


def _frame(rows: list[AgingRow]) -> pd.DataFrame:
    columns = [
        "case",
        "SLA",
        "state",
        "level",
        "priority",
        "assignee",
        "in state (h)",
        "age (h)",
        "next deadline (UTC)",
        "clock",
        "left (h)",
        "subject",
    ]
    return pd.DataFrame(
        [
            {
                "case": r.case_id,
                "SLA": r.status,
                "state": r.state,
                "level": r.level or "",
                "priority": r.priority,
                "assignee": r.assignee or "",
                "in state (h)": charts.hours(r.in_state),
                "age (h)": charts.hours(r.age),
                "next deadline (UTC)": (
                    r.next_deadline.strftime("%Y-%m-%d %H:%M") if r.next_deadline else ""
                ),
                "clock": r.next_clock or "",
                "left (h)": charts.hours(r.left),
                "subject": r.subject,
            }
            for r in rows
        ],
        columns=columns,
    )


common.page(render)
