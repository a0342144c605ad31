"""Case: one case's timeline (who, what, why, when), its clock ledger with every
deadline and how it was computed, and the notifications it caused."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, common
from flows.cli.history import event_details
from states.case_view import CaseView, case_view
from states.errors import InvalidInput
from states.fields import MAX_ID
from states.ledger import deadline_summary


def render() -> None:
    common.sidebar_filters()
    st.title("Case")
    wanted = st.query_params.get("case")
    if wanted != st.session_state.get(_SEEN):  # a link or a shared URL names the case
        st.session_state[_SEEN] = wanted
        st.session_state[_PICK] = _case_number(wanted)
    picked = st.number_input("Case number", 1, MAX_ID, value=None, step=1, key=_PICK)
    if picked is None:
        st.info("Pick a case by its number, or open one from the Cases page.")
        return
    if str(picked) != wanted:
        st.query_params["case"] = st.session_state[_SEEN] = str(picked)
    runtime, now = common.runtime(), common.now()
    with common.connection() as conn:
        seen = case_view(conn, int(picked), runtime.policy, now)
    _header(seen, now)
    _timeline(seen)
    _clocks(seen, now)
    _notices(seen)


_PICK, _SEEN = "case_pick", "case_in_url"


def _case_number(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise InvalidInput("case", text, f"a case number from 1 to {MAX_ID}")
    return int(text)


def _header(seen: CaseView, now: object) -> None:
    case = seen.case
    st.subheader(f"#{case.id} {case.subject}")
    top = st.columns([3, 2, 2, 2, 2])
    top[0].metric("State", charts.level_text(case.state, case.level))
    top[1].metric("Assignee", case.assignee or "(queue)")
    top[2].metric("Priority", case.priority)
    top[3].metric("Age", charts.days_hours(seen.ages["age"]))
    top[4].metric("In state", charts.days_hours(seen.ages["in_state"]))
    st.caption(
        f"customer {case.customer_id} ({case.customer_tier}), channel {case.channel}, "
        f"team {case.team or '-'}, flags {', '.join(case.flags) or '-'}"
        + (", waiting on the customer" if case.waiting else "")
        + f"; opened {case.opened_at:%Y-%m-%d %H:%M} UTC; ages in calendar time"
    )


def _timeline(seen: CaseView) -> None:
    st.subheader("Timeline")
    currency = seen.case.currency
    frame = pd.DataFrame(
        [
            {
                "#": e.seq,
                "happened (UTC)": f"{e.occurred_at:%Y-%m-%d %H:%M:%S}",
                "recorded (UTC)": f"{e.recorded_at:%Y-%m-%d %H:%M:%S}" if e.recorded_at else "",
                "who": e.actor,
                "what": e.type,
                "from": charts.level_text(e.from_state, e.from_level) if e.from_state else "",
                "to": charts.level_text(e.to_state, e.to_level),
                "why / details": event_details(e, currency),
            }
            for e in seen.events
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch")


def _clocks(seen: CaseView, now: object) -> None:
    st.subheader("Clock ledger")
    summary = deadline_summary(seen.clocks, now)  # type: ignore[arg-type]
    st.caption(
        "Deadlines: " + (", ".join(f"{n} {verdict}" for verdict, n in summary.items()) or "none")
    )
    for view in seen.clocks:
        verdict = view.verdict(now)  # type: ignore[arg-type]
        level = f", {view.level}" if view.level else ""
        title = f"{view.clock} #{view.generation}{level}: {verdict}"
        with st.expander(title, expanded=view.status != "stopped"):
            st.write(view.explain(now))  # type: ignore[arg-type]
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "interval": i.status,
                            "from (UTC)": f"{i.started_at:%Y-%m-%d %H:%M}",
                            "to (UTC)": f"{i.ended_at:%Y-%m-%d %H:%M}" if i.ended_at else "(open)",
                            "counted": view.business(i.business),
                            "began because": i.began_because,
                            "ended because": i.ended_because or "-",
                        }
                        for i in view.intervals
                    ]
                ),
                hide_index=True,
                width="stretch",
            )


def _notices(seen: CaseView) -> None:
    st.subheader("Notifications")
    if not seen.notices:
        st.info("No notification for this case.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "kind": n.kind,
                    "to": n.recipient,
                    "subject": n.subject,
                    "status": n.status,
                    "created (UTC)": f"{n.created_at:%Y-%m-%d %H:%M}",
                    "sent (UTC)": f"{n.sent_at:%Y-%m-%d %H:%M}" if n.sent_at else "",
                    "attempts": n.attempts,
                    "last error": n.last_error or "",
                }
                for n in seen.notices
            ]
        ),
        hide_index=True,
        width="stretch",
    )


common.page(render)
