"""The retention deployment helper (no server needed: deployments are built locally)."""

from __future__ import annotations

import pytest

from mv_orchestration.errors import ValidationError
from prefect_blocks import retention_deployment, retention_flow, rollback_flow

POLICY = {"rules": [{"models": "churn", "keep_last": 3}], "grace_period": "2d"}


def test_deployment_runs_retention_on_the_cron_given() -> None:
    deployment = retention_deployment(
        name="nightly", cron="15 2 * * 1-5", policy=POLICY, registry="prod", apply=True
    )
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "15 2 * * 1-5"
    assert schedule.active is True
    assert deployment.name == "nightly"
    assert deployment.flow_name == retention_flow.name
    assert deployment.parameters["registry"] == "prod"
    assert deployment.parameters["apply"] is True
    assert deployment.parameters["policy"]["rules"][0]["keep_last"] == 3
    assert deployment.parameters["policy"]["grace_period"] == "2d"


def test_deployment_defaults_to_a_nightly_dry_run() -> None:
    deployment = retention_deployment(policy=POLICY)
    assert deployment.schedules[0].schedule.cron == "0 3 * * *"
    assert deployment.parameters["apply"] is False


def test_a_bad_policy_fails_when_the_deployment_is_built() -> None:
    with pytest.raises(ValidationError, match="keep_lots"):
        retention_deployment(policy={"rules": [{"models": "*", "keep_lots": 3}]})


def test_flows_take_json_parameters() -> None:
    assert set(retention_flow.parameters.properties) == {"policy", "registry", "apply"}
    assert set(rollback_flow.parameters.properties) == {
        "model",
        "alias",
        "to",
        "reason",
        "registry",
        "dry_run",
    }
