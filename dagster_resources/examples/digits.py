"""The demo model as Dagster assets: a data set asset and a registered model asset.

``digits_dataset`` returns the Parquet file's path; the versioning IO manager stores it
content-addressed (its data version is the file's manifest digest) and hands it to
``digits_model`` as a verified local copy. ``digits_model`` trains inside a registry run
(params, data set digest, metrics, code and environment captured) and returns
``version_result(...)``, so the materialization shows the version, its lineage and the
artifact digest as its data version. ``digits_deploy`` runs whenever ``digits@production``
moves, and the retention job runs nightly (as a dry run, the default).
"""

import tempfile
from pathlib import Path

import dagster as dg
from pydantic import Field

from dagster_resources.definitions import AliasTrigger, versioning_definitions
from dagster_resources.materialize import version_result
from dagster_resources.resource import ModelRegistryResource
from mv_orchestration.demo.training import (
    DigitsParams,
    params_dict,
    prepare_dataset,
    read_metrics,
    train,
)

MODEL = "digits"
GROUP = "digits"


class DatasetConfig(dg.Config):
    """Where the data set file is written before it is stored."""

    data_dir: str | None = Field(default=None, description="Default: a temporary directory.")


class TrainingConfig(dg.Config):
    """Hyperparameters of the digits model (see ``DigitsParams``)."""

    n_estimators: int = 50
    max_depth: int = 8
    test_size: float = 0.25
    seed: int = 42

    def params(self) -> DigitsParams:
        return DigitsParams(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            test_size=self.test_size,
            seed=self.seed,
        )


@dg.asset(group_name=GROUP, code_version="1", kinds={"parquet"})
def digits_dataset(config: DatasetConfig) -> Path:
    """The scikit-learn digits data set as a Parquet file."""
    data_dir = Path(config.data_dir) if config.data_dir else Path(tempfile.mkdtemp())
    return prepare_dataset(data_dir)


@dg.asset(group_name=GROUP, code_version="1", kinds={"scikitlearn"})
def digits_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    digits_dataset: Path,
    mv_registry: ModelRegistryResource,
) -> dg.MaterializeResult:
    """A random forest trained on ``digits_dataset`` and registered as model ``digits``."""
    params = config.params()
    with (
        tempfile.TemporaryDirectory(prefix="mvo-digits-") as tmp,
        mv_registry.run(MODEL, context, seed=params.seed, code_of=train) as run,
    ):
        run.log_params(params_dict(params))
        run.log_dataset("digits", digits_dataset)
        model_dir = train(digits_dataset, params, Path(tmp) / "model")
        metrics = read_metrics(model_dir)
        run.log_metrics(metrics)
        version = run.register_model(model_dir)
    context.log.info("%s %s", "registered" if version.created else "unchanged:", version.ref)
    return version_result(version, mv_registry, metadata={"accuracy": metrics.get("accuracy", 0.0)})


@dg.op
def announce_production(context: dg.OpExecutionContext, mv_registry: ModelRegistryResource) -> None:
    """Stand-in for a deployment: resolve what ``digits@production`` points to now."""
    version = mv_registry.resolve(f"{MODEL}@production")
    context.log.info("production is now %s (%s)", version.ref, version.record_id)


@dg.job(description="Runs when digits@production moves.")
def digits_deploy() -> None:
    announce_production()


digits_training = dg.define_asset_job("digits_training", selection=dg.AssetSelection.groups(GROUP))

RETENTION_POLICY = {"rules": [{"name": "digits", "models": MODEL, "keep_last": 5}]}

defs = versioning_definitions(
    assets=[digits_dataset, digits_model],
    jobs=[digits_training],
    alias_triggers=[AliasTrigger(MODEL, digits_deploy)],
    retention_policy=RETENTION_POLICY,
)
