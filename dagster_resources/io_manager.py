"""``VersioningIOManager``: asset values kept content-addressed, models registered.

Every asset output goes into the registry's artifact store (see :mod:`.storage` for the
formats). The materialization gets ``mv/...`` metadata and its Dagster data version is
the content digest, so Dagster's staleness view and the store agree. Outputs of *model
assets* are also registered as a model version with the run's Dagster identity (run id,
asset key, partition key, code version); a model asset is one listed in ``model_assets``
or one whose definition metadata carries ``mv/model``::

    @dg.asset(metadata={"mv/model": "digits"}, code_version="1")
    def digits_model(digits_dataset: Path) -> dg.Output[Path]:
        out = train(...)
        return dg.Output(out, metadata={"mv/params": params, "mv/metrics": metrics})

``mv/params`` and ``mv/metrics`` output metadata are logged on the registered version;
``mv/seed`` definition or output metadata is recorded as its seed. Outputs that are not
assets (plain op outputs) and ``None`` values are not stored.

Each stored value is pinned under its asset (partition) key with the run as actor, so GC
keeps it until a later materialization replaces the pin (see :mod:`.storage`).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from dagster_resources.context import run_actor, run_context_from
from dagster_resources.events import stored_value
from dagster_resources.metadata import plain, version_metadata
from dagster_resources.resource import ModelRegistryResource
from dagster_resources.storage import as_path, encode, load_value, pin_key, store_and_pin
from mv_orchestration.errors import UsageError

if TYPE_CHECKING:
    from mv_orchestration.registry import ModelVersion

logger = logging.getLogger(__name__)

MODEL_KEY = "mv/model"
PARAMS_KEY = "mv/params"
METRICS_KEY = "mv/metrics"
SEED_KEY = "mv/seed"
PICKLED_MODEL_FILE = "model.pkl"


class VersioningIOManager(dg.ConfigurableIOManager):
    """Stores asset values content-addressed and registers model assets as versions."""

    registry: ModelRegistryResource
    model_assets: dict[str, str] = Field(
        default_factory=dict,
        description="Asset key (as 'a/b') -> model name, for assets registered as models.",
    )
    load_dir: str | None = Field(
        default=None,
        description="Where files and directories are materialized when loaded as inputs "
        "(default: the system temporary directory).",
    )

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None or not context.has_asset_key:
            return
        path = as_path(obj)
        source: Path | bytes = encode(obj) if path is None else path
        partition = context.partition_key if context.has_partition_key else None
        stored = store_and_pin(
            self.registry.get_registry(),
            pin_key(context.asset_key, partition),
            source,
            actor=run_actor(run_context_from(context)),
        )
        metadata = stored.metadata()
        model = self._model_name(context)
        if model is not None:
            version = self._register(context, model, source)
            metadata.update(version_metadata(version))
        context.add_output_metadata(metadata)
        _set_data_version(context, stored.digest)

    def load_input(self, context: dg.InputContext) -> Any:
        if not context.has_asset_key:
            raise UsageError(
                f"input {context.name!r} does not come from an asset: the versioning IO "
                "manager stores asset values only; give op outputs another IO manager"
            )
        store = self.registry.get_registry().store
        dest = Path(self.load_dir) if self.load_dir else None
        key = context.asset_key
        if not context.has_asset_partitions:
            return load_value(store, stored_value(context.instance, key), dest)
        values = {
            partition: load_value(store, stored_value(context.instance, key, partition), dest)
            for partition in context.asset_partition_keys
        }
        return next(iter(values.values())) if len(values) == 1 else values

    def _model_name(self, context: dg.OutputContext) -> str | None:
        name = self.model_assets.get(context.asset_key.to_user_string())
        if name is None:
            name = plain(context.definition_metadata.get(MODEL_KEY))
        return str(name) if name is not None else None

    def _register(
        self, context: dg.OutputContext, model: str, source: Path | bytes
    ) -> ModelVersion:
        """Register the output (a path, or pickle bytes) as a version of ``model``."""
        output_metadata = context.output_metadata
        params = plain(output_metadata.get(PARAMS_KEY))
        metrics = plain(output_metadata.get(METRICS_KEY))
        seed = plain(output_metadata.get(SEED_KEY, context.definition_metadata.get(SEED_KEY)))
        run_context = run_context_from(context)
        with tempfile.TemporaryDirectory(prefix="mvo-dagster-") as tmp:
            path = source if isinstance(source, Path) else Path(tmp) / PICKLED_MODEL_FILE
            if isinstance(source, bytes):
                path.write_bytes(source)
            registry = self.registry.get_registry()
            with registry.run(model, seed=seed, context=run_context) as run:
                if params is not None:
                    run.log_params(params)
                if metrics:
                    run.log_metrics(metrics)
                version = run.register_model(path)
        logger.info(
            "%s %s for asset %s",
            "registered" if version.created else "unchanged:",
            version.ref,
            run_context.asset_key,
        )
        return version


def _set_data_version(context: dg.OutputContext, digest: str) -> None:
    """Make ``digest`` the data version of this output's materialization.

    Dagster has no public IO-manager API for this (dagster-io/dagster#15584); the step's
    data-version cache, which the materialization event reads right after
    ``handle_output`` returns, is the documented-by-source path. Without a step (an IO
    manager called directly in a unit test) there is no materialization to version.
    An asset that returns ``Output(..., data_version=...)`` keeps its own version.
    """
    try:
        step = context.step_context
    except dg.DagsterInvariantViolationError:
        return
    step.set_data_version(context.asset_key, dg.DataVersion(digest))
