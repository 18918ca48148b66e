"""A training run: capture what it was, collect params/data/metrics, register the model.

``with registry.run("churn", seed=42) as run:`` captures seeds, environment, hardware,
code and run context on entry; ``log_*`` calls validate at once (typed errors, nothing
written); :meth:`Run.register_model` uploads the bytes and commits the version. The
lineage run hooks (:mod:`mv_orchestration.lineage.run_hooks`) are told when the run
starts, completes or fails.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mv_orchestration.canonical import canonical_json
from mv_orchestration.errors import DigestMismatchError, UsageError, ValidationError
from mv_orchestration.registry.names import TAG_KEY_PATTERN, validate_model_name, validate_tags

if TYPE_CHECKING:
    import pyarrow

    from mv_orchestration.capture import RunCapture, RunContext
    from mv_orchestration.hashing.dataset import DatasetRef
    from mv_orchestration.registry.entities import ModelVersion
    from mv_orchestration.registry.registry import Registry

_CURRENT: ContextVar[Run | None] = ContextVar("mvo_current_run", default=None)
MAX_METRICS = 10_000


def current_run() -> Run | None:
    """The innermost run entered in this thread or task, if any."""
    return _CURRENT.get()


class Run:
    """One training run of ``model`` (use as a context manager)."""

    def __init__(
        self,
        registry: Registry,
        model: str,
        *,
        seed: int | None = None,
        context: RunContext | None = None,
        code_of: Callable[..., Any] | None = None,
        env_allowlist: list[str] | None = None,
        store_diff: bool = True,
    ) -> None:
        self.registry = registry
        self.model = validate_model_name(model)
        self._seed = seed
        self._context = context
        self._code_of = code_of
        self._env_allowlist = env_allowlist
        self._store_diff = store_diff
        self._capture: RunCapture | None = None
        self._capture_bytes: bytes | None = None
        self._token: Token[Run | None] | None = None
        self.local_id = uuid.uuid4().hex
        self.params: dict[str, Any] = {}
        self.features: dict[str, Any] = {}
        self.datasets: dict[str, DatasetRef] = {}
        self.metrics: dict[str, float] = {}
        self.tags: dict[str, str] = {}
        self.versions: list[ModelVersion] = []

    def __enter__(self) -> Run:
        from mv_orchestration.capture import capture_run
        from mv_orchestration.lineage.run_hooks import run_started

        allowlist = self._env_allowlist
        if allowlist is None:  # MVO_ENV_ALLOWLIST when set, else capture's default allowlist
            allowlist = list(self.registry.settings.env_allowlist) or None
        self._capture = capture_run(
            seed=self._seed,
            context=self._context,
            code_of=self._code_of,
            env_allowlist=allowlist,
            store_diff=self._store_diff,
        )
        self._token = _CURRENT.set(self)
        run_started(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from mv_orchestration.lineage.run_hooks import run_completed, run_failed

        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None
        if exc is None:
            run_completed(self)
        else:
            run_failed(self, exc)

    @property
    def capture(self) -> RunCapture:
        """What was captured on entry."""
        if self._capture is None:
            raise UsageError("enter the run first: `with registry.run(...) as run:`")
        return self._capture

    @property
    def capture_bytes(self) -> bytes:
        """The capture's canonical JSON (encoded once per run)."""
        if self._capture_bytes is None:
            from mv_orchestration.registry.record import capture_bytes

            self._capture_bytes = capture_bytes(self.capture)
        return self._capture_bytes

    @property
    def run_ref(self) -> str:
        """This run's identity in lineage: ``orchestrator:pipeline:run_id`` or ``local:<uuid>``."""
        context = self.capture.context
        if context.run_id is None:
            return f"local:{self.local_id}"
        return f"{context.orchestrator}:{context.pipeline or ''}:{context.run_id}"

    def log_params(self, params: Any) -> dict[str, Any]:
        """Add params (dict, pydantic model, dataclass, argparse namespace, OmegaConf); a
        top-level key logged again replaces the earlier value."""
        from mv_orchestration.capture import normalise_params

        self.params = normalise_params({**self.params, **normalise_params(params)})
        return self.params

    def log_features(self, features: Any) -> dict[str, Any]:
        """Add feature definitions (kept apart from params)."""
        from mv_orchestration.capture import normalise_params

        self.features = normalise_params({**self.features, **normalise_params(features)})
        return self.features

    def log_dataset(
        self,
        name: str,
        source: str | os.PathLike[str] | pyarrow.Table,
        *,
        snapshot: bool = False,
        tabular: bool | None = None,
    ) -> DatasetRef:
        """Record a dataset by content digest; ``snapshot`` also copies its bytes and its
        manifest into the artifact store (``manifest_digest`` names the stored manifest)."""
        from mv_orchestration.hashing.dataset import describe_dataset, snapshot_dataset

        _check_key(name, "dataset name")
        if not snapshot:
            ref = describe_dataset(name, source, tabular=tabular)
        else:
            store = self.registry.store
            ref, manifest = snapshot_dataset(name, source, store, tabular=tabular)
            body = canonical_json(manifest.model_dump(mode="json"))
            if store.put_bytes(body, manifest.algo) != ref.manifest_digest:
                raise DigestMismatchError(f"dataset {name!r}: stored manifest digest differs")
        self.datasets[name] = ref
        return ref

    def log_metrics(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """Add metrics: names like tag keys, finite numbers."""
        if not isinstance(metrics, Mapping):
            raise ValidationError("metrics must be a mapping of names to numbers")
        merged = dict(self.metrics)
        for key, value in metrics.items():
            _check_key(key, "metric name")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValidationError(f"metric {key!r} must be a number")
            if not math.isfinite(value):
                raise ValidationError(f"metric {key!r} must be finite")
            merged[key] = float(value)
        if len(merged) > MAX_METRICS:
            raise ValidationError(f"at most {MAX_METRICS} metrics per run")
        self.metrics = merged
        return self.metrics

    def set_tags(self, tags: Mapping[str, str]) -> dict[str, str]:
        """Add tags given to every version this run registers."""
        self.tags = validate_tags({**self.tags, **validate_tags(tags)})
        return self.tags

    def register_model(
        self,
        path: str | os.PathLike[str],
        *,
        bump: str = "auto",
        version: str | None = None,
        tags: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        signature: Mapping[str, Any] | None = None,
        parent: str | ModelVersion | None = None,
        idempotency_key: str | None = None,
    ) -> ModelVersion:
        """Register the model file or directory at ``path`` as a new immutable version.

        ``version`` (explicit semver) wins over ``bump``. The same idempotency key (by
        default the run context's: same orchestrator task and map index or partition, any
        try) returns the version registered first, with ``created=False``; so does content
        identical to an active version of the model when no explicit version is given.
        """
        if self._token is None:
            raise UsageError("register inside the run: `with registry.run(...) as run:`")
        mv = self.registry.register_run(
            self,
            Path(path),
            bump=bump,
            version=version,
            tags={**self.tags, **validate_tags(tags)},
            metadata=metadata,
            signature=signature,
            parent=parent,
            idempotency_key=idempotency_key or self.capture.context.idempotency_key(),
        )
        self.versions.append(mv)
        return mv


def _check_key(name: object, what: str) -> None:
    if not isinstance(name, str) or not TAG_KEY_PATTERN.fullmatch(name):
        raise ValidationError(f"invalid {what} {name!r} (pattern {TAG_KEY_PATTERN.pattern})")
