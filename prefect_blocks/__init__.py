"""Prefect integration for mv-orchestration: model versioning inside Prefect flows.

* :class:`ModelRegistry` — the block (``prefect block register -m prefect_blocks``);
* :func:`versioned` / :func:`versioned_task` — version what a task or flow produces;
* :func:`retention_flow`, :func:`rollback_flow`, :func:`retention_deployment` — ready flows;
* :mod:`prefect_blocks.events` and :mod:`prefect_blocks.artifacts` — what shows in the UI.
"""

from prefect_blocks.blocks import ModelRegistry
from prefect_blocks.context import prefect_run_context
from prefect_blocks.decorators import resolve_registry, versioned, versioned_task
from prefect_blocks.flows import retention_deployment, retention_flow, rollback_flow

__all__ = [
    "ModelRegistry",
    "prefect_run_context",
    "resolve_registry",
    "retention_deployment",
    "retention_flow",
    "rollback_flow",
    "versioned",
    "versioned_task",
]
