"""The :class:`Registry` facade (every operation one short transaction) and :func:`connect`."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, select

from mv_orchestration.errors import (
    DigestMismatchError,
    RefusedError,
    ValidationError,
    VersionNotFoundError,
)
from mv_orchestration.registry import aliases as alias_ops
from mv_orchestration.registry import holds as hold_ops
from mv_orchestration.registry import queries, schema
from mv_orchestration.registry.audit import append_event, verify_chain
from mv_orchestration.registry.clock import utcnow
from mv_orchestration.registry.database import snapshot_connection
from mv_orchestration.registry.entities import (
    AliasMove,
    AuditEvent,
    AuditReport,
    Hold,
    ModelSummary,
    ModelVersion,
    VerifyReport,
)
from mv_orchestration.registry.lifecycle import advance, protected_ids
from mv_orchestration.registry.names import validate_alias_name, validate_model_name
from mv_orchestration.registry.resolve import parse_ref, require_model, resolve_row, version_select
from mv_orchestration.registry.retry import with_retry
from mv_orchestration.settings import Settings

if TYPE_CHECKING:
    from mv_orchestration.capture import RunContext
    from mv_orchestration.lineage.graph import LineageGraph
    from mv_orchestration.registry.pins import Pin
    from mv_orchestration.registry.record import VersionRecord
    from mv_orchestration.registry.run import Run
    from mv_orchestration.store.credentials import S3Credentials
    from mv_orchestration.store.store import ArtifactStore

log = logging.getLogger(__name__)
T = TypeVar("T")
_VERIFY_PAGE = 500


class Registry:
    """Model versions, aliases, holds, lineage edges and the audit log, over one database
    (:attr:`engine`) and one artifact store (:attr:`store`). Use :func:`connect`."""

    def __init__(self, settings: Settings, engine: Engine, store: ArtifactStore) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self._model_ids: dict[str, int] = {}

    # --- plumbing -----------------------------------------------------------------
    def write(self, what: str, operation: Callable[[Connection], T]) -> T:
        """Run ``operation`` in one write transaction, retried on transient conflicts."""

        def attempt() -> T:
            with self.engine.begin() as conn:
                return operation(conn)

        return with_retry(attempt, what=what)

    def read(self, operation: Callable[[Connection], T]) -> T:
        """Run ``operation`` in one read transaction that sees one state of the registry."""

        def attempt() -> T:
            with snapshot_connection(self.engine) as conn, conn.begin():
                return operation(conn)

        return with_retry(attempt, what="read")

    def upgrade(self) -> str:
        """Apply pending schema migrations (under the migration lock); return the revision."""
        from mv_orchestration.registry.migrations import upgrade

        return upgrade(self.engine)

    def close(self) -> None:
        """Release the database connections and the store's stat cache."""
        self.engine.dispose()
        self.store.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({self.engine.url.render_as_string(hide_password=True)!r})"

    # --- runs and registration ----------------------------------------------------
    def run(
        self,
        model: str,
        *,
        seed: int | None = None,
        context: RunContext | None = None,
        code_of: Callable[..., Any] | None = None,
        env_allowlist: list[str] | None = None,
        store_diff: bool = True,
    ) -> Run:
        """A training run of ``model``; use it as a context manager."""
        from mv_orchestration.registry.run import Run

        return Run(
            self,
            model,
            seed=seed,
            context=context,
            code_of=code_of,
            env_allowlist=env_allowlist,
            store_diff=store_diff,
        )

    def register(
        self,
        model: str,
        path: str | os.PathLike[str],
        *,
        context: RunContext | None = None,
        params: Any = None,
        datasets: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        seed: int | None = None,
        bump: str = "auto",
        version: str | None = None,
        tags: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        parent: str | ModelVersion | None = None,
    ) -> ModelVersion:
        """Register a model file or directory made elsewhere, in one call: a run that logs
        ``params``, ``datasets`` (name -> path, URI or table) and ``metrics``, then
        registers ``path`` with full capture."""
        with self.run(model, seed=seed, context=context) as run:
            if params is not None:
                run.log_params(params)
            for name, source in (datasets or {}).items():
                run.log_dataset(name, source)
            if metrics:
                run.log_metrics(dict(metrics))
            return run.register_model(
                path,
                bump=bump,
                version=version,
                tags=dict(tags or {}),
                metadata=dict(metadata or {}),
                parent=parent,
            )

    def register_run(
        self,
        run: Run,
        path: Path,
        *,
        bump: str,
        version: str | None,
        tags: dict[str, str],
        metadata: Mapping[str, Any] | None,
        signature: Mapping[str, Any] | None,
        parent: str | ModelVersion | None,
        idempotency_key: str | None,
    ) -> ModelVersion:
        """Register ``path`` for ``run`` (what :meth:`Run.register_model` calls)."""
        from mv_orchestration.registry.drafting import draft_for_run
        from mv_orchestration.registry.presence import check_stored, commit_uploaded
        from mv_orchestration.registry.register import find_by_key, register
        from mv_orchestration.registry.resolve import model_id_of

        if idempotency_key is not None:
            key = idempotency_key

            def by_key(conn: Connection) -> Any:
                model_id = model_id_of(conn, run.model)
                return None if model_id is None else find_by_key(conn, run.model, model_id, key)

            found = self.read(by_key)
            if found is not None:
                log.info("%s@%s already registered for %s", found.model, found.version, key)
                return ModelVersion.from_row(found, created=False)
        draft, upload = draft_for_run(
            self,
            run,
            path,
            bump=bump,
            version=version,
            tags=tags,
            metadata=metadata,
            signature=signature,
            parent=parent,
            idempotency_key=idempotency_key,
        )

        def commit() -> ModelVersion:
            stored = partial(check_stored, store=self.store, fields=draft.fields_json)
            return self.write(
                f"register {draft.model}",
                lambda conn: register(conn, draft, self._model_ids, before_insert=stored),
            )

        mv = commit_uploaded(upload, commit)
        log.info("%s %s (%s)", "registered" if mv.created else "found", mv.ref, mv.record_id)
        return mv

    # --- lookups ------------------------------------------------------------------
    def resolve(self, ref: str) -> ModelVersion:
        """The version ``ref`` names (MODEL@VERSION, MODEL@ALIAS, MODEL@latest, digest prefix)."""
        parsed = parse_ref(ref)
        return ModelVersion.from_row(self.read(lambda conn: resolve_row(conn, parsed)))

    def record(self, ref: str) -> VersionRecord:
        """The full immutable record of ``ref``, checked against its digest."""
        from mv_orchestration.registry.verify import load_record

        parsed = parse_ref(ref)

        def fetch(conn: Connection) -> tuple[Any, Any, str | None]:
            row = resolve_row(conn, parsed)
            return row, *load_record(conn, row.record_id)[1:]

        row, record, problem = self.read(fetch)
        if record is None:
            raise DigestMismatchError(f"{row.model}@{row.version}: {problem}")
        return record

    def models(self) -> list[ModelSummary]:
        """Every model, by name."""
        return self.read(queries.list_models)

    def versions(
        self,
        model: str,
        limit: int = 50,
        *,
        offset: int = 0,
        before: str | None = None,
        alias: str | None = None,
        tags: Mapping[str, str] | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ModelVersion]:
        """A page of ``model``'s versions, highest semver precedence first (see
        :func:`mv_orchestration.registry.queries.list_versions` for the filters)."""
        validate_model_name(model)
        return self.read(
            lambda conn: queries.list_versions(
                conn,
                model,
                limit=limit,
                offset=offset,
                before=before,
                alias=alias,
                tags=tags,
                status=status,
                since=since,
                until=until,
            )
        )

    def find_by_param(
        self, key: str, value: Any, *, model: str | None = None, limit: int = 100
    ) -> list[ModelVersion]:
        """Versions whose params have ``value`` at dotted path ``key``, newest first."""
        return self.read(
            lambda conn: queries.find_by_param(conn, key, value, model=model, limit=limit)
        )

    def find_by_dataset(
        self, digest: str, *, model: str | None = None, limit: int = 100
    ) -> list[ModelVersion]:
        """Versions trained on the dataset with content ``digest``, newest first."""
        return self.read(
            lambda conn: queries.find_by_dataset(conn, digest, model=model, limit=limit)
        )

    def lineage(
        self, ref: str, direction: str | None = None, depth: int | None = None
    ) -> LineageGraph:
        """The lineage graph of a version (upstream by default) or a dataset (downstream)."""
        from mv_orchestration.lineage.target import lineage

        return lineage(self, ref, direction, depth)  # type: ignore[arg-type]

    # --- aliases ------------------------------------------------------------------
    def promote(
        self,
        ref: str,
        alias: str = "production",
        *,
        reason: str | None = None,
        actor: str | None = None,
        context: RunContext | Mapping[str, Any] | None = None,
    ) -> AliasMove:
        """Point ``alias`` at the active version ``ref`` (history row + audit event)."""
        parsed = parse_ref(ref)
        validate_alias_name(alias)
        reason = _check_reason(reason)
        ctx = _context_dict(context)

        def apply(conn: Connection) -> AliasMove:
            now = utcnow()
            row = _locked_version(conn, parsed, now)
            if row.status != "active":
                raise RefusedError(f"{row.model}@{row.version} is {row.status}; cannot promote it")
            return alias_ops.move(
                conn,
                model_id=row.model_id,
                model=row.model,
                alias=alias,
                to_id=row.id,
                action=alias_ops.SET,
                actor=actor,
                reason=reason,
                context=ctx,
                now=now,
            )

        return self.write(f"promote {ref}", apply)

    def delete_alias(
        self, model: str, alias: str, *, reason: str | None = None, actor: str | None = None
    ) -> AliasMove:
        """Remove ``alias`` (its history stays)."""
        validate_model_name(model)
        validate_alias_name(alias)
        reason = _check_reason(reason)

        def apply(conn: Connection) -> AliasMove:
            from mv_orchestration.errors import AliasNotFoundError
            from mv_orchestration.registry.register import lock_model

            now = utcnow()
            model_id = lock_model(conn, model, create=False, now=now) or require_model(conn, model)
            if alias_ops.current_target(conn, model_id, alias) is None:
                raise AliasNotFoundError(f"{model} has no alias {alias!r}")
            return alias_ops.move(
                conn,
                model_id=model_id,
                model=model,
                alias=alias,
                to_id=None,
                action=alias_ops.DELETE,
                actor=actor,
                reason=reason,
                context=None,
                now=now,
            )

        return self.write(f"delete alias {model}@{alias}", apply)

    def rollback(
        self,
        model: str,
        alias: str = "production",
        to: str | None = None,
        dry_run: bool = False,
        *,
        reason: str | None = None,
        actor: str | None = None,
        context: RunContext | Mapping[str, Any] | None = None,
    ) -> AliasMove:
        """Move ``alias`` back to its previous target (or to ``to``) after verifying the
        target's bytes; once per orchestrator run task given as ``context``; see
        :mod:`mv_orchestration.registry.rollback` for the rules."""
        from mv_orchestration.registry.rollback import rollback

        validate_model_name(model)
        validate_alias_name(alias)
        return rollback(
            self,
            model,
            alias,
            to=to,
            dry_run=dry_run,
            reason=_check_reason(reason),
            actor=actor,
            context=_context_dict(context),
        )

    def alias_history(self, model: str, alias: str | None = None) -> list[AliasMove]:
        """Every move of ``model``'s aliases (or of one alias), oldest first."""
        validate_model_name(model)
        if alias is not None:
            validate_alias_name(alias)

        def fetch(conn: Connection) -> list[AliasMove]:
            return alias_ops.history(conn, require_model(conn, model), model, alias)

        return self.read(fetch)

    def aliases(self, model: str) -> dict[str, str]:
        """``model``'s aliases and the versions they point to."""
        validate_model_name(model)
        a, v = schema.aliases, schema.versions

        def fetch(conn: Connection) -> dict[str, str]:
            model_id = require_model(conn, model)
            rows = conn.execute(
                select(a.c.name, v.c.version)
                .join(v, v.c.id == a.c.version_id)
                .where(a.c.model_id == model_id)
            )
            return {row.name: row.version for row in rows}

        return self.read(fetch)

    # --- holds --------------------------------------------------------------------
    def hold(
        self,
        ref: str,
        reason: str,
        actor: str | None = None,
        expires_at: datetime | None = None,
    ) -> Hold:
        """Put a legal hold on ``ref``: it can never be tombstoned or purged while active."""
        parsed = parse_ref(ref)
        hold_ops.check_reason(reason)

        def apply(conn: Connection) -> Hold:
            now = utcnow()
            expiry = hold_ops.check_expiry(expires_at, now)
            row = _locked_version(conn, parsed, now)
            if row.status == "purged":
                raise RefusedError(f"{row.model}@{row.version} is purged; nothing left to hold")
            return hold_ops.add(
                conn, version_row=row, reason=reason, actor=actor, expires_at=expiry, now=now
            )

        return self.write(f"hold {ref}", apply)

    def release(self, ref: str, actor: str | None = None) -> list[Hold]:
        """Release every active hold on ``ref``; returns the released holds."""
        parsed = parse_ref(ref)

        def apply(conn: Connection) -> list[Hold]:
            now = utcnow()
            row = _locked_version(conn, parsed, now)
            return hold_ops.release(conn, version_row=row, actor=actor, now=now)

        return self.write(f"release {ref}", apply)

    def holds(self, ref: str | None = None, *, include_inactive: bool = False) -> list[Hold]:
        """Active holds (of one version, or all); ``include_inactive`` adds released and
        expired ones."""
        parsed = parse_ref(ref) if ref is not None else None

        def fetch(conn: Connection) -> list[Hold]:
            version_id = resolve_row(conn, parsed).id if parsed is not None else None
            return hold_ops.list_holds(
                conn, now=utcnow(), version_id=version_id, include_inactive=include_inactive
            )

        return self.read(fetch)

    # --- pins ---------------------------------------------------------------------
    def pin(
        self, owner: str, key: str, digest: str, *, kind: str = "object", actor: str | None = None
    ) -> Pin:
        """Keep the stored ``digest`` (``kind="tree"``: a manifest and every file it lists)
        live for GC under ``(owner, key)``, replacing what that key pinned before.
        :class:`SweptObjectError` when some of its objects are not stored (GC swept them
        before the pin committed): store them again and retry. See
        :mod:`mv_orchestration.registry.pins`."""
        from mv_orchestration.registry import pins as pin_ops

        pin_ops.validate(owner, key, digest, kind, actor)
        return self.write(
            f"pin {owner}:{key}",
            lambda conn: pin_ops.pin(
                conn,
                self.store,
                owner=owner,
                key=key,
                digest=digest,
                kind=kind,
                actor=actor,
                now=utcnow(),
            ),
        )

    def unpin(self, owner: str, key: str, *, actor: str | None = None) -> Pin:
        """Remove the pin of ``(owner, key)`` and return it; :class:`NotFoundError` when
        there is none. GC may then delete its objects after the grace period."""
        from mv_orchestration.registry import pins as pin_ops

        pin_ops.validate_ref(owner, key, actor)
        return self.write(
            f"unpin {owner}:{key}",
            lambda conn: pin_ops.unpin(conn, owner=owner, key=key, actor=actor),
        )

    def pins(self, owner: str | None = None) -> list[Pin]:
        """Current pins (of ``owner``, or all), by owner and key."""
        from mv_orchestration.registry import pins as pin_ops

        if owner is not None:
            pin_ops.validate_owner(owner)
        return self.read(lambda conn: pin_ops.list_pins(conn, owner))

    # --- integrity ----------------------------------------------------------------
    def verify(self, ref: str | None = None) -> VerifyReport:
        """Re-hash the stored bytes of ``ref`` (None: every version) and check records."""
        from mv_orchestration.registry.verify import verify_versions

        if ref is not None:
            parsed = parse_ref(ref)

            def one(conn: Connection) -> VerifyReport:
                return verify_versions(conn, self.store, [resolve_row(conn, parsed)])

            return self.read(one)
        v = schema.versions
        reports: list[VerifyReport] = []
        after = 0
        while True:

            def page_after(conn: Connection, start: int = after) -> list[Any]:
                query = version_select().where(v.c.id > start).order_by(v.c.id)
                return list(conn.execute(query.limit(_VERIFY_PAGE)))

            page = self.read(page_after)
            if not page:
                break

            def check(conn: Connection, rows: list[Any] = page) -> VerifyReport:
                return verify_versions(conn, self.store, rows)

            reports.append(self.read(check))
            after = page[-1].id
        return VerifyReport(
            ok=all(r.ok for r in reports),
            versions=sum(r.versions for r in reports),
            objects=sum(r.objects for r in reports),
            problems=[p for r in reports for p in r.problems],
        )

    def verify_audit(self) -> AuditReport:
        """Recompute the audit hash chain; report every break."""
        result = self.read(verify_chain)
        return AuditReport(ok=not result.problems, events=result.events, problems=result.problems)

    def audit_events(self, limit: int = 50, *, subject: str | None = None) -> list[AuditEvent]:
        """The newest ``limit`` audit events, oldest first."""
        return self.read(lambda conn: queries.audit_events(conn, limit=limit, subject=subject))

    def append_audit(
        self, action: str, subject: str, payload: Mapping[str, Any], actor: str | None = None
    ) -> None:
        """Append one audit event in its own transaction."""
        self.write(
            f"audit {action}", lambda conn: append_event(conn, action, subject, payload, actor)
        )

    def load_artifacts(self, ref: str, dest_dir: str | os.PathLike[str]) -> Path:
        """Write the version's files under ``dest_dir``, each verified; return ``dest_dir``."""
        row = self.read(lambda conn: resolve_row(conn, parse_ref(ref)))
        if row.status == "purged":
            raise RefusedError(f"{row.model}@{row.version} is purged; its bytes are gone")
        record = self.record(f"{row.model}@{row.version}")
        return Path(self.store.materialize(record.artifacts, Path(dest_dir)))

    # --- lifecycle (retention) ----------------------------------------------------
    def protected_version_ids(self, conn: Connection | None = None) -> set[int]:
        """Current alias targets and versions under an active hold."""
        if conn is not None:
            return protected_ids(conn, utcnow())
        return self.read(lambda c: protected_ids(c, utcnow()))

    def tombstone(
        self, version_id: int, *, reason: str, plan_id: str | None, actor: str | None = None
    ) -> bool:
        """active -> tombstoned unless the version is protected now; False if unchanged."""
        return self.write(
            f"tombstone version {version_id}",
            lambda conn: advance(
                conn,
                version_id,
                to_status="tombstoned",
                reason=reason,
                plan_id=plan_id,
                actor=actor,
                now=utcnow(),
            ),
        )

    def mark_purged(
        self, version_id: int, *, reason: str, plan_id: str | None, actor: str | None = None
    ) -> bool:
        """tombstoned -> purged unless the version is protected now; False if unchanged."""
        return self.write(
            f"purge version {version_id}",
            lambda conn: advance(
                conn,
                version_id,
                to_status="purged",
                reason=reason,
                plan_id=plan_id,
                actor=actor,
                now=utcnow(),
            ),
        )

    def retention_plan(self, policy: Any, *, actor: str | None = None) -> Any:
        """Plan retention for ``policy`` and store the plan; nothing is deleted."""
        from mv_orchestration.retention import plan_retention

        return plan_retention(self, policy, actor=actor)

    def retention_apply(self, plan_id: str, *, actor: str | None = None) -> Any:
        """Apply a stored retention plan (two-phase, protections re-checked)."""
        from mv_orchestration.retention import apply_plan

        return apply_plan(self, plan_id, actor=actor)


def _locked_version(conn: Connection, parsed: Any, now: datetime) -> Any:
    """Resolve inside a write transaction and lock the version's model (PostgreSQL)."""
    from mv_orchestration.registry.register import lock_model

    row = resolve_row(conn, parsed)
    lock_model(conn, row.model, create=False, now=now)
    fresh = conn.execute(version_select().where(schema.versions.c.id == row.id)).first()
    if fresh is None:
        raise VersionNotFoundError(f"{row.model}@{row.version} disappeared")
    return fresh


def _check_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > hold_ops.MAX_REASON:
        raise ValidationError(
            f"reason must be a string of at most {hold_ops.MAX_REASON} characters"
        )
    try:
        reason.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("reason is not valid UTF-8") from None
    return reason


def _context_dict(context: Any) -> dict[str, Any] | None:
    if context is None:
        return None
    from mv_orchestration.capture import RunContext

    if isinstance(context, RunContext):
        return context.to_json()
    if isinstance(context, Mapping):
        from mv_orchestration.canonical import canonical_json, normalise

        canonical_json(context)
        return dict(normalise(dict(context)))
    raise ValidationError("context must be a RunContext or a mapping")


def connect(
    registry_url: str | None = None,
    store_url: str | None = None,
    *,
    settings: Settings | None = None,
    migrate: bool = True,
    store_credentials: S3Credentials | None = None,
) -> Registry:
    """Open the registry at ``registry_url`` with artifacts in ``store_url``.

    Defaults come from :class:`Settings` (``MVO_REGISTRY_URL``, ``MVO_STORE_URL``, else a
    SQLite file and a directory under ``MVO_HOME``). The schema is migrated on first use
    under a lock unless ``migrate`` is False. ``store_credentials`` sign an S3 store's
    requests (default: the AWS default chain).
    """
    from mv_orchestration.registry.database import create_registry_engine
    from mv_orchestration.registry.migrations import ensure_schema
    from mv_orchestration.store import ArtifactStore

    if settings is None:
        settings = Settings.from_env(registry_url=registry_url, store_url=store_url)
    engine = create_registry_engine(settings.registry_url)
    try:
        if migrate:
            with_retry(lambda: ensure_schema(engine), what="migrate the registry schema")
        store = ArtifactStore.from_url(
            settings.store_url, cache_dir=settings.cache_dir, credentials=store_credentials
        )
    except BaseException:
        engine.dispose()
        raise
    return Registry(settings, engine, store)
