"""Every example DAG, run for real with ``dag.test()`` against a migrated metadata DB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.airflow.helpers import task_result, task_states

FAST = {"n_estimators": 10, "max_depth": 8}


def test_training_dag_registers_digits_and_promotes_it_to_staging(
    registry: Any, tmp_path: Path
) -> None:
    from airflow_provider.example_dags.example_mvo_training import dag

    run = dag.test(run_conf={**FAST, "data_dir": str(tmp_path / "data")})

    assert task_states(run) == {
        ("prepare_data", -1): "success",
        ("train_digits", -1): "success",
        ("promote_staging", -1): "success",
    }
    version = task_result(run, "train_digits")
    assert version["model"] == "digits" and version["created"] is True
    record = registry.record(version["ref"])
    assert record.params == {"n_estimators": 10, "max_depth": 8, "test_size": 0.25, "seed": 42}
    assert [d.name for d in record.datasets] == ["digits"]
    assert record.datasets[0].num_rows == 1797
    assert record.metrics["accuracy"] >= 0.9
    assert record.capture["seeds"]["seed"] == 42
    assert record.capture["context"]["pipeline"] == "mvo_digits_training"
    assert record.capture["context"]["run_id"] == run.run_id
    assert registry.resolve("digits@staging").record_id == version["record_id"]


def test_training_dag_skips_the_promotion_when_the_gate_fails(
    registry: Any, tmp_path: Path
) -> None:
    from airflow_provider.example_dags.example_mvo_training import dag

    conf = {"n_estimators": 1, "max_depth": 1, "data_dir": str(tmp_path / "data")}
    run = dag.test(run_conf=conf)

    assert task_states(run)[("promote_staging", -1)] == "skipped"
    assert registry.record(task_result(run, "train_digits")["ref"]).metrics["accuracy"] < 0.9
    assert registry.aliases("digits") == {}


def test_classic_dag_trains_evaluates_registers_and_promotes(registry: Any, tmp_path: Path) -> None:
    from airflow_provider.example_dags.example_mvo_classic import dag

    run = dag.test(run_conf={**FAST, "data_dir": str(tmp_path / "data")})

    states = task_states(run)
    assert set(states.values()) == {"success"}, states
    registered = task_result(run, "register")
    record = registry.record(registered["ref"])
    assert record.params == {"n_estimators": 10, "max_depth": 8}
    assert record.metrics == task_result(run, "evaluate")
    assert record.tags == {"trained_by": "airflow"}
    assert registry.resolve("digits@production").version == registered["version"]
    promoted = task_result(run, "promote_production")
    assert promoted["version"] == registered["version"] and promoted["alias"] == "production"


def test_rollback_dag_rolls_production_back(registry: Any, tmp_path: Path) -> None:
    from airflow_provider.example_dags.example_mvo_rollback import dag

    refs = []
    for content in (b"v1", b"v2"):
        model = tmp_path / f"{content.decode()}.bin"
        model.write_bytes(content)
        with registry.run("churn") as run:
            refs.append(run.register_model(model).ref)
        registry.promote(refs[-1], alias="production")

    dry = dag.test(run_conf={"model": "churn", "dry_run": True})
    assert task_result(dry, "rollback")["applied"] is False
    assert registry.resolve("churn@production").ref == refs[1]

    # Param values given to one dag.test() stay on the DAG object (Airflow's ParamsDict
    # shares Param instances), so every run below states each param it relies on.
    run = dag.test(run_conf={"model": "churn", "dry_run": False})
    move = task_result(run, "rollback")
    assert move["applied"] is True and move["to_version"] == refs[0].split("@")[1]
    assert registry.resolve("churn@production").ref == refs[0]


def test_retention_dag_plans_without_deleting_by_default(registry: Any, tmp_path: Path) -> None:
    from airflow_provider.example_dags.example_mvo_retention import dag

    for index in range(12):
        model = tmp_path / f"m{index}.bin"
        model.write_bytes(f"weights {index}".encode())
        with registry.run("churn") as run:
            run.register_model(model)

    assert dag.schedule == "0 3 * * *"
    run = dag.test(run_conf={"dry_run": True})
    result = task_result(run, "apply_retention")
    assert result["dry_run"] is True and result["applied"] is None
    assert result["summary"]["keep"] == 12
    assert all(v.status == "active" for v in registry.versions("churn"))


def test_deploy_dag_run_by_hand_fetches_the_production_version(
    registry: Any, tmp_path: Path
) -> None:
    from airflow_provider.example_dags.example_mvo_deploy import dag

    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    with registry.run("digits") as run:
        version = run.register_model(model)
    registry.promote(version.ref, alias="production")

    run = dag.test()
    assert task_result(run, "deploy") == {"ref": version.ref, "record_id": version.record_id}


def test_the_example_dags_folder_parses_without_import_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    folder = Path(__file__).resolve().parents[2] / "airflow_provider" / "example_dags"
    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == [
        "mvo_digits_classic",
        "mvo_digits_deploy",
        "mvo_digits_training",
        "mvo_retention",
        "mvo_rollback",
    ]
