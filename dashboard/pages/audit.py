"""Audit page (auditors): replay a case step by step, see the pipeline as it stood at a
past instant, check a case's hash chain and the last nightly verification, and download
a case's history as CSV. Everything shown is computed in ``states/`` from the events."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import streamlit as st
from sqlalchemy import Connection

from dashboard import common
from flows.runtime import Runtime
from states.anchor import AnchorCheck, check_anchors
from states.asof import pipeline_at
from states.audit import verify_case
from states.errors import AuditKeyError
from states.fields import MAX_ID
from states.replay_steps import Step, replay_steps, steps_csv
from states.runlog import recent_runs

CASE_PARAM = "case"


def render() -> None:
    chosen = common.sidebar_filters()
    st.title("Audit")
    replay_tab, then_tab = st.tabs(["Replay a case", "The pipeline as it stood"])
    with replay_tab:
        case_id = _pick_case()
        if case_id is not None:
            with common.connection() as conn:
                steps = replay_steps(conn, case_id)
                check = verify_case(conn, case_id)
                anchors = _anchors(conn, case_id)
            _replay(case_id, steps)
            _verification(check.ok, check.events, check.problems)
            _anchored(anchors)
        _last_audit_run()
    with then_tab:
        _pipeline_then(chosen.team)


def _pick_case() -> int | None:
    """The case to replay: typed in, or given in the URL (``?case=42``) to share it."""
    given = st.query_params.get(CASE_PARAM)
    start = int(given) if given and given.isdigit() and 1 <= int(given) <= MAX_ID else None
    if given and start is None:
        st.error(f"invalid case {given!r} in the URL; allowed: a case number from 1 to {MAX_ID}")
    case_id = st.number_input(
        "Case number", 1, MAX_ID, value=start, step=1, key="audit_case", placeholder="e.g. 42"
    )
    if case_id is None:
        st.caption("Type a case number to replay its history.")
        return None
    if st.query_params.get(CASE_PARAM) != str(case_id):
        st.query_params[CASE_PARAM] = str(case_id)
    return int(case_id)


def _replay(case_id: int, steps: list[Step]) -> None:
    total = len(steps)
    number = 1
    if total > 1:
        number = st.slider(
            "Step (the case after each event)", 1, total, 1, key=f"audit_step_{case_id}"
        )
    step = steps[number - 1]
    event = step.event
    st.subheader(f"Case {case_id}: step {number} of {total}")
    st.markdown(
        f"**#{event.seq} {event.type}** by **{event.actor}** at "
        f"{event.occurred_at:%Y-%m-%d %H:%M:%S} UTC"
        + (f", why: {event.payload['reason']}" if event.payload.get("reason") else "")
    )
    columns = st.columns(4)
    columns[0].metric("State", step.state)
    columns[1].metric("Level", step.level or "-")
    columns[2].metric("Assignee", step.assignee or "-")
    columns[3].metric("Waiting on customer", "yes" if step.waiting else "no")
    if step.flags:
        st.caption("Flags: " + ", ".join(step.flags))
    st.dataframe(
        [
            {
                "clock": clock.name,
                "status": clock.status,
                "deadline (UTC)": clock.deadline,
                "outcome": clock.outcome or ("breached" if clock.breached else ""),
            }
            for clock in step.clocks
        ],
        hide_index=True,
        width="stretch",
    )
    with st.expander("Every step"):
        st.dataframe(
            [
                {
                    "step": index,
                    "event": s.event.type,
                    "when (UTC)": s.event.occurred_at,
                    "who": s.event.actor,
                    "state": s.state,
                    "level": s.level,
                    "assignee": s.assignee,
                }
                for index, s in enumerate(steps, start=1)
            ],
            hide_index=True,
            width="stretch",
        )
    st.download_button(
        "Download the history (CSV)",
        steps_csv(case_id, steps),
        file_name=f"case-{case_id}-history.csv",
        mime="text/csv",
        key="audit_csv",
    )


def _verification(ok: bool, events: int, problems: list[str]) -> None:
    st.subheader("Hash chain")
    if ok:
        st.success(f"Verified: {events} events chain, and replaying them rebuilds the case.")
    else:
        st.error(
            f"Does not verify ({len(problems)} problems):\n\n"
            + "\n".join(f"- {problem}" for problem in problems)
        )


def _anchors(conn: Connection, case_id: int) -> AnchorCheck | str:
    """The case against the latest anchor, or why it cannot be checked (no audit key).
    The key is read from fresh settings: the cached runtime holds it masked."""
    settings = common.settings()
    try:
        key = Runtime(settings).audit_key()
    except AuditKeyError as exc:
        return str(exc)
    return check_anchors(conn, key, settings.resolved_anchor_file, case_id)


def _anchored(check: AnchorCheck | str) -> None:
    if isinstance(check, str):
        st.caption(f"Anchors not checked: {check}")
    elif check.ok and check.latest is not None:
        st.success(
            f"Unchanged since the anchor of {check.latest.anchored_at:%Y-%m-%d %H:%M} UTC "
            f"(line {check.latest.line} of {check.path})."
        )
    elif check.ok:
        st.caption("No anchor yet: `tierflow audit anchor` or the nightly verify_audit writes one.")
    else:
        st.error(
            "Against the anchors:\n\n" + "\n".join(f"- {problem}" for problem in check.problems())
        )


def _last_audit_run() -> None:
    st.subheader("Last nightly verification")
    st.caption("The latest run of the verify_audit flow, from the flow run log.")
    runs = recent_runs(common.read_engine(), "verify_audit", limit=1)
    if not runs:
        st.caption("verify_audit has not run yet.")
        return
    run = runs[0]
    counts = run.counts
    text = (
        f"{run.status} at {run.started_at:%Y-%m-%d %H:%M} UTC: "
        f"{counts.get('cases', '?')} cases, {counts.get('events', '?')} events, "
        f"{counts.get('failed', 0)} failing"
    )
    if run.status == "completed":
        st.success(text)
    elif run.status == "failed":
        st.error(text + (f": {run.error}" if run.error else ""))
    else:
        st.info(text)


def _pipeline_then(team: str | None) -> None:
    st.caption(
        "Every case as its events say it stood at the instant (UTC), not the current rows; "
        "the team filter applies."
    )
    now = common.now()
    left, middle, right = st.columns(3)
    day = left.date_input("Date (UTC)", value=now.date(), max_value=now.date(), key="then_day")
    moment = middle.time_input(
        "Time (UTC)", value=time(now.hour, now.minute // 15 * 15), key="then_time", step=900
    )
    hours = right.number_input("At risk within (hours)", 0, 24 * 30, 4, key="then_horizon")
    if st.button("Show the pipeline then", key="then_show"):
        st.session_state["then_at"] = datetime.combine(day, moment, tzinfo=UTC)
    at = st.session_state.get("then_at")
    if at is None:
        return
    if at > now:
        st.error(f"{at:%Y-%m-%d %H:%M} UTC is in the future; choose an instant up to now.")
        return
    with common.connection() as conn:
        then = pipeline_at(conn, at, team=team, horizon=timedelta(hours=int(hours)))
    st.subheader(f"{then.cases} cases on {at:%Y-%m-%d %H:%M} UTC")
    columns = st.columns(3)
    columns[0].metric("Waiting on customer", then.waiting)
    columns[1].metric("Breached", len(then.breached))
    columns[2].metric(f"At risk (within {int(hours)} h)", len(then.at_risk))
    st.dataframe(
        [
            {"state": state, "level": level or "", "cases": count}
            for (state, level), count in then.counts.items()
        ],
        hide_index=True,
        width="stretch",
    )
    for title, deadlines in (("Breached then", then.breached), ("At risk then", then.at_risk)):
        if deadlines:
            st.markdown(f"**{title}** (most urgent first)")
            st.dataframe(
                [deadline.as_dict() for deadline in deadlines[:200]],
                hide_index=True,
                width="stretch",
            )


common.page(render)
