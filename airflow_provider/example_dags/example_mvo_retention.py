"""Nightly retention for every model (dry run unless triggered with ``dry_run: false``).

Keeps the newest 10 versions of each model, anything younger than 30 days, and the last
3 production targets; current alias targets and held versions are always kept.
"""

from __future__ import annotations

from airflow_provider.dag_factories import retention_dag

POLICY = {
    "rules": [
        {
            "name": "default",
            "models": "*",
            "keep_last": 10,
            "keep_within": "30d",
            "keep_alias_history": 3,
        }
    ],
    "grace_period": "24h",
}

dag = retention_dag("mvo_retention", policy=POLICY, schedule="0 3 * * *", dry_run=True)
