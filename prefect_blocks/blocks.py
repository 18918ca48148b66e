"""The ``ModelRegistry`` block: where a Prefect workspace keeps its model registry settings.

The block holds connection settings and credentials; every operation is a call into the
core (:mod:`mv_orchestration`). What the adapter adds is Prefect's side: run identity from
``prefect.runtime``, an artifact per registered version or alias move, and an event per
change (see :mod:`prefect_blocks.events`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from prefect_blocks import artifacts, credentials, events
from prefect_blocks.context import in_prefect_run, prefect_run_context, run_actor

try:
    from prefect_aws import AwsCredentials
except ImportError:  # prefect-aws is optional
    AwsCredentials = None

if TYPE_CHECKING:
    from mv_orchestration.capture import RunContext
    from mv_orchestration.registry import AliasMove, ModelVersion, Registry, Run
    from mv_orchestration.registry.entities import VerifyReport
    from mv_orchestration.retention.apply import ApplyReport
    from mv_orchestration.retention.plan import RetentionPlan
    from mv_orchestration.retention.policy import RetentionPolicy
    from mv_orchestration.store.credentials import S3Credentials

logger = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/mv-orchestration/mv-orchestration"
DOCS_URL = f"{PROJECT_URL}/blob/main/docs/prefect.md"
LOGO_URL = f"{PROJECT_URL}/raw/main/docs/assets/logo.png"


class ModelRegistry(Block):
    """Version ML models from Prefect flows into an mv-orchestration registry.

    Holds the registry database URL, the artifact store URL and their credentials, and
    offers the registry's operations: capture a run, register, promote, rollback,
    verify and retention.

    Example:
        Load a saved registry block and promote a version:
        ```python
        from prefect_blocks import ModelRegistry

        registry = ModelRegistry.load("BLOCK_NAME")
        registry.promote("churn@1.4.0", alias="production", reason="passed review")
        ```
    """

    _block_type_name = "MV Model Registry"
    _block_type_slug = "mv-model-registry"
    _logo_url = LOGO_URL
    _documentation_url = DOCS_URL
    _description = (
        "An mv-orchestration model registry: immutable, content-addressed model versions "
        "with lineage, aliases, rollback and retention."
    )

    registry_url: str | None = Field(
        default=None,
        title="Registry URL",
        description=(
            "SQLAlchemy URL of the registry database, without a password "
            "(sqlite:///path/registry.db or postgresql+psycopg://user@host/db); "
            "empty means MVO_REGISTRY_URL or the embedded default."
        ),
    )
    store_url: str | None = Field(
        default=None,
        title="Store URL",
        description=(
            "URL of the artifact store (file:///dir or s3://bucket/prefix?region=...); "
            "empty means MVO_STORE_URL or the embedded default."
        ),
    )
    database_password: SecretStr | None = Field(
        default=None,
        description="Password of the registry database, added to the URL when connecting.",
    )
    aws_access_key_id: str | None = Field(
        default=None,
        title="AWS Access Key ID",
        description="Access key id for an S3 artifact store.",
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None,
        title="AWS Secret Access Key",
        description="Secret access key for an S3 artifact store.",
    )
    if AwsCredentials is not None:
        aws_credentials: AwsCredentials | None = Field(
            default=None,
            description="A prefect-aws credentials block for an S3 artifact store.",
        )
    emit_events: bool = Field(
        default=True,
        description="Emit a Prefect event for every registered version and alias move.",
    )
    create_artifacts: bool = Field(
        default=True,
        description="Create a Prefect artifact for every registered version inside a run.",
    )

    # -- connecting ---------------------------------------------------------------------

    def get_registry(self) -> Registry:
        """Connect to the registry; the caller closes it (``registry.close()``).

        S3 credentials held by this block sign the store's requests in memory; they are
        never put into ``os.environ``. Prefer :meth:`connection`, which closes for you.
        """
        return self._connect()

    @contextmanager
    def connection(self) -> Iterator[Registry]:
        """``with block.connection() as registry:`` a connected registry, closed after."""
        registry = self._connect()
        try:
            yield registry
        finally:
            registry.close()

    def _connect(self) -> Registry:
        import mv_orchestration as mvo

        aws = getattr(self, "aws_credentials", None)
        region = aws.region_name if aws is not None else None
        return mvo.connect(
            registry_url=self._registry_url(),
            store_url=credentials.with_region(self.store_url, region),
            store_credentials=self._store_credentials(),
        )

    def _registry_url(self) -> str | None:
        if self.registry_url is None or self.database_password is None:
            return self.registry_url
        from sqlalchemy.engine import make_url

        url = make_url(self.registry_url).set(password=self.database_password.get_secret_value())
        return url.render_as_string(hide_password=False)

    def _store_credentials(self) -> S3Credentials | None:
        """The S3 credentials for the store: the ``aws_credentials`` block's when set, else
        this block's key pair, else None (the AWS default chain)."""
        aws = getattr(self, "aws_credentials", None)
        if aws is not None:
            return credentials.from_aws_credentials(aws)
        return credentials.key_pair(self.aws_access_key_id, self.aws_secret_access_key)

    # -- capture and register ----------------------------------------------------------

    @contextmanager
    def run(
        self,
        model: str,
        *,
        seed: int | None = None,
        context: RunContext | None = None,
        code_of: Callable[..., Any] | None = None,
    ) -> Iterator[Run]:
        """Capture one training run of ``model`` with the current Prefect run identity.

        ``with block.run("churn", seed=42) as run:`` yields the core's run: log params,
        datasets and metrics on it and call ``run.register_model(path)``. Each version
        registered in it gets its artifact and event when the block exits.
        """
        with self.connection() as registry:
            with registry.run(
                model, seed=seed, context=context or prefect_run_context(), code_of=code_of
            ) as run:
                yield run
            for version in run.versions:
                self.publish_version(version, registry=registry)

    def register(
        self,
        model: str,
        path: str | Path,
        *,
        params: Any = None,
        datasets: Mapping[str, str | Path] | None = None,
        metrics: Mapping[str, float] | None = None,
        seed: int | None = None,
        bump: str = "auto",
        tags: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Register the model file or directory at ``path`` in one call."""
        with self.connection() as registry:
            version = registry.register(
                model,
                path,
                context=prefect_run_context(),
                params=params,
                datasets=datasets,
                metrics=metrics,
                seed=seed,
                bump=bump,
                tags=tags,
                metadata=metadata,
            )
            self.publish_version(version, registry=registry)
        return version

    def publish_version(self, version: ModelVersion, *, registry: Registry) -> None:
        """Create the version's artifact (inside a run) and emit its registered event."""
        if self._artifacts_here():
            lineage = registry.lineage(version.ref, direction="upstream")
            artifacts.create_version_artifact(version, registry.record(version.ref), lineage)
        if self.emit_events:
            events.emit_version_registered(version)

    def _artifacts_here(self) -> bool:
        """Artifacts are created only inside a flow or task run, where they are linked."""
        return self.create_artifacts and in_prefect_run()

    # -- aliases -----------------------------------------------------------------------

    def promote(
        self,
        ref: str,
        alias: str = "production",
        *,
        reason: str | None = None,
        actor: str | None = None,
    ) -> AliasMove:
        """Point ``alias`` at ``ref`` (``model@version``); emits ``mv.model.alias.moved``."""
        context = prefect_run_context()
        with self.connection() as registry:
            move = registry.promote(
                ref,
                alias=alias,
                reason=reason,
                actor=actor or run_actor(),
                context=context if context.run_id is not None else None,
            )
        self._publish_move(move, rollback=False)
        return move

    def rollback(
        self,
        model: str,
        alias: str = "production",
        *,
        to: str | None = None,
        dry_run: bool = False,
        reason: str | None = None,
        actor: str | None = None,
    ) -> AliasMove:
        """Move ``alias`` back to its previous target (or ``to``); emits ``mv.model.rollback``.

        Inside a run this happens once per task run (or per flow run, called from the flow
        itself): a retry gets the earlier move back (``applied`` False, its event emitted
        again under the same id) instead of rolling back further.
        """
        context = prefect_run_context()
        with self.connection() as registry:
            move = registry.rollback(
                model,
                alias=alias,
                to=to,
                dry_run=dry_run,
                reason=reason,
                actor=actor or run_actor(),
                context=context if context.run_id is not None else None,
            )
        self._publish_move(move, rollback=True)
        return move

    def _publish_move(self, move: AliasMove, *, rollback: bool) -> None:
        if move.id is None:  # a dry run or a no-op: nothing moved
            return
        if self._artifacts_here():
            artifacts.create_alias_artifact(move, rollback=rollback)
        if self.emit_events:
            (events.emit_rollback if rollback else events.emit_alias_moved)(move)

    # -- reading -----------------------------------------------------------------------

    def resolve(self, ref: str) -> ModelVersion:
        """The version ``ref`` names (``model@version``, ``model@alias``, ``model@latest``)."""
        with self.connection() as registry:
            return registry.resolve(ref)

    def load_artifacts(self, ref: str, dest_dir: str | Path) -> Path:
        """Download the model files of ``ref`` into ``dest_dir``, verified."""
        with self.connection() as registry:
            return registry.load_artifacts(ref, Path(dest_dir))

    def verify(self, ref: str | None = None) -> VerifyReport:
        """Re-hash ``ref``'s record and bytes (everything when ``ref`` is None)."""
        with self.connection() as registry:
            return registry.verify(ref)

    # -- retention ---------------------------------------------------------------------

    def retention_plan(
        self,
        policy: RetentionPolicy | Mapping[str, Any] | str | Path,
        *,
        actor: str | None = None,
    ) -> RetentionPlan:
        """Plan retention under ``policy`` (a policy, a mapping or a policy file path).

        The plan is stored; nothing changes until :meth:`retention_apply`. Inside a run,
        its decisions become a table artifact and the run is the audit actor.
        """
        with self.connection() as registry:
            plan = registry.retention_plan(policy, actor=actor or run_actor())
        if self._artifacts_here():
            artifacts.create_plan_artifact(plan)
        return plan

    def retention_apply(self, plan_id: str, *, actor: str | None = None) -> ApplyReport:
        """Apply the stored plan ``plan_id``: tombstone what it selects, and purge what was
        tombstoned longer ago than the grace period (a tombstoned version is purged only by
        a later applying run).

        Inside a run, what was done becomes a table artifact and the run is the audit actor.
        """
        with self.connection() as registry:
            report = registry.retention_apply(plan_id, actor=actor or run_actor())
        if self._artifacts_here():
            artifacts.create_apply_artifact(report)
        return report
