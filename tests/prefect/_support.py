"""Helpers shared by the Prefect tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(fetch: Callable[[], list[T]], count: int, timeout: float = 30.0) -> list[T]:
    """Poll ``fetch`` until it returns at least ``count`` items (events arrive asynchronously)."""
    deadline = time.monotonic() + timeout
    items = fetch()
    while len(items) < count and time.monotonic() < deadline:
        time.sleep(0.25)
        items = fetch()
    return items


def runtime_env(
    monkeypatch: Any, *, flow_run_id: str, task_run_id: str | None, run_count: int
) -> None:
    """Mock ``prefect.runtime`` through its documented ``PREFECT__RUNTIME__*`` variables."""
    values = {
        "FLOW_RUN__ID": flow_run_id,
        "FLOW_RUN__NAME": "brave-otter",
        "FLOW_RUN__FLOW_NAME": "train-churn",
        "FLOW_RUN__RUN_COUNT": str(run_count),
    }
    if task_run_id is not None:
        values.update(
            {
                "TASK_RUN__ID": task_run_id,
                "TASK_RUN__NAME": "fit-1a2",
                "TASK_RUN__TASK_NAME": "fit",
                "TASK_RUN__RUN_COUNT": str(run_count),
            }
        )
    for key, value in values.items():
        monkeypatch.setenv(f"PREFECT__RUNTIME__{key}", value)
