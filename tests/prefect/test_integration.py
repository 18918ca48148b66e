"""Real flow runs against Prefect's test harness: versions, retries, artifacts, events,
retention, rollback, deployments and block registration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.runtime import task_run
from pydantic import SecretStr

from prefect_blocks import ModelRegistry, retention_deployment, retention_flow, rollback_flow
from prefect_blocks.decorators import versioned
from prefect_blocks.examples.training import REGISTRY_BLOCK, digits_training_flow
from prefect_blocks.flows import dry_run_note
from tests.prefect._support import wait_for

pytestmark = pytest.mark.usefixtures("prefect_api")
RETENTION_ACTIONS = {"retention.plan", "version.tombstone", "retention.apply"}


def _artifacts(key: str) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )


def _events(model: str, name: str | None = None) -> list[Any]:
    """Stored events about ``model``, oldest first (a new filter each time: ``until`` is now)."""
    event_filter = EventFilter(
        resource=EventResourceFilter(id=[f"mv.model.{model}"]),
        event=EventNameFilter(name=[name]) if name else None,
    )
    with get_client(sync_client=True) as client:
        return list(reversed(client.read_events(filter=event_filter, limit=50).events))


def _model_file(root: Path, content: bytes) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{content.hex()}.bin"
    path.write_bytes(content)
    return path


def test_training_flow_registers_promotes_and_reports(
    registry_block: ModelRegistry, tmp_path: Path
) -> None:
    registry_block.save(REGISTRY_BLOCK, overwrite=True)
    state = digits_training_flow(
        workdir=str(tmp_path / "work"),
        params={"n_estimators": 5},
        promote_to="production",
        return_state=True,
    )
    assert state.is_completed(), state
    result = state.result()
    flow_run_id = str(state.state_details.flow_run_id)

    with registry_block.connection() as registry:
        assert registry.resolve("digits@production").record_id == result["record_id"]
        record = registry.record(result["ref"])
    context = record.capture["context"]
    assert (context["orchestrator"], context["pipeline"], context["run_id"]) == (
        "prefect",
        "digits-training",
        flow_run_id,
    )
    assert context["extra"]["task_name"] == "train-digits"
    assert record.params["n_estimators"] == 5
    assert record.capture["seeds"]["seed"] == 42
    assert [d.name for d in record.datasets] == ["digits"]
    assert 0.5 < record.metrics["accuracy"] <= 1.0

    [card] = _artifacts("mv-model-digits")
    assert str(card.flow_run_id) == flow_run_id and card.task_run_id is not None
    assert card.type == "markdown"
    assert f"# {result['ref']}" in card.data and "```mermaid" in card.data
    assert "trained_on" in card.data
    [moved] = _artifacts("mv-alias-digits-production")
    assert str(moved.flow_run_id) == flow_run_id

    events = wait_for(lambda: _events("digits"), 2)
    assert [e.event for e in events] == ["mv.model.version.registered", "mv.model.alias.moved"]
    registered, promoted = events
    assert registered.resource["mv.version"] == result["version"]
    assert promoted.resource["mv.alias"] == "production"
    assert f"prefect.flow-run.{flow_run_id}" in {r.id for r in registered.related}
    assert f"prefect.flow-run.{flow_run_id}" in {r.id for r in promoted.related}


def test_task_failing_after_registering_leaves_one_version_after_retry(
    registry_block: ModelRegistry, tmp_path: Path
) -> None:
    @versioned(model="retried", registry=registry_block, seed=3, log_args=False)
    def fit(out: str) -> Path:
        return _model_file(Path(out), b"retried-model")

    @task(retries=1, retry_delay_seconds=0)
    def fit_then_lose_the_worker(out: str) -> dict[str, Any]:
        version = fit(out)
        if task_run.run_count == 1:
            raise RuntimeError("worker lost after registering")
        return version

    @flow
    def nightly_training(out: str) -> dict[str, Any]:
        return fit_then_lose_the_worker(out)

    state = nightly_training(str(tmp_path / "m"), return_state=True)
    assert state.is_completed(), state
    result = state.result()
    assert result["created"] is False

    with registry_block.connection() as registry:
        assert [v.ref for v in registry.versions("retried")] == [result["ref"]]
        context = registry.record(result["ref"]).capture["context"]
    assert context["try_number"] == 1
    assert context["run_id"] == str(state.state_details.flow_run_id)
    # each try created its card; the event has one id, so it is stored once
    assert len(_artifacts("mv-model-retried")) == 2
    events = wait_for(lambda: _events("retried"), 1)
    assert [e.resource["mv.version"] for e in events] == [result["version"]]


def test_retention_flow_changes_exactly_the_planned_versions(
    registry_block: ModelRegistry, tmp_path: Path
) -> None:
    versions = [
        registry_block.register("churn", _model_file(tmp_path, bytes([n])), seed=n)
        for n in range(4)
    ]
    registry_block.promote(versions[0].ref)
    registry_block.save("retention-registry", overwrite=True)
    policy = {"rules": [{"models": "churn", "keep_last": 1}], "grace_period": "0s"}

    first = retention_flow(policy=policy, registry="retention-registry", apply=True)
    planned = set(first["plan"]["tombstone"])
    assert planned == {versions[1].ref, versions[2].ref}
    assert set(first["applied"]["tombstoned"]) == planned
    with registry_block.connection() as registry:
        status = {v.ref: v.status for v in registry.versions("churn")}
    assert status == {
        versions[0].ref: "active",
        versions[1].ref: "tombstoned",
        versions[2].ref: "tombstoned",
        versions[3].ref: "active",
    }

    dry = retention_flow(policy=policy, registry="retention-registry")
    assert dry["applied"] is None and set(dry["plan"]["purge"]) == planned
    second = retention_flow(policy=policy, registry="retention-registry", apply=True)
    assert set(second["applied"]["purged"]) == planned
    with registry_block.connection() as registry:
        status = {v.ref: v.status for v in registry.versions("churn")}
    assert [status[v.ref] for v in versions] == ["active", "purged", "purged", "active"]

    plan_tables = _artifacts("mv-retention-plan")
    assert len(plan_tables) == 3 and all(a.type == "table" for a in plan_tables)
    apply_tables = _artifacts("mv-retention-apply")
    assert len(apply_tables) == 2
    assert all(ref in "".join(str(a.data) for a in apply_tables) for ref in planned)


def _deployment_run(deployment: Any) -> tuple[Any, dict[str, Any]]:
    """Run ``deployment`` once in this process, as its schedule would; (flow run, result)."""
    from prefect.flow_engine import run_flow

    deployment_id = deployment.apply()
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run_from_deployment(deployment_id)
    result = run_flow(retention_flow, flow_run=flow_run, parameters=flow_run.parameters)
    return flow_run, result


def _run_logs(flow_run_id: Any) -> list[str]:
    log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    with get_client(sync_client=True) as client:
        return [log.message for log in client.read_logs(log_filter=log_filter)]


def test_a_scheduled_retention_run_is_a_dry_run_that_says_how_to_apply(
    registry_block: ModelRegistry, tmp_path: Path
) -> None:
    for n in range(3):
        registry_block.register("churn", _model_file(tmp_path, bytes([n])), seed=n)
    registry_block.save("dry-run-registry", overwrite=True)
    policy = {"rules": [{"models": "churn", "keep_last": 1}], "grace_period": "0s"}
    deployment = retention_deployment(
        name="dry-nightly", policy=policy, registry="dry-run-registry"
    )

    flow_run, result = _deployment_run(deployment)

    plan_id = result["plan"]["id"]
    assert result["applied"] is None and len(result["plan"]["tombstone"]) == 2
    with registry_block.connection() as registry:
        assert {v.status for v in registry.versions("churn")} == {"active"}
    [card] = [a for a in _artifacts("mv-retention-dry-run") if a.flow_run_id == flow_run.id]
    assert card.type == "markdown"
    assert f"Dry run: nothing was applied; plan {plan_id} is stored." in card.data
    assert f"mvo retention apply {plan_id}" in card.data and "apply=True" in card.data
    logs = wait_for(
        lambda: [m for m in _run_logs(flow_run.id) if m.startswith("Dry run: nothing")], 1
    )
    assert logs == [dry_run_note(plan_id)]


def test_an_applying_retention_run_is_the_audit_actor_of_its_plan_and_changes(
    registry_block: ModelRegistry, tmp_path: Path
) -> None:
    for n in range(3):
        registry_block.register("churn", _model_file(tmp_path, bytes([n])), seed=n)
    registry_block.save("audit-registry", overwrite=True)
    policy = {"rules": [{"models": "churn", "keep_last": 1}], "grace_period": "0s"}
    deployment = retention_deployment(
        name="applying-nightly", policy=policy, registry="audit-registry", apply=True
    )

    flow_run, result = _deployment_run(deployment)

    assert len(result["applied"]["tombstoned"]) == 2
    with registry_block.connection() as registry:
        events = [e for e in registry.audit_events(limit=50) if e.action in RETENTION_ACTIONS]
    assert sorted(e.action for e in events) == [
        "retention.apply",
        "retention.plan",
        "version.tombstone",
        "version.tombstone",
    ]
    assert {e.actor for e in events} == {f"prefect:{retention_flow.name}/{flow_run.name}"}


def test_rollback_flow_moves_production_back(registry_block: ModelRegistry, tmp_path: Path) -> None:
    old, new = (
        registry_block.register("fraud", _model_file(tmp_path, content), seed=1)
        for content in (b"old", b"new")
    )
    registry_block.promote(old.ref)
    registry_block.promote(new.ref)
    registry_block.save("rollback-registry", overwrite=True)

    move = rollback_flow("fraud", reason="drift alarm", registry="rollback-registry")
    assert (move["from_version"], move["to_version"]) == (new.version, old.version)
    assert move["actor"].startswith("prefect:mv-rollback/")
    assert registry_block.resolve("fraud@production").version == old.version
    [rollback] = wait_for(lambda: _events("fraud", "mv.model.rollback"), 1)
    assert rollback.resource["mv.alias"] == "production"
    assert rollback.payload["reason"] == "drift alarm"


def test_a_rollback_task_retried_after_moving_moves_the_alias_back_once(
    registry_block: ModelRegistry, tmp_path: Path
) -> None:
    versions = [
        registry_block.register("scoring", _model_file(tmp_path, content), seed=1)
        for content in (b"v1", b"v2", b"v3")
    ]
    for version in versions:
        registry_block.promote(version.ref)

    @task(retries=1, retry_delay_seconds=0)
    def roll_back_then_lose_the_worker() -> dict[str, Any]:
        move = registry_block.rollback("scoring", reason="bad canary")
        if task_run.run_count == 1:
            raise RuntimeError("worker lost after rolling back")
        return move.model_dump(mode="json")

    @flow
    def incident() -> dict[str, Any]:
        return roll_back_then_lose_the_worker()

    state = incident(return_state=True)
    assert state.is_completed(), state
    move = state.result()
    assert move["applied"] is False
    assert (move["from_version"], move["to_version"]) == (versions[2].version, versions[1].version)
    assert registry_block.resolve("scoring@production").version == versions[1].version
    with registry_block.connection() as registry:
        history = registry.alias_history("scoring", alias="production")
    rollbacks = [m for m in history if m.action == "rollback"]
    assert [m.id for m in rollbacks] == [move["id"]]
    assert rollbacks[0].context["run_id"] == str(state.state_details.flow_run_id)
    assert rollbacks[0].context["try_number"] == 1
    assert len(wait_for(lambda: _events("scoring", "mv.model.rollback"), 1)) == 1


def test_retention_deployment_schedule_is_stored(prefect_api: str) -> None:
    deployment = retention_deployment(
        name="retention-test", cron="30 4 * * *", policy={"rules": [{"keep_last": 2}]}
    )
    deployment_id = deployment.apply()
    with get_client(sync_client=True) as client:
        stored = client.read_deployment(deployment_id)
    assert [s.schedule.cron for s in stored.schedules] == ["30 4 * * *"]
    assert stored.parameters["apply"] is False


def test_block_saves_and_loads_with_its_secret(registry_block: ModelRegistry) -> None:
    registry_block.model_copy(update={"database_password": SecretStr("pg-s3cret")}).save(
        "secret-registry", overwrite=True
    )
    loaded = ModelRegistry.load("secret-registry")
    assert loaded.database_password.get_secret_value() == "pg-s3cret"
    assert loaded.registry_url == registry_block.registry_url
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(
            "secret-registry", "mv-model-registry", include_secrets=False
        )
    assert "pg-s3cret" not in str(document.data)


def test_prefect_block_register_cli(prefect_api: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "register", "-m", "prefect_blocks"],
        env={**os.environ, "PREFECT_API_URL": prefect_api},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "MV Model Registry" in completed.stdout
    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug("mv-model-registry")
    assert block_type.name == "MV Model Registry"
    assert str(block_type.documentation_url) == ModelRegistry._documentation_url


@flow
def redeploy_serving(version: str) -> str:
    """The flow an automation starts when production moves (never executed here)."""
    return version


def test_an_automation_reacts_when_production_moves(
    registry_block: ModelRegistry, tmp_path: Path
) -> None:
    from prefect.automations import Automation
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import EventTrigger

    deployment_id = redeploy_serving.to_deployment(name="on-production-move").apply()
    automation = Automation(
        name="redeploy when production moves",
        trigger=EventTrigger(
            expect={"mv.model.alias.moved", "mv.model.rollback"},
            match={"prefect.resource.id": "mv.model.serving", "mv.alias": "production"},
            posture="Reactive",
            threshold=1,
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                parameters={"version": "{{ event.resource['mv.version'] }}"},
            )
        ],
    ).create()
    try:
        version = registry_block.register("serving", _model_file(tmp_path, b"serve"), seed=1)
        registry_block.promote(version.ref, alias="staging")
        registry_block.promote(version.ref, alias="production")

        def started() -> list[Any]:
            with get_client(sync_client=True) as client:
                return client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
                )

        runs = wait_for(started, 1, timeout=60)
        assert [run.parameters for run in runs] == [{"version": version.version}]
    finally:
        automation.delete()


def test_a_deployment_run_records_the_deployment(
    registry_block: ModelRegistry, tmp_path: Path
) -> None:
    """A flow decorated with @versioned, run from a deployment (in this process)."""
    from prefect.flow_engine import run_flow

    @flow(name="deployed-training")
    @versioned(model="deployed", registry=registry_block, seed=5, log_args=False)
    def deployed_training(out: str) -> Path:
        return _model_file(Path(out), b"deployed-model")

    deployment_id = deployed_training.to_deployment(name="weekly").apply()
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run_from_deployment(
            deployment_id, parameters={"out": str(tmp_path / "m")}
        )
    result = run_flow(deployed_training, flow_run=flow_run, parameters={"out": str(tmp_path / "m")})
    assert result["created"] is True
    with registry_block.connection() as registry:
        context = registry.record(result["ref"]).capture["context"]
    assert (context["run_id"], context["task_id"], context["try_number"]) == (
        str(flow_run.id),
        None,
        1,
    )
    assert (context["pipeline"], context["deployment"]) == ("deployed-training", "weekly")
