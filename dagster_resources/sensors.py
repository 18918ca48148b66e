"""A sensor that starts a job when a model alias (e.g. ``production``) moves.

The cursor is the id of the last alias-history entry seen. The first evaluation (no
cursor) only records where the history stands, so enabling the sensor does not
redeploy the current target. Each later evaluation that finds new moves requests one
run for the newest move (``run_key`` = model, alias and history id, so a move never
starts two runs); the run carries the move in its tags.
"""

from typing import TYPE_CHECKING

import dagster as dg

from dagster_resources.resource import REGISTRY_KEY, ModelRegistryResource
from mv_orchestration.errors import ModelNotFoundError

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

MODEL_TAG = "mv/model"
ALIAS_TAG = "mv/alias"
VERSION_TAG = "mv/version"
PREVIOUS_TAG = "mv/previous_version"
MOVE_TAG = "mv/alias_history_id"


def alias_sensor(
    model: str,
    job: "dg.JobDefinition | UnresolvedAssetJobDefinition",
    *,
    alias: str = "production",
    name: str | None = None,
    registry_key: str = REGISTRY_KEY,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """Build a sensor that requests a run of ``job`` whenever ``model@alias`` moves."""
    sensor_name = name or f"mv_{_safe(model)}_{_safe(alias)}_sensor"

    @dg.sensor(
        name=sensor_name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys={registry_key},
        description=f"Starts {job.name} when alias {alias!r} of model {model!r} moves.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        registry: ModelRegistryResource = getattr(context.resources, registry_key)
        last_seen = int(context.cursor) if context.cursor else None
        try:
            history = registry.get_registry().alias_history(model, alias=alias)
        except ModelNotFoundError:
            history = []  # not registered yet: every future move is new
        moves = {move.id: move for move in history if move.id is not None}
        newest = max(moves, default=0)
        if last_seen is None:
            return dg.SensorResult(
                skip_reason=f"baseline: alias history of {model}@{alias} at entry {newest}",
                cursor=str(newest),
            )
        if newest <= last_seen:
            return dg.SkipReason(f"{model}@{alias} has not moved since entry {last_seen}")
        move = moves[newest]
        tags = {
            MODEL_TAG: model,
            ALIAS_TAG: alias,
            MOVE_TAG: str(newest),
            VERSION_TAG: move.to_version or "",
            PREVIOUS_TAG: move.from_version or "",
        }
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"{model}@{alias}#{newest}", tags=tags)],
            cursor=str(newest),
        )

    return _sensor


def _safe(text: str) -> str:
    """A Dagster-safe name fragment."""
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in text)
