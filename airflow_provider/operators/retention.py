"""``RetentionOperator``: make a retention plan and (unless a dry run) apply it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider.context import rendered_bool
from airflow_provider.operators.base import MVBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from mv_orchestration.retention import RetentionPolicy


class RetentionOperator(MVBaseOperator):
    """Plan retention with ``policy`` and apply the plan when ``dry_run`` is false.

    :param policy: a ``RetentionPolicy``, a mapping, or a YAML/TOML/JSON policy file path
        (templated).
    :param dry_run: default ``True``: only plan (templated).

    Returns the plan's id, digest and summary (counts per decision, bytes freed) and the
    apply summary (counts; ``None`` for a dry run). The plan itself, with every decision
    and its reason, stays in the registry under its id.
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
        self.policy = policy
        self.dry_run = dry_run

    def execute(self, context: Context) -> dict[str, Any]:
        from mv_orchestration.retention.policy import load_policy

        policy = load_policy(self.policy)
        dry_run = rendered_bool("dry_run", self.dry_run)
        with self.open_registry() as registry:
            plan = registry.retention_plan(policy)
            self.log.info("Retention plan %s: %s", plan.id, plan.summary())
            report = None if dry_run else registry.retention_apply(plan.id)
        result = {
            "plan_id": plan.id,
            "digest": plan.digest,
            "summary": plan.summary(),
            "dry_run": dry_run,
            "applied": None if report is None else report.summary(),
        }
        self.note_lineage(mvo_retention={k: v for k, v in result.items() if k != "applied"})
        return result
