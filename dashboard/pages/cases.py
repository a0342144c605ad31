"""Cases page (being built on branch h-dashmgr)."""

import streamlit as st
from sqlalchemy import func, select

from dashboard import common
from states.store import CASE


def render() -> None:
    common.sidebar_filters()
    st.title("Cases")
    with common.connection() as conn:
        total = conn.execute(select(func.count()).select_from(CASE)).scalar_one()
    st.info(f"not yet built ({total} cases in the database)")


common.page(render)
