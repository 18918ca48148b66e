"""``python -m prefect_blocks.demo``: train the digits model as a real Prefect flow run.

Reads ``MVO_REGISTRY_URL`` / ``MVO_STORE_URL`` (the registry to write to, saved as the
``mv-registry`` block), ``MVO_DEMO_WORKDIR`` (a fresh directory for ``PREFECT_HOME``,
Prefect's temporary server database and the data) and the optional ``MVO_DEMO_PARAMS``
(JSON overriding ``DigitsParams`` fields). It runs the ``digits-training`` flow against
Prefect's temporary local server and prints, as its last line,
``MVO_DEMO_RESULT {...}`` with the registered version. Exit status 1 on any failure.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULT_PREFIX = "MVO_DEMO_RESULT "
ORCHESTRATOR = "prefect"
SERVER_STARTUP_TIMEOUT_S = 120
"""Prefect's default (20 s) is too short for its first start on a busy 2-core machine."""


def _say(message: str) -> None:
    print(f"[mvo] {message}", flush=True)


def _demo_params() -> dict[str, Any]:
    from mv_orchestration.errors import UsageError

    text = os.environ.get("MVO_DEMO_PARAMS") or "{}"
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"MVO_DEMO_PARAMS is not JSON: {exc}") from None
    if not isinstance(params, dict):
        raise UsageError("MVO_DEMO_PARAMS must be a JSON object of DigitsParams fields")
    return params


def _workdir() -> Path:
    from mv_orchestration.errors import UsageError

    value = os.environ.get("MVO_DEMO_WORKDIR")
    if not value:
        raise UsageError("MVO_DEMO_WORKDIR is not set")
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _private_prefect(workdir: Path) -> Iterator[Path]:
    """Prefect settings for the demo: its own home and temporary server, no telemetry.

    A Prefect API configured in the environment is ignored, so the demo never writes to
    someone's real server.
    """
    from prefect.settings import (
        PREFECT_API_KEY,
        PREFECT_API_URL,
        PREFECT_HOME,
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    home = workdir / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    with temporary_settings(
        updates={
            PREFECT_HOME: str(home),
            PREFECT_SERVER_ALLOW_EPHEMERAL_MODE: True,
            PREFECT_SERVER_ANALYTICS_ENABLED: False,
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: SERVER_STARTUP_TIMEOUT_S,
        },
        restore_defaults={PREFECT_API_URL, PREFECT_API_KEY},
    ):
        yield home


def run(workdir: Path) -> dict[str, Any]:
    """Run the training flow once; return the version it registered."""
    from prefect_blocks.blocks import ModelRegistry
    from prefect_blocks.examples.training import REGISTRY_BLOCK, digits_training_flow

    params = _demo_params()
    with _private_prefect(workdir) as home:
        _say(f"Prefect home: {home} (Prefect starts its temporary local server)")
        started = time.monotonic()
        block = ModelRegistry(
            registry_url=os.environ.get("MVO_REGISTRY_URL"),
            store_url=os.environ.get("MVO_STORE_URL"),
        )
        block.save(REGISTRY_BLOCK, overwrite=True)
        _say(f"Saved the {ModelRegistry.get_block_type_name()} block as {REGISTRY_BLOCK!r}")
        _say(f"Running the digits-training flow (params {params or 'default'}) ...")
        state = digits_training_flow(workdir=str(workdir), params=params, return_state=True)
        if not state.is_completed():
            raise RuntimeError(f"the digits-training flow ended {state.type.value}: {state}")
        result: dict[str, Any] = state.result()
        _say(
            f"Flow run {state.state_details.flow_run_id} registered {result['ref']} "
            f"({'new' if result['created'] else 'existing'}) in {time.monotonic() - started:.1f}s"
        )
    return result


def main() -> int:
    """Entry point; the result line is the last line on stdout."""
    try:
        result = run(_workdir())
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return 1
    payload = {
        "orchestrator": ORCHESTRATOR,
        "model": result["model"],
        "version": result["version"],
        "record_id": result["record_id"],
        "created": result["created"],
    }
    print(RESULT_PREFIX + json.dumps(payload, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
