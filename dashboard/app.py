"""The tierflow dashboard: ``streamlit run dashboard/app.py`` (or ``tierflow dashboard``).

One page per user (st.navigation): Pipeline and Cases for managers, Case for
anyone following one case, Audit for auditors, Ops for operations. Each page
draws the shared filters (sidebar and URL, see :mod:`dashboard.common`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT.parent) not in sys.path:  # `streamlit run dashboard/app.py` from anywhere
    sys.path.insert(0, str(ROOT.parent))

st.set_page_config(page_title="tierflow", page_icon=":material/account_tree:", layout="wide")

PAGES = {
    "Managers": [
        st.Page(
            ROOT / "pages/pipeline.py",
            title="Pipeline",
            icon=":material/account_tree:",
            default=True,
        ),
        st.Page(ROOT / "pages/cases.py", title="Cases", icon=":material/table_rows:"),
        st.Page(ROOT / "pages/case.py", title="Case", icon=":material/search:"),
    ],
    "Auditors": [st.Page(ROOT / "pages/audit.py", title="Audit", icon=":material/fact_check:")],
    "Operations": [st.Page(ROOT / "pages/ops.py", title="Ops", icon=":material/settings:")],
}

st.navigation(PAGES).run()
