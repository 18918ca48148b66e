"""mv-orchestration: ML model versioning inside Airflow, Prefect and Dagster pipelines.

The public surface is re-exported here and imported lazily, so ``import
mv_orchestration`` stays cheap: nothing heavy (pyarrow, SQLAlchemy, an orchestrator)
is loaded until it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mv_orchestration._version import __version__

_EXPORTS = {
    "connect": "mv_orchestration.registry",
    "Registry": "mv_orchestration.registry",
    "Run": "mv_orchestration.registry",
    "current_run": "mv_orchestration.registry",
    "ModelVersion": "mv_orchestration.registry",
    "VersionRecord": "mv_orchestration.registry",
    "AliasMove": "mv_orchestration.registry",
    "Hold": "mv_orchestration.registry",
    "RunContext": "mv_orchestration.capture",
    "seed_everything": "mv_orchestration.capture",
    "versioned": "mv_orchestration.versioned",
    "Settings": "mv_orchestration.settings",
    "RetentionPolicy": "mv_orchestration.retention",
}

if TYPE_CHECKING:
    from mv_orchestration.capture import RunContext, seed_everything
    from mv_orchestration.registry import (
        AliasMove,
        Hold,
        ModelVersion,
        Registry,
        Run,
        VersionRecord,
        connect,
        current_run,
    )
    from mv_orchestration.retention import RetentionPolicy
    from mv_orchestration.settings import Settings
    from mv_orchestration.versioned import versioned


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mv_orchestration' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "AliasMove",
    "Hold",
    "ModelVersion",
    "Registry",
    "RetentionPolicy",
    "Run",
    "RunContext",
    "Settings",
    "VersionRecord",
    "__version__",
    "connect",
    "current_run",
    "seed_everything",
    "versioned",
]
