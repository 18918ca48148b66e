"""Dataset references for files, directories, tables and Parquet datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from mv_orchestration.errors import ValidationError
from mv_orchestration.hashing.dataset import DatasetRef, describe_dataset, snapshot_dataset
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.hashing.manifest import hash_tree
from mv_orchestration.hashing.statcache import StatCache
from mv_orchestration.hashing.tabular import table_digest
from mv_orchestration.store import ArtifactStore

TABLE = pa.table({"id": [1, 2, 3], "name": ["a", None, "c"]})


def test_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_bytes(b"a,b\n1,2\n")
    ref = describe_dataset("notes", path)
    assert (ref.kind, ref.digest, ref.size, ref.file_count) == (
        "file",
        digest_bytes(b"a,b\n1,2\n"),
        8,
        1,
    )
    assert ref.uri == path.resolve().as_uri() and ref.schema is None and ref.num_rows is None
    assert ref.manifest_digest == hash_tree(path).digest and ref.snapshot is False
    assert describe_dataset("notes", path.resolve().as_uri()) == ref
    with pytest.raises(ValidationError):
        describe_dataset("notes", path, tabular=True)


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_bytes(b"1")
    (tmp_path / "d" / "sub" / "b.txt").write_bytes(b"22")
    with StatCache(tmp_path / "cache.db") as cache:
        ref = describe_dataset("d", tmp_path / "d", stat_cache=cache, algo="sha256")
    manifest = hash_tree(tmp_path / "d", "sha256")
    assert (ref.kind, ref.digest, ref.manifest_digest) == (
        "directory",
        manifest.digest,
        manifest.digest,
    )
    assert (ref.size, ref.file_count) == (3, 2)


@pytest.mark.parametrize("writer", ["parquet", "feather"])
def test_tabular_file_gets_logical_digest_schema_and_rows(tmp_path: Path, writer: str) -> None:
    path = tmp_path / "train.bin"
    if writer == "parquet":
        pq.write_table(TABLE, path)
    else:
        feather.write_feather(TABLE, path)
    ref = describe_dataset("train", path)
    assert ref.kind == "table" and ref.digest == table_digest(TABLE)
    assert ref.schema == {"id": "int64", "name": "string"} and ref.num_rows == 3
    assert ref.size == os.path.getsize(path) and ref.manifest_digest == hash_tree(path).digest
    assert describe_dataset("train", path, tabular=False).kind == "file"


def test_parquet_directory_and_in_memory_table(tmp_path: Path) -> None:
    parts = tmp_path / "ds"
    parts.mkdir()
    pq.write_table(TABLE.slice(0, 2), parts / "0.parquet")
    pq.write_table(TABLE.slice(2), parts / "1.parquet")
    on_disk = describe_dataset("ds", parts)
    in_memory = describe_dataset("ds", TABLE)
    assert on_disk.kind == in_memory.kind == "table"
    assert on_disk.digest == in_memory.digest
    assert (on_disk.file_count, in_memory.file_count) == (2, 0)
    assert in_memory.uri == "memory://ds" and in_memory.num_rows == 3
    (parts / "readme.txt").write_text("not parquet")
    assert describe_dataset("ds", parts).kind == "directory"


def test_json_round_trip_keeps_schema_field() -> None:
    ref = describe_dataset("t", TABLE)
    dumped = ref.model_dump(mode="json")
    assert dumped["schema"] == {"id": "int64", "name": "string"}
    assert DatasetRef.model_validate(dumped) == ref


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        describe_dataset("x", "s3://bucket/key.parquet")
    with pytest.raises(ValidationError):
        describe_dataset("x", tmp_path / "missing")
    with pytest.raises(ValidationError):
        describe_dataset("x", 42)  # type: ignore[arg-type]


def test_snapshot_into_the_store(tmp_path: Path) -> None:
    store = ArtifactStore.from_url(str(tmp_path / "store"))
    src = tmp_path / "data"
    src.mkdir()
    (src / "a.bin").write_bytes(b"same")
    (src / "b.bin").write_bytes(b"same")
    ref, manifest = snapshot_dataset("data", src, store)
    assert ref.snapshot and ref.manifest_digest == manifest.digest
    assert len(list(store.iter_objects())) == 1
    restored = store.materialize(manifest, tmp_path / "restored")
    assert (restored / "b.bin").read_bytes() == b"same"
    table_ref, table_manifest = snapshot_dataset("feat/table", TABLE, store)
    assert table_manifest.entries[0].path == "feat_table.arrow"
    restored_table = store.materialize(table_manifest, tmp_path / "t")
    assert table_digest(restored_table / "feat_table.arrow") == table_ref.digest
