"""One-command rollback of an alias.

1. Plan (read): the target is ``to`` (a version of the model, or a full reference) or
   the previous target by :func:`~mv_orchestration.registry.aliases.rollback_target`.
   Refused when there is none, or when it is tombstoned or purged.
2. Verify: every artifact file of the target exists in the store and re-hashes to its
   digest; refused otherwise.
3. Move (write): under the model lock, the plan is recomputed; if the alias moved
   meanwhile, planning starts over (up to three times). ``dry_run`` stops after step 2.

A rollback given an orchestrator run ``context`` happens once per run: when the same run
and task (any try) already rolled the alias back, that move is returned (``applied``
False) instead of rolling back one version further, so a retried task is safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from mv_orchestration.errors import (
    AliasNotFoundError,
    ConflictError,
    IntegrityError,
    RefusedError,
    VersionNotFoundError,
)
from mv_orchestration.registry import aliases as alias_ops
from mv_orchestration.registry import schema
from mv_orchestration.registry.audit import default_actor
from mv_orchestration.registry.clock import utcnow
from mv_orchestration.registry.entities import AliasMove
from mv_orchestration.registry.register import lock_model
from mv_orchestration.registry.resolve import parse_ref, require_model, resolve_row, version_select

if TYPE_CHECKING:
    from mv_orchestration.registry.registry import Registry

ATTEMPTS = 3
_RUN_IDENTITY = ("orchestrator", "pipeline", "run_id", "task_id", "map_index", "partition_key")


def _run_identity(context: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    """What names one task of one orchestrator run, whatever its try (None outside one)."""
    if not context or context.get("run_id") is None:
        return None
    return tuple(context.get(name) for name in _RUN_IDENTITY)


def done_by_run(
    conn: Connection, model: str, alias: str, identity: tuple[Any, ...]
) -> AliasMove | None:
    """The rollback of ``alias`` that the run task ``identity`` already made, if any."""
    moves = alias_ops.history(conn, require_model(conn, model), model, alias)
    for move in reversed(moves):
        if move.action == alias_ops.ROLLBACK and _run_identity(move.context) == identity:
            return move.model_copy(update={"applied": False})
    return None


def plan(conn: Connection, model: str, alias: str, to: str | None) -> tuple[int, Any, Any]:
    """(model id, current target row or None, target row) for this rollback."""
    model_id = require_model(conn, model)
    current_id = alias_ops.current_target(conn, model_id, alias)
    steps = alias_ops.history_steps(conn, model_id, alias)
    if to is None and not steps:
        raise AliasNotFoundError(f"{model} has no alias {alias!r}")
    if to is not None:
        ref = to if "@" in to else f"{model}@{to}"
        target = resolve_row(conn, parse_ref(ref))
        if target.model_id != model_id:
            raise RefusedError(f"{target.model}@{target.version} is not a version of {model}")
    else:
        target_id = alias_ops.rollback_target(steps, current_id)
        if target_id is None:
            raise RefusedError(f"{model}@{alias} has no previous target to roll back to")
        target = _row(conn, target_id)
    if target.status != "active":
        raise RefusedError(
            f"cannot roll back {model}@{alias} to {target.model}@{target.version}: "
            f"it is {target.status}"
        )
    current = _row(conn, current_id) if current_id is not None else None
    return model_id, current, target


def _row(conn: Connection, version_id: int) -> Any:
    row = conn.execute(version_select().where(schema.versions.c.id == version_id)).first()
    if row is None:
        raise VersionNotFoundError(f"version id {version_id} does not exist")
    return row


def verify_target(registry: Registry, row: Any) -> None:
    """Refuse unless every object of ``row``'s record is present and intact."""
    from mv_orchestration.registry.verify import load_record

    ref = f"{row.model}@{row.version}"
    _, record, problem = registry.read(lambda conn: load_record(conn, row.record_id))
    if record is None:
        raise RefusedError(f"cannot roll back to {ref}: {problem}")
    for digest in sorted({entry.digest for entry in record.artifacts.entries}):
        try:
            registry.store.verify(digest)
        except IntegrityError as exc:
            raise RefusedError(
                f"cannot roll back to {ref}: its bytes are not intact ({exc})"
            ) from exc


def rollback(
    registry: Registry,
    model: str,
    alias: str,
    *,
    to: str | None,
    dry_run: bool,
    reason: str | None,
    actor: str | None,
    context: Mapping[str, Any] | None = None,
) -> AliasMove:
    """Plan, verify and (unless ``dry_run``) move; see the module docstring."""
    identity = _run_identity(context)
    for _ in range(ATTEMPTS):
        if identity is not None:
            done = registry.read(lambda conn: done_by_run(conn, model, alias, identity))
            if done is not None:
                return done
        _, current, target = registry.read(lambda conn: plan(conn, model, alias, to))
        verify_target(registry, target)
        if dry_run or (current is not None and current.id == target.id):
            return AliasMove(
                id=None,
                model=model,
                alias=alias,
                action=alias_ops.ROLLBACK,
                from_version=current.version if current else None,
                to_version=target.version,
                at=utcnow(),
                actor=actor or default_actor(),
                reason=reason,
                applied=False,
            )

        def apply(conn: Connection, planned: Any = target) -> AliasMove | None:
            now = utcnow()
            lock_model(conn, model, create=False, now=now)
            done = None if identity is None else done_by_run(conn, model, alias, identity)
            if done is not None:
                return done
            model_id, _, fresh = plan(conn, model, alias, to)
            if fresh.id != planned.id:
                return None
            return alias_ops.move(
                conn,
                model_id=model_id,
                model=model,
                alias=alias,
                to_id=fresh.id,
                action=alias_ops.ROLLBACK,
                actor=actor,
                reason=reason,
                context=context,
                now=now,
            )

        moved = registry.write(f"rollback {model}@{alias}", apply)
        if moved is not None:
            return moved
    raise ConflictError(f"{model}@{alias} kept moving during the rollback; try again")
