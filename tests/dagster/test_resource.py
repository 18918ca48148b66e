"""The registry resource and the explicit MaterializeResult path, in real runs."""

import os
from pathlib import Path

import dagster as dg
import pytest

from dagster_resources import ModelRegistryResource, version_result
from mv_orchestration.errors import ValidationError
from tests.dagster.helpers import materialization, value

PARTS = dg.StaticPartitionsDefinition(["2024-01", "2024-02"])


@dg.asset(code_version="3", partitions_def=PARTS)
def identity(context: dg.AssetExecutionContext, mv_registry: ModelRegistryResource) -> dict:
    return mv_registry.run_context(context).to_json()


def test_run_context_carries_dagster_identity(resources, instance) -> None:
    result = dg.materialize(
        [identity], resources=resources, instance=instance, partition_key="2024-02"
    )
    data = result.output_for_node("identity")
    assert data["orchestrator"] == "dagster"
    assert data["run_id"] == result.run_id
    assert data["asset_key"] == "identity"
    assert data["partition_key"] == "2024-02"
    assert data["code_version"] == "3"
    assert data["pipeline"] == result.job_def.name
    assert data["task_id"] == "identity"
    assert data["try_number"] == 1


class WeightsConfig(dg.Config):
    weights: str = "w1"


@dg.asset(code_version="1")
def explicit_model(
    context: dg.AssetExecutionContext,
    config: WeightsConfig,
    mv_registry: ModelRegistryResource,
) -> dg.MaterializeResult:
    out = Path(context.instance.storage_directory()) / "explicit" / config.weights
    out.mkdir(parents=True, exist_ok=True)
    (out / "weights.bin").write_text(config.weights)
    version = mv_registry.register(
        "explicit", out, context, params={"weights": config.weights}, seed=1
    )
    return version_result(version, mv_registry, links={"card": "https://example.org/card"})


def _materialize_explicit(resources, weights: str) -> dg.AssetMaterialization:
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [explicit_model],
            resources=resources,
            instance=instance,
            run_config={"ops": {"explicit_model": {"config": {"weights": weights}}}},
        )
        return materialization(result, "explicit_model")


def test_version_result_reports_the_version_lineage_and_data_version(
    resources, mv_registry: ModelRegistryResource
) -> None:
    mat = _materialize_explicit(resources, "w1")
    version = mv_registry.resolve(str(value(mat.metadata["mv/ref"])))
    assert value(mat.metadata["mv/version"]) == version.version
    assert value(mat.metadata["mv/record_id"]) == version.record_id
    assert mat.tags["dagster/data_version"] == version.artifact_digest
    lineage = str(value(mat.metadata["mv/lineage"]))
    assert "```mermaid" in lineage and "graph LR" in lineage
    assert value(mat.metadata["link/card"]) == "https://example.org/card"
    record = mv_registry.get_registry().record(version.ref)
    assert record.capture["context"]["asset_key"] == "explicit_model"
    assert record.params == {"weights": "w1"}


def test_promote_rollback_and_verify_through_the_resource(
    resources, mv_registry: ModelRegistryResource
) -> None:
    first = value(_materialize_explicit(resources, "w1").metadata["mv/ref"])
    second = value(_materialize_explicit(resources, "w2").metadata["mv/ref"])
    assert first != second
    mv_registry.promote(str(first), reason="review passed")
    mv_registry.promote(str(second), "production")
    assert mv_registry.resolve("explicit@production").ref == second
    preview = mv_registry.rollback("explicit", dry_run=True)
    assert preview.to_version == mv_registry.resolve(str(first)).version
    assert mv_registry.resolve("explicit@production").ref == second
    mv_registry.rollback("explicit")
    assert mv_registry.resolve("explicit@production").ref == first
    assert mv_registry.verify("explicit@production").ok


def test_promote_and_rollback_in_a_run_have_the_run_as_actor(
    mv_registry: ModelRegistryResource, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    first, second = (
        mv_registry.register("deployed", _weights(tmp_path, name), seed=1).ref
        for name in ("w1", "w2")
    )

    @dg.op
    def move_production(context: dg.OpExecutionContext, mv_registry: ModelRegistryResource):
        mv_registry.promote(first)
        mv_registry.promote(second, context=context)
        mv_registry.rollback("deployed", context=context)

    @dg.job
    def deploy() -> None:
        move_production()

    result = deploy.execute_in_process(resources={"mv_registry": mv_registry}, instance=instance)
    assert result.success
    run_actor = f"dagster:deploy/{result.run_id}"
    step_actor = f"{run_actor}/move_production"
    history = mv_registry.get_registry().alias_history("deployed", "production")
    assert [(move.action, move.actor) for move in history] == [
        ("set", run_actor),
        ("set", step_actor),
        ("rollback", step_actor),
    ]
    assert history[-1].context is not None
    assert history[-1].context["run_id"] == result.run_id
    assert mv_registry.resolve("deployed@production").ref == first


def _weights(root: Path, name: str) -> Path:
    path = root / f"{name}.bin"
    path.write_text(name)
    return path


def test_capture_outside_a_run_has_no_idempotency_key(mv_registry) -> None:
    capture = mv_registry.capture(seed=3)
    assert capture.context.orchestrator == "dagster"
    assert capture.context.idempotency_key() is None
    with pytest.raises(TypeError):
        mv_registry.run_context(object())


@pytest.mark.s3
def test_s3_keys_from_env_vars_sign_the_store_without_touching_the_environment(
    s3_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys bound with ``dg.EnvVar`` (not the AWS_* names) reach the store in memory."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent-credentials"))
    monkeypatch.setenv("TEAM_S3_KEY", "testing")
    monkeypatch.setenv("TEAM_S3_SECRET", "team-s3-secret")
    before = dict(os.environ)
    resource = ModelRegistryResource(
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
        store_url=s3_store_url,
        aws_access_key_id=dg.EnvVar("TEAM_S3_KEY"),
        aws_secret_access_key=dg.EnvVar("TEAM_S3_SECRET"),
    )
    try:
        mat = _materialize_explicit({"mv_registry": resource}, "w-s3")
        ref = str(value(mat.metadata["mv/ref"]))
        assert resource.verify(ref).ok
        assert resource.get_registry().store.url.startswith("s3://")
    finally:
        resource.close()
    assert dict(os.environ) == before
    with pytest.raises(ValidationError, match="session token needs"):
        ModelRegistryResource(aws_session_token="lonely-token").get_registry()
