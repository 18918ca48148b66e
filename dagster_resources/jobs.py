"""A retention job (plan, then apply) and a schedule for it.

One op makes a retention plan for the policy and shows it (output ``plan``'s metadata),
then applies exactly that plan by id unless the run is a dry run, and shows the report
(output ``applied``). Both outputs are ``Nothing``: no IO manager is involved. The
policy is validated when the job is built.

A run is a dry run unless configured otherwise (``retention_job(..., dry_run=False)`` or
run config ``dry_run: false``): it stores the plan, changes nothing, and says so in the
plan's metadata and the run log. Applying is two-phase: a run tombstones what its plan
selects (the bytes stay); a later applying run purges a tombstoned version once the
policy's grace period has passed. The plan, each tombstone or purge and the apply are
recorded in the audit log with ``dagster:<job>/<run id>/<op>`` as actor.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import Field

from dagster_resources.resource import REGISTRY_KEY, ModelRegistryResource

MAX_ROWS = 200


class RetentionConfig(dg.Config):
    """Run config of the retention op."""

    dry_run: bool = Field(
        default=True, description="Plan only and apply nothing; false applies the plan."
    )


def retention_job(
    policy: Any,
    *,
    name: str = "mv_retention",
    dry_run: bool = True,
    registry_key: str = REGISTRY_KEY,
) -> dg.JobDefinition:
    """Build the retention job for ``policy`` (a RetentionPolicy, a mapping or a file path).

    ``dry_run`` (default ``True``: plan only) is the default of the op's ``dry_run``
    config; a run can override it. Pass ``dry_run=False`` for scheduled runs that apply.
    """
    from mv_orchestration.retention.policy import load_policy

    resolved = load_policy(policy)
    op_name = f"{name}_op"

    @dg.op(
        name=op_name,
        required_resource_keys={registry_key},
        out={
            "plan": dg.Out(dg.Nothing, description="The plan (metadata)."),
            "applied": dg.Out(dg.Nothing, is_required=False, description="The apply report."),
        },
        description="Plan retention for the policy, then apply exactly that plan.",
    )
    def retention_op(
        context: dg.OpExecutionContext, config: RetentionConfig
    ) -> Iterator[dg.Output[None]]:
        resource: ModelRegistryResource = getattr(context.resources, registry_key)
        plan = resource.retention_plan(resolved, context=context)
        summary = plan.summary()
        context.log.info("retention plan %s: %s", plan.id, summary)
        metadata: dict[str, Any] = {
            "plan_id": plan.id,
            "plan_digest": plan.digest,
            "policy_digest": plan.policy_digest,
            "dry_run": config.dry_run,
            "summary": dg.MetadataValue.json(summary),
            "decisions": dg.MetadataValue.md(plan_markdown(plan)),
        }
        if config.dry_run:
            metadata["note"] = dry_run_note(plan.id, op_name)
        yield dg.Output(None, "plan", metadata=metadata)
        if config.dry_run:
            context.log.info(metadata["note"])
            return
        report = resource.retention_apply(plan.id, context=context)
        context.log.info("retention plan %s applied: %s", plan.id, report.summary())
        yield dg.Output(
            None,
            "applied",
            metadata={
                "plan_id": plan.id,
                "summary": dg.MetadataValue.json(report.summary()),
                "report": dg.MetadataValue.json(report.to_json()),
            },
        )

    @dg.job(
        name=name,
        description="Model retention: plan, then apply exactly that plan (or dry run).",
        config={"ops": {op_name: {"config": {"dry_run": dry_run}}}},
        tags={"mv/job": "retention"},
    )
    def _job() -> None:
        retention_op()

    return _job


def retention_schedule(
    job: dg.JobDefinition,
    cron_schedule: str = "0 3 * * *",
    *,
    name: str | None = None,
    execution_timezone: str = "UTC",
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.ScheduleDefinition:
    """A schedule running the retention job (default: daily at 03:00 UTC)."""
    return dg.ScheduleDefinition(
        name=name or f"{job.name}_schedule",
        job=job,
        cron_schedule=cron_schedule,
        execution_timezone=execution_timezone,
        default_status=default_status,
    )


def dry_run_note(plan_id: str, op_name: str) -> str:
    """What a dry run reports: nothing was applied, and how to apply."""
    from mv_orchestration.retention.plans import dry_run_note as note

    return note(
        plan_id,
        f"launch the job with run config ops.{op_name}.config.dry_run: false "
        "(retention_job(..., dry_run=False) to apply on schedule)",
    )


def plan_markdown(plan: Any) -> str:
    """The plan's non-keep decisions as a Markdown table (at most ``MAX_ROWS`` rows)."""
    rows = [v for v in plan.versions if v.decision != "keep"]
    lines = [
        f"**Plan `{plan.id}`**: " + ", ".join(f"{k} {v}" for k, v in plan.summary().items() if v),
        "",
        "| version | decision | reason | frees bytes |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {v.ref} | {v.decision} | {v.reason.replace('|', '/')} | {v.frees_bytes} |"
        for v in rows[:MAX_ROWS]
    ]
    if len(rows) > MAX_ROWS:
        lines.append(f"| ... {len(rows) - MAX_ROWS} more | | | |")
    if not rows:
        lines.append("| (nothing to remove) | | | |")
    return "\n".join(lines)
