"""The retention DAG: policy checked at parse time, dry run by default, runs as audit actor."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.airflow.helpers import task_result, task_states

RETENTION_ACTIONS = {"retention.plan", "version.tombstone", "retention.apply"}


def _register(registry: Any, tmp_path: Path, count: int) -> list[str]:
    refs = []
    for index in range(count):
        model = tmp_path / f"m{index}.bin"
        model.write_bytes(f"weights {index}".encode())
        with registry.run("churn") as run:
            refs.append(run.register_model(model).ref)
    return refs


def _parse_test_dags(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> ModuleType:
    """Import the DAG file from the DAGs folder as a worker would, from another directory."""
    monkeypatch.chdir(workdir)
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "retention_policy.py"
    spec = importlib.util.spec_from_file_location("mvo_parsed_retention_dags", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_dag_with_an_invalid_policy_key_fails_when_it_is_built() -> None:
    from airflow_provider.dag_factories import retention_dag
    from mv_orchestration.errors import ValidationError

    with pytest.raises(ValidationError, match="keep_lots"):
        retention_dag("mvo_bad_policy", policy={"rules": [{"models": "*", "keep_lots": 3}]})


def test_a_dag_with_an_unreadable_policy_file_fails_when_it_is_built() -> None:
    from airflow_provider.dag_factories import retention_dag
    from mv_orchestration.errors import ValidationError

    expected = Path(__file__).parent / "no-such-policy.yaml"
    with pytest.raises(ValidationError, match="cannot read policy file") as caught:
        retention_dag("mvo_missing_policy", policy="no-such-policy.yaml")
    assert str(expected) in str(caught.value)


def test_a_relative_policy_file_next_to_the_dag_file_is_read_from_any_directory(
    registry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = _register(registry, tmp_path, 3)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dag = _parse_test_dags(monkeypatch, elsewhere).applying_dag

    assert dag.task_dict["apply_retention"].policy["rules"][0]["keep_last"] == 1
    run = dag.test()

    assert task_states(run) == {("apply_retention", -1): "success"}
    assert task_result(run, "apply_retention")["applied"]["tombstoned"] == 2
    statuses = {v.ref: v.status for v in registry.versions("churn")}
    assert statuses == {refs[0]: "tombstoned", refs[1]: "tombstoned", refs[2]: "active"}


def test_an_applying_run_is_the_audit_actor_of_its_plan_and_changes(
    registry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(registry, tmp_path, 3)
    dag = _parse_test_dags(monkeypatch, tmp_path).applying_dag

    run = dag.test()

    events = [e for e in registry.audit_events(limit=50) if e.action in RETENTION_ACTIONS]
    assert sorted(e.action for e in events) == [
        "retention.apply",
        "retention.plan",
        "version.tombstone",
        "version.tombstone",
    ]
    actor = f"airflow:mvo_test_retention_apply/{run.run_id}/apply_retention"
    assert {e.actor for e in events} == {actor}


def test_a_templated_policy_that_is_invalid_fails_the_task_without_retries(
    registry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(registry, tmp_path, 2)
    dag = _parse_test_dags(monkeypatch, tmp_path).templated_dag
    assert dag.task_dict["apply_retention"].retries == 2

    run = dag.test(run_conf={"policy_file": "no-such-policy.yaml"})

    assert task_states(run) == {("apply_retention", -1): "failed"}
    assert _try_number(run, "apply_retention") == 1
    assert all(v.status == "active" for v in registry.versions("churn"))

    reparsed = _parse_test_dags(monkeypatch, tmp_path).templated_dag
    applied = reparsed.test()
    assert task_result(applied, "apply_retention")["applied"]["tombstoned"] == 1


def test_a_scheduled_run_is_a_dry_run_that_says_how_to_apply(
    registry: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider.example_dags.example_mvo_retention import dag

    _register(registry, tmp_path, 2)
    assert dag.params["dry_run"] is True

    run = dag.test()

    result = task_result(run, "apply_retention")
    assert result["dry_run"] is True and result["applied"] is None
    log = capfd.readouterr().out
    assert f"Dry run: nothing was applied; plan {result['plan_id']} is stored" in log
    assert f"mvo retention apply {result['plan_id']}" in log
    assert '{"dry_run": false}' in log
    assert all(v.status == "active" for v in registry.versions("churn"))


def _try_number(dag_run: Any, task_id: str) -> int:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.get(DagRun, dag_run.id)
        (ti,) = [ti for ti in run.get_task_instances(session=session) if ti.task_id == task_id]
        return int(ti.try_number)
