"""tierflow's pure domain: process, policy, engine, store and audit.

Nothing here imports Prefect, Streamlit or the CLI.
"""
