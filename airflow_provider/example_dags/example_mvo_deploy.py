"""Runs whenever ``digits``' production alias moves (a promotion or a rollback).

The triggering asset event carries the version; the task fetches and verifies exactly
those bytes. Triggered by hand, it deploys whatever production points to now.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone

from airflow.sdk import DAG, task

from airflow_provider.assets import alias_asset
from airflow_provider.hooks.registry import MVRegistryHook

PRODUCTION = alias_asset("digits", "production")

with DAG(
    "mvo_digits_deploy",
    schedule=[PRODUCTION],
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["mv-orchestration", "example"],
) as dag:

    @task
    def deploy(triggering_asset_events=None) -> dict[str, str]:
        """Download and verify the promoted version's files."""
        events = (triggering_asset_events or {}).get(PRODUCTION) or []
        ref = events[-1].extra["ref"] if events else "digits@production"
        hook = MVRegistryHook()
        try:
            registry = hook.get_conn()
            version = registry.resolve(ref)
            with tempfile.TemporaryDirectory() as tmp:
                registry.load_artifacts(version.ref, tmp)
        finally:
            hook.close()
        return {"ref": version.ref, "record_id": version.record_id}

    deploy()
