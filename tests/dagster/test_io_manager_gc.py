"""Blob GC keeps the latest value of every asset the versioning IO manager stored."""

from datetime import timedelta
from pathlib import Path

import dagster as dg

from dagster_resources import ModelRegistryResource
from mv_orchestration.retention import collect_garbage
from tests.dagster.helpers import materialization, value

NOW = timedelta(0)


class RowsConfig(dg.Config):
    rows: int = 3


class DirConfig(dg.Config):
    out: str


@dg.asset(key_prefix="raw")
def rows(config: RowsConfig) -> list[int]:
    return list(range(config.rows))


@dg.asset(key_prefix="raw")
def shards(config: DirConfig) -> Path:
    out = Path(config.out)
    (out / "part").mkdir(parents=True, exist_ok=True)
    (out / "part" / "0.txt").write_text("zero")
    (out / "1.txt").write_text("one")
    return out


@dg.asset(ins={"rows": dg.AssetIn(["raw", "rows"]), "shards": dg.AssetIn(["raw", "shards"])})
def report(rows: list[int], shards: Path) -> str:
    return f"{len(rows)} rows, {(shards / 'part' / '0.txt').read_text()}"


DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-03")


@dg.asset(partitions_def=DAYS)
def daily(context: dg.AssetExecutionContext) -> str:
    return f"rows of {context.partition_key}"


def _upstream(resources, instance, tmp_path: Path, n: int = 3) -> dg.ExecuteInProcessResult:
    config = {
        "raw__rows": {"config": {"rows": n}},
        "raw__shards": {"config": {"out": str(tmp_path / "shards")}},
    }
    return dg.materialize(
        [rows, shards], resources=resources, instance=instance, run_config={"ops": config}
    )


def _report(resources, instance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [rows, shards, report], selection=[report], resources=resources, instance=instance
    )


def test_a_downstream_asset_loads_upstream_values_after_gc(
    resources, instance, tmp_path: Path, mv_registry: ModelRegistryResource
) -> None:
    upstream = _upstream(resources, instance, tmp_path)
    tree = materialization(upstream, "raw__shards")

    report_gc = collect_garbage(mv_registry.get_registry(), dry_run=False, grace_period=NOW)

    assert report_gc.deleted == []
    result = _report(resources, instance)
    assert result.success and result.output_for_node("report") == "3 rows, zero"
    pins = {p.key: p for p in mv_registry.get_registry().pins("dagster")}
    assert sorted(pins) == ["raw/rows", "raw/shards", "report"]
    assert pins["raw/shards"].kind == "tree"
    assert pins["raw/shards"].digest == value(tree.metadata["mv/manifest"])
    assert pins["raw/rows"].digest == value(
        materialization(upstream, "raw__rows").metadata["mv/digest"]
    )
    assert pins["raw/rows"].actor.startswith(f"dagster:{upstream.job_def.name}/{upstream.run_id}/")


def test_rematerializing_lets_gc_delete_the_old_value_and_keep_the_new_one(
    resources, instance, tmp_path: Path, mv_registry: ModelRegistryResource
) -> None:
    registry = mv_registry.get_registry()
    first = _upstream(resources, instance, tmp_path, n=3)
    old = value(materialization(first, "raw__rows").metadata["mv/digest"])
    second = _upstream(resources, instance, tmp_path, n=5)
    new = value(materialization(second, "raw__rows").metadata["mv/digest"])
    assert old != new

    deleted = collect_garbage(registry, dry_run=False, grace_period=NOW).deleted

    assert deleted == [old]
    assert registry.store.exists(new) and not registry.store.exists(old)
    assert _report(resources, instance).output_for_node("report") == "5 rows, zero"
    events = [e for e in registry.audit_events(limit=100) if e.action == "object.pin"]
    assert [e.payload["digest"] for e in events if e.subject == "dagster:raw/rows"] == [old, new]


def test_each_partition_is_pinned_under_its_own_key(
    resources, instance, mv_registry: ModelRegistryResource
) -> None:
    for key in DAYS.get_partition_keys():
        dg.materialize([daily], resources=resources, instance=instance, partition_key=key)
    registry = mv_registry.get_registry()
    assert collect_garbage(registry, dry_run=False, grace_period=NOW).deleted == []
    keys = [p.key for p in registry.pins("dagster")]
    assert keys == ["daily[2024-01-01]", "daily[2024-01-02]"]


def test_a_value_gc_swept_before_its_pin_committed_is_stored_again(
    resources, instance, tmp_path: Path, mv_registry: ModelRegistryResource, monkeypatch
) -> None:
    from dagster_resources import storage
    from mv_orchestration.retention.marks import mark_registry
    from mv_orchestration.retention.sweep import sweep

    registry = mv_registry.get_registry()
    leftover = registry.store.put_bytes(storage.encode([0, 1, 2]))  # old garbage, same bytes
    listed = collect_garbage(registry, grace_period=NOW).candidates
    marks = mark_registry(registry)
    store_source, swept = storage.store_source, []

    def store_then_sweep(*args):
        stored = store_source(*args)
        if not swept:
            result = sweep(
                registry, listed, marks, action="retention.gc_delete", subject="store", actor=None
            )
            swept.append(set(result.deleted))
        return stored

    monkeypatch.setattr(storage, "store_source", store_then_sweep)
    result = dg.materialize(
        [rows], resources=resources, instance=instance, run_config={"ops": {"raw__rows": {}}}
    )

    assert result.success and swept == [{leftover}]
    assert registry.store.exists(leftover)
    assert [p.digest for p in registry.pins("dagster")] == [leftover]
