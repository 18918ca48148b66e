"""``RetentionOperator``: make a retention plan and (unless a dry run) apply it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider.context import actor_from_airflow, rendered_bool
from airflow_provider.operators.base import MVBaseOperator
from airflow_provider.policy import load_policy_from, resolved_at_run_time

if TYPE_CHECKING:
    from airflow.sdk import Context

    from mv_orchestration.retention import RetentionPolicy


class RetentionOperator(MVBaseOperator):
    """Plan retention with ``policy`` and apply the plan only when ``dry_run`` is false.

    A dry run is the default: it stores the plan, changes nothing, and says in the task
    log how to apply it. Applying is two-phase: a run tombstones what the plan selects
    (its bytes stay); a later applying run, after the policy's grace period, purges it.

    :param policy: a ``RetentionPolicy``, a mapping, or a YAML/TOML/JSON policy file path
        (templated). Unless it is a template, it is validated when the DAG is parsed and
        kept as its JSON; a relative path is read from the folder of the DAG's file.
    :param dry_run: default ``True``: only plan (templated).

    Every plan and apply is recorded in the audit log with the task as actor
    (``airflow:<dag_id>/<run_id>/<task_id>``). Returns the plan's id, digest and summary
    (counts per decision, bytes freed) and the apply summary (counts; ``None`` for a dry
    run). The plan itself, with every decision and its reason, stays in the registry
    under its id. An invalid policy fails the task without retries.
    """

    template_fields: Sequence[str] = ("policy", "dry_run")

    def __init__(
        self,
        *,
        policy: RetentionPolicy | Mapping[str, Any] | str | Path,
        dry_run: bool | str = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if resolved_at_run_time(policy):
            self.policy = policy
        else:
            self.policy = load_policy_from(policy, self._dag_folder()).to_json()
        self.dry_run = dry_run

    def execute(self, context: Context) -> dict[str, Any]:
        dry_run = rendered_bool("dry_run", self.dry_run)
        policy = self._rendered_policy()
        actor = actor_from_airflow(context)
        with self.open_registry() as registry:
            plan = registry.retention_plan(policy, actor=actor)
            self.log.info("Retention plan %s: %s", plan.id, plan.summary())
            report = None if dry_run else registry.retention_apply(plan.id, actor=actor)
        if report is None:
            self.log.info(dry_run_note(plan.id))
        else:
            self.log.info("Retention plan %s applied: %s", plan.id, report.summary())
        result = {
            "plan_id": plan.id,
            "digest": plan.digest,
            "summary": plan.summary(),
            "dry_run": dry_run,
            "applied": None if report is None else report.summary(),
        }
        self.note_lineage(mvo_retention={k: v for k, v in result.items() if k != "applied"})
        return result

    def _dag_folder(self) -> str | None:
        dag = self.get_dag()
        return dag.folder if dag is not None and dag.fileloc else None

    def _rendered_policy(self) -> RetentionPolicy:
        from mv_orchestration.errors import ValidationError

        try:
            return load_policy_from(self.policy, self._dag_folder())
        except ValidationError as exc:
            raise AirflowFailException(str(exc)) from exc


def dry_run_note(plan_id: str) -> str:
    """What the task log says after a dry run: nothing changed, and how to apply."""
    from mv_orchestration.retention.plans import dry_run_note as note

    return note(
        plan_id,
        "set dry_run to false to plan and apply in one run "
        '(a retention_dag run: trigger it with {"dry_run": false})',
    )
