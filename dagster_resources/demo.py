"""``python -m dagster_resources.demo``: materialize the digits assets for real.

Reads ``MVO_REGISTRY_URL``, ``MVO_STORE_URL``, ``MVO_DEMO_WORKDIR`` (Dagster's home and
the data go there) and optional ``MVO_DEMO_PARAMS`` (JSON overriding ``DigitsParams``
fields). Prints progress lines starting with ``[mvo]`` and, last, the
``MVO_DEMO_RESULT {...}`` line; exits non-zero on any failure.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

RESULT_PREFIX = "MVO_DEMO_RESULT"


def _say(message: str) -> None:
    print(f"[mvo] {message}", flush=True)


def run_demo(workdir: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Materialize the example assets with a Dagster instance under ``workdir``."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch()  # defaults: SQLite storage under DAGSTER_HOME
    os.environ["DAGSTER_HOME"] = str(home)

    import dagster as dg

    from dagster_resources.examples.digits import MODEL, digits_dataset, digits_model
    from dagster_resources.io_manager import VersioningIOManager
    from dagster_resources.metadata import (
        ARTIFACT_KEY,
        CREATED_KEY,
        RECORD_KEY,
        VERSION_KEY,
        plain,
    )
    from dagster_resources.resource import REGISTRY_KEY, ModelRegistryResource
    from dagster_resources.storage import DIGEST_KEY

    registry = ModelRegistryResource()
    resources = {
        REGISTRY_KEY: registry,
        "io_manager": VersioningIOManager(registry=registry, load_dir=str(workdir / "loaded")),
    }
    run_config = {
        "ops": {
            "digits_dataset": {"config": {"data_dir": str(workdir / "data")}},
            "digits_model": {"config": params},
        }
    }
    _say(f"DAGSTER_HOME={home}")
    _say(f"materializing digits_dataset -> digits_model with params {params or 'default'}")
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            [digits_dataset, digits_model],
            instance=instance,
            resources=resources,
            run_config=run_config,
        )
        _say(f"dagster run {result.run_id}: {'success' if result.success else 'failed'}")
        dataset = result.asset_materializations_for_node("digits_dataset")[-1].metadata
        metadata = result.asset_materializations_for_node("digits_model")[-1].metadata
    _say(f"digits_dataset stored as {plain(dataset[DIGEST_KEY])}")
    version = str(plain(metadata[VERSION_KEY]))
    verb = "registered" if plain(metadata[CREATED_KEY]) else "already registered:"
    _say(f"{verb} {MODEL}@{version}; data version {plain(metadata[ARTIFACT_KEY])}")
    return {
        "orchestrator": "dagster",
        "model": MODEL,
        "version": version,
        "record_id": str(plain(metadata[RECORD_KEY])),
        "created": bool(plain(metadata[CREATED_KEY])),
    }


def main() -> int:
    """Entry point; returns the exit code."""
    try:
        if not os.environ.get("MVO_DEMO_WORKDIR"):
            raise ValueError("MVO_DEMO_WORKDIR is not set")
        workdir = Path(os.environ["MVO_DEMO_WORKDIR"])
        params = json.loads(os.environ.get("MVO_DEMO_PARAMS") or "{}")
        if not isinstance(params, dict):
            raise ValueError("MVO_DEMO_PARAMS must be a JSON object")
        result = run_demo(workdir, params)
    except Exception as exc:  # the demo reports any failure as one line and exit 1
        print(f"[mvo] dagster demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"{RESULT_PREFIX} {json.dumps(result, sort_keys=True)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
