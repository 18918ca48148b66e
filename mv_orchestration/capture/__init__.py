"""What a run was: seeds, environment, hardware, code, params and run identity.

Names are imported on first use, so ``import mv_orchestration.capture`` costs nothing
until one is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mv_orchestration.capture.code import CodeCapture, CodeInfo, capture_code
    from mv_orchestration.capture.environment import EnvironmentInfo, capture_environment
    from mv_orchestration.capture.hardware import HardwareInfo, capture_hardware
    from mv_orchestration.capture.params import normalise_params
    from mv_orchestration.capture.redact import REDACTED, redact_text, redact_value
    from mv_orchestration.capture.run_context import RunContext
    from mv_orchestration.capture.seeds import SeedState, seed_everything
    from mv_orchestration.capture.snapshot import (
        DEFAULT_ENV_ALLOWLIST,
        RunCapture,
        capture_env_vars,
        capture_run,
    )

_EXPORTS = {
    "CodeCapture": "code",
    "CodeInfo": "code",
    "capture_code": "code",
    "EnvironmentInfo": "environment",
    "capture_environment": "environment",
    "HardwareInfo": "hardware",
    "capture_hardware": "hardware",
    "normalise_params": "params",
    "REDACTED": "redact",
    "redact_text": "redact",
    "redact_value": "redact",
    "RunContext": "run_context",
    "SeedState": "seeds",
    "seed_everything": "seeds",
    "DEFAULT_ENV_ALLOWLIST": "snapshot",
    "RunCapture": "snapshot",
    "capture_env_vars": "snapshot",
    "capture_run": "snapshot",
}

__all__ = [
    "DEFAULT_ENV_ALLOWLIST",
    "REDACTED",
    "CodeCapture",
    "CodeInfo",
    "EnvironmentInfo",
    "HardwareInfo",
    "RunCapture",
    "RunContext",
    "SeedState",
    "capture_code",
    "capture_env_vars",
    "capture_environment",
    "capture_hardware",
    "capture_run",
    "normalise_params",
    "redact_text",
    "redact_value",
    "seed_everything",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
