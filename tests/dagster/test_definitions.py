"""``versioning_definitions`` wiring, run through the Definitions it builds."""

import dagster as dg

from dagster_resources import ModelRegistryResource, versioning_definitions
from tests.dagster.helpers import value


@dg.asset
def ranker() -> list[int]:
    return [3, 1, 2]


def test_definitions_bind_the_io_manager_checks_and_model_mapping(
    mv_registry: ModelRegistryResource, instance: dg.DagsterInstance
) -> None:
    defs = versioning_definitions(
        assets=[ranker],
        registry=mv_registry,
        model_assets={"ranker": "ranker"},
        retention_policy={"rules": [{"models": "*", "keep_last": 3}]},
    )
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance)
    assert result.success
    (mat,) = result.asset_materializations_for_node("ranker")
    assert value(mat.metadata["mv/ref"]) == "ranker@1.0.0"
    assert mv_registry.resolve("ranker@latest").ref == "ranker@1.0.0"
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed
    repo = defs.get_repository_def()
    assert repo.has_schedule_def("mv_retention_schedule")
    assert repo.get_schedule_def("mv_retention_schedule").default_status == (
        dg.DefaultScheduleStatus.STOPPED
    )
