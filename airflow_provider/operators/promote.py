"""``PromoteModelOperator``: point an alias at a version, optionally behind a metric gate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow_provider.assets import alias_asset, emit, with_outlet
from airflow_provider.context import actor_from_airflow, run_context_from_airflow
from airflow_provider.operators.base import MVBaseOperator
from airflow_provider.results import version_event, version_selector
from mv_orchestration.registry.gate import gate_failures, parse_gates

if TYPE_CHECKING:
    from airflow.sdk import Context


class PromoteModelOperator(MVBaseOperator):
    """Move ``model``'s ``alias`` to ``version``; the alias asset gets an event.

    :param model: model name (static, so the ``mv://<model>/alias/<alias>`` outlet is known).
    :param version: a version, an alias, ``latest``, or a version result from
        ``@task.versioned``/``RegisterModelOperator`` (XCom) (templated).
    :param alias: the alias to move (default ``production``).
    :param reason: why, for the alias history and audit log (templated).
    :param gate: ``{"metric": "accuracy", "min": 0.9}`` or a list of such bounds, checked
        against the metrics recorded in the version's record.
    :param on_gate_failure: ``skip`` (default: the task is skipped, the alias stays) or
        ``fail`` (the task fails without retrying).
    :param actor: who promotes, for the audit log (templated; default
        ``airflow:<dag_id>/<run_id>/<task_id>``).
    """

    template_fields: Sequence[str] = ("version", "reason", "actor")

    def __init__(
        self,
        *,
        model: str,
        version: str | Mapping[str, Any] = "latest",
        alias: str = "production",
        reason: str | None = None,
        gate: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        on_gate_failure: Literal["skip", "fail"] = "skip",
        actor: str | None = None,
        **kwargs: Any,
    ) -> None:
        from mv_orchestration.errors import ValidationError
        from mv_orchestration.registry.names import validate_alias_name, validate_model_name

        if on_gate_failure not in ("skip", "fail"):
            raise ValidationError(
                f"on_gate_failure must be 'skip' or 'fail', not {on_gate_failure!r}"
            )
        self.model = validate_model_name(model)
        self.alias = validate_alias_name(alias)
        self.gates = parse_gates(gate)
        kwargs["outlets"] = with_outlet(kwargs.get("outlets"), alias_asset(model, alias))
        super().__init__(**kwargs)
        self.version = version
        self.reason = reason
        self.on_gate_failure = on_gate_failure
        self.actor = actor

    def execute(self, context: Context) -> dict[str, Any]:
        with self.open_registry() as registry:
            target = registry.resolve(version_selector(self.model, self.version))
            record = registry.record(target.ref)
            failures = gate_failures(self.gates, record.metrics)
            if failures:
                message = f"{target.ref} not promoted to {self.alias}: " + "; ".join(failures)
                if self.on_gate_failure == "fail":
                    raise AirflowFailException(message)
                raise AirflowSkipException(message)
            move = registry.promote(
                target.ref,
                alias=self.alias,
                reason=self.reason or None,
                actor=self.actor or actor_from_airflow(context),
                context=run_context_from_airflow(context),
            )
            self.note_lineage(record, mvo_alias_move=move.model_dump(mode="json"))
        self.log.info("%s -> %s", self.alias, target.ref)
        event = {**version_event(target), "alias": self.alias, "action": "promote"}
        emit(context, self.outlets, alias_asset(self.model, self.alias), event)
        return {**event, "move": move.model_dump(mode="json")}
