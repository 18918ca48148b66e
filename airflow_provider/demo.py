"""``python -m airflow_provider.demo``: train the digits model as a real Airflow DAG run.

Reads ``MVO_REGISTRY_URL`` / ``MVO_STORE_URL`` (the registry to write to; no Airflow
connection is needed: the hook falls back to them), ``MVO_DEMO_WORKDIR`` (a fresh
directory for ``AIRFLOW_HOME``, its SQLite metadata database and the data) and the
optional ``MVO_DEMO_PARAMS`` (JSON overriding ``DigitsParams`` fields). It migrates the
metadata database, runs ``mvo_digits_training`` with ``dag.test()`` and prints, as its
last line, ``MVO_DEMO_RESULT {...}`` with the registered version. Exit status 1 on any
failure.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import fields
from pathlib import Path
from typing import Any

RESULT_PREFIX = "MVO_DEMO_RESULT "
DAG_ID = "mvo_digits_training"
TRAIN_TASK = "train_digits"
EXAMPLE_DAGS = Path(__file__).parent / "example_dags"


def _say(message: str) -> None:
    print(message, flush=True)


def _demo_params() -> dict[str, Any]:
    from mv_orchestration.demo.training import DigitsParams
    from mv_orchestration.errors import UsageError

    text = os.environ.get("MVO_DEMO_PARAMS") or "{}"
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"MVO_DEMO_PARAMS is not JSON: {exc}") from None
    known = {field.name for field in fields(DigitsParams)}
    if not isinstance(params, dict) or not set(params) <= known:
        raise UsageError(f"MVO_DEMO_PARAMS must be an object with keys among {sorted(known)}")
    return params


def _configure_airflow(workdir: Path) -> None:
    """Point Airflow at a private home under ``workdir`` (before importing it)."""
    home = workdir / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(EXAMPLE_DAGS)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")


def _task_result(run_id: str, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=run_id, dag_ids=DAG_ID, task_ids=task_id, key="return_value"
        )
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def run(workdir: Path) -> dict[str, Any]:
    """Run the training DAG once; return the version it registered."""
    from mv_orchestration.errors import MVOError

    params = _demo_params()
    _configure_airflow(workdir)
    _say(f"Airflow home: {os.environ['AIRFLOW_HOME']}")
    from airflow.utils.db import resetdb

    _say("Migrating the Airflow metadata database ...")
    resetdb()
    from airflow_provider.example_dags.example_mvo_training import dag

    run_conf = {**params, "data_dir": str(workdir / "data")}
    _say(f"Running DAG {DAG_ID} with dag.test(run_conf={run_conf}) ...")
    dag_run = dag.test(run_conf=run_conf)
    state = str(getattr(dag_run.state, "value", dag_run.state))
    _say(f"DAG run {dag_run.run_id} finished: {state}")
    version = _task_result(dag_run.run_id, TRAIN_TASK)
    if state != "success" or not isinstance(version, dict):
        raise MVOError(f"DAG run {dag_run.run_id} ended {state}; no version registered")
    _say(f"Registered {version['ref']} (record {version['record_id']})")
    return {
        "orchestrator": "airflow",
        "model": version["model"],
        "version": version["version"],
        "record_id": version["record_id"],
        "created": version["created"],
    }


def main() -> int:
    """Entry point; prints the result line last and returns the exit status."""
    workdir = os.environ.get("MVO_DEMO_WORKDIR")
    if not workdir:
        _say("MVO_DEMO_WORKDIR is not set")
        return 1
    try:
        result = run(Path(workdir).resolve())
    except Exception as exc:
        traceback.print_exc()
        _say(f"Airflow demo failed: {type(exc).__name__}: {exc}")
        return 1
    _say(RESULT_PREFIX + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
