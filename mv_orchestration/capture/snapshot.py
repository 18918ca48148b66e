"""One call that captures everything a run was: :func:`capture_run` -> :class:`RunCapture`."""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from mv_orchestration.capture.code import DEFAULT_MAX_DIFF_BYTES, CodeInfo, capture_code
from mv_orchestration.capture.environment import EnvironmentInfo, capture_environment
from mv_orchestration.capture.hardware import HardwareInfo, capture_hardware
from mv_orchestration.capture.jsonform import EXCLUDE, JsonForm
from mv_orchestration.capture.redact import redact_argv, redact_env, redact_text
from mv_orchestration.capture.run_context import RunContext
from mv_orchestration.capture.seeds import SeedState, seed_everything
from mv_orchestration.errors import ValidationError

logger = logging.getLogger(__name__)

DEFAULT_ENV_ALLOWLIST: tuple[str, ...] = (
    "CUDA_*",
    "CUDNN_*",
    "NVIDIA_VISIBLE_DEVICES",
    "NVIDIA_DRIVER_CAPABILITIES",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "OMP_*",
    "MKL_*",
    "OPENBLAS_*",
    "NUMEXPR_*",
    "VECLIB_MAXIMUM_THREADS",
    "PYTHONHASHSEED",
    "CUBLAS_WORKSPACE_CONFIG",
    "TF_DETERMINISTIC_OPS",
    "TF_CUDNN_DETERMINISTIC",
    "PYTORCH_CUDA_ALLOC_CONF",
    "TOKENIZERS_PARALLELISM",
    "XLA_FLAGS",
)


@dataclass(frozen=True)
class RunCapture(JsonForm):
    """Seeds, environment, hardware, code, run identity, env vars and argv of one run.

    ``diff`` (the redacted uncommitted diff, for the artifact store) is excluded from
    its JSON form; ``code.diff_digest`` identifies it.
    """

    seeds: SeedState
    environment: EnvironmentInfo
    hardware: HardwareInfo
    code: CodeInfo
    context: RunContext
    env_vars: dict[str, str]
    argv: list[str]
    started_at: datetime
    diff: bytes | None = field(default=None, repr=False, metadata=EXCLUDE)


@lru_cache(maxsize=32)
def _allowlist_pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(fnmatch.translate(p) for p in patterns) or r"(?!)")


def capture_env_vars(
    allowlist: Iterable[str] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment variables whose names match ``allowlist`` (shell patterns), redacted.

    ``allowlist`` defaults to :data:`DEFAULT_ENV_ALLOWLIST`; matching is case-sensitive.
    """
    if isinstance(allowlist, str):
        raise ValidationError("env_allowlist must be a list of patterns, not one string")
    patterns = DEFAULT_ENV_ALLOWLIST if allowlist is None else tuple(allowlist)
    if not all(isinstance(p, str) for p in patterns):
        raise ValidationError("env_allowlist must hold only strings")
    match = _allowlist_pattern(patterns).match
    source = os.environ if environ is None else environ
    return redact_env({name: source[name] for name in sorted(source) if match(name)})


def _redact_context(context: RunContext | Mapping[str, Any]) -> RunContext:
    if not isinstance(context, RunContext):
        context = RunContext.from_mapping(context)
    update: dict[str, Any] = {}
    for name in (f.name for f in fields(context)):
        value = getattr(context, name)
        if isinstance(value, str) and redact_text(value) != value:
            update[name] = redact_text(value)
    extra = redact_env(context.extra)
    if extra != context.extra:
        update["extra"] = extra
    return replace(context, **update) if update else context


def capture_run(
    *,
    seed: int | None = None,
    context: RunContext | Mapping[str, Any] | None = None,
    code_of: Any = None,
    env_allowlist: Iterable[str] | None = None,
    store_diff: bool = True,
    cwd: str | os.PathLike[str] | None = None,
    max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES,
) -> RunCapture:
    """Seed every generator, then capture what this run is.

    ``context`` is a :class:`RunContext` or a mapping of its fields. ``code_of`` is the
    task's function: its source is digested, and the git state of its folder is read
    unless ``cwd`` is given. ``env_allowlist`` replaces :data:`DEFAULT_ENV_ALLOWLIST`.
    ``store_diff`` keeps the uncommitted diff (redacted, up to ``max_diff_bytes``) on
    ``RunCapture.diff``. Every captured string is redacted. Bad arguments raise
    :class:`~mv_orchestration.errors.ValidationError` before anything is seeded.
    """
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc)
    run_context = _redact_context(context if context is not None else RunContext())
    env_vars = capture_env_vars(env_allowlist)
    seeds = seed_everything(seed)
    code = capture_code(code_of, cwd=cwd, store_diff=store_diff, max_diff_bytes=max_diff_bytes)
    capture = RunCapture(
        seeds=seeds,
        environment=capture_environment(),
        hardware=capture_hardware(),
        code=code.info,
        context=run_context,
        env_vars=env_vars,
        argv=redact_argv(sys.argv),
        started_at=started_at,
        diff=code.diff,
    )
    logger.debug("captured run in %.1f ms", (time.perf_counter() - started) * 1000)
    return capture
