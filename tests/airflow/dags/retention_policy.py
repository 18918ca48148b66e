"""Test DAGs: retention with a policy file next to this file, given by a relative path."""

from __future__ import annotations

from datetime import timedelta

from airflow_provider.dag_factories import retention_dag

applying_dag = retention_dag(
    "mvo_test_retention_apply", policy="retention_policy.yaml", schedule=None, dry_run=False
)

templated_dag = retention_dag(
    "mvo_test_retention_templated",
    policy="{{ params.policy_file }}",
    schedule=None,
    dry_run=False,
    params={"policy_file": "retention_policy.yaml"},
    default_args={"retries": 2, "retry_delay": timedelta(0)},
)
