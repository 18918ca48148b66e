"""JSON-safe task results (what operators return through XCom) and asset-event extras."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mv_orchestration.registry import ModelVersion


def version_result(version: ModelVersion) -> dict[str, Any]:
    """``version.to_json()`` plus ``ref`` and ``created`` (whether this task created it)."""
    result = dict(version.to_json())
    result.setdefault("ref", version.ref)
    result.setdefault("created", bool(getattr(version, "created", False)))
    return result


def version_event(version: ModelVersion) -> dict[str, Any]:
    """The asset-event ``extra`` that announces ``version``."""
    return {
        "model": version.model,
        "version": version.version,
        "ref": version.ref,
        "record_id": version.record_id,
    }


def version_selector(model: str, version: Any) -> str:
    """``model@<version>`` from a version string, an alias, or a version result (XCom)."""
    from mv_orchestration.errors import InvalidReferenceError

    if isinstance(version, Mapping):
        if version.get("model") != model or not version.get("version"):
            raise InvalidReferenceError(
                f"expected a version result of model {model!r}, got {dict(version)!r}"
            )
        version = version["version"]
    if not isinstance(version, str) or not version:
        raise InvalidReferenceError(f"invalid version {version!r} for model {model!r}")
    return f"{model}@{version}"
