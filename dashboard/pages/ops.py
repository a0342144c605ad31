"""Ops page: each flow's schedule with its next and last runs and health, edits that go
through the same validated code as `tierflow schedules set` (recorded with who made
them), the Prefect UI when a server runs, the process and policy versions, and the
review reports to read and download.

The page writes nothing to the database; a schedule edit writes the schedules file
(``flows.schedule_edit.set_schedule``), which `tierflow serve` picks up."""

from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard import common
from flows.ops_view import ScheduleView, schedule_views
from flows.prefect_api import configured_api_url, prefect_ui_url
from flows.runtime import Runtime, catalogue
from flows.schedule_edit import read_changes, set_schedule
from flows.schedules import load_schedules
from states.errors import TierflowError
from states.report_files import report_files
from states.versions import stored_versions

ACTIONS = {
    "Run on a cron": "cron",
    "Run every interval": "interval",
    "Pause": "pause",
    "Resume": "resume",
    "Skip the runs between two days": "window",
    "Remove the pause window": "clear_window",
}


def render() -> None:
    common.sidebar_filters()
    st.title("Ops")
    _prefect_link()
    rt = common.runtime()
    schedules_area = st.container()
    edited = _edit_form(list(load_schedules(rt.schedules_source, catalogue()).entries))
    with schedules_area:
        database_answers = _schedules(rt, edited)
    _changes(rt)
    if database_answers:  # else the one message above says why
        _versions(rt)
    _reports(rt)


@st.cache_data(ttl=15, show_spinner=False)
def _prefect_ui(api_url: str | None) -> str | None:
    return prefect_ui_url(api_url)


def _prefect_link() -> None:
    url = _prefect_ui(configured_api_url())
    if url:
        st.markdown(f"Prefect UI: [{url}]({url}) (deployments, runs, logs)")
    else:
        st.caption("No Prefect server answers (PREFECT_API_URL): start `tierflow serve`.")


def _schedules(rt: Runtime, edited: str | None) -> bool:
    """The schedules table (after this run's edit); False when the database is away."""
    schedules = load_schedules(rt.schedules_source, catalogue())
    st.subheader("Schedules")
    st.caption(f"From {schedules.source}; times in each schedule's zone, runs of the last day.")
    answers, flows = True, list(catalogue())
    try:
        views = schedule_views(schedules, common.read_engine(), common.now(), flows=flows)
    except TierflowError as exc:  # the schedules still show when the database is away
        st.error(f"{exc}; runs and versions are not shown", icon="⚠️")
        views, answers = schedule_views(schedules, None, common.now(), flows=flows), False
    st.dataframe([_row(view) for view in views], hide_index=True, width="stretch")
    if edited:
        st.success(f"Schedule {edited} changed; `tierflow serve` serves it within seconds.")
    return answers


def _row(view: ScheduleView) -> dict[str, object]:
    last = view.last_run
    return {
        "schedule": view.name,
        "flow": view.flow,
        "runs": view.when,
        "zone": view.timezone,
        "parameters": ", ".join(f"{k}={v}" for k, v in view.parameters.items()),
        "state": view.state,
        "next runs": " · ".join(f"{at:%Y-%m-%d %H:%M %Z}" for at in view.next_runs) or "-",
        "last run": f"{last.started_at:%Y-%m-%d %H:%M} UTC" if last else "-",
        "last status": last.status if last else "-",
        "last counts": ", ".join(f"{k} {v}" for k, v in last.counts.items()) if last else "",
        "last error": (last.error or "") if last else "",
        "last day": ", ".join(f"{n} {status}" for status, n in sorted(view.runs_last_day.items())),
    }


def _edit_form(names: list[str]) -> str | None:
    """The edit form; returns the schedule changed by this run, if one was."""
    with st.expander("Change a schedule", expanded=False), st.form("ops_edit"):
        name = st.selectbox("Schedule", names, key="edit_name")
        action = st.radio("Change", list(ACTIONS), key="edit_action", horizontal=True)
        value = st.text_input(
            "Cron or interval", key="edit_value", placeholder="'0 7 1 * *' or PT5M"
        )
        first = st.date_input("First day skipped", value=None, key="edit_first")
        last = st.date_input("Last day skipped", value=None, key="edit_last")
        actor = st.text_input("Your name (recorded with the change)", key="edit_actor")
        if not st.form_submit_button("Apply", key="edit_apply"):
            return None
    rt = common.runtime()
    try:
        set_schedule(
            rt.settings.ops_schedules_file,
            name,
            catalogue(),
            source=rt.schedules_source,
            actor=actor.strip(),
            **_options(ACTIONS[action], value.strip(), first, last),
        )
    except TierflowError as exc:
        st.error(f"Not changed: {exc}", icon="⚠️")
        return None
    return name


def _options(kind: str, value: str, first: date | None, last: date | None) -> dict[str, object]:
    """What `set_schedule` is told for the chosen change (an empty value is passed on, for
    its validation to name)."""
    if kind in ("cron", "interval"):
        return {kind: value}
    if kind == "window":
        return {"paused_between": (str(first or ""), str(last or ""))}
    return {kind: True}


def _changes(rt: Runtime) -> None:
    changes = read_changes(rt.settings.ops_schedules_file, limit=20)
    if not changes:
        return
    st.subheader("Recent schedule changes")
    st.dataframe(
        [
            {
                "when (UTC)": change.at,
                "who": change.actor,
                "schedule": change.schedule,
                "before": change.before,
                "after": change.after,
            }
            for change in changes
        ],
        hide_index=True,
        width="stretch",
    )


def _versions(rt: Runtime) -> None:
    st.subheader("Process and policy")
    active = {"process": rt.process.version_id, "policy": rt.policy.version_id}
    st.markdown(f"In force: process `{active['process']}`, policy `{active['policy']}`")
    with common.connection() as conn:
        versions = stored_versions(conn, active)
    if not versions:
        st.caption("No case has run yet: no version is stored.")
        return
    st.dataframe(
        [
            {
                "kind": version.kind,
                "version": version.id,
                "in force": "yes" if version.active else "",
                "first stored (UTC)": version.loaded_at,
            }
            for version in versions
        ],
        hide_index=True,
        width="stretch",
    )
    for version in versions:
        if version.active:
            with st.expander(f"The {version.kind} in force: {version.id}"):
                st.code(version.source_text, language="toml")


def _reports(rt: Runtime) -> None:
    st.subheader("Review reports")
    reports = report_files(rt.settings.home)
    if not reports:
        st.caption("No review report yet: review_report writes them monthly and quarterly.")
        return
    names = [report.path.name for report in reports]
    picked = st.selectbox("Report", names, key="ops_report")
    report = reports[names.index(picked)]
    text = report.path.read_text(encoding="utf-8")
    st.download_button(
        f"Download {report.path.name}",
        text,
        file_name=report.path.name,
        mime="text/markdown" if report.kind == "md" else "text/csv",
        key="ops_report_download",
    )
    if report.kind == "md":
        st.markdown(text)
    else:
        st.code(text, language=None)


common.page(render)
