"""The versioning IO manager under real in-process materializations."""

from pathlib import Path

import dagster as dg
import pytest

from dagster_resources import ModelRegistryResource
from dagster_resources.storage import PICKLE, encode
from tests.dagster.helpers import materialization, tamper, value

DATA_VERSION_TAG = "dagster/data_version"


class ToyConfig(dg.Config):
    weight: int = 1


@dg.asset(metadata={"mv/model": "toy", "mv/seed": 7}, code_version="7")
def toy_model(config: ToyConfig) -> dg.Output[dict]:
    return dg.Output(
        {"weights": [config.weight, 2, 3]},
        metadata={"mv/params": {"weight": config.weight}, "mv/metrics": {"accuracy": 0.9}},
    )


def _materialize_toy(resources, instance, weight: int = 1) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [toy_model],
        resources=resources,
        instance=instance,
        run_config={"ops": {"toy_model": {"config": {"weight": weight}}}},
    )


def test_model_asset_registers_a_version_with_the_dagster_context(
    resources, instance, mv_registry: ModelRegistryResource
) -> None:
    result = _materialize_toy(resources, instance)
    mat = materialization(result, "toy_model")
    ref = value(mat.metadata["mv/ref"])
    assert value(mat.metadata["mv/created"]) is True
    assert value(mat.metadata["mv/format"]) == PICKLE

    record = mv_registry.get_registry().record(ref)
    context = record.capture["context"]
    assert context["orchestrator"] == "dagster"
    assert context["run_id"] == result.run_id
    assert context["asset_key"] == "toy_model"
    assert context["code_version"] == "7"
    assert context["partition_key"] is None
    assert context["pipeline"] == result.job_def.name
    assert record.capture["seeds"]["seed"] == 7
    assert record.params == {"weight": 1}
    assert record.metrics == {"accuracy": 0.9}
    # The registered artifact is the pickled output, and the data version is its digest.
    (entry,) = record.artifacts.entries
    assert entry.digest == value(mat.metadata["mv/digest"])
    assert mat.tags[DATA_VERSION_TAG] == value(mat.metadata["mv/digest"])


def test_rematerializing_unchanged_data_keeps_data_version_and_version(
    resources, instance, mv_registry: ModelRegistryResource
) -> None:
    first = materialization(_materialize_toy(resources, instance), "toy_model")
    second = materialization(_materialize_toy(resources, instance), "toy_model")
    assert second.tags[DATA_VERSION_TAG] == first.tags[DATA_VERSION_TAG]
    assert value(second.metadata["mv/ref"]) == value(first.metadata["mv/ref"])
    assert value(second.metadata["mv/created"]) is False
    assert len(mv_registry.get_registry().versions("toy")) == 1

    changed = materialization(_materialize_toy(resources, instance, weight=5), "toy_model")
    assert changed.tags[DATA_VERSION_TAG] != first.tags[DATA_VERSION_TAG]
    assert value(changed.metadata["mv/created"]) is True
    assert len(mv_registry.get_registry().versions("toy")) == 2


@dg.asset(metadata={"mv/model": "unseeded"})
def unseeded_model() -> bytes:
    return b"weights"


def test_rematerializing_an_unseeded_model_keeps_its_version(
    resources, instance, mv_registry: ModelRegistryResource
) -> None:
    first = materialization(
        dg.materialize([unseeded_model], resources=resources, instance=instance), "unseeded_model"
    )
    second = materialization(
        dg.materialize([unseeded_model], resources=resources, instance=instance), "unseeded_model"
    )
    assert second.tags[DATA_VERSION_TAG] == first.tags[DATA_VERSION_TAG]
    assert value(second.metadata["mv/ref"]) == value(first.metadata["mv/ref"])


PARTS = dg.StaticPartitionsDefinition(["east", "west"])


@dg.asset(partitions_def=PARTS, metadata={"mv/model": "regional", "mv/seed": 0})
def regional_model(context: dg.AssetExecutionContext) -> dict:
    return {"region": context.partition_key}


def test_a_partitioned_asset_gives_one_version_per_partition(
    resources, instance, mv_registry: ModelRegistryResource
) -> None:
    refs = {}
    for key in PARTS.get_partition_keys():
        result = dg.materialize(
            [regional_model], resources=resources, instance=instance, partition_key=key
        )
        mat = materialization(result, "regional_model")
        assert mat.partition == key
        refs[key] = value(mat.metadata["mv/ref"])
        record = mv_registry.get_registry().record(refs[key])
        assert record.capture["context"]["partition_key"] == key
        assert record.capture["context"]["asset_key"] == "regional_model"
    assert len(set(refs.values())) == 2
    assert len(mv_registry.get_registry().versions("regional")) == 2

    again = dg.materialize(
        [regional_model], resources=resources, instance=instance, partition_key="east"
    )
    mat = materialization(again, "regional_model")
    assert value(mat.metadata["mv/ref"]) == refs["east"]
    assert value(mat.metadata["mv/created"]) is False


class OutConfig(dg.Config):
    out: str


@dg.asset
def table_dir(config: OutConfig) -> Path:
    out = Path(config.out)
    (out / "part").mkdir(parents=True, exist_ok=True)
    (out / "a.txt").write_text("alpha")
    (out / "part" / "b.txt").write_text("beta")
    return out


@dg.asset
def settings() -> dict:
    return {"threshold": 0.5, "labels": ["a", "b"]}


@dg.asset
def summary(table_dir: Path, settings: dict) -> str:
    files = sorted(p.relative_to(table_dir).as_posix() for p in table_dir.rglob("*.txt"))
    return f"{files} {(table_dir / 'part' / 'b.txt').read_text()} {settings['threshold']}"


def _pipeline_config(tmp_path: Path) -> dict:
    return {"ops": {"table_dir": {"config": {"out": str(tmp_path / "made")}}}}


def test_paths_and_objects_round_trip_through_the_store(
    resources, instance, tmp_path: Path, mv_registry: ModelRegistryResource
) -> None:
    from mv_orchestration.hashing.manifest import hash_tree

    result = dg.materialize(
        [table_dir, settings, summary],
        resources=resources,
        instance=instance,
        run_config=_pipeline_config(tmp_path),
    )
    assert result.output_for_node("summary") == "['a.txt', 'part/b.txt'] beta 0.5"
    tree = materialization(result, "table_dir")
    assert value(tree.metadata["mv/format"]) == "directory"
    assert tree.tags[DATA_VERSION_TAG] == hash_tree(tmp_path / "made").digest
    obj = materialization(result, "settings")
    expected = mv_registry.get_registry().store.put_bytes(encode(settings()))
    assert obj.tags[DATA_VERSION_TAG] == expected
    # Inputs are verified local copies under load_dir, named by their content digest.
    digest = str(value(tree.metadata["mv/digest"]))
    local = tmp_path / "loaded" / digest.replace(":", "-")
    assert (local / "part" / "b.txt").read_text() == "beta"

    # A local copy changed after loading is detected and replaced on the next load.
    (local / "part" / "b.txt").write_text("evil")
    again = dg.materialize(
        [table_dir, settings, summary],
        selection=[summary],
        resources=resources,
        instance=instance,
    )
    assert again.output_for_node("summary") == "['a.txt', 'part/b.txt'] beta 0.5"


def test_a_tampered_stored_input_fails_the_downstream_step(
    resources, instance, tmp_path: Path, store_dir: Path, mv_registry: ModelRegistryResource
) -> None:
    dg.materialize(
        [table_dir, settings, summary],
        resources=resources,
        instance=instance,
        run_config=_pipeline_config(tmp_path),
    )
    tamper(store_dir, mv_registry, mv_registry.get_registry().store.put_bytes(encode(settings())))
    result = dg.materialize(
        [table_dir, settings, summary],
        selection=[summary],
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    causes = [failure.step_failure_data.error]
    while causes[-1].cause is not None:
        causes.append(causes[-1].cause)
    assert any(error.cls_name == "DigestMismatchError" for error in causes)


@dg.asset
def nothing_returned() -> None:
    return None


@dg.op
def plain_op() -> int:
    return 5


@dg.job
def plain_job() -> None:
    plain_op()


def test_none_values_and_op_outputs_are_not_stored(resources, instance, store_dir: Path) -> None:
    result = dg.materialize([nothing_returned], resources=resources, instance=instance)
    assert "mv/digest" not in materialization(result, "nothing_returned").metadata
    assert plain_job.execute_in_process(resources=resources, instance=instance).success
    objects = store_dir / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_loading_an_asset_not_stored_by_the_io_manager_is_a_clear_error(
    resources, instance
) -> None:
    result = dg.materialize(
        [settings, summary, table_dir],
        selection=[summary],
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    text = str(failure.step_failure_data.error.to_string())
    assert "has not been materialized" in text


def test_a_path_that_does_not_exist_is_refused_and_plain_strings_are_objects() -> None:
    from dagster_resources.storage import as_path
    from mv_orchestration.errors import ValidationError

    with pytest.raises(ValidationError):
        as_path(Path("/definitely/not/here"))
    assert as_path("not a path") is None
    assert as_path("/definitely/not/here") is None


class ThresholdConfig(dg.Config):
    threshold: float = 0.5


@dg.asset
def thresholds(config: ThresholdConfig) -> dict:
    return {"threshold": config.threshold}


@dg.asset
def report(thresholds: dict) -> str:
    return f"threshold {thresholds['threshold']}"


def test_dagster_staleness_follows_the_stored_content(resources, instance) -> None:
    from dagster._core.definitions.data_version import StaleStatus
    from dagster._utils.test.data_versions import get_stale_status_resolver

    def run(selection: list, threshold: float) -> None:
        dg.materialize(
            [thresholds, report],
            selection=selection,
            resources=resources,
            instance=instance,
            run_config={"ops": {"thresholds": {"config": {"threshold": threshold}}}},
        )

    def status() -> object:
        resolver = get_stale_status_resolver(instance, [thresholds, report])
        return resolver.get_status(report.key)

    run([thresholds, report], 0.5)
    assert status() == StaleStatus.FRESH
    run([thresholds], 0.5)  # same content again: the downstream asset stays fresh
    assert status() == StaleStatus.FRESH
    run([thresholds], 0.7)  # new content: the downstream asset is stale
    assert status() == StaleStatus.STALE
