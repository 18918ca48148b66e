"""Many processes registering at once: unique versions, nothing lost, exactly-once retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mv_orchestration.registry import schema
from mv_orchestration.registry.registry import connect
from tests.core.registry_helpers import process_context

pytest_plugins = ["tests.core.registry_fixtures"]

PROCESSES = 16
REGISTRATIONS = 200


def _register_many(url: str, store_url: str, model_path: str, worker: int, count: int) -> Any:
    registry = connect(url, store_url)
    acknowledged: list[tuple[str, str]] = []
    errors: list[str] = []
    try:
        with registry.run("churn", seed=worker) as run:
            for i in range(count):
                run.log_params({"worker": worker, "i": i})
                try:
                    mv = run.register_model(model_path)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                else:
                    acknowledged.append((mv.version, mv.record_id))
    finally:
        registry.close()
    return acknowledged, errors


def _retry_same_task(url: str, store_url: str, model_path: str, worker: int, count: int) -> Any:
    from mv_orchestration.capture import RunContext

    registry = connect(url, store_url)
    seen: set[tuple[str, str, bool]] = set()
    try:
        for attempt in range(count):
            context = RunContext(
                orchestrator="airflow", pipeline="train_dag", run_id="manual__1",
                task_id="train", try_number=attempt + 1,
            )  # fmt: skip
            with registry.run("churn", context=context) as run:
                run.log_params({"worker": worker, "attempt": attempt})
                mv = run.register_model(model_path)
            seen.add((mv.version, mv.record_id, mv.created))
    finally:
        registry.close()
    return sorted(seen)


def _model(tmp_path: Path) -> str:
    path = tmp_path / "model.bin"
    path.write_bytes(b"tiny model")
    return str(path)


def _run_workers(target: Any, db_url: str, tmp_path: Path, workers: int, count: int) -> list[Any]:
    ctx = process_context()
    store_url = (tmp_path / "store").as_uri()
    connect(db_url, store_url).close()
    model = _model(tmp_path)
    with ctx.Pool(workers) as pool:
        jobs = [
            pool.apply_async(target, (db_url, store_url, model, worker, count))
            for worker in range(workers)
        ]
        return [job.get(timeout=600) for job in jobs]


@pytest.mark.slow
def test_concurrent_registrations_get_unique_versions(db_url: str, tmp_path: Path) -> None:
    results = _run_workers(_register_many, db_url, tmp_path, PROCESSES, REGISTRATIONS)
    errors = [error for _, errs in results for error in errs]
    assert errors == []
    acknowledged = [pair for acks, _ in results for pair in acks]
    assert len(acknowledged) == PROCESSES * REGISTRATIONS
    assert len({version for version, _ in acknowledged}) == len(acknowledged)
    registry = connect(db_url, (tmp_path / "store").as_uri())
    try:
        v = schema.versions
        with registry.engine.connect() as conn:
            stored = {tuple(row) for row in conn.execute(select(v.c.version, v.c.record_id))}
            distinct = conn.execute(select(func.count(v.c.version.distinct()))).scalar_one()
        assert set(acknowledged) <= stored
        assert distinct == len(stored) == PROCESSES * REGISTRATIONS
        versions = [mv.version for mv in registry.versions("churn", limit=3)]
        assert versions == [f"1.{PROCESSES * REGISTRATIONS - 1 - i}.0" for i in range(3)]
        assert registry.verify_audit().ok
    finally:
        registry.close()


def test_retries_of_one_task_register_exactly_one_version(db_url: str, tmp_path: Path) -> None:
    results = _run_workers(_retry_same_task, db_url, tmp_path, 8, 50)
    outcomes = {(version, record_id) for seen in results for version, record_id, _ in seen}
    assert len(outcomes) == 1
    created = [c for seen in results for _, _, c in seen if c]
    assert created == [True]
    registry = connect(db_url, (tmp_path / "store").as_uri())
    try:
        [only] = registry.versions("churn")
        assert (only.version, only.record_id) == next(iter(outcomes))
    finally:
        registry.close()
