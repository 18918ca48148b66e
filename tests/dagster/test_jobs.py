"""The retention job and its schedule."""

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from dagster_resources import (
    ModelRegistryResource,
    retention_job,
    retention_schedule,
    versioning_definitions,
)
from dagster_resources.resource import REGISTRY_KEY

POLICY = {"rules": [{"models": "churn", "keep_last": 1}], "grace_period": "1h"}
APPLY = {"ops": {"mv_retention_op": {"config": {"dry_run": False}}}}
RETENTION_ACTIONS = {"retention.plan", "version.tombstone", "retention.apply"}


def _register_versions(registry: ModelRegistryResource, tmp_path: Path, count: int) -> list[str]:
    refs = []
    for number in range(count):
        path = tmp_path / f"model-{number}.bin"
        path.write_text(f"weights {number}")
        refs.append(registry.register("churn", path, seed=0).ref)
    return refs


def _statuses(registry: ModelRegistryResource) -> dict[str, str]:
    return {v.ref: v.status for v in registry.get_registry().versions("churn", limit=100)}


def test_the_schedule_tick_evaluates_to_a_run_of_the_retention_job() -> None:
    job = retention_job(POLICY)
    schedule = retention_schedule(job, "0 3 * * *")
    assert schedule.cron_schedule == "0 3 * * *"
    assert schedule.job_name == job.name == "mv_retention"
    start = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    next_tick = next(cron_string_iterator(start.timestamp(), "0 3 * * *", "UTC"))
    assert next_tick == datetime(2025, 1, 2, 3, 0, tzinfo=timezone.utc)
    with dg.build_schedule_context(scheduled_execution_time=next_tick) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.tags["dagster/schedule_name"] == "mv_retention_schedule"


def test_the_retention_job_deletes_exactly_the_planned_versions(
    mv_registry: ModelRegistryResource, tmp_path: Path
) -> None:
    refs = _register_versions(mv_registry, tmp_path, 4)
    mv_registry.promote(refs[1])
    planned = mv_registry.retention_plan(POLICY)
    expected = {v.ref for v in planned.by_decision("tombstone")}
    assert expected == {refs[0], refs[2]}  # newest kept by the rule, refs[1] is production

    job = retention_job(POLICY)
    with dg.instance_for_test() as instance:
        dry = job.execute_in_process(resources={REGISTRY_KEY: mv_registry}, instance=instance)
        assert dry.success
        assert set(_statuses(mv_registry).values()) == {"active"}

        result = job.execute_in_process(
            resources={REGISTRY_KEY: mv_registry}, instance=instance, run_config=APPLY
        )
    assert result.success
    statuses = _statuses(mv_registry)
    assert {ref for ref, status in statuses.items() if status == "tombstoned"} == expected
    plan_event, apply_event = (
        e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT"
    )
    plan_metadata = plan_event.step_output_data.metadata
    assert plan_metadata["summary"].value["tombstone"] == 2
    assert str(plan_metadata["decisions"].value).count("| tombstone |") == 2
    assert "report" in apply_event.step_output_data.metadata


def test_a_second_run_after_the_grace_period_purges_exactly_the_planned_versions(
    mv_registry: ModelRegistryResource, tmp_path: Path
) -> None:
    policy = {"rules": [{"models": "churn", "keep_last": 1}], "grace_period": "0s"}
    refs = _register_versions(mv_registry, tmp_path, 3)
    job = retention_job(policy, dry_run=False)
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(
            resources={REGISTRY_KEY: mv_registry}, instance=instance
        ).success
        planned = mv_registry.retention_plan(policy)
        expected = {v.ref for v in planned.by_decision("purge")}
        assert expected == {refs[0], refs[1]}
        assert job.execute_in_process(
            resources={REGISTRY_KEY: mv_registry}, instance=instance
        ).success
    statuses = _statuses(mv_registry)
    assert {ref for ref, status in statuses.items() if status == "purged"} == expected
    assert statuses[refs[2]] == "active"
    assert mv_registry.verify(refs[2]).ok


def test_a_scheduled_run_is_a_dry_run_that_says_how_to_apply(
    mv_registry: ModelRegistryResource, tmp_path: Path
) -> None:
    _register_versions(mv_registry, tmp_path, 3)
    job = retention_job(POLICY)
    schedule = retention_schedule(job)
    tick = datetime(2025, 1, 2, 3, 0, tzinfo=timezone.utc)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            resources={REGISTRY_KEY: mv_registry},
            instance=instance,
            run_config=request.run_config or None,
            tags=request.tags,
        )
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert result.success
    assert set(_statuses(mv_registry).values()) == {"active"}
    (plan_event,) = (e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT")
    metadata = plan_event.step_output_data.metadata
    assert metadata["dry_run"].value is True
    plan_id = metadata["plan_id"].value
    note = str(metadata["note"].value)
    assert note.startswith(f"Dry run: nothing was applied; plan {plan_id} is stored.")
    assert f"mvo retention apply {plan_id}" in note
    assert "ops.mv_retention_op.config.dry_run: false" in note
    assert note in messages


def test_the_definitions_retention_job_dry_runs_unless_told_to_apply(
    mv_registry: ModelRegistryResource, tmp_path: Path
) -> None:
    _register_versions(mv_registry, tmp_path, 3)
    dry = versioning_definitions(registry=mv_registry, retention_policy=POLICY)
    applying = versioning_definitions(
        registry=mv_registry, retention_policy=POLICY, retention_dry_run=False
    )
    with dg.instance_for_test() as instance:
        assert dry.get_job_def("mv_retention").execute_in_process(instance=instance).success
        assert set(_statuses(mv_registry).values()) == {"active"}
        assert applying.get_job_def("mv_retention").execute_in_process(instance=instance).success
    assert sorted(_statuses(mv_registry).values()) == ["active", "tombstoned", "tombstoned"]


def test_an_applying_run_is_the_audit_actor_of_its_plan_and_changes(
    mv_registry: ModelRegistryResource, tmp_path: Path
) -> None:
    _register_versions(mv_registry, tmp_path, 3)
    job = retention_job(POLICY, dry_run=False)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(resources={REGISTRY_KEY: mv_registry}, instance=instance)
    assert result.success
    events = [
        e
        for e in mv_registry.get_registry().audit_events(limit=50)
        if e.action in RETENTION_ACTIONS
    ]
    assert sorted(e.action for e in events) == [
        "retention.apply",
        "retention.plan",
        "version.tombstone",
        "version.tombstone",
    ]
    assert {e.actor for e in events} == {f"dagster:mv_retention/{result.run_id}/mv_retention_op"}


def test_a_bad_policy_is_refused_when_the_job_is_built() -> None:
    from mv_orchestration.errors import ValidationError

    with pytest.raises(ValidationError):
        retention_job({"rules": [{"models": "churn", "keep_lots": 3}]})
