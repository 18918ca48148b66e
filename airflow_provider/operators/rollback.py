"""``RollbackModelOperator``: move an alias back to its previous (or a chosen) target."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider.assets import alias_asset, emit, with_outlet
from airflow_provider.context import actor_from_airflow, rendered_bool, run_context_from_airflow
from airflow_provider.operators.base import MVBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from mv_orchestration.registry import AliasMove


class RollbackModelOperator(MVBaseOperator):
    """Roll ``model``'s ``alias`` back; the alias asset gets an event unless ``dry_run``.

    :param model: model name (templated; the outlet asset is added automatically only
        when ``model`` and ``alias`` are plain strings).
    :param alias: the alias to roll back (templated, default ``production``).
    :param to: target version (templated); default: the alias's previous target.
    :param dry_run: report the move without making it (templated).
    :param reason: why, for the alias history and audit log (templated).
    :param actor: who rolls back (templated; default
        ``airflow:<dag_id>/<run_id>/<task_id>``).

    The core verifies the target's bytes before moving the alias. The rollback happens once
    per task instance: a retry gets the move an earlier try made (``applied`` False) instead
    of rolling back further, and emits that move's asset event again (the failed try's
    event was dropped). Returns the alias move.
    """

    template_fields: Sequence[str] = ("model", "alias", "to", "dry_run", "reason", "actor")

    def __init__(
        self,
        *,
        model: str,
        alias: str = "production",
        to: str | None = None,
        dry_run: bool | str = False,
        reason: str | None = None,
        actor: str | None = None,
        **kwargs: Any,
    ) -> None:
        if "{{" not in model and "{{" not in alias:
            kwargs["outlets"] = with_outlet(kwargs.get("outlets"), alias_asset(model, alias))
        super().__init__(**kwargs)
        self.model = model
        self.alias = alias
        self.to = to
        self.dry_run = dry_run
        self.reason = reason
        self.actor = actor

    def execute(self, context: Context) -> dict[str, Any]:
        dry_run = rendered_bool("dry_run", self.dry_run)
        with self.open_registry() as registry:
            move = registry.rollback(
                self.model,
                alias=self.alias,
                to=self.to or None,
                dry_run=dry_run,
                reason=self.reason or None,
                actor=self.actor or actor_from_airflow(context),
                context=run_context_from_airflow(context),
            )
            target = registry.resolve(f"{move.model}@{move.to_version}")
            self.note_lineage(
                registry.record(target.ref), mvo_alias_move=move.model_dump(mode="json")
            )
        self.log.info(
            "%s %s@%s: %s -> %s",
            _verb(dry_run, move),
            move.model,
            move.alias,
            move.from_version,
            move.to_version,
        )
        if move.id is not None and not dry_run:
            event = {
                "model": target.model,
                "version": target.version,
                "ref": target.ref,
                "record_id": target.record_id,
                "alias": move.alias,
                "action": "rollback",
            }
            emit(context, self.outlets, alias_asset(move.model, move.alias), event)
        return move.model_dump(mode="json")


def _verb(dry_run: bool, move: AliasMove) -> str:
    if move.applied:
        return "Rolled back"
    if move.id is not None:
        return "An earlier try rolled back"
    return "Would roll back" if dry_run else "Unchanged"
