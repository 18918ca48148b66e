"""Dagster integration for mv-orchestration.

* :class:`ModelRegistryResource` — the registry as a resource (capture, register,
  promote, rollback, verify, retention) carrying Dagster's run identity;
* :class:`VersioningIOManager` — asset values stored content-addressed, model assets
  registered, data version = content digest;
* :func:`version_result` — the explicit path for assets that register their own model;
* :func:`integrity_checks`, :func:`alias_sensor`, :func:`retention_job`,
  :func:`retention_schedule` and :func:`versioning_definitions` to wire it all.
"""

from dagster_resources.checks import integrity_checks
from dagster_resources.context import run_context_from
from dagster_resources.definitions import AliasTrigger, versioning_definitions
from dagster_resources.io_manager import VersioningIOManager
from dagster_resources.jobs import RetentionConfig, retention_job, retention_schedule
from dagster_resources.materialize import lineage_markdown, version_result
from dagster_resources.resource import REGISTRY_KEY, ModelRegistryResource
from dagster_resources.sensors import alias_sensor

__all__ = [
    "REGISTRY_KEY",
    "AliasTrigger",
    "ModelRegistryResource",
    "RetentionConfig",
    "VersioningIOManager",
    "alias_sensor",
    "integrity_checks",
    "lineage_markdown",
    "retention_job",
    "retention_schedule",
    "run_context_from",
    "version_result",
    "versioning_definitions",
]
