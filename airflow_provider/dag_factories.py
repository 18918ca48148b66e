"""DAG factories: ready-made DAGs built from the provider's operators."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Param

from airflow_provider.hooks.registry import MVRegistryHook
from airflow_provider.operators.retention import RetentionOperator

if TYPE_CHECKING:
    from mv_orchestration.retention import RetentionPolicy


def retention_dag(
    dag_id: str = "mvo_retention",
    *,
    policy: RetentionPolicy | Mapping[str, Any] | str | Path,
    schedule: str | None = "0 3 * * *",
    dry_run: bool = True,
    mv_conn_id: str = MVRegistryHook.default_conn_name,
    start_date: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc),
    **dag_kwargs: Any,
) -> DAG:
    """A scheduled retention job: plan with ``policy``, then apply unless a dry run.

    ``dry_run`` becomes the default of the DAG param of the same name, so a manual run
    can flip it ("Trigger DAG w/ config"). Runs never overlap and never catch up.
    """
    with DAG(
        dag_id,
        schedule=schedule,
        start_date=start_date,
        catchup=False,
        max_active_runs=1,
        params={"dry_run": Param(dry_run, type="boolean", description="Only plan")},
        tags=["mv-orchestration", "retention"],
        **dag_kwargs,
    ) as dag:
        RetentionOperator(
            task_id="apply_retention",
            policy=policy,
            dry_run="{{ params.dry_run }}",
            mv_conn_id=mv_conn_id,
        )
    return dag
