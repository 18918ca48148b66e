"""Ready-made flows: retention (plan, then optionally apply) and rollback.

``retention_deployment(cron="0 3 * * *", policy=..., apply=True)`` returns a deployment to
serve (``prefect.serve(deployment)``) or deploy. Retention is a dry run unless ``apply``:
a dry run stores its plan, changes nothing, and says so (and how to apply) in the run log
and the ``mv-retention-dry-run`` artifact. Applying is two-phase: a run tombstones what
its plan selects (the bytes stay); a later applying run purges a tombstoned version once
the policy's grace period has passed. Each plan and change is recorded in the audit log
with the flow run as actor (``prefect:<flow>/<flow run name>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_blocks import artifacts
from prefect_blocks.decorators import resolve_registry

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

    from mv_orchestration.retention.policy import RetentionPolicy

RETENTION_FLOW_NAME = "mv-retention"
ROLLBACK_FLOW_NAME = "mv-rollback"
PolicyParameter = dict[str, Any] | str


@task(name="mv-retention-plan", cache_policy=NO_CACHE)
def plan_retention(registry: str | None, policy: PolicyParameter) -> dict[str, Any]:
    """Plan retention; the plan's decisions become a table artifact.

    Returns the plan's id, digest, counts and the versions it tombstones and purges.
    """
    plan = resolve_registry(registry).retention_plan(policy)
    get_run_logger().info("retention plan %s: %s", plan.id, plan.summary())
    return {
        "id": plan.id,
        "digest": plan.digest,
        "summary": plan.summary(),
        "tombstone": [planned.ref for planned in plan.by_decision("tombstone")],
        "purge": [planned.ref for planned in plan.by_decision("purge")],
    }


@task(name="mv-retention-apply", cache_policy=NO_CACHE)
def apply_retention(registry: str | None, plan_id: str) -> dict[str, Any]:
    """Apply a stored plan; what was done becomes a table artifact."""
    report = resolve_registry(registry).retention_apply(plan_id)
    get_run_logger().info("applied retention plan %s: %s", plan_id, report.summary())
    return report.to_json()


@flow(name=RETENTION_FLOW_NAME)
def retention_flow(
    policy: PolicyParameter,
    registry: str | None = None,
    apply: bool = False,
) -> dict[str, Any]:
    """Plan retention under ``policy`` and, only when ``apply`` is true, apply that plan.

    ``policy`` is a policy mapping or the path of a policy file; ``registry`` the name of
    a saved :class:`~prefect_blocks.ModelRegistry` block (None: ``MVO_*`` settings).
    Returns ``{"plan": ..., "applied": ...}`` (``applied`` is None for a dry run, which
    logs that nothing was applied and how to apply).
    """
    plan = plan_retention(registry, policy)
    if not apply:
        _report_dry_run(registry, plan["id"])
        return {"plan": plan, "applied": None}
    return {"plan": plan, "applied": apply_retention(registry, plan["id"])}


def dry_run_note(plan_id: str) -> str:
    """What a dry run reports: nothing was applied, and how to apply."""
    from mv_orchestration.retention.plans import dry_run_note as note

    return note(
        plan_id,
        f"run the {RETENTION_FLOW_NAME} flow with apply=True "
        "(retention_deployment(..., apply=True) to apply on schedule)",
    )


def _report_dry_run(registry: str | None, plan_id: str) -> None:
    note = dry_run_note(plan_id)
    get_run_logger().info(note)
    if resolve_registry(registry).create_artifacts:
        artifacts.create_dry_run_artifact(plan_id, note)


@flow(name=ROLLBACK_FLOW_NAME)
def rollback_flow(
    model: str,
    alias: str = "production",
    to: str | None = None,
    reason: str | None = None,
    registry: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Move ``alias`` of ``model`` back to its previous target (or to version ``to``)."""
    block = resolve_registry(registry)
    move = block.rollback(model, alias=alias, to=to, dry_run=dry_run, reason=reason)
    get_run_logger().info(
        "%s %s@%s: %s -> %s",
        "would roll back" if dry_run else "rolled back",
        model,
        alias,
        move.from_version,
        move.to_version,
    )
    return move.model_dump(mode="json")


def retention_deployment(
    *,
    policy: RetentionPolicy | Mapping[str, Any] | str | Path,
    name: str = "nightly",
    cron: str = "0 3 * * *",
    registry: str | None = None,
    apply: bool = False,
    timezone: str | None = None,
    **deployment_options: Any,
) -> RunnerDeployment:
    """A deployment of :func:`retention_flow` on ``cron`` (in ``timezone``, default UTC).

    Its runs are dry runs unless ``apply`` is true. The policy is validated now and stored
    in the deployment's parameters, so a bad policy fails here rather than at 3 a.m.
    ``registry`` names a saved block.
    """
    from prefect.schedules import Cron

    from mv_orchestration.retention.policy import load_policy

    return retention_flow.to_deployment(
        name=name,
        schedule=Cron(cron, timezone=timezone),
        parameters={
            "policy": load_policy(policy).to_json(),
            "registry": registry,
            "apply": apply,
        },
        **deployment_options,
    )
