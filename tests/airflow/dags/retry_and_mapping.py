"""Test DAGs: a versioned task that registers then fails once, a rollback that fails once
after moving the alias, and a mapped task."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider.operators.rollback import RollbackModelOperator

START = datetime(2024, 1, 1, tzinfo=timezone.utc)

with DAG("mvo_test_retry", schedule=None, start_date=START, catchup=False) as retry_dag:

    @task.versioned(model="flaky", retries=1, retry_delay=timedelta(0))
    def flaky(mv_run=None, ti=None):
        """Register bytes that differ per try, then fail on the first try."""
        model = Path(tempfile.mkdtemp()) / "model.bin"
        model.write_bytes(f"weights of try {ti.try_number}".encode())
        version = mv_run.register_model(model)
        if ti.try_number == 1:
            raise RuntimeError("worker lost after registering")
        return version

    flaky()


def _lose_the_first_try(context, result):
    """Fail the first try after its execute returned (the alias has moved)."""
    if context["ti"].try_number == 1:
        raise RuntimeError("worker lost after rolling back")


with DAG("mvo_test_rollback_retry", schedule=None, start_date=START, catchup=False) as rollback_dag:
    RollbackModelOperator(
        task_id="rollback",
        model="scoring",
        reason="bad canary",
        retries=1,
        retry_delay=timedelta(0),
        post_execute=_lose_the_first_try,
    )


with DAG("mvo_test_mapped", schedule=None, start_date=START, catchup=False) as mapped_dag:

    @task.versioned(model="mapped", seed=7)
    def fit(width: int) -> dict[str, int]:
        """Return a model object (pickled by the decorator)."""
        return {"width": width, "weights": list(range(width))}

    fit.expand(width=[1, 2, 3])
