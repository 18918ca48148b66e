"""``@task.versioned``: a TaskFlow task whose result becomes an immutable model version.

.. code-block:: python

    @task.versioned(model="churn", seed=42, dataset_args=["train_path"])
    def train(train_path: str, n_estimators: int = 100, mv_run=None) -> str:
        model_dir = fit(train_path, n_estimators)
        mv_run.log_metrics({"accuracy": evaluate(model_dir)})
        return model_dir  # registered as churn@<next version>

What the task does, around the function call, inside one ``registry.run(...)``:

* run identity from the Airflow context (``dag_id`` as pipeline, ``run_id``, ``task_id``,
  ``try_number``, ``map_index``, ``logical_date``); the core's idempotency key leaves the
  try number out, so a retry returns the version an earlier try registered, and each
  mapped task instance gets its own version;
* seeds (``seed``, templated), environment, hardware and code (the function's source);
* params: the function's arguments with their defaults (after templating and XCom
  resolution), without context variables, ``mv_run``, dataset arguments and values that
  are not JSON-like (arrays, frames: log those as datasets or through ``mv_run``), plus
  the DAG run's params under ``dag_params`` (``log_dag_params=False`` turns that off);
  all values first pass through Airflow's secrets masker;
* datasets: arguments named in ``dataset_args``, arguments whose value is a
  :class:`os.PathLike` or a ``pyarrow.Table``, and the ``datasets`` mapping
  (name -> path, templated);
* ``mv_run``: a function parameter of that name receives the open
  :class:`~mv_orchestration.registry.Run` (log metrics, features, more datasets).

What the function returns is registered:

* a path (``str`` or :class:`os.PathLike`) to a file or a directory;
* a :class:`~mv_orchestration.registry.ModelVersion` it registered itself through
  ``mv_run`` (returned as is);
* any other object: ``serializer(obj, directory)`` writes it into a temporary directory
  and returns the path to register; the default :func:`pickle_serializer` writes
  ``model.pkl`` with pickle protocol 5 (load it with the same library versions).

The XCom result is the version as JSON (``model``, ``version``, ``ref``, ``record_id``,
``created``, ...), and the task's outlet ``Asset("mv://<model>")`` (added automatically)
gets an event whose ``extra`` carries the version.
"""

from __future__ import annotations

import inspect
import os
import pickle
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
from airflow.sdk.definitions.context import KNOWN_CONTEXT_KEYS

from airflow_provider.assets import emit, model_asset, with_outlet
from airflow_provider.context import dag_params, rendered_int, run_context_from_airflow
from airflow_provider.hooks.registry import MVRegistryHook
from airflow_provider.masking import mask
from airflow_provider.operators.base import RegistryTaskMixin
from airflow_provider.results import version_event, version_result

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator

    from mv_orchestration.registry import ModelVersion, Run

MV_RUN_ARG = "mv_run"
PICKLE_FILE = "model.pkl"

Serializer = Callable[[Any, Path], Path]


def pickle_serializer(obj: Any, directory: Path) -> Path:
    """Write ``obj`` to ``directory/model.pkl`` (pickle protocol 5) and return that path."""
    path = directory / PICKLE_FILE
    path.write_bytes(pickle.dumps(obj, protocol=5))
    return path


class _VersionedDecoratedOperator(RegistryTaskMixin, DecoratedOperator, PythonOperator):
    """Runs the decorated function inside a registry run and registers its result."""

    template_fields: Sequence[str] = (
        "templates_dict",
        "op_args",
        "op_kwargs",
        "seed",
        "datasets",
        "tags",
        "metadata",
    )
    template_fields_renderers = {"templates_dict": "json", "op_args": "py", "op_kwargs": "py"}
    custom_operator_name = "@task.versioned"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None,
        op_kwargs: Mapping[str, Any] | None,
        model: str,
        seed: int | str | None = None,
        bump: str = "auto",
        datasets: Mapping[str, Any] | None = None,
        dataset_args: Sequence[str] = (),
        tags: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        log_dag_params: bool = True,
        serializer: Serializer = pickle_serializer,
        mv_conn_id: str = MVRegistryHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        from mv_orchestration.registry.bump import check_bump
        from mv_orchestration.registry.names import validate_model_name

        self.model = validate_model_name(model)
        check_bump(bump)
        parameters = inspect.signature(python_callable).parameters
        _check_dataset_args(dataset_args, parameters)
        op_kwargs = dict(op_kwargs or {})
        if MV_RUN_ARG in parameters:
            op_kwargs.setdefault(MV_RUN_ARG, None)
        kwargs["outlets"] = with_outlet(kwargs.get("outlets"), model_asset(model))
        super().__init__(
            kwargs_to_upstream={
                "python_callable": python_callable,
                "op_args": op_args,
                "op_kwargs": op_kwargs,
            },
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )
        self.seed = seed
        self.bump = bump
        self.datasets = dict(datasets or {})
        self.dataset_args = tuple(dataset_args)
        self.tags = dict(tags or {})
        self.metadata = dict(metadata or {})
        self.log_dag_params = log_dag_params
        self.serializer = serializer
        self.init_registry_task(mv_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        arguments = self._arguments()
        datasets = self._dataset_sources(arguments)
        params = self._params(arguments, exclude=datasets.keys())
        if self.log_dag_params and (run_params := dag_params(context)):
            params["dag_params"] = self._json_like(run_params, "DAG param")
        with self.open_registry() as registry:
            with registry.run(
                self.model,
                seed=rendered_int("seed", self.seed),
                context=run_context_from_airflow(context),
                code_of=self.python_callable,
            ) as run:
                run.log_params(mask(params))
                for name, source in datasets.items():
                    run.log_dataset(name, source)
                if MV_RUN_ARG in self.op_kwargs:
                    self.op_kwargs = {**self.op_kwargs, MV_RUN_ARG: run}
                returned = super().execute(context)
                version = self._register(run, returned)
            self.note_lineage(registry.record(version.ref))
        emit(context, self.outlets, model_asset(self.model), version_event(version))
        return version_result(version)

    def _arguments(self) -> dict[str, Any]:
        """The function's arguments with defaults, by parameter name (``**kwargs`` flattened)."""
        signature = inspect.signature(self.python_callable)
        bound = signature.bind_partial(*self.op_args, **self.op_kwargs)
        bound.apply_defaults()
        arguments: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)
            else:
                arguments[name] = value
        return arguments

    def _params(self, arguments: Mapping[str, Any], exclude: Collection[str]) -> dict[str, Any]:
        """JSON-like arguments; context variables, ``mv_run`` and datasets left out."""
        kept = {
            name: value
            for name, value in arguments.items()
            if name not in exclude and name not in KNOWN_CONTEXT_KEYS and name != MV_RUN_ARG
        }
        return self._json_like(kept, "Argument")

    def _json_like(self, values: Mapping[str, Any], what: str) -> dict[str, Any]:
        """``values`` normalised one by one; those that are not JSON-like are skipped."""
        from mv_orchestration.capture import normalise_params
        from mv_orchestration.errors import UnsupportedValueError

        params: dict[str, Any] = {}
        for name, value in values.items():
            try:
                params[name] = normalise_params({name: value})[name]
            except UnsupportedValueError:
                self.log.info("%s %r is not JSON-like; not logged as a param", what, name)
        return params

    def _dataset_sources(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Dataset name -> path or table, from arguments and the ``datasets`` mapping."""
        from mv_orchestration.errors import ValidationError

        sources: dict[str, Any] = {}
        for name in self.dataset_args:
            if name not in arguments:
                raise ValidationError(f"dataset_args names {name!r}, which was not passed")
            sources[name] = arguments[name]
        for name, value in arguments.items():
            if isinstance(value, os.PathLike) or _is_arrow_table(value):
                sources.setdefault(name, value)
        sources.update(self.datasets)
        return sources

    def _register(self, run: Run, returned: Any) -> ModelVersion:
        from mv_orchestration.errors import UsageError
        from mv_orchestration.registry import ModelVersion

        if isinstance(returned, ModelVersion):
            return returned
        if returned is None:
            raise UsageError(
                f"@task.versioned function {self.python_callable.__name__!r} returned None: "
                "return a model path, a model object or the ModelVersion it registered"
            )
        options = {"bump": self.bump, "tags": mask(self.tags), "metadata": mask(self.metadata)}
        if isinstance(returned, (str, os.PathLike)):
            return run.register_model(returned, **options)
        with tempfile.TemporaryDirectory(prefix="mvo-model-") as tmp:
            return run.register_model(self.serializer(returned, Path(tmp)), **options)


def _check_dataset_args(names: Sequence[str], parameters: Mapping[str, inspect.Parameter]) -> None:
    """Every dataset argument must be a parameter (unless the function takes ``**kwargs``)."""
    from mv_orchestration.errors import ValidationError

    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(names) - set(parameters))
    if unknown:
        raise ValidationError(f"dataset_args {unknown} are not parameters of the function")


def _is_arrow_table(value: Any) -> bool:
    cls = type(value)
    return cls.__module__.startswith("pyarrow") and cls.__name__ == "Table"


def versioned_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """``@task.versioned(model=..., seed=..., bump="auto", dataset_args=..., datasets=...,
    tags=..., metadata=..., log_dag_params=True, serializer=..., mv_conn_id=...)``.

    Also usable directly: ``from airflow_provider.decorators.versioned import
    versioned_task``. The result is one XCom (the version), so ``multiple_outputs``
    cannot be turned on.
    """
    if multiple_outputs:
        raise ValueError("@task.versioned returns one version: multiple_outputs is unsupported")
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=False,
        decorated_operator_class=_VersionedDecoratedOperator,
        **kwargs,
    )
