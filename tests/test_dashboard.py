"""The dashboard's skeleton: read-only access, filters kept in the URL, errors shown
as one message. The pages' figures are tested in tests/test_dashboard_pages.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from states.case import CHANNELS, PRIORITIES
from states.errors import InvalidInput, StoreError
from states.readonly import make_readonly_engine, reading
from states.view_filter import PERIOD_DAYS, ViewFilter
from tests.conftest import PG_URL, postgres, sqlite_db

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
TIMEOUT = 60  # the first run imports the domain (SQLModel, Prefect's settings)


def app(home: Path, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    """The dashboard on the database under `home`, with `params` in its URL, run once."""
    monkeypatch.setenv("TIERFLOW_HOME", str(home))
    monkeypatch.delenv("TIERFLOW_DATABASE_URL", raising=False)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(params)
    return at.run()


names = st.none() | st.text(alphabet="abcdefgh.-", min_size=1, max_size=12)


@given(
    team=names,
    assignee=names,
    priority=st.none() | st.sampled_from(PRIORITIES),
    channel=st.none() | st.sampled_from(CHANNELS),
    period=st.sampled_from(PERIOD_DAYS),
)
def test_a_filter_survives_the_round_trip_through_the_url(
    team: str | None, assignee: str | None, priority: str | None, channel: str | None, period: int
) -> None:
    chosen = ViewFilter(team, priority, channel, assignee, period)
    assert ViewFilter.from_params(chosen.to_params()) == chosen


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"priority": "asap"}, "priority"),
        ({"period": "week"}, "period"),
        ({"period": "3"}, "period"),
    ],
)
def test_a_filter_value_no_case_holds_is_refused_naming_the_field(
    params: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidInput) as error:
        ViewFilter.from_params(params)
    assert error.value.field == field


def test_the_dashboard_cannot_write_to_a_sqlite_database(tmp_path: Path) -> None:
    sqlite_db(tmp_path).dispose()
    engine = make_readonly_engine(f"sqlite:///{tmp_path / 'tierflow.db'}")
    with reading(engine) as conn:
        assert conn.execute(text('SELECT count(*) FROM "case"')).scalar_one() == 0
        with pytest.raises(Exception, match=r"readonly|read-only"):
            conn.execute(text("DELETE FROM notification"))


@postgres
@pytest.mark.postgres
def test_the_dashboard_cannot_write_to_a_postgresql_database() -> None:
    engine = make_readonly_engine(PG_URL)
    with reading(engine) as conn, pytest.raises(Exception, match="read-only"):
        conn.execute(text("CREATE TABLE tf_dashboard_must_not_exist (x int)"))
    engine.dispose()


def test_a_missing_database_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database at"):
        make_readonly_engine(f"sqlite:///{tmp_path / 'absent.db'}")


@pytest.mark.slow
@pytest.mark.parametrize("page", ["pages/pipeline.py", "pages/cases.py", "pages/case.py"])
def test_an_unreachable_database_shows_one_message_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    at = app(tmp_path, monkeypatch)
    monkeypatch.setenv("TIERFLOW_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    at.query_params["case"] = "1"  # the Case page reads only once a case is named
    at.switch_page(page).run()
    assert not at.exception
    assert len(at.error) == 1
    assert "connection" in at.error[0].value or "no database" in at.error[0].value


@pytest.mark.slow
def test_the_filters_are_kept_in_the_url_and_across_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_db(tmp_path).dispose()
    at = app(tmp_path, monkeypatch, channel="chat")
    assert at.sidebar.selectbox(key="f_channel").value == "chat"
    at.sidebar.selectbox(key="f_priority").set_value("high").run()
    assert at.query_params == {"channel": "chat", "priority": "high"}
    at.query_params.clear()  # as a page switch in the browser does
    at.switch_page("pages/cases.py").run()
    assert at.sidebar.selectbox(key="f_priority").value == "high"
    assert at.query_params == {"channel": "chat", "priority": "high"}


@pytest.mark.slow
def test_a_bad_filter_in_a_shared_url_is_shown_and_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_db(tmp_path).dispose()
    at = app(tmp_path, monkeypatch, priority="asap")
    assert not at.exception
    assert "invalid priority 'asap'" in at.error[0].value
    assert at.sidebar.selectbox(key="f_priority").value == "(any)"
