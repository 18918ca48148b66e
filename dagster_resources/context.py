"""Translate a Dagster execution context into the core's :class:`RunContext`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    from mv_orchestration.capture import RunContext

ORCHESTRATOR = "dagster"
MAX_ACTOR = 256


def run_context_from(context: Any) -> RunContext:
    """The run identity of an asset/op execution context or an IO manager's output context.

    A resource's init context gives the run only (no step). ``None`` gives an
    orchestrator-only context (no run id, so no idempotency key).
    """
    from mv_orchestration.capture import RunContext

    if context is None:
        return RunContext(orchestrator=ORCHESTRATOR)
    if isinstance(context, dg.InitResourceContext):
        return _from_resource_init(context)
    if isinstance(context, dg.OutputContext):
        return _from_output(context)
    if isinstance(context, (dg.AssetExecutionContext, dg.OpExecutionContext)):
        return _from_execution(context)
    if isinstance(context, dg.AssetCheckExecutionContext):
        return _from_execution(context.op_execution_context)
    raise TypeError(f"not a Dagster execution context: {type(context).__name__}")


def run_actor(run: RunContext | None) -> str | None:
    """Who acts in audit events: ``dagster:<job>/<run id>/<step>`` (no step for a whole
    run); ``None`` outside a run (the core's default actor)."""
    if run is None or run.run_id is None:
        return None
    parts = (run.pipeline, run.run_id, run.task_id)
    return f"{ORCHESTRATOR}:{'/'.join(part for part in parts if part)}"[:MAX_ACTOR]


def _from_resource_init(context: dg.InitResourceContext) -> RunContext:
    from mv_orchestration.capture import RunContext

    run = context.run
    if run is None:
        return RunContext(orchestrator=ORCHESTRATOR)
    return RunContext(orchestrator=ORCHESTRATOR, run_id=run.run_id, pipeline=run.job_name)


def _from_output(context: dg.OutputContext) -> RunContext:
    from mv_orchestration.capture import RunContext

    asset_key = context.asset_key if context.has_asset_key else None
    extra = {"output": context.name}
    if context.mapping_key is not None:
        extra["mapping_key"] = context.mapping_key
    return RunContext(
        orchestrator=ORCHESTRATOR,
        run_id=context.run_id,
        task_id=context.step_key,
        partition_key=context.partition_key if context.has_partition_key else None,
        pipeline=context.job_name,
        asset_key=asset_key.to_user_string() if asset_key is not None else None,
        code_version=context.asset_spec.code_version if asset_key is not None else None,
        extra=extra,
    )


def _from_execution(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> RunContext:
    from mv_orchestration.capture import RunContext

    asset_key, code_version = _single_asset(context)
    return RunContext(
        orchestrator=ORCHESTRATOR,
        run_id=context.run.run_id,
        task_id=context.op_def.name,
        try_number=context.retry_number + 1,
        partition_key=context.partition_key if context.has_partition_key else None,
        pipeline=context.job_name,
        asset_key=asset_key,
        code_version=code_version,
    )


def _single_asset(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
) -> tuple[str | None, str | None]:
    """The asset key and code version when the step materializes exactly one asset."""
    if not context.has_assets_def:
        return None, None
    keys = context.selected_asset_keys
    if len(keys) != 1:
        return None, None
    (key,) = keys
    return key.to_user_string(), context.assets_def.code_versions_by_key.get(key)
