"""Translate an Airflow task context into the core's :class:`RunContext`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mv_orchestration.capture import RunContext

ORCHESTRATOR = "airflow"


def run_context_from_airflow(context: Mapping[str, Any]) -> RunContext:
    """The run identity of the task instance in ``context``.

    ``map_index`` is ``None`` for unmapped tasks (Airflow uses -1). The idempotency key the
    core derives from it names the DAG, run, task and map index but never the try number,
    so a retry finds the version an earlier try registered.
    """
    from mv_orchestration.capture import RunContext

    ti = context["ti"]
    map_index = getattr(ti, "map_index", None)
    extra: dict[str, str] = {}
    dag_run = context.get("dag_run")
    run_type = getattr(dag_run, "run_type", None)
    if run_type is not None:
        extra["run_type"] = str(getattr(run_type, "value", run_type))
    bundle = getattr(ti, "bundle_instance", None)
    return RunContext(
        orchestrator=ORCHESTRATOR,
        pipeline=ti.dag_id,
        run_id=str(context["run_id"]),
        task_id=ti.task_id,
        try_number=getattr(ti, "try_number", None),
        map_index=None if map_index is None or map_index < 0 else int(map_index),
        logical_date=context.get("logical_date"),
        deployment=getattr(bundle, "name", None),
        extra=extra,
    )


def actor_from_airflow(context: Mapping[str, Any]) -> str:
    """Who acts in audit events: ``airflow:<dag_id>/<run_id>/<task_id>``."""
    ti = context["ti"]
    return f"{ORCHESTRATOR}:{ti.dag_id}/{context['run_id']}/{ti.task_id}"


def rendered_int(name: str, value: int | str | None) -> int | None:
    """An integer option after templating (a rendered template is a string)."""
    from mv_orchestration.errors import ValidationError

    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be an integer, got {value!r}") from None


def rendered_bool(name: str, value: bool | str) -> bool:
    """A boolean option after templating (``"True"``/``"false"``/... from Jinja)."""
    from mv_orchestration.errors import ValidationError

    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ValidationError(f"{name} must be a boolean, got {value!r}")


def dag_params(context: Mapping[str, Any]) -> dict[str, Any]:
    """The DAG run's resolved params as a plain dict."""
    params = context.get("params") or {}
    return {str(key): params[key] for key in params}
