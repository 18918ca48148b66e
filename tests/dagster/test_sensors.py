"""The alias sensor against a real registry and a persistent Dagster instance."""

from pathlib import Path

import dagster as dg

from dagster_resources import ModelRegistryResource, alias_sensor
from dagster_resources.resource import REGISTRY_KEY


@dg.op
def deploy() -> None:
    """Stands in for a deployment."""


@dg.job
def deploy_job() -> None:
    deploy()


SENSOR = alias_sensor("churn", deploy_job, alias="production")


def _tick(instance: dg.DagsterInstance, registry: ModelRegistryResource, cursor: str | None):
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={REGISTRY_KEY: registry}
    ) as context:
        return SENSOR.evaluate_tick(context)


def _register(registry: ModelRegistryResource, tmp_path: Path, payload: str) -> str:
    path = tmp_path / f"model-{payload}.bin"
    path.write_text(payload)
    return registry.register("churn", path, seed=0).ref


def test_a_sensor_for_a_model_not_registered_yet_waits_for_its_first_promotion(
    mv_registry: ModelRegistryResource, tmp_path: Path
) -> None:
    with dg.instance_for_test() as instance:
        baseline = _tick(instance, mv_registry, None)
        assert baseline.run_requests == []
        assert _tick(instance, mv_registry, baseline.cursor).run_requests == []
        ref = _register(mv_registry, tmp_path, "a")
        mv_registry.promote(ref)
        (request,) = _tick(instance, mv_registry, baseline.cursor).run_requests
        assert request.tags["mv/version"] == ref.split("@")[1]
        assert request.tags["mv/previous_version"] == ""


def test_sensor_fires_after_a_promotion_and_not_otherwise(
    mv_registry: ModelRegistryResource, tmp_path: Path
) -> None:
    first = _register(mv_registry, tmp_path, "a")
    second = _register(mv_registry, tmp_path, "b")
    mv_registry.promote(first)  # history before the sensor starts is the baseline
    with dg.instance_for_test() as instance:
        baseline = _tick(instance, mv_registry, None)
        assert baseline.run_requests == []
        cursor = baseline.cursor
        assert cursor is not None

        quiet = _tick(instance, mv_registry, cursor)
        assert quiet.run_requests == []
        _register(mv_registry, tmp_path, "c")  # a new version alone moves no alias
        mv_registry.promote(second, alias="staging")  # another alias is not watched
        assert _tick(instance, mv_registry, cursor).run_requests == []

        mv_registry.promote(second, reason="better")
        fired = _tick(instance, mv_registry, cursor)
        (request,) = fired.run_requests
        assert SENSOR.job_name == "deploy_job"
        assert request.tags["mv/version"] == second.split("@")[1]
        assert request.tags["mv/previous_version"] == first.split("@")[1]
        assert int(fired.cursor) > int(cursor)

        assert _tick(instance, mv_registry, fired.cursor).run_requests == []
        mv_registry.rollback("churn")
        (rollback,) = _tick(instance, mv_registry, fired.cursor).run_requests
        assert rollback.tags["mv/version"] == first.split("@")[1]
        assert rollback.run_key != request.run_key
