"""``versioning_definitions``: one call that wires the integration into ``Definitions``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from dagster_resources.checks import integrity_checks
from dagster_resources.io_manager import VersioningIOManager
from dagster_resources.jobs import retention_job, retention_schedule
from dagster_resources.resource import REGISTRY_KEY, ModelRegistryResource
from dagster_resources.sensors import alias_sensor

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


@dataclass(frozen=True)
class AliasTrigger:
    """Start ``job`` when alias ``alias`` of ``model`` moves."""

    model: str
    job: dg.JobDefinition | UnresolvedAssetJobDefinition
    alias: str = "production"


def versioning_definitions(
    *,
    assets: Sequence[Any] = (),
    registry: ModelRegistryResource | None = None,
    io_manager_key: str | None = "io_manager",
    model_assets: Mapping[str, str] | None = None,
    load_dir: str | None = None,
    checks: bool = True,
    alias_triggers: Iterable[AliasTrigger] = (),
    retention_policy: Any = None,
    retention_cron: str = "0 3 * * *",
    retention_dry_run: bool = True,
    jobs: Sequence[Any] = (),
    schedules: Sequence[Any] = (),
    sensors: Sequence[Any] = (),
    asset_checks: Sequence[Any] = (),
    resources: Mapping[str, Any] | None = None,
) -> dg.Definitions:
    """Definitions with the registry resource, the versioning IO manager and the extras.

    * ``registry`` (default: from ``MVO_*`` env) is bound as ``mv_registry``;
    * the IO manager is bound as ``io_manager_key`` (``None``: no IO manager);
    * ``checks`` adds an integrity check for every asset in ``assets``;
    * each :class:`AliasTrigger` adds an alias sensor (its job is added too);
    * ``retention_policy`` adds the retention job and its schedule (``retention_cron``);
      its runs are dry runs (plan only, nothing deleted) unless ``retention_dry_run`` is
      ``False``. An applying run tombstones; a later one purges after the grace period.
    """
    resource = registry or ModelRegistryResource()
    bound: dict[str, Any] = {REGISTRY_KEY: resource}
    if io_manager_key is not None:
        bound[io_manager_key] = VersioningIOManager(
            registry=resource, model_assets=dict(model_assets or {}), load_dir=load_dir
        )
    all_checks = list(asset_checks)
    if checks:
        all_checks += integrity_checks(a for a in assets if _is_asset(a))
    all_jobs, all_schedules, all_sensors = list(jobs), list(schedules), list(sensors)
    for trigger in alias_triggers:
        if trigger.job not in all_jobs:
            all_jobs.append(trigger.job)
        all_sensors.append(alias_sensor(trigger.model, trigger.job, alias=trigger.alias))
    if retention_policy is not None:
        job = retention_job(retention_policy, dry_run=retention_dry_run)
        all_jobs.append(job)
        all_schedules.append(retention_schedule(job, retention_cron))
    return dg.Definitions(
        assets=list(assets),
        asset_checks=all_checks,
        jobs=all_jobs,
        schedules=all_schedules,
        sensors=all_sensors,
        resources={**bound, **(resources or {})},
    )


def _is_asset(item: Any) -> bool:
    """Materializable assets get integrity checks (not source/external assets)."""
    return isinstance(item, dg.AssetsDefinition) and item.is_materializable
