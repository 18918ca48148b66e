"""Run identity from ``prefect.runtime`` (mocked through Prefect's documented variables)."""

from __future__ import annotations

import pytest

from prefect_blocks.context import in_prefect_run, prefect_run_context, run_actor
from tests.prefect._support import runtime_env

FLOW_RUN = "0b0f1c1e-9d1d-4c5e-8f5a-1c2d3e4f5a6b"
TASK_RUN = "7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9"


def test_outside_prefect_the_context_is_local_and_has_no_key() -> None:
    context = prefect_run_context()
    assert context.orchestrator == "local"
    assert context.run_id is None
    assert context.idempotency_key() is None
    assert run_actor() is None
    assert in_prefect_run() is False


def test_task_run_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_env(monkeypatch, flow_run_id=FLOW_RUN, task_run_id=TASK_RUN, run_count=1)
    context = prefect_run_context()
    assert context.orchestrator == "prefect"
    assert context.run_id == FLOW_RUN
    assert context.task_id == TASK_RUN
    assert context.pipeline == "train-churn"
    assert context.try_number == 1
    assert context.extra == {
        "flow_run_name": "brave-otter",
        "task_name": "fit",
        "task_run_name": "fit-1a2",
    }
    assert run_actor() == "prefect:train-churn/brave-otter"


def test_retries_share_the_idempotency_key(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_env(monkeypatch, flow_run_id=FLOW_RUN, task_run_id=TASK_RUN, run_count=1)
    first = prefect_run_context()
    runtime_env(monkeypatch, flow_run_id=FLOW_RUN, task_run_id=TASK_RUN, run_count=3)
    third = prefect_run_context()
    assert (first.try_number, third.try_number) == (1, 3)
    assert first.idempotency_key() == third.idempotency_key()
    assert FLOW_RUN in first.idempotency_key() and TASK_RUN in first.idempotency_key()


def test_other_task_runs_get_other_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_env(monkeypatch, flow_run_id=FLOW_RUN, task_run_id=TASK_RUN, run_count=1)
    first = prefect_run_context()
    runtime_env(monkeypatch, flow_run_id=FLOW_RUN, task_run_id=FLOW_RUN, run_count=1)
    assert prefect_run_context().idempotency_key() != first.idempotency_key()


def test_flow_level_identity_uses_the_flow_run_count(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_env(monkeypatch, flow_run_id=FLOW_RUN, task_run_id=None, run_count=2)
    context = prefect_run_context()
    assert context.task_id is None
    assert context.try_number == 2
    assert context.idempotency_key() is not None


def test_a_task_run_outside_a_flow_uses_its_task_run_id(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"ID": TASK_RUN, "TASK_NAME": "fit", "RUN_COUNT": "2"}.items():
        monkeypatch.setenv(f"PREFECT__RUNTIME__TASK_RUN__{key}", value)
    context = prefect_run_context()
    assert (context.run_id, context.task_id, context.pipeline) == (TASK_RUN, TASK_RUN, None)
    assert context.try_number == 2
    assert context.extra == {"task_name": "fit"}
