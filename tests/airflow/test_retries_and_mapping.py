"""Retries return the first try's version or alias move; mapped task instances get one
version each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.airflow.helpers import asset_events, task_result, task_states


def test_a_task_that_registers_then_fails_once_leaves_exactly_one_version(
    registry: Any,
) -> None:
    from tests.airflow.dags.retry_and_mapping import retry_dag

    run = retry_dag.test()

    assert task_states(run) == {("flaky", -1): "success"}
    versions = registry.versions("flaky")
    assert len(versions) == 1
    result = task_result(run, "flaky")
    assert result["record_id"] == versions[0].record_id
    assert result["created"] is False
    record = registry.record(result["ref"])
    assert record.capture["context"]["try_number"] == 1
    assert registry.load_artifacts(result["ref"], registry.settings.home / "check")


def test_a_rollback_that_fails_after_moving_and_is_retried_moves_the_alias_back_once(
    registry: Any, tmp_path: Path
) -> None:
    from tests.airflow.dags.retry_and_mapping import rollback_dag

    versions = []
    for content in (b"v1", b"v2", b"v3"):
        model = tmp_path / f"{content.decode()}.bin"
        model.write_bytes(content)
        with registry.run("scoring") as run:
            versions.append(run.register_model(model))
        registry.promote(versions[-1].ref, alias="production")

    run = rollback_dag.test()

    assert task_states(run) == {("rollback", -1): "success"}
    assert registry.resolve("scoring@production").ref == versions[1].ref
    rollbacks = [
        m for m in registry.alias_history("scoring", "production") if m.action == "rollback"
    ]
    assert len(rollbacks) == 1
    assert (rollbacks[0].context["run_id"], rollbacks[0].context["try_number"]) == (run.run_id, 1)
    move = task_result(run, "rollback")
    assert move["applied"] is False and move["id"] == rollbacks[0].id
    [event] = asset_events(run.run_id, "mv://scoring/alias/production")
    assert (event["ref"], event["action"]) == (versions[1].ref, "rollback")


def test_a_task_mapped_over_three_inputs_registers_three_versions(registry: Any) -> None:
    from tests.airflow.dags.retry_and_mapping import mapped_dag

    run = mapped_dag.test()

    states = task_states(run)
    assert states == {("fit", index): "success" for index in range(3)}
    results = [task_result(run, "fit", index) for index in range(3)]
    assert len({r["version"] for r in results}) == 3
    assert all(r["created"] for r in results)
    assert len(registry.versions("mapped")) == 3
    for index, result in enumerate(results):
        record = registry.record(result["ref"])
        assert record.params == {"width": index + 1}
        assert record.capture["context"]["map_index"] == index
