"""Registering versions: records, semver allocation, idempotency, identical content,
lineage edges, queries, integrity checks and artifact loading."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mv_orchestration.canonical import canonical_json
from mv_orchestration.capture import RunContext
from mv_orchestration.errors import (
    AmbiguousReferenceError,
    ModelNotFoundError,
    RefusedError,
    ValidationError,
    VersionExistsError,
    VersionNotFoundError,
)
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.registry import Registry, VersionRecord, schema
from mv_orchestration.registry.clock import utcnow
from tests.core.registry_helpers import model_dir, register

pytest_plugins = ["tests.core.registry_fixtures"]


def test_register_creates_an_immutable_record(registry: Registry, tmp_path: Path) -> None:
    mv = register(registry, "churn", tmp_path, "a", tags={"team": "risk"}, metadata={"k": [1]})
    assert (mv.version, mv.status, mv.created, mv.ref) == ("1.0.0", "active", True, "churn@1.0.0")
    record = registry.record("churn@1.0.0")
    assert record.record_id == mv.record_id
    assert record.model == "churn" and record.version == "1.0.0"
    assert [e.path for e in record.artifacts.entries] == ["config/model.json", "weights.bin"]
    assert record.artifacts.digest == mv.artifact_digest
    assert record.params == {"content": "a"}
    assert record.tags == {"team": "risk"} and record.metadata == {"k": [1]}
    assert record.bump.kind == "initial"
    assert record.capture["seeds"]["seed"] == 7
    assert record.parent_run is not None and record.parent_run.startswith("local:")
    with registry.engine.connect() as conn:
        body = conn.execute(
            select(schema.records.c.body).where(schema.records.c.record_id == mv.record_id)
        ).scalar_one()
    assert digest_bytes(body.encode()) == mv.record_id
    assert canonical_json(json.loads(body)) == body.encode()
    assert VersionRecord.from_body(body).canonical_bytes() == body.encode()
    assert mv.to_json()["ref"] == "churn@1.0.0"


def test_auto_bump_follows_what_changed(registry: Registry, tmp_path: Path) -> None:
    with registry.run("churn", seed=1) as run:
        run.log_params({"lr": 0.1})
        v1 = run.register_model(model_dir(tmp_path, "a"))
        v2 = run.register_model(model_dir(tmp_path, "b"))
        run.log_params({"lr": 0.2})
        v3 = run.register_model(model_dir(tmp_path, "c"))
        run.log_features({"age": "int"})
        v4 = run.register_model(model_dir(tmp_path, "d"))
        v5 = run.register_model(model_dir(tmp_path, "e"), signature={"inputs": ["age"]})
        v6 = run.register_model(
            model_dir(tmp_path, "f"), bump="minor", signature={"inputs": ["age"]}
        )
        v7 = run.register_model(model_dir(tmp_path, "g"), version="7.0.0-rc.1")
        v8 = run.register_model(model_dir(tmp_path, "h"), bump="major")
    assert [v.version for v in (v1, v2, v3, v4, v5, v6, v7, v8)] == [
        "1.0.0", "1.0.1", "1.1.0", "1.2.0", "2.0.0", "2.1.0", "7.0.0-rc.1", "7.0.0",
    ]  # fmt: skip
    bumps = [registry.record(v.ref).bump for v in (v2, v3, v4, v5, v6, v7)]
    assert [b.kind for b in bumps] == ["patch", "minor", "minor", "major", "minor", "explicit"]
    assert bumps[0].reason == "only code or environment changed since 1.0.0"
    assert bumps[1].reason == "params changed since 1.0.1" and bumps[1].previous == "1.0.1"
    assert bumps[3].reason == "signature changed since 1.2.0"


def test_dataset_change_is_a_minor_bump(registry: Registry, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    with registry.run("churn") as run:
        ref = run.log_dataset("train", data)
        v1 = run.register_model(model_dir(tmp_path, "a"))
        data.write_text("a,b\n1,3\n")
        run.log_dataset("train", data)
        v2 = run.register_model(model_dir(tmp_path, "b"))
    assert (v1.version, v2.version) == ("1.0.0", "1.1.0")
    assert registry.record(v2.ref).bump.reason == "datasets changed since 1.0.0"
    assert [v.ref for v in registry.find_by_dataset(ref.digest)] == ["churn@1.0.0"]


def test_identical_content_returns_the_existing_version(registry: Registry, tmp_path: Path) -> None:
    first = register(registry, "churn", tmp_path, "same")
    again = register(registry, "churn", tmp_path, "same")
    assert again.created is False
    assert (again.version, again.record_id) == (first.version, first.record_id)
    assert len(registry.versions("churn")) == 1


def test_idempotency_key_returns_the_existing_version(registry: Registry, tmp_path: Path) -> None:
    context = RunContext(orchestrator="airflow", pipeline="dag", run_id="r1", task_id="t")
    retry = replace(context, try_number=2)
    first = register(registry, "churn", tmp_path, "a", context=context)
    second = register(registry, "churn", tmp_path, "b", context=retry)
    assert first.created and not second.created
    assert second.record_id == first.record_id
    other_task = replace(context, task_id="t2")
    third = register(registry, "churn", tmp_path, "c", context=other_task)
    assert third.created and third.version == "1.1.0"
    assert registry.record(first.ref).capture["context"]["run_id"] == "r1"


def test_explicit_version_rules(registry: Registry, tmp_path: Path) -> None:
    mv = register(registry, "churn", tmp_path, "a", version="2.0.0+build.1")
    assert mv.version == "2.0.0+build.1"
    assert registry.resolve("churn@2.0.0").version == "2.0.0+build.1"
    same = register(registry, "churn", tmp_path, "a", version="2.0.0+build.1")
    assert same.created is False
    with pytest.raises(VersionExistsError):
        register(registry, "churn", tmp_path, "b", version="2.0.0")
    with pytest.raises(VersionExistsError):
        register(registry, "churn", tmp_path, "b", version="2.0.0+build.2")
    backfill = register(registry, "churn", tmp_path, "c", version="1.5.0")
    assert backfill.created
    assert registry.resolve("churn@latest").version == "2.0.0+build.1"


def test_resolve_references(registry: Registry, tmp_path: Path) -> None:
    v1 = register(registry, "churn", tmp_path, "a")
    v2 = register(registry, "churn", tmp_path, "b", version="1.10.0")
    register(registry, "churn", tmp_path, "c", version="1.9.0")
    registry.promote("churn@1.0.0", alias="production")
    assert registry.resolve("churn@production").record_id == v1.record_id
    assert registry.resolve("churn@latest").record_id == v2.record_id
    assert registry.resolve(v2.record_id).version == "1.10.0"
    assert registry.resolve(v2.record_id.split(":")[1][:12]).version == "1.10.0"
    assert registry.resolve(v2.record_id[:20].upper()).version == "1.10.0"
    with pytest.raises(VersionNotFoundError):
        registry.resolve("churn@3.0.0")
    with pytest.raises(VersionNotFoundError):
        registry.resolve("ffffffffffffffff")
    with pytest.raises(ModelNotFoundError):
        registry.resolve("nope@latest")


def test_ambiguous_digest_prefix(sqlite_registry: Registry, tmp_path: Path) -> None:
    prefixes: dict[str, str] = {}
    for i in range(300):
        mv = register(sqlite_registry, "churn", tmp_path, f"m{i}")
        prefix = mv.record_id.split(":")[1][:2]
        if prefix in prefixes:
            break
        prefixes[prefix] = mv.record_id
    else:
        pytest.fail("no two records share a 2-hex prefix")
    hexpart = mv.record_id.split(":")[1]
    other = prefixes[hexpart[:2]].split(":")[1]
    common = 0
    while hexpart[common] == other[common]:
        common += 1
    if common < 8:
        with pytest.raises(ValidationError):
            sqlite_registry.resolve(hexpart[:common])
    else:
        with pytest.raises(AmbiguousReferenceError):
            sqlite_registry.resolve(hexpart[:common])


def test_versions_listing_and_filters(registry: Registry, tmp_path: Path) -> None:
    before = utcnow()
    for i, version in enumerate(["1.0.0", "1.10.0", "1.9.0", "1.0.0-rc.1", "2.0.0"]):
        register(registry, "churn", tmp_path, f"m{i}", version=version, tags={"i": str(i % 2)})
    registry.promote("churn@1.9.0", alias="staging")
    listed = [v.version for v in registry.versions("churn")]
    assert listed == ["2.0.0", "1.10.0", "1.9.0", "1.0.0", "1.0.0-rc.1"]
    assert [v.version for v in registry.versions("churn", limit=2)] == ["2.0.0", "1.10.0"]
    assert [v.version for v in registry.versions("churn", limit=2, offset=2)] == ["1.9.0", "1.0.0"]
    assert [v.version for v in registry.versions("churn", before="1.9.0")] == [
        "1.0.0", "1.0.0-rc.1",
    ]  # fmt: skip
    assert [v.version for v in registry.versions("churn", alias="staging")] == ["1.9.0"]
    assert [v.version for v in registry.versions("churn", tags={"i": "1"})] == [
        "1.10.0",
        "1.0.0-rc.1",
    ]
    assert registry.versions("churn", status="tombstoned") == []
    assert len(registry.versions("churn", since=before)) == 5
    assert registry.versions("churn", until=before) == []
    assert registry.versions("churn", since=utcnow() + timedelta(seconds=1)) == []
    with pytest.raises(ValidationError):
        registry.versions("churn", limit=0)
    with pytest.raises(ValidationError):
        registry.versions("churn", status="gone")
    with pytest.raises(ModelNotFoundError):
        registry.versions("unknown")
    [summary] = registry.models()
    assert (summary.name, summary.version_count, summary.latest_version) == ("churn", 5, "2.0.0")
    assert summary.aliases == {"staging": "1.9.0"} and summary.aliases_text() == "staging=1.9.0"


def test_find_by_param(registry: Registry, tmp_path: Path) -> None:
    a = register(registry, "churn", tmp_path, "a", params={"opt": {"lr": 0.1, "name": "adam"}})
    register(registry, "churn", tmp_path, "b", params={"opt": {"lr": 0.2, "name": "adam"}})
    c = register(registry, "other", tmp_path, "c", params={"opt": {"lr": 0.1}, "layers": [1, 2]})
    assert [v.ref for v in registry.find_by_param("opt.lr", 0.1)] == [c.ref, a.ref]
    assert [v.ref for v in registry.find_by_param("opt.lr", 0.1, model="churn")] == [a.ref]
    assert len(registry.find_by_param("opt.name", "adam")) == 2
    assert [v.ref for v in registry.find_by_param("layers", [1, 2])] == [c.ref]
    assert registry.find_by_param("opt.lr", "0.1") == []


def test_lineage_edges_are_written(registry: Registry, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")
    parent = register(registry, "base", tmp_path, "p")
    context = RunContext(orchestrator="prefect", pipeline="flow", run_id="run-9", task_id="t")
    with registry.run("churn", context=context) as run:
        run.log_params({"lr": 1})
        dataset = run.log_dataset("train", data)
        mv = run.register_model(model_dir(tmp_path, "a"), parent=parent)
    record = registry.record(mv.ref)
    assert record.parent_version == parent.record_id
    assert record.parent_run == "prefect:flow:run-9"
    e = schema.lineage_edges
    with registry.engine.connect() as conn:
        rows = conn.execute(
            select(e.c.relation, e.c.dst_kind, e.c.dst).where(
                e.c.src_kind == "version", e.c.src == mv.record_id
            )
        )
        edges = {tuple(row) for row in rows}
    commit = record.capture["code"]["commit"]
    assert edges == {
        *([("built_from", "code", commit)] if commit else []),
        ("trained_on", "dataset", dataset.digest),
        ("configured_by", "config", record.params_digest),
        ("produced_by", "run", "prefect:flow:run-9"),
        ("derived_from", "version", parent.record_id),
    }


def test_dataset_snapshot_is_stored_and_verified(registry: Registry, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "part-0.csv").write_text("x\n1\n")
    with registry.run("churn") as run:
        ref = run.log_dataset("train", data, snapshot=True)
        mv = run.register_model(model_dir(tmp_path, "a"))
    assert ref.snapshot and ref.manifest_digest
    assert registry.store.exists(ref.manifest_digest)
    report = registry.verify(mv.ref)
    has_diff = registry.record(mv.ref).code_diff_digest is not None
    assert report.ok and report.objects == 2 + 1 + 1 + has_diff
    dataset_file = registry.store.object_path(digest_bytes(b"x\n1\n"))
    store_root = Path(registry.store.url.removeprefix("file://"))
    (store_root / dataset_file).unlink()
    report = registry.verify(mv.ref)
    assert not report.ok and "churn@1.0.0" in report.problems[0]


def test_verify_and_load_artifacts(registry: Registry, tmp_path: Path) -> None:
    mv = register(registry, "churn", tmp_path, "a")
    out = registry.load_artifacts(mv.ref, tmp_path / "out")
    assert (out / "weights.bin").read_text() == "weights for a"
    assert (out / "config" / "model.json").exists()
    assert registry.verify().ok
    record = registry.record(mv.ref)
    weights = next(e for e in record.artifacts.entries if e.path == "weights.bin")
    stored = Path(registry.store.url.removeprefix("file://")) / registry.store.object_path(
        weights.digest
    )
    stored.chmod(0o644)
    stored.write_text("tampered")
    report = registry.verify()
    assert not report.ok and report.versions == 1
    assert any("churn@1.0.0" in p for p in report.problems)
    stored.unlink()
    assert not registry.verify(mv.ref).ok


def test_load_artifacts_refuses_purged_versions(registry: Registry, tmp_path: Path) -> None:
    mv = register(registry, "churn", tmp_path, "a")
    version_id = _version_id(registry, mv.record_id)
    assert registry.tombstone(version_id, reason="test", plan_id=None)
    assert registry.mark_purged(version_id, reason="test", plan_id=None)
    with pytest.raises(RefusedError):
        registry.load_artifacts(mv.ref, tmp_path / "out")


def _version_id(registry: Registry, record_id: str) -> int:
    with registry.engine.connect() as conn:
        return int(
            conn.execute(
                select(schema.versions.c.id).where(schema.versions.c.record_id == record_id)
            ).scalar_one()
        )


def test_record_body_is_canonical_even_when_metadata_mimics_the_capture_slot(
    registry: Registry, tmp_path: Path
) -> None:
    from mv_orchestration.registry.record import _CAPTURE_SLOT

    mv = register(registry, "churn", tmp_path, "a", metadata={"capture": _CAPTURE_SLOT})
    record = registry.record(mv.ref)
    assert record.metadata == {"capture": _CAPTURE_SLOT}
    assert record.capture["seeds"]["seed"] == 7
    assert record.record_id == mv.record_id


def test_run_must_be_entered_and_merges_what_it_logs(registry: Registry, tmp_path: Path) -> None:
    from mv_orchestration.errors import UsageError
    from mv_orchestration.registry import current_run

    run = registry.run("churn")
    with pytest.raises(UsageError):
        run.register_model(model_dir(tmp_path, "a"))
    with run:
        assert current_run() is run
        run.log_params({"a": 1, "b": {"c": 2}})
        run.log_params({"b": {"d": 3}})
        run.log_metrics({"loss": 1})
        run.log_metrics({"acc": 0.5})
        run.set_tags({"team": "x"})
        mv = run.register_model(model_dir(tmp_path, "a"), tags={"stage": "dev"})
    assert current_run() is None
    record = registry.record(mv.ref)
    assert record.params == {"a": 1, "b": {"d": 3}}
    assert record.metrics == {"loss": 1.0, "acc": 0.5}
    assert record.tags == {"team": "x", "stage": "dev"}
    assert run.versions == [mv]
