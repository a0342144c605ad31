"""Audit page: placeholder until the Audit page is built (branch h-dashops)."""

import streamlit as st

st.title("Audit")
st.info("not yet built")
