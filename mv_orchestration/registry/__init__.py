"""The model registry: immutable version records, semver, aliases, holds, audit log.

Importing this package is light (no SQLAlchemy, no pyarrow); the names below load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mv_orchestration.registry.entities import (
        AliasMove,
        AuditEvent,
        AuditReport,
        Hold,
        ModelSummary,
        ModelVersion,
        VerifyReport,
    )
    from mv_orchestration.registry.record import BumpInfo, VersionRecord
    from mv_orchestration.registry.registry import Registry, connect
    from mv_orchestration.registry.run import Run, current_run

_EXPORTS = {
    "connect": "mv_orchestration.registry.registry",
    "Registry": "mv_orchestration.registry.registry",
    "Run": "mv_orchestration.registry.run",
    "current_run": "mv_orchestration.registry.run",
    "VersionRecord": "mv_orchestration.registry.record",
    "BumpInfo": "mv_orchestration.registry.record",
    "ModelVersion": "mv_orchestration.registry.entities",
    "AliasMove": "mv_orchestration.registry.entities",
    "Hold": "mv_orchestration.registry.entities",
    "ModelSummary": "mv_orchestration.registry.entities",
    "AuditEvent": "mv_orchestration.registry.entities",
    "AuditReport": "mv_orchestration.registry.entities",
    "VerifyReport": "mv_orchestration.registry.entities",
}
__all__ = [
    "AliasMove",
    "AuditEvent",
    "AuditReport",
    "BumpInfo",
    "Hold",
    "ModelSummary",
    "ModelVersion",
    "Registry",
    "Run",
    "VerifyReport",
    "VersionRecord",
    "connect",
    "current_run",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
