"""Manual rollback: trigger with ``{"model": "digits", "alias": "production", "to": null}``.

``to`` empty rolls the alias back to its previous target; a version rolls it to that one.
Set ``dry_run`` to see the move without making it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, Param

from airflow_provider.operators.rollback import RollbackModelOperator

with DAG(
    "mvo_rollback",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    params={
        "model": Param("digits", type="string", pattern=r"^[a-z0-9][a-z0-9._-]{0,127}$"),
        "alias": Param("production", type="string"),
        "to": Param(None, type=["null", "string"], description="Target version"),
        "dry_run": Param(False, type="boolean"),
    },
    tags=["mv-orchestration", "example"],
) as dag:
    RollbackModelOperator(
        task_id="rollback",
        model="{{ params.model }}",
        alias="{{ params.alias }}",
        to="{{ params.to or '' }}",
        dry_run="{{ params.dry_run }}",
    )
