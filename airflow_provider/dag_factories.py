"""DAG factories: ready-made DAGs built from the provider's operators."""

from __future__ import annotations

import sys
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

    Dry run is the default: a scheduled run stores its plan, deletes nothing and says in
    the task log how to apply. ``dry_run`` becomes the default of the DAG param of the same
    name, so a manual run can flip it ("Trigger DAG w/ config": ``{"dry_run": false}``),
    or pass ``dry_run=False`` to apply on schedule. Applying is two-phase: a run tombstones
    what its plan selects (bytes kept); a later applying run purges a tombstoned version
    once the policy's grace period has passed.

    The policy is validated when the DAG file is parsed (unless it is a template); a
    relative policy file path is read from the folder of the file that calls this
    function, which is also the DAG's ``fileloc``. ``params`` in ``dag_kwargs`` are added
    to ``dry_run``. Runs never overlap and never catch up.
    """
    caller = sys._getframe(1)
    params = {
        **(dag_kwargs.pop("params", None) or {}),
        "dry_run": Param(dry_run, type="boolean", description="Only plan"),
    }
    with DAG(
        dag_id,
        schedule=schedule,
        start_date=start_date,
        catchup=False,
        max_active_runs=1,
        params=params,
        tags=["mv-orchestration", "retention"],
        **dag_kwargs,
    ) as dag:
        dag.fileloc = caller.f_code.co_filename
        RetentionOperator(
            task_id="apply_retention",
            policy=policy,
            dry_run="{{ params.dry_run }}",
            mv_conn_id=mv_conn_id,
        )
    return dag
