"""OpenLineage facets of the operators (runs where the OpenLineage provider is installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("airflow.providers.openlineage")

from airflow_provider.operators.promote import PromoteModelOperator
from airflow_provider.operators.register import RegisterModelOperator
from airflow_provider.operators.retention import RetentionOperator
from tests.airflow.helpers import make_context


def _facets_json(facets: dict[str, Any]) -> dict[str, Any]:
    from openlineage.client.serde import Serde

    return {name: Serde.to_dict(facet) for name, facet in facets.items()}


def _registered(tmp_path: Path) -> tuple[RegisterModelOperator, dict[str, Any]]:
    data = tmp_path / "train.csv"
    data.write_text("a\n1\n")
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    op = RegisterModelOperator(
        task_id="register",
        model="churn",
        path=str(model),
        datasets={"train": str(data)},
        metrics={"accuracy": 0.9},
        seed=3,
    )
    return op, op.execute(make_context(task_id="register"))


def test_register_reports_dataset_and_model_versions_code_seeds_and_environment(
    registry: Any, tmp_path: Path
) -> None:
    op, result = _registered(tmp_path)
    record = registry.record(result["ref"])
    lineage = op.get_openlineage_facets_on_complete(None)

    (source,) = lineage.inputs
    assert (source.namespace, source.name) == ("file", str(tmp_path / "train.csv"))
    assert source.facets["version"].datasetVersion == record.datasets[0].digest
    (output,) = lineage.outputs
    assert (output.namespace, output.name) == ("mv", "churn")
    assert output.facets["version"].datasetVersion == record.content_digest

    run = _facets_json(lineage.run_facets)
    assert run["mvo_model_version"]["recordId"] == result["record_id"]
    assert run["mvo_model_version"]["version"] == result["version"]
    assert run["mvo_seeds"]["seed"] == 3
    environment = record.capture["environment"]
    assert run["mvo_environment"]["packagesDigest"] == environment["packages_digest"]
    code = record.capture["code"]
    if code.get("commit"):
        location = _facets_json(lineage.job_facets)["sourceCodeLocation"]
        assert location["type"] == "git" and location["version"] == code["commit"]


def test_promote_and_retention_report_their_own_run_facets(registry: Any, tmp_path: Path) -> None:
    _, result = _registered(tmp_path)
    promote = PromoteModelOperator(task_id="promote", model="churn", version=result)
    promote.execute(make_context(task_id="promote"))
    run = _facets_json(promote.get_openlineage_facets_on_complete(None).run_facets)
    assert run["mvo_alias_move"]["payload"]["to_version"] == result["version"]
    assert run["mvo_model_version"]["recordId"] == result["record_id"]

    retention = RetentionOperator(task_id="retention", policy={"rules": [{"keep_last": 5}]})
    retention.execute(make_context(task_id="retention"))
    run = _facets_json(retention.get_openlineage_facets_on_complete(None).run_facets)
    assert run["mvo_retention"]["payload"]["dry_run"] is True


def test_the_openlineage_listener_emits_the_facets_of_a_dag_run(registry: Any) -> None:
    import json

    from tests.airflow.conftest import OPENLINEAGE_EVENTS
    from tests.airflow.dags.retry_and_mapping import mapped_dag

    run = mapped_dag.test()

    completed = [
        event
        for event in map(json.loads, OPENLINEAGE_EVENTS.read_text().splitlines())
        if event["eventType"] == "COMPLETE"
        and event["job"]["name"] == "mvo_test_mapped.fit"
        and event["run"]["facets"]["airflow"]["dagRun"]["run_id"] == run.run_id
    ]
    reported = sorted(e["run"]["facets"]["mvo_model_version"]["recordId"] for e in completed)
    assert reported == sorted(v.record_id for v in registry.versions("mapped"))
    for event in completed:
        (output,) = event["outputs"]
        assert (output["namespace"], output["name"]) == ("mv", "mapped")
        model_version = event["run"]["facets"]["mvo_model_version"]
        assert output["facets"]["version"]["datasetVersion"] == model_version["contentDigest"]
