"""The core's run identity, read from ``prefect.runtime``.

A Prefect retry of a task keeps its task run id and a retry of a flow keeps its flow run
id, so the identity built here (which never includes the run count) maps every try of one
run to the same idempotency key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from mv_orchestration.capture import RunContext

ORCHESTRATOR = "prefect"


def prefect_run_context() -> RunContext:
    """The :class:`~mv_orchestration.capture.RunContext` of the current flow or task run.

    A task run outside any flow (Prefect's autonomous task runs) uses its task run id as
    the run id. Outside any Prefect run the context has ``orchestrator="local"`` and no
    run id, so nothing is deduplicated by run identity.
    """
    from prefect.runtime import flow_run, task_run

    from mv_orchestration.capture import RunContext

    flow_run_id, task_run_id = flow_run.id, task_run.id
    if flow_run_id is None and task_run_id is None:
        return RunContext()
    extra = {"flow_run_name": flow_run.name}
    if task_run_id is not None:
        extra["task_name"] = task_run.task_name
        extra["task_run_name"] = task_run.name
        try_number = task_run.run_count
    else:
        try_number = flow_run.run_count
    return RunContext(
        orchestrator=ORCHESTRATOR,
        run_id=str(flow_run_id or task_run_id),
        task_id=str(task_run_id) if task_run_id is not None else None,
        try_number=int(try_number) if try_number else None,
        logical_date=_scheduled_start(),
        pipeline=flow_run.flow_name,
        deployment=_deployment_name(),
        code_version=flow_run.flow_version,
        extra={key: str(value) for key, value in extra.items() if value is not None},
    )


def in_prefect_run() -> bool:
    """True inside a flow or task run (where artifacts can be linked to the run)."""
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def run_actor() -> str | None:
    """``prefect:<flow name>/<flow run name>`` inside a run, else None (the core's default)."""
    from prefect.runtime import flow_run

    if flow_run.id is None:
        return None
    return f"{ORCHESTRATOR}:{flow_run.flow_name}/{flow_run.name}"


def _scheduled_start() -> datetime | None:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    return context.flow_run.expected_start_time


def _deployment_name() -> str | None:
    """The deployment's name, asked of the API only when the flow run has a deployment."""
    from prefect.context import FlowRunContext
    from prefect.runtime import deployment

    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow_run.deployment_id is None:
        return None
    return deployment.name
