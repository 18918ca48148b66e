"""``RegisterModelOperator``: register a model file or directory that an earlier task wrote."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider.assets import emit, model_asset, with_outlet
from airflow_provider.context import rendered_int, run_context_from_airflow
from airflow_provider.masking import mask
from airflow_provider.operators.base import MVBaseOperator
from airflow_provider.results import version_event, version_result

if TYPE_CHECKING:
    from airflow.sdk import Context


class RegisterModelOperator(MVBaseOperator):
    """Register ``path`` as a new version of ``model`` (returns the version as JSON).

    :param model: model name (static, so the ``mv://<model>`` outlet asset is known).
    :param path: model file or directory (templated; an XCom of a path works).
    :param model_params: hyperparameters/config to record (templated).
    :param datasets: dataset name -> path or table (templated).
    :param metrics: metric name -> number, e.g. an evaluation task's XCom (templated).
    :param seed: the seed the model was trained with (templated).
    :param bump: ``auto``, ``major``, ``minor`` or ``patch``.
    :param version: an explicit semantic version instead of a bump (templated).
    :param tags: string tags (templated); ``metadata``: free-form bounded JSON (templated).
    :param parent: reference of the version this one derives from (templated).

    Everything recorded passes through Airflow's secrets masker first. A retry of the same
    task instance returns the version the first try registered.
    """

    template_fields: Sequence[str] = (
        "path",
        "model_params",
        "datasets",
        "metrics",
        "seed",
        "version",
        "tags",
        "metadata",
        "parent",
    )
    template_fields_renderers = {"model_params": "json", "metrics": "json", "metadata": "json"}

    def __init__(
        self,
        *,
        model: str,
        path: str,
        model_params: Mapping[str, Any] | None = None,
        datasets: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        seed: int | str | None = None,
        bump: str = "auto",
        version: str | None = None,
        tags: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        parent: str | None = None,
        **kwargs: Any,
    ) -> None:
        from mv_orchestration.registry.bump import check_bump
        from mv_orchestration.registry.names import validate_model_name

        self.model = validate_model_name(model)
        check_bump(bump)
        kwargs["outlets"] = with_outlet(kwargs.get("outlets"), model_asset(model))
        super().__init__(**kwargs)
        self.path = path
        self.model_params = model_params
        self.datasets = datasets
        self.metrics = metrics
        self.seed = seed
        self.bump = bump
        self.version = version
        self.tags = tags
        self.metadata = metadata
        self.parent = parent

    def execute(self, context: Context) -> dict[str, Any]:
        with self.open_registry() as registry:
            version = registry.register(
                self.model,
                self.path,
                context=run_context_from_airflow(context),
                params=mask(dict(self.model_params)) if self.model_params else None,
                datasets=self.datasets,
                metrics=self.metrics,
                seed=rendered_int("seed", self.seed),
                bump=self.bump,
                version=self.version or None,
                tags=mask(dict(self.tags or {})),
                metadata=mask(dict(self.metadata or {})),
                parent=self.parent or None,
            )
            self.note_lineage(registry.record(version.ref))
        self.log.info("Registered %s (created=%s)", version.ref, version.created)
        emit(context, self.outlets, model_asset(self.model), version_event(version))
        return version_result(version)
