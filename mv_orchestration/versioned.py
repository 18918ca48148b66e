"""``@versioned``: register what a plain Python training function returns.

::

    @mvo.versioned(model="churn", seed=42)
    def train(config: dict, data_path: str) -> str:
        run = mvo.current_run()          # optional: log datasets and metrics
        run.log_dataset("train", data_path)
        ...
        return "out/model.pkl"           # a file or directory

    version = train({"lr": 0.1}, "data/train.parquet")   # -> ModelVersion

Each call opens a run (seeds, environment, hardware, the function's code), logs the
call's arguments as params (those that are not JSON-like, e.g. arrays, are skipped),
calls the function and registers the path it returns.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from mv_orchestration.errors import UnsupportedValueError, ValidationError

if TYPE_CHECKING:
    from mv_orchestration.registry.entities import ModelVersion
    from mv_orchestration.registry.registry import Registry

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def versioned(
    *,
    model: str,
    registry: Registry | str | None = None,
    seed: int | None = None,
    bump: str = "auto",
    log_args: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., ModelVersion]]:
    """Decorate a function returning a model path so that each call registers a version.

    ``registry`` is a :class:`Registry`, a registry URL, or None for the default
    (``MVO_REGISTRY_URL`` / ``MVO_HOME``), opened on the first call.
    """
    from mv_orchestration.registry.bump import check_bump
    from mv_orchestration.registry.names import validate_model_name

    validate_model_name(model)
    check_bump(bump)

    def decorate(func: Callable[..., Any]) -> Callable[..., ModelVersion]:
        opened: list[Registry] = []

        def get_registry() -> Registry:
            if not isinstance(registry, (str, type(None))):
                return registry
            if not opened:
                from mv_orchestration.registry.registry import connect

                opened.append(connect(registry))
            return opened[0]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> ModelVersion:
            reg = get_registry()
            with reg.run(model, seed=seed, code_of=func) as run:
                if log_args:
                    params = json_arguments(func, args, kwargs)
                    if params:
                        run.log_params(params)
                path = func(*args, **kwargs)
                if not isinstance(path, (str, os.PathLike)):
                    raise ValidationError(
                        f"@versioned function {func.__qualname__} must return the model's "
                        f"file or directory path, got {type(path).__name__}"
                    )
                return run.register_model(path, bump=bump)

        return wrapper

    return decorate


def json_arguments(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The call's bound arguments that normalise to JSON, by parameter name."""
    from mv_orchestration.capture import normalise_params

    bound = inspect.signature(func).bind(*args, **kwargs)
    bound.apply_defaults()
    out: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        try:
            out[name] = normalise_params({name: value})[name]
        except UnsupportedValueError:
            log.debug("@versioned: argument %r is not JSON-like; not logged as a param", name)
    return out
