"""Helpers for reading what a ``dag.test()`` run left in the metadata database."""

from __future__ import annotations

from typing import Any


def task_result(dag_run: Any, task_id: str, map_index: int = -1) -> Any:
    """The XCom return value of one task instance of ``dag_run``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=dag_run.run_id,
            dag_ids=dag_run.dag_id,
            task_ids=task_id,
            map_indexes=map_index,
            key="return_value",
        )
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def task_states(dag_run: Any) -> dict[tuple[str, int], str]:
    """(task id, map index) -> final state of every task instance of ``dag_run``."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.get(DagRun, dag_run.id)
        return {
            (ti.task_id, ti.map_index): str(getattr(ti.state, "value", ti.state))
            for ti in run.get_task_instances(session=session)
        }


def make_context(
    *,
    dag_id: str = "unit_dag",
    task_id: str = "unit_task",
    run_id: str = "manual__2024-01-01T00:00:00+00:00",
    try_number: int = 1,
    map_index: int = -1,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A task context with the keys the provider reads, built from Airflow's own types."""
    from datetime import datetime, timezone
    from uuid import uuid4

    from airflow.sdk.api.datamodels._generated import TaskInstance
    from airflow.sdk.execution_time.context import OutletEventAccessors

    ti = TaskInstance(
        id=uuid4(),
        task_id=task_id,
        dag_id=dag_id,
        run_id=run_id,
        try_number=try_number,
        dag_version_id=uuid4(),
        map_index=map_index,
    )
    return {
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "logical_date": datetime(2024, 1, 1, tzinfo=timezone.utc),
        "params": params or {},
        "outlet_events": OutletEventAccessors(),
    }


def outlet_extra(context: dict[str, Any], uri: str) -> dict[str, Any]:
    """The ``extra`` the task attached to its event for the asset ``uri``."""
    from airflow.sdk import Asset

    return dict(context["outlet_events"][Asset(uri)].extra)


def asset_events(run_id: str, uri: str) -> list[dict[str, Any]]:
    """The ``extra`` of every asset event that run ``run_id`` emitted for asset ``uri``."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri, AssetEvent.source_run_id == run_id)
        )
        return list(session.scalars(query))
