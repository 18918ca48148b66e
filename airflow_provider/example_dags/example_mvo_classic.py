"""Classic operators: train -> evaluate -> register -> promote to production with a gate.

The model is trained by plain ``@task`` functions; ``RegisterModelOperator`` records it
with its params, data set and the evaluation's metrics, and ``PromoteModelOperator``
moves ``production`` only when accuracy >= 0.9 (the alias asset
``mv://digits/alias/production`` then gets an event, see ``example_mvo_deploy``).
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from airflow.sdk import DAG, Param, task

from airflow_provider.operators.promote import PromoteModelOperator
from airflow_provider.operators.register import RegisterModelOperator

DEFAULT_DATA_DIR = str(Path(tempfile.gettempdir()) / "mvo-digits")

with DAG(
    "mvo_digits_classic",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "n_estimators": Param(50, type="integer", minimum=1),
        "max_depth": Param(8, type="integer", minimum=1),
        "seed": Param(42, type="integer"),
        "data_dir": Param(DEFAULT_DATA_DIR, type="string"),
        "min_accuracy": Param(0.9, type="number"),
    },
    tags=["mv-orchestration", "example"],
) as dag:

    @task
    def prepare_data(data_dir: str) -> str:
        """Write the digits data set as Parquet (once) and return its path."""
        from mv_orchestration.demo.training import prepare_dataset

        return str(prepare_dataset(Path(data_dir)))

    @task
    def train_model(dataset: str, n_estimators: int, max_depth: int, seed: int) -> str:
        """Train and return the model directory."""
        from mv_orchestration.demo.training import DigitsParams, train

        params = DigitsParams(n_estimators=n_estimators, max_depth=max_depth, seed=seed)
        models = Path(dataset).parent / "models"
        models.mkdir(parents=True, exist_ok=True)
        return str(train(Path(dataset), params, Path(tempfile.mkdtemp(dir=models))))

    @task
    def evaluate(model_dir: str) -> dict[str, float]:
        """The held-out metrics written next to the model."""
        from mv_orchestration.demo.training import read_metrics

        return read_metrics(Path(model_dir))

    dataset = prepare_data("{{ params.data_dir }}")
    model_dir = train_model(
        dataset, "{{ params.n_estimators }}", "{{ params.max_depth }}", "{{ params.seed }}"
    )
    register = RegisterModelOperator(
        task_id="register",
        model="digits",
        path=model_dir,
        model_params={
            "n_estimators": "{{ params.n_estimators }}",
            "max_depth": "{{ params.max_depth }}",
        },
        datasets={"digits": dataset},
        metrics=evaluate(model_dir),
        seed="{{ params.seed }}",
        tags={"trained_by": "airflow"},
    )
    PromoteModelOperator(
        task_id="promote_production",
        model="digits",
        version=register.output,
        alias="production",
        gate={"metric": "accuracy", "min": 0.9},
        reason="accuracy gate passed",
    )
