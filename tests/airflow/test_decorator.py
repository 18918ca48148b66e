"""``@task.versioned`` executed directly with a task context."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, task

from tests.airflow.helpers import make_context, outlet_extra


def _operator(func: Callable[..., Any], *args: Any, decorator: Any = None, **kwargs: Any) -> Any:
    with DAG("unit_dag", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)):
        output = (decorator or task.versioned(model="churn"))(func)(*args, **kwargs)
    return output.operator


def test_registers_the_returned_path_with_arguments_datasets_and_dag_params(
    registry: Any, tmp_path: Path
) -> None:
    train_file = tmp_path / "train.csv"
    train_file.write_text("x,y\n1,0\n")
    extra_file = tmp_path / "extra.csv"
    extra_file.write_text("z\n3\n")

    def train(data: str, extra: Path, lr: float, epochs: int = 3, ti=None, mv_run=None) -> str:
        assert ti is not None
        out = tmp_path / "model"
        out.mkdir()
        (out / "weights.bin").write_bytes(f"{lr}-{epochs}".encode())
        mv_run.log_metrics({"accuracy": 0.91})
        return str(out)

    op = _operator(
        train,
        str(train_file),
        extra_file,
        lr=0.1,
        decorator=task.versioned(
            model="churn", seed="5", dataset_args=["data"], tags={"team": "risk"}
        ),
    )
    context = make_context(task_id=op.task_id, params={"region": "eu"})
    result = op.execute(context)

    assert result["created"] is True and result["model"] == "churn"
    record = registry.record(result["ref"])
    assert record.params == {"lr": 0.1, "epochs": 3, "dag_params": {"region": "eu"}}
    assert sorted(d.name for d in record.datasets) == ["data", "extra"]
    assert record.metrics == {"accuracy": 0.91}
    assert record.tags["team"] == "risk"
    assert record.capture["seeds"]["seed"] == 5
    assert record.capture["context"]["task_id"] == op.task_id
    assert record.capture["code"]["source_digest"]
    assert [e.path for e in record.artifacts.entries] == ["weights.bin"]
    assert outlet_extra(context, "mv://churn")["record_id"] == result["record_id"]


def test_a_model_object_is_pickled_and_registered(registry: Any, tmp_path: Path) -> None:
    def fit(width: int) -> dict[str, Any]:
        return {"width": width, "weights": list(range(width))}

    op = _operator(fit, 4, decorator=task.versioned(model="churn", log_dag_params=False))
    result = op.execute(make_context(task_id=op.task_id))

    record = registry.record(result["ref"])
    assert record.params == {"width": 4}
    assert [e.path for e in record.artifacts.entries] == ["model.pkl"]
    loaded = registry.load_artifacts(result["ref"], tmp_path / "loaded")
    assert pickle.loads((Path(loaded) / "model.pkl").read_bytes()) == fit(4)


def test_a_version_registered_through_mv_run_is_returned_as_is(
    registry: Any, tmp_path: Path
) -> None:
    def train(mv_run):
        model = tmp_path / "model.bin"
        model.write_bytes(b"weights")
        return mv_run.register_model(model, version="2.0.0")

    op = _operator(train)
    result = op.execute(make_context(task_id=op.task_id))
    assert result["version"] == "2.0.0"
    assert [v.version for v in registry.versions("churn")] == ["2.0.0"]


def test_arguments_that_are_not_json_like_are_not_params(registry: Any, tmp_path: Path) -> None:
    class Frame:
        """Stands for an in-memory data frame passed between functions in one task."""

    def train(frame: Any, lr: float) -> str:
        path = tmp_path / "model.bin"
        path.write_bytes(b"w")
        return str(path)

    op = _operator(train, Frame(), 0.2)
    result = op.execute(make_context(task_id=op.task_id))
    assert registry.record(result["ref"]).params == {"lr": 0.2}


def test_returning_none_is_a_usage_error_and_registers_nothing(registry: Any) -> None:
    from mv_orchestration.errors import ModelNotFoundError, UsageError

    def train() -> None:
        return None

    op = _operator(train)
    with pytest.raises(UsageError, match="returned None"):
        op.execute(make_context(task_id=op.task_id))
    with pytest.raises(ModelNotFoundError):
        registry.versions("churn")


def test_a_mapped_instance_gets_its_own_version(registry: Any, tmp_path: Path) -> None:
    def fit(width: int) -> dict[str, int]:
        return {"width": width}

    results = []
    for index, width in enumerate([1, 2]):
        op = _operator(fit, width)
        results.append(op.execute(make_context(task_id="fit", map_index=index)))
    retried = _operator(fit, 1).execute(make_context(task_id="fit", map_index=0, try_number=2))

    assert results[0]["version"] != results[1]["version"]
    assert retried["record_id"] == results[0]["record_id"] and retried["created"] is False
    contexts = [registry.record(r["ref"]).capture["context"]["map_index"] for r in results]
    assert contexts == [0, 1]


def test_bad_declarations_fail_when_the_dag_is_parsed() -> None:
    from mv_orchestration.errors import InvalidNameError, ValidationError

    def train() -> str:
        return os.devnull

    with pytest.raises(InvalidNameError):
        _operator(train, decorator=task.versioned(model="Bad Name"))
    with pytest.raises(ValidationError):
        _operator(train, decorator=task.versioned(model="churn", bump="huge"))
    with pytest.raises(ValueError, match="multiple_outputs"):
        task.versioned(model="churn", multiple_outputs=True)
    with pytest.raises(ValidationError, match="missing"):
        _operator(train, decorator=task.versioned(model="churn", dataset_args=["missing"]))


def test_the_model_asset_is_added_to_the_outlets_once() -> None:
    from airflow_provider.assets import model_asset

    def train() -> str:
        return os.devnull

    op = _operator(train, decorator=task.versioned(model="churn", outlets=[model_asset("churn")]))
    assert op.outlets == [model_asset("churn")]


def test_an_arrow_table_argument_is_logged_as_a_table_dataset(registry: Any) -> None:
    import pyarrow as pa

    def fit(features: Any, depth: int) -> dict[str, int]:
        return {"rows": features.num_rows, "depth": depth}

    table = pa.table({"x": [1, 2, 3], "y": [0.5, 0.25, 0.125]})
    op = _operator(fit, table, 2)
    result = op.execute(make_context(task_id=op.task_id))

    record = registry.record(result["ref"])
    (dataset,) = record.datasets
    assert (dataset.name, dataset.kind, dataset.num_rows) == ("features", "table", 3)
    assert record.params == {"depth": 2}


def test_secret_arguments_are_masked_before_they_are_recorded(registry: Any) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret("hunter2-and-more")

    def fit(api_url: str, password: str, depth: int) -> dict[str, int]:
        return {"depth": depth}

    op = _operator(fit, "https://x/?k=hunter2-and-more", "plain-looking", 3)
    result = op.execute(make_context(task_id=op.task_id))
    params = registry.record(result["ref"]).params
    assert "hunter2-and-more" not in params["api_url"]
    assert params["password"] != "plain-looking"
    assert params["depth"] == 3


@pytest.mark.s3
def test_the_decorated_function_never_sees_the_connections_s3_keys(
    monkeypatch: pytest.MonkeyPatch, s3_store_url: str, tmp_path: Path
) -> None:
    import mv_orchestration as mvo
    from mv_orchestration.store.credentials import S3Credentials

    for name in [key for key in os.environ if key.startswith("AWS_")]:
        monkeypatch.delenv(name)
    extra = {
        "registry_url": f"sqlite:///{tmp_path / 'registry.db'}",
        "store_url": s3_store_url,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "conn-secret-key",
    }
    conn = {"conn_type": "mv_registry", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_MV_REGISTRY_DEFAULT", json.dumps(conn))
    seen: list[list[str]] = []

    def train() -> str:
        seen.append(sorted(key for key in os.environ if key.startswith("AWS_")))
        model = tmp_path / "model.bin"
        model.write_bytes(b"weights-s3")
        return str(model)

    op = _operator(train, decorator=task.versioned(model="churn", log_dag_params=False))
    result = op.execute(make_context(task_id=op.task_id))

    assert seen == [[]]
    assert not [key for key in os.environ if key.startswith("AWS_")]
    credentials = S3Credentials("testing", "conn-secret-key")
    registry = mvo.connect(extra["registry_url"], s3_store_url, store_credentials=credentials)
    try:
        assert registry.verify(result["ref"]).ok is True
        assert "conn-secret-key" not in json.dumps(result)
    finally:
        registry.close()
