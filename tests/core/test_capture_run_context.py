"""RunContext: the orchestrator-neutral run identity and its idempotency key."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from mv_orchestration.capture import RunContext
from mv_orchestration.errors import ValidationError


def test_defaults_are_local_and_keyless() -> None:
    context = RunContext()
    assert context.orchestrator == "local"
    assert context.extra == {}
    assert context.idempotency_key() is None


def test_key_format_and_try_number_independence() -> None:
    first = RunContext(
        orchestrator="prefect", pipeline="train", run_id="r1", task_id="fit", try_number=1
    )
    retry = replace(first, try_number=2)
    assert first.idempotency_key() == "prefect:train:r1:fit:"
    assert retry.idempotency_key() == first.idempotency_key()


def test_key_distinguishes_map_index_partition_and_asset() -> None:
    base = RunContext(orchestrator="airflow", pipeline="dag", run_id="r", task_id="t")
    keys = {
        base.idempotency_key(),
        replace(base, map_index=0).idempotency_key(),
        replace(base, map_index=1).idempotency_key(),
        replace(base, partition_key="2024-01-01").idempotency_key(),
        replace(base, asset_key="models/churn").idempotency_key(),
    }
    assert len(keys) == 5
    assert replace(base, map_index=3).idempotency_key() == "airflow:dag:r:t:3"
    assert replace(base, asset_key="a").idempotency_key() == "airflow:dag:r:t::a"


def test_colons_inside_parts_cannot_make_two_contexts_share_a_key() -> None:
    run_id = "manual__2024-01-01T00:00:00+00:00"
    a = RunContext(orchestrator="airflow", pipeline="a:b", run_id="c", task_id="t")
    b = RunContext(orchestrator="airflow", pipeline="a", run_id="b:c", task_id="t")
    assert a.idempotency_key() != b.idempotency_key()
    key = RunContext(orchestrator="airflow", pipeline="d", run_id=run_id, task_id="t")
    assert key.idempotency_key() == "airflow:d:manual__2024-01-01T00%3A00%3A00+00%3A00:t:"


def test_frozen_strict_and_serialisable() -> None:
    context = RunContext(
        orchestrator="dagster",
        run_id="abc",
        logical_date=datetime(2024, 5, 1, tzinfo=timezone.utc),
        extra={"k": "v"},
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.run_id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        RunContext(unknown="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="unknown fields unknown"):
        RunContext.from_mapping({"unknown": "x"})
    with pytest.raises(ValidationError, match="orchestrator"):
        RunContext(orchestrator="")
    with pytest.raises(ValidationError, match="try_number"):
        RunContext(try_number="2")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="try_number"):
        RunContext(try_number=True)
    with pytest.raises(ValidationError, match="run_id"):
        RunContext(run_id=7)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="extra"):
        RunContext(extra={"k": 1})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="logical_date"):
        RunContext(logical_date="yesterday")  # type: ignore[arg-type]
    data = context.to_json()
    assert data["logical_date"] == "2024-05-01T00:00:00Z"
    assert json.loads(json.dumps(data)) == data
    assert RunContext.from_mapping(data) == context
