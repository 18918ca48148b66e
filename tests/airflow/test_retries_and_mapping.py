"""Retries return the first try's version; mapped task instances get one version each."""

from __future__ import annotations

from typing import Any

from tests.airflow.helpers import task_result, task_states


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
