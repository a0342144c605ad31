"""The serving child of `tierflow serve`: one deployment per schedule, served here.

Run as ``python -m flows.serving`` with ``PREFECT_API_URL`` set (the
supervisor in :mod:`flows.serve` does); SIGTERM stops it.
"""

from __future__ import annotations

from prefect import serve

from flows.deployments import build_deployments
from flows.runtime import Runtime


def main() -> None:
    runtime = Runtime.from_env()
    serve(*build_deployments(runtime.schedules), print_starting_message=False)


if __name__ == "__main__":
    main()
