"""`tierflow deploy --pool NAME`: the same deployments, run by workers on any machine.

Each schedule becomes a deployment in work pool NAME (a ``process`` pool,
created if missing) on the Prefect server ``PREFECT_API_URL`` names. Any
number of ``prefect worker start --pool NAME`` processes, on machines that
have tierflow installed and ``TIERFLOW_DATABASE_URL`` pointing at the same
PostgreSQL, then run them. Deployments name their flows by module path
(``flows.sweep_timers.sweep_timers``), so workers import the installed
package: nothing is built or pushed.
"""

from __future__ import annotations

from uuid import UUID

from prefect import deploy
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectNotFound

from flows.deployments import build_deployments
from flows.prefect_api import answering_api
from flows.runtime import Runtime
from states.errors import TierflowError


class DeployError(TierflowError):
    """The deployments could not be registered."""


def ensure_pool(name: str) -> bool:
    """Create process work pool `name` unless it exists; True if it was created."""
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return True


def deploy_to_pool(runtime: Runtime, pool: str) -> list[UUID]:
    """Register one deployment per schedule in `pool`; returns their ids."""
    if not answering_api():
        raise DeployError(
            "PREFECT_API_URL is not set; deploy registers with a running Prefect server "
            "(e.g. PREFECT_API_URL=http://HOST:4200/api)"
        )
    ensure_pool(pool)
    deployments = build_deployments(runtime.schedules, work_pool_name=pool)
    return deploy(
        *deployments, work_pool_name=pool, build=False, push=False, print_next_steps_message=False
    )
