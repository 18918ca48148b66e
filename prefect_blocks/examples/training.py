"""Train the demo's digits model as a Prefect flow, register it, optionally promote it.

The flow uses the :class:`~prefect_blocks.ModelRegistry` block saved as ``mv-registry``::

    ModelRegistry(registry_url="sqlite:////srv/mvo/registry.db",
                  store_url="file:///srv/mvo/store").save("mv-registry")
"""

from __future__ import annotations

import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

from prefect import flow, task

from mv_orchestration.demo import training
from mv_orchestration.registry import current_run
from prefect_blocks.blocks import ModelRegistry
from prefect_blocks.decorators import versioned

MODEL = "digits"
REGISTRY_BLOCK = "mv-registry"


def digits_params(overrides: dict[str, Any] | None = None) -> training.DigitsParams:
    """The demo's hyperparameters with ``overrides`` applied (unknown keys are refused)."""
    known = {f.name for f in fields(training.DigitsParams)}
    unknown = set(overrides or {}) - known
    if unknown:
        from mv_orchestration.errors import ValidationError

        raise ValidationError(f"unknown DigitsParams fields: {', '.join(sorted(unknown))}")
    return training.DigitsParams(**(overrides or {}))


@task(name="prepare-digits", retries=1)
def prepare_data(data_dir: str) -> str:
    """Write the digits data set as Parquet and return its path."""
    return str(training.prepare_dataset(Path(data_dir)))


@task(name="train-digits", retries=2, retry_delay_seconds=1)
@versioned(
    model=MODEL,
    registry=REGISTRY_BLOCK,
    seed=lambda arguments: arguments["params"]["seed"],
    log_args=False,
)
def train_model(dataset: str, params: dict[str, Any], out_dir: str) -> Path:
    """Train; log the params, data set and metrics. The returned directory is registered."""
    run = current_run()
    run.log_params(params)
    run.log_dataset("digits", dataset)
    model_dir = training.train(Path(dataset), training.DigitsParams(**params), Path(out_dir))
    run.log_metrics(training.read_metrics(model_dir))
    return model_dir


@flow(name="digits-training")
def digits_training_flow(
    workdir: str | None = None,
    params: dict[str, Any] | None = None,
    promote_to: str | None = None,
) -> dict[str, Any]:
    """Prepare the data, train and register ``digits``; promote it to ``promote_to`` if set.

    Returns the registered version (``ModelVersion.to_json()``).
    """
    root = Path(workdir or tempfile.mkdtemp(prefix="digits-"))
    chosen = training.params_dict(digits_params(params))
    dataset = prepare_data(str(root / "data"))
    version = train_model(dataset, chosen, str(root / "model"))
    if promote_to:
        ModelRegistry.load(REGISTRY_BLOCK).promote(
            version["ref"], alias=promote_to, reason="trained by the digits-training flow"
        )
    return version


if __name__ == "__main__":
    print(digits_training_flow(promote_to="staging"))
