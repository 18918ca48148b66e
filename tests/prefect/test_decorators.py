"""``@versioned`` / ``@versioned_task`` through ``.fn()``: no Prefect server involved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prefect import Task

from mv_orchestration.errors import UsageError, ValidationError
from mv_orchestration.registry import current_run
from prefect_blocks import ModelRegistry, resolve_registry, versioned, versioned_task
from tests.prefect._support import runtime_env

FLOW_RUN = "0b0f1c1e-9d1d-4c5e-8f5a-1c2d3e4f5a6b"
TASK_RUN = "7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9"


def _model_dir(root: Path, content: bytes) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "weights.bin").write_bytes(content)
    return root


def test_versioned_task_is_a_prefect_task(registry_block: ModelRegistry) -> None:
    @versioned_task(model="churn", registry=registry_block, retries=3, name="fit-churn")
    def fit(out: str, lr: float = 0.1) -> Path:
        return Path(out)

    assert isinstance(fit, Task)
    assert (fit.retries, fit.name, fit.fn.__name__) == (3, "fit-churn", "fit")


def test_fn_registers_the_returned_path(
    registry_block: ModelRegistry, tmp_path: Path, captured_events: Callable[[], list[Any]]
) -> None:
    @versioned_task(model="churn", registry=registry_block, seed=7, tags={"team": "risk"})
    def fit(out: str, lr: float) -> Path:
        current_run().log_metrics({"auc": 0.81})
        return _model_dir(Path(out), b"model-a")

    result = fit.fn(str(tmp_path / "m"), 0.5)
    assert result["ref"] == "churn@" + result["version"] and result["created"] is True
    with registry_block.connection() as registry:
        record = registry.record(result["ref"])
        assert [v.version for v in registry.versions("churn")] == [result["version"]]
    assert record.params == {"out": str(tmp_path / "m"), "lr": 0.5}
    assert record.metrics == {"auc": 0.81}
    assert record.tags == {"team": "risk"}
    assert record.capture["seeds"]["seed"] == 7
    assert record.capture["context"]["orchestrator"] == "local"
    [event] = captured_events()
    assert event.event == "mv.model.version.registered"
    assert event.resource["mv.version"] == result["version"]


def test_seed_can_come_from_the_arguments(
    registry_block: ModelRegistry, tmp_path: Path, captured_events: Callable[[], list[Any]]
) -> None:
    @versioned(
        model="churn", registry=registry_block, seed=lambda a: a["params"]["seed"], log_args=False
    )
    def fit(params: dict[str, int], out: str = str(tmp_path / "m")) -> Path:
        return _model_dir(Path(out), b"model-b")

    result = fit({"seed": 1234})
    with registry_block.connection() as registry:
        record = registry.record(result["ref"])
    assert record.capture["seeds"]["seed"] == 1234
    assert record.params == {}


def test_retries_of_one_task_run_register_one_version(
    registry_block: ModelRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    captured_events: Callable[[], list[Any]],
) -> None:
    """The first try registers, then fails; the retry gets the same version back."""

    @versioned_task(model="churn", registry=registry_block, seed=1, retries=1)
    def fit(out: str) -> Path:
        path = _model_dir(Path(out), b"model-c")
        if current_run().register_model(path).created:
            raise RuntimeError("crashed after registering")
        return path

    runtime_env(monkeypatch, flow_run_id=FLOW_RUN, task_run_id=TASK_RUN, run_count=1)
    with pytest.raises(RuntimeError, match="after registering"):
        fit.fn(str(tmp_path / "m"))
    runtime_env(monkeypatch, flow_run_id=FLOW_RUN, task_run_id=TASK_RUN, run_count=2)
    result = fit.fn(str(tmp_path / "m"))
    assert result["created"] is False
    with registry_block.connection() as registry:
        assert len(registry.versions("churn")) == 1
        context = registry.record(result["ref"]).capture["context"]
    assert (context["orchestrator"], context["run_id"], context["task_id"]) == (
        "prefect",
        FLOW_RUN,
        TASK_RUN,
    )
    assert context["try_number"] == 1
    assert len(captured_events()) == 1


def test_other_return_values_are_refused(
    registry_block: ModelRegistry, captured_events: Callable[[], list[Any]]
) -> None:
    @versioned(model="churn", registry=registry_block)
    def fit() -> int:
        return 42

    with pytest.raises(ValidationError, match="must return the model's file"):
        fit()
    with registry_block.connection() as registry:
        assert registry.models() == []
    assert captured_events() == []


def test_bad_options_are_refused_when_decorating() -> None:
    with pytest.raises(UsageError, match="async"):

        @versioned(model="churn")
        async def fit() -> str:
            return "x"

    with pytest.raises(ValidationError):
        versioned(model="../churn")
    with pytest.raises(ValidationError):
        versioned(model="churn", bump="sideways")


def test_resolve_registry(registry_block: ModelRegistry) -> None:
    assert resolve_registry(registry_block) is registry_block
    assert resolve_registry(None).registry_url is None
    with pytest.raises(UsageError, match="ModelRegistry block"):
        resolve_registry(42)  # type: ignore[arg-type]
