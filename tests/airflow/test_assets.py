"""Registering and promoting emit asset events; an asset-scheduled DAG runs with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.airflow.helpers import asset_events, task_result

PRODUCTION = "mv://digits/alias/production"


def _scheduler_creates_asset_triggered_run(dag_id: str) -> Any:
    """What the scheduler does with queued asset events: create the downstream DAG run."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType
    from sqlalchemy import select

    with create_session() as session:
        runner = SchedulerJobRunner(job=Job(), executors=[])
        dag_model = session.get(DagModel, dag_id)
        runner._create_dag_runs_asset_triggered(dag_models=[dag_model], session=session)
        session.flush()
        return session.scalars(
            select(DagRun).where(
                DagRun.dag_id == dag_id, DagRun.run_type == DagRunType.ASSET_TRIGGERED
            )
        ).one()


def _run_tasks(dag: Any, dag_run: Any) -> None:
    """Run every task of ``dag_run`` in process, the way ``dag.test()`` runs its tasks."""
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    with create_session() as session:
        run = session.get(DagRun, dag_run.id)
        run.dag = DBDagBag().get_dag_for_run(run, session=session)
        run.state = DagRunState.RUNNING
        session.commit()
        schedulable, _ = run.update_state(session=session)
        for ti in schedulable:
            ti.try_number += 1
            ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        for ti in schedulable:
            _run_task(ti=ti, task=dag.task_dict[ti.task_id])


def test_register_and_promote_emit_events_and_trigger_the_deploy_dag(
    registry: Any, tmp_path: Path
) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    from airflow_provider.example_dags.example_mvo_classic import dag as classic
    from airflow_provider.example_dags.example_mvo_deploy import dag as deploy

    deploy.test()  # serialises the folder's DAGs; the deploy DAG is then unpaused
    with create_session() as session:
        session.get(DagModel, "mvo_digits_deploy").is_paused = False

    conf = {"n_estimators": 10, "max_depth": 8, "seed": 42, "data_dir": str(tmp_path / "data")}
    run = classic.test(run_conf=conf)
    registered = task_result(run, "register")
    event = {
        "model": "digits",
        "version": registered["version"],
        "ref": registered["ref"],
        "record_id": registered["record_id"],
    }
    assert asset_events(run.run_id, "mv://digits/") == [event]
    assert asset_events(run.run_id, PRODUCTION) == [
        {**event, "alias": "production", "action": "promote"}
    ]

    # production moves on outside Airflow: the triggered run must deploy the event's version
    newer = tmp_path / "newer.bin"
    newer.write_bytes(b"newer weights")
    with registry.run("digits") as other:
        registry.promote(other.register_model(newer).ref, alias="production")

    deploy_run = _scheduler_creates_asset_triggered_run("mvo_digits_deploy")
    _run_tasks(deploy, deploy_run)
    assert task_result(deploy_run, "deploy") == {
        "ref": registered["ref"],
        "record_id": registered["record_id"],
    }
