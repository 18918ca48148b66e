"""Train the digits model with ``@task.versioned`` and promote it to ``staging`` behind a gate.

prepare_data -> train_digits (registers ``digits@<next>``) -> promote_staging (only when
the recorded accuracy is at least 0.9). Hyperparameters are DAG params; trigger with a
config such as ``{"n_estimators": 120}`` for another version. Needs the ``examples``
extra (scikit-learn).
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from airflow.sdk import DAG, Param, task

from airflow_provider.operators.promote import PromoteModelOperator

DEFAULT_DATA_DIR = str(Path(tempfile.gettempdir()) / "mvo-digits")

with DAG(
    "mvo_digits_training",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "n_estimators": Param(50, type="integer", minimum=1),
        "max_depth": Param(8, type="integer", minimum=1),
        "test_size": Param(0.25, type="number", exclusiveMinimum=0, exclusiveMaximum=1),
        "seed": Param(42, type="integer"),
        "data_dir": Param(DEFAULT_DATA_DIR, type="string"),
    },
    tags=["mv-orchestration", "example"],
) as dag:

    @task
    def prepare_data(data_dir: str) -> str:
        """Write the digits data set as Parquet (once) and return its path."""
        from mv_orchestration.demo.training import prepare_dataset

        return str(prepare_dataset(Path(data_dir)))

    @task.versioned(
        model="digits", seed="{{ params.seed }}", dataset_args=["digits"], log_dag_params=False
    )
    def train_digits(
        digits: str,
        n_estimators: int,
        max_depth: int,
        test_size: float,
        seed: int,
        mv_run=None,
    ) -> str:
        """Train, record the test accuracy, and return the model directory to register."""
        from mv_orchestration.demo.training import DigitsParams, read_metrics, train

        params = DigitsParams(
            n_estimators=n_estimators, max_depth=max_depth, test_size=test_size, seed=seed
        )
        models = Path(digits).parent / "models"
        models.mkdir(parents=True, exist_ok=True)
        model_dir = train(Path(digits), params, Path(tempfile.mkdtemp(dir=models)))
        mv_run.log_metrics(read_metrics(model_dir))
        return str(model_dir)

    version = train_digits(
        digits=prepare_data("{{ params.data_dir }}"),
        n_estimators="{{ params.n_estimators }}",
        max_depth="{{ params.max_depth }}",
        test_size="{{ params.test_size }}",
        seed="{{ params.seed }}",
    )
    PromoteModelOperator(
        task_id="promote_staging",
        model="digits",
        version=version,
        alias="staging",
        gate={"metric": "accuracy", "min": 0.9},
        reason="accuracy gate passed",
    )
