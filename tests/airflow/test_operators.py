"""Classic operators, executed directly with a task context."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow_provider.operators.promote import PromoteModelOperator
from airflow_provider.operators.register import RegisterModelOperator
from airflow_provider.operators.retention import RetentionOperator
from airflow_provider.operators.rollback import RollbackModelOperator
from airflow_provider.operators.verify import VerifyModelOperator
from tests.airflow.helpers import make_context, outlet_extra


def _model(tmp_path: Path, content: str) -> Path:
    path = tmp_path / f"model-{abs(hash(content))}"
    path.mkdir()
    (path / "weights.bin").write_text(content)
    return path


def _register(tmp_path: Path, content: str, *, task_id: str, **kwargs: Any) -> dict[str, Any]:
    op = RegisterModelOperator(
        task_id=task_id, model="churn", path=str(_model(tmp_path, content)), **kwargs
    )
    return op.execute(make_context(task_id=task_id))


def test_register_records_params_datasets_metrics_and_emits_the_model_event(
    registry: Any, tmp_path: Path
) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    op = RegisterModelOperator(
        task_id="register",
        model="churn",
        path=str(_model(tmp_path, "w1")),
        model_params={"lr": 0.1, "layers": [64, 32]},
        datasets={"train": str(data)},
        metrics={"accuracy": 0.93},
        seed="7",
        tags={"team": "risk"},
    )
    context = make_context(task_id="register")
    result = op.execute(context)

    assert result["model"] == "churn" and result["created"] is True
    assert result["ref"] == f"churn@{result['version']}"
    json.dumps(result)
    record = registry.record(result["ref"])
    assert record.params == {"lr": 0.1, "layers": [64, 32]}
    assert record.metrics == {"accuracy": 0.93}
    assert [d.name for d in record.datasets] == ["train"]
    assert record.tags["team"] == "risk"
    assert record.capture["seeds"]["seed"] == 7
    run_context = record.capture["context"]
    assert run_context["orchestrator"] == "airflow"
    assert run_context["pipeline"] == "unit_dag"
    assert run_context["task_id"] == "register"
    assert run_context["map_index"] is None
    assert outlet_extra(context, "mv://churn") == {
        "model": "churn",
        "version": result["version"],
        "ref": result["ref"],
        "record_id": result["record_id"],
    }


def test_a_retry_of_the_same_task_instance_returns_the_first_version(
    registry: Any, tmp_path: Path
) -> None:
    model = str(_model(tmp_path, "w1"))
    first = RegisterModelOperator(task_id="register", model="churn", path=model).execute(
        make_context(task_id="register", try_number=1)
    )
    (Path(model) / "weights.bin").write_text("bytes changed before the retry")
    second = RegisterModelOperator(task_id="register", model="churn", path=model).execute(
        make_context(task_id="register", try_number=2)
    )
    assert second["record_id"] == first["record_id"]
    assert second["created"] is False
    assert len(registry.versions("churn")) == 1


def test_captured_values_pass_through_airflows_secrets_masker(
    registry: Any, tmp_path: Path
) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret("s3cr3t-token-value")
    result = _register(
        tmp_path,
        "w1",
        task_id="register",
        model_params={"endpoint": "https://api/?token=s3cr3t-token-value", "lr": 0.5},
        metadata={"note": "made with s3cr3t-token-value"},
    )
    record = registry.record(result["ref"])
    dumped = json.dumps(record.model_dump(mode="json"))
    assert "s3cr3t-token-value" not in dumped
    assert record.params["lr"] == 0.5


def test_register_refuses_bad_input_at_parse_time() -> None:
    from mv_orchestration.errors import InvalidNameError, ValidationError

    with pytest.raises(InvalidNameError):
        RegisterModelOperator(task_id="r", model="Not A Name", path="/x")
    with pytest.raises(ValidationError):
        RegisterModelOperator(task_id="r", model="churn", path="/x", bump="sideways")


def test_promote_moves_the_alias_and_emits_the_alias_event(registry: Any, tmp_path: Path) -> None:
    version = _register(tmp_path, "w1", task_id="register", metrics={"accuracy": 0.95})
    op = PromoteModelOperator(
        task_id="promote",
        model="churn",
        version=version,
        alias="production",
        gate={"metric": "accuracy", "min": 0.9},
        reason="good enough",
    )
    context = make_context(task_id="promote")
    result = op.execute(context)

    assert registry.resolve("churn@production").version == version["version"]
    assert result["alias"] == "production" and result["version"] == version["version"]
    move = registry.alias_history("churn", "production")[-1]
    assert move.reason == "good enough"
    assert move.actor == "airflow:unit_dag/manual__2024-01-01T00:00:00+00:00/promote"
    extra = outlet_extra(context, "mv://churn/alias/production")
    assert extra["version"] == version["version"] and extra["action"] == "promote"


@pytest.mark.parametrize(
    ("on_failure", "exception"), [("skip", AirflowSkipException), ("fail", AirflowFailException)]
)
def test_a_failed_gate_leaves_the_alias_alone(
    registry: Any, tmp_path: Path, on_failure: str, exception: type[Exception]
) -> None:
    _register(tmp_path, "w1", task_id="register", metrics={"accuracy": 0.5})
    op = PromoteModelOperator(
        task_id="promote",
        model="churn",
        version="latest",
        gate=[{"metric": "accuracy", "min": 0.9}, {"metric": "latency_ms", "max": 20}],
        on_gate_failure=on_failure,
    )
    with pytest.raises(exception, match=r"accuracy=0.5 < min 0.9.*latency_ms"):
        op.execute(make_context(task_id="promote"))
    assert registry.aliases("churn") == {}


def test_promote_rejects_a_version_result_of_another_model() -> None:
    from mv_orchestration.errors import InvalidReferenceError

    op = PromoteModelOperator(
        task_id="p", model="churn", version={"model": "other", "version": "1.0.0"}
    )
    with pytest.raises(InvalidReferenceError):
        op.execute(make_context(task_id="p"))


def test_rollback_moves_production_back_and_dry_run_changes_nothing(
    registry: Any, tmp_path: Path
) -> None:
    first = _register(tmp_path, "w1", task_id="first")
    second = _register(tmp_path, "w2", task_id="second")
    for version in (first, second):
        PromoteModelOperator(task_id="promote", model="churn", version=version).execute(
            make_context(task_id="promote")
        )

    dry = RollbackModelOperator(task_id="rollback", model="churn", dry_run="True")
    dry_context = make_context(task_id="rollback")
    preview = dry.execute(dry_context)
    assert preview["applied"] is False and preview["to_version"] == first["version"]
    assert registry.resolve("churn@production").version == second["version"]
    assert outlet_extra(dry_context, "mv://churn/alias/production") == {}

    context = make_context(task_id="rollback")
    move = RollbackModelOperator(task_id="rollback", model="churn", reason="bad canary").execute(
        context
    )
    assert move["applied"] is True
    assert registry.resolve("churn@production").version == first["version"]
    extra = outlet_extra(context, "mv://churn/alias/production")
    assert extra["version"] == first["version"] and extra["action"] == "rollback"


def test_verify_passes_then_fails_after_an_artifact_is_corrupted(
    registry: Any, tmp_path: Path
) -> None:
    version = _register(tmp_path, "w1", task_id="register")
    report = VerifyModelOperator(task_id="verify", ref=version["ref"]).execute(
        make_context(task_id="verify")
    )
    assert report["ok"] is True and report["versions"] == 1

    record = registry.record(version["ref"])
    digest = record.artifacts.entries[0].digest
    stored = Path(registry.store.url.removeprefix("file://")) / registry.store.object_path(digest)
    stored.chmod(0o644)
    stored.write_bytes(b"tampered")
    with pytest.raises(AirflowFailException, match="verification of churn@"):
        VerifyModelOperator(task_id="verify", ref=version["ref"]).execute(
            make_context(task_id="verify")
        )


def test_retention_plans_by_default_and_applies_when_asked(registry: Any, tmp_path: Path) -> None:
    versions = [_register(tmp_path, f"w{i}", task_id=f"r{i}") for i in range(3)]
    policy = {"rules": [{"models": "churn", "keep_last": 1}], "grace_period": "0s"}

    planned = RetentionOperator(task_id="retention", policy=policy).execute(
        make_context(task_id="retention")
    )
    assert planned["applied"] is None
    assert planned["summary"]["tombstone"] == 2
    assert all(v.status == "active" for v in registry.versions("churn"))

    applied = RetentionOperator(task_id="retention", policy=policy, dry_run=False).execute(
        make_context(task_id="retention")
    )
    assert applied["applied"]["tombstoned"] == 2
    statuses = {v.version: v.status for v in registry.versions("churn")}
    assert statuses[versions[-1]["version"]] == "active"
    assert sorted(statuses.values()).count("active") == 1


def test_retention_rejects_an_invalid_policy_when_the_operator_is_built() -> None:
    from mv_orchestration.errors import ValidationError

    with pytest.raises(ValidationError, match="keep_lots"):
        RetentionOperator(task_id="r", policy={"rules": [{"keep_lots": 1}]})


def test_retention_keeps_a_validated_policy_as_json() -> None:
    from mv_orchestration.retention import RetentionPolicy

    policy = RetentionPolicy.model_validate({"rules": [{"keep_within": "2d"}]})
    op = RetentionOperator(task_id="r", policy=policy)
    assert op.policy == policy.to_json()
    assert op.policy["rules"][0]["keep_within"] == "2d"


def test_without_the_openlineage_provider_there_are_no_facets() -> None:
    import importlib.util

    if importlib.util.find_spec("airflow.providers.openlineage") is not None:
        pytest.skip("the OpenLineage provider is installed: test_openlineage.py covers it")
    op = VerifyModelOperator(task_id="verify")
    assert op.get_openlineage_facets_on_complete(None) is None
