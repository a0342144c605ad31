"""Ops page: placeholder until the Ops page is built (branch h-dashops)."""

import streamlit as st

st.title("Ops")
st.info("not yet built")
