"""Version what a Prefect task or flow produces: ``@versioned`` and ``@versioned_task``.

::

    @task(retries=2)
    @versioned(model="churn", registry="prod-registry", seed=42)
    def train(data: str, lr: float = 0.1) -> Path:
        run = mvo.current_run()                  # optional: datasets, metrics, tags
        run.log_dataset("train", data)
        return fit_and_save(data, lr)           # a file or directory: it gets registered

Like the core's ``mvo.versioned``, each call opens a run (seeds, environment, hardware,
the function's code) — here with the Prefect run identity — logs the JSON-like call
arguments as params and registers the returned path. It returns
``ModelVersion.to_json()``. Every try of one task run shares an idempotency key, so a
retry returns the version the first try registered instead of registering another.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mv_orchestration.errors import UsageError, ValidationError

if TYPE_CHECKING:
    from prefect import Task

    from prefect_blocks.blocks import ModelRegistry

SeedOption = int | Callable[[Mapping[str, Any]], int | None] | None


def resolve_registry(registry: ModelRegistry | str | None) -> ModelRegistry:
    """A block instance, a saved block's name, or None (settings from ``MVO_*`` variables)."""
    from prefect_blocks.blocks import ModelRegistry

    if registry is None:
        return ModelRegistry()
    if isinstance(registry, str):
        return ModelRegistry.load(registry)
    if isinstance(registry, ModelRegistry):
        return registry
    raise UsageError(
        f"registry must be a ModelRegistry block, a saved block name or None, "
        f"not {type(registry).__name__}"
    )


def versioned(
    *,
    model: str,
    registry: ModelRegistry | str | None = None,
    seed: SeedOption = None,
    bump: str = "auto",
    tags: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    log_args: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., dict[str, Any]]]:
    """Decorate a function returning a model path; wrap the result in ``@task`` or ``@flow``.

    ``registry`` is a block, a saved block's name or None (``MVO_*`` settings).
    ``seed`` is an int, or a callable picking it from the call's bound arguments
    (``seed=lambda args: args["params"]["seed"]``).
    """
    from mv_orchestration.registry.bump import check_bump
    from mv_orchestration.registry.names import validate_model_name

    validate_model_name(model)
    check_bump(bump)

    def decorate(fn: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
        if inspect.iscoroutinefunction(fn):
            raise UsageError(f"@versioned supports synchronous functions; {fn.__name__} is async")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
            from mv_orchestration.versioned import json_arguments

            block = resolve_registry(registry)
            with block.run(model, seed=_seed(seed, fn, args, kwargs), code_of=fn) as run:
                if log_args and (params := json_arguments(fn, args, kwargs)):
                    run.log_params(params)
                path = fn(*args, **kwargs)
                if not isinstance(path, (str, os.PathLike)):
                    raise ValidationError(
                        f"@versioned function {fn.__qualname__} must return the model's file "
                        f"or directory path, got {type(path).__name__}"
                    )
                version = run.register_model(
                    path, bump=bump, tags=dict(tags or {}), metadata=dict(metadata or {})
                )
            return version.to_json()

        return wrapper

    return decorate


def versioned_task(
    fn: Callable[..., Any] | None = None,
    *,
    model: str,
    registry: ModelRegistry | str | None = None,
    seed: SeedOption = None,
    bump: str = "auto",
    tags: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    log_args: bool = True,
    **task_options: Any,
) -> Any:
    """``@versioned_task(model=..., retries=2)``: ``@task(**task_options)`` over ``@versioned``."""
    from prefect import task

    def decorate(function: Callable[..., Any]) -> Task[..., dict[str, Any]]:
        wrapped = versioned(
            model=model,
            registry=registry,
            seed=seed,
            bump=bump,
            tags=tags,
            metadata=metadata,
            log_args=log_args,
        )(function)
        return task(**task_options)(wrapped)

    return decorate(fn) if fn is not None else decorate


def _seed(
    seed: SeedOption, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> int | None:
    if not callable(seed):
        return seed
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    return seed(bound.arguments)
