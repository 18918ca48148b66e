"""Content-addressed artifact store (local disk, S3, any fsspec filesystem).

``ArtifactStore`` and ``StoredObject`` are loaded on first access, so importing this package
(or :mod:`.names`) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mv_orchestration.store.names import validate_artifact_name

if TYPE_CHECKING:
    from mv_orchestration.store.store import ArtifactStore, StoredObject

__all__ = ["ArtifactStore", "StoredObject", "validate_artifact_name"]


def __getattr__(name: str) -> Any:
    if name in ("ArtifactStore", "StoredObject"):
        from mv_orchestration.store import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
