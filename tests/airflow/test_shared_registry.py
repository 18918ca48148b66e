"""The team setup: a DAG run writing to a shared PostgreSQL registry and an S3 store.

Everything comes from the Airflow connection (the registry URL, the store URL and the S3
credentials); the worker's environment holds no AWS credentials.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.helpers import task_result

AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@pytest.mark.postgres
@pytest.mark.s3
def test_classic_dag_against_postgres_and_s3_from_the_connection(
    postgres_url: str, s3_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os

    import mv_orchestration as mvo
    from airflow_provider.example_dags.example_mvo_classic import dag

    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store_url = s3_server.store_url(s3_server.create_bucket())
    conn = {
        "conn_type": "mv_registry",
        "password": "registry-db-password",
        "extra": {
            "registry_url": postgres_url,
            "store_url": store_url,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "connection-held-secret",
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_MV_REGISTRY_DEFAULT", json.dumps(conn))

    conf = {"n_estimators": 10, "max_depth": 8, "seed": 42, "data_dir": str(tmp_path / "data")}
    run = dag.test(run_conf=conf)
    registered = task_result(run, "register")
    assert registered is not None and not any(name in os.environ for name in AWS_VARIABLES)

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "connection-held-secret")
    registry = mvo.connect(postgres_url, store_url)
    try:
        assert registry.resolve("digits@production").record_id == registered["record_id"]
        assert registry.verify(registered["ref"]).ok
        record = json.dumps(registry.record(registered["ref"]).model_dump(mode="json"))
        assert "registry-db-password" not in record
        assert "connection-held-secret" not in record
    finally:
        registry.close()
