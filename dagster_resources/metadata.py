"""Dagster metadata describing a registered model version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mv_orchestration.registry import ModelVersion

REF_KEY = "mv/ref"
VERSION_KEY = "mv/version"
RECORD_KEY = "mv/record_id"
ARTIFACT_KEY = "mv/artifact_digest"
CREATED_KEY = "mv/created"


def plain(value: Any) -> Any:
    """The plain value of a Dagster metadata entry (or of a plain value)."""
    return getattr(value, "value", value)


def version_metadata(version: ModelVersion) -> dict[str, Any]:
    """The version's identity as materialization metadata."""
    return {
        REF_KEY: version.ref,
        VERSION_KEY: version.version,
        RECORD_KEY: version.record_id,
        ARTIFACT_KEY: version.artifact_digest,
        CREATED_KEY: bool(version.created),
    }
