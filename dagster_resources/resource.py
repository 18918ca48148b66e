"""``ModelRegistryResource``: the model registry as a Dagster resource."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field, PrivateAttr

from dagster_resources.context import run_actor, run_context_from

if TYPE_CHECKING:
    from mv_orchestration.capture import RunCapture, RunContext
    from mv_orchestration.registry import AliasMove, ModelVersion, Registry, Run, VerifyReport
    from mv_orchestration.retention import ApplyReport, RetentionPlan, RetentionPolicy

REGISTRY_KEY = "mv_registry"


class ModelRegistryResource(dg.ConfigurableResource):
    """Connects to the registry and runs the core's operations with Dagster's run identity.

    Both URLs default to ``MVO_REGISTRY_URL`` / ``MVO_STORE_URL`` and then to the embedded
    default (SQLite and a local directory under ``MVO_HOME``). An S3 store signs with the
    AWS default chain, or with the key pair (and session token) given here, best as
    ``dg.EnvVar`` so Dagster shows the variable's name, not its value; they are handed to
    the store in memory, never exported to the process environment.

    Inside a Dagster run, promotions, rollbacks and retention are recorded in the audit log
    with the run as actor: ``dagster:<job>/<run id>/<step>`` when the op or asset context
    is passed as ``context``, else ``dagster:<job>/<run id>``. Outside a run the core's
    default actor applies (``MVO_ACTOR`` or the OS user).
    """

    registry_url: str | None = Field(
        default=None, description="Registry URL (sqlite:///... or postgresql+psycopg://...)."
    )
    store_url: str | None = Field(
        default=None, description="Artifact store URL (file:///... or s3://bucket/prefix?...)."
    )
    aws_access_key_id: str | None = Field(
        default=None,
        description="S3 access key id for an s3:// store (empty: the AWS default chain).",
    )
    aws_secret_access_key: str | None = Field(
        default=None, description="S3 secret access key; set it with dg.EnvVar."
    )
    aws_session_token: str | None = Field(
        default=None, description="S3 session token of temporary credentials; dg.EnvVar."
    )

    _registry: Registry | None = PrivateAttr(default=None)
    _run: RunContext | None = PrivateAttr(default=None)

    def get_registry(self) -> Registry:
        """The connected core registry (connected on first use, then reused)."""
        if self._registry is None:
            from mv_orchestration.registry import connect
            from mv_orchestration.store.credentials import S3Credentials

            credentials = S3Credentials.from_pair(
                self.aws_access_key_id, self.aws_secret_access_key, self.aws_session_token
            )
            self._registry = connect(
                registry_url=self.registry_url,
                store_url=self.store_url,
                store_credentials=credentials,
            )
        return self._registry

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = run_context_from(context)
        self._run = run if run.run_id is not None else None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        """Close the registry connection if one was opened."""
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    def run_context(self, context: Any = None) -> RunContext:
        """The core run context for a Dagster asset/op/output context."""
        return run_context_from(context)

    def capture(self, context: Any = None, *, seed: int | None = None) -> RunCapture:
        """Capture what this run is (seeds, environment, hardware, code, Dagster identity)."""
        from mv_orchestration.capture import capture_run

        return capture_run(seed=seed, context=self.run_context(context))

    def run(
        self,
        model: str,
        context: Any = None,
        *,
        seed: int | None = None,
        code_of: Any = None,
    ) -> Run:
        """A core registry run (a context manager) carrying this Dagster run's identity."""
        return self.get_registry().run(
            model, seed=seed, context=self.run_context(context), code_of=code_of
        )

    def register(
        self,
        model: str,
        path: str | Path,
        context: Any = None,
        *,
        params: Any = None,
        datasets: Mapping[str, str | Path] | None = None,
        metrics: Mapping[str, float] | None = None,
        seed: int | None = None,
        bump: str = "auto",
        tags: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Register ``path`` as a version of ``model`` in one call (a run with one model)."""
        return self.get_registry().register(
            model,
            path,
            context=self.run_context(context),
            params=params,
            datasets=datasets,
            metrics=metrics,
            seed=seed,
            bump=bump,
            tags=tags,
            metadata=metadata,
        )

    def resolve(self, ref: str) -> ModelVersion:
        """The version a reference (MODEL@VERSION, MODEL@ALIAS, MODEL@latest, digest) names."""
        return self.get_registry().resolve(ref)

    def promote(
        self,
        ref: str,
        alias: str = "production",
        *,
        reason: str | None = None,
        actor: str | None = None,
        context: Any = None,
    ) -> AliasMove:
        """Point ``alias`` at the version ``ref`` names; the alias history records the run."""
        run = self._acting_run(context)
        return self.get_registry().promote(
            ref,
            alias=alias,
            reason=reason,
            actor=actor or run_actor(run),
            context=run,
        )

    def rollback(
        self,
        model: str,
        alias: str = "production",
        *,
        to: str | None = None,
        reason: str | None = None,
        dry_run: bool = False,
        actor: str | None = None,
        context: Any = None,
    ) -> AliasMove:
        """Move ``alias`` back to its previous target (or to ``to``), after verifying it.

        Given the op or asset ``context``, the rollback happens once per step: a retried
        step gets its earlier move back (``applied`` False) instead of rolling further.
        """
        step = self.run_context(context) if context is not None else None
        return self.get_registry().rollback(
            model,
            alias=alias,
            to=to,
            reason=reason,
            dry_run=dry_run,
            actor=actor or run_actor(self._acting_run(context)),
            context=step,
        )

    def verify(self, ref: str | None = None) -> VerifyReport:
        """Re-hash the stored bytes of ``ref`` (or of everything) and report."""
        return self.get_registry().verify(ref)

    def retention_plan(
        self,
        policy: RetentionPolicy | Mapping[str, Any] | str | Path,
        *,
        actor: str | None = None,
        context: Any = None,
    ) -> RetentionPlan:
        """Plan and store retention for a policy (object, mapping or file); deletes nothing."""
        actor = actor or run_actor(self._acting_run(context))
        return self.get_registry().retention_plan(policy, actor=actor)

    def retention_apply(
        self, plan_id: str, *, actor: str | None = None, context: Any = None
    ) -> ApplyReport:
        """Apply a stored retention plan exactly as planned (tombstone, or purge a version
        tombstoned longer than the grace period)."""
        actor = actor or run_actor(self._acting_run(context))
        return self.get_registry().retention_apply(plan_id, actor=actor)

    def _acting_run(self, context: Any) -> RunContext | None:
        """The run of ``context`` when given, else the run this resource was set up for."""
        if context is None:
            return self._run
        run = self.run_context(context)
        return run if run.run_id is not None else None
