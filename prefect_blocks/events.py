"""Prefect events for registry changes, so automations can react to them.

Every event's primary resource is the model, ``mv.model.<model>``, labelled with
``mv.model``, ``mv.version`` and (for alias moves) ``mv.alias``. An automation that
redeploys serving whenever ``production`` moves matches::

    expect={"mv.model.alias.moved", "mv.model.rollback"}
    match={"prefect.resource.id": "mv.model.churn", "mv.alias": "production"}

Event ids are derived from what happened (the record id; the alias-history entry, its
target and time), so a task retry that re-emits an event produces the same id and
Prefect stores it once.
Prefect adds the flow run, task run, flow and deployment as related resources.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.events import Event

    from mv_orchestration.registry import AliasMove, ModelVersion

logger = logging.getLogger(__name__)

VERSION_REGISTERED = "mv.model.version.registered"
ALIAS_MOVED = "mv.model.alias.moved"
ROLLBACK = "mv.model.rollback"
RESOURCE_PREFIX = "mv.model."
_ID_NAMESPACE = uuid.UUID("6f1c1a0e-1f62-4a39-9d4c-8d7f3f0e2b51")


def model_resource(model: str, **labels: str | None) -> dict[str, str]:
    """The resource of ``model`` with ``mv.<label>`` labels (``None`` values are left out)."""
    resource = {
        "prefect.resource.id": f"{RESOURCE_PREFIX}{model}",
        "prefect.resource.name": model,
        "mv.model": model,
    }
    resource.update({f"mv.{key}": value for key, value in labels.items() if value is not None})
    return resource


def version_resource(version: ModelVersion, role: str) -> dict[str, str]:
    """A related resource naming one model version."""
    return {
        "prefect.resource.id": f"mv.model-version.{version.ref}",
        "prefect.resource.role": role,
        "prefect.resource.name": version.ref,
        "mv.record_id": version.record_id,
    }


def emit_version_registered(version: ModelVersion) -> Event | None:
    """Emit ``mv.model.version.registered`` for ``version``."""
    return _emit(
        VERSION_REGISTERED,
        model_resource(version.model, version=version.version),
        related=[version_resource(version, "model-version")],
        payload=version.to_json(),
        key=version.record_id,
    )


def emit_alias_moved(move: AliasMove) -> Event | None:
    """Emit ``mv.model.alias.moved`` for a promotion; nothing for a dry run or a no-op."""
    return _emit_move(ALIAS_MOVED, move)


def emit_rollback(move: AliasMove) -> Event | None:
    """Emit ``mv.model.rollback`` for an alias moved back to an earlier version."""
    return _emit_move(ROLLBACK, move)


def _emit_move(event: str, move: AliasMove) -> Event | None:
    """Emit ``event`` for a recorded move (none for a dry run or a no-op). A retry that got
    an earlier try's move back emits it again under the same event id, so an emission that
    try lost is made up for and Prefect keeps one event."""
    if move.id is None:
        return None
    return _emit(
        event,
        model_resource(
            move.model,
            alias=move.alias,
            version=move.to_version,
            previous_version=move.from_version,
        ),
        related=[],
        payload={**move.model_dump(mode="json"), "applied": True},
        key=f"{move.model}:{move.alias}:{move.id}:{move.to_version}:{move.at.isoformat()}",
    )


def _emit(
    event: str,
    resource: dict[str, str],
    *,
    related: list[dict[str, str]],
    payload: dict[str, Any],
    key: str,
) -> Event | None:
    from prefect.events import emit_event

    emitted = emit_event(
        event,
        resource=resource,
        related=related,
        payload=payload,
        id=uuid.uuid5(_ID_NAMESPACE, f"{event}:{key}"),
    )
    logger.debug("emitted %s for %s", event, resource["prefect.resource.id"])
    return emitted
