"""``version_objects``: filled at registration, append-only, backfilled by migration 0002;
and a put of an object already stored refreshes its mtime (GC's grace period)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from mv_orchestration.registry import Registry, schema
from mv_orchestration.registry.migrations import alembic_config, ensure_schema, head
from tests.core.registry_helpers import register, stored_object

pytest_plugins = ["tests.core.registry_fixtures"]


def _rows(registry: Registry) -> list[tuple[int, str, int | None, str]]:
    o = schema.version_objects
    with registry.engine.connect() as conn:
        query = select(o.c.version_id, o.c.digest, o.c.size, o.c.kind)
        return sorted(tuple(row) for row in conn.execute(query))  # type: ignore[misc]


def _snapshot_version(registry: Registry, root: Path) -> tuple[object, object]:
    data = root / "data"
    data.mkdir()
    (data / "part-0.csv").write_text("id\n1\n")
    with registry.run("churn", seed=1) as run:
        run.log_params({"lr": 0.1})
        ref = run.log_dataset("train", data, snapshot=True)
        return run.register_model(root / "weights.bin"), ref


def test_registration_records_every_referenced_object(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"w" * 40)
    version, dataset = _snapshot_version(registry, tmp_path)
    record = registry.record(version.ref)  # type: ignore[attr-defined]
    expected = sorted(
        [(1, e.digest, e.size, "artifact") for e in record.artifacts.entries]
        + [(1, dataset.manifest_digest, None, "snapshot_manifest")]  # type: ignore[attr-defined]
        + ([(1, record.code_diff_digest, None, "code_diff")] if record.code_diff_digest else [])
    )
    assert _rows(registry) == expected
    register(registry, "churn", tmp_path, "again")  # identical content adds nothing
    register(registry, "churn", tmp_path, "again")
    assert {row[0] for row in _rows(registry)} == {1, 2}


@pytest.mark.parametrize(
    "statement", ["UPDATE version_objects SET digest = 'x'", "DELETE FROM version_objects"]
)
def test_version_objects_are_append_only(
    registry: Registry, tmp_path: Path, statement: str
) -> None:
    register(registry, "churn", tmp_path, "a")
    before = _rows(registry)
    with pytest.raises(DBAPIError, match="mvo: "), registry.engine.begin() as conn:
        conn.execute(text(statement))
    assert _rows(registry) == before and before


def test_migration_backfills_from_record_bodies(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"w" * 40)
    _snapshot_version(registry, tmp_path)
    register(registry, "other", tmp_path, "b")
    registered = _rows(registry)
    with registry.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001_initial")
    assert ensure_schema(registry.engine) == head()
    assert _rows(registry) == registered
    assert {row[0] for row in registered} == {1, 2}


def test_putting_a_stored_object_again_refreshes_its_mtime(
    sqlite_registry: Registry, tmp_path: Path
) -> None:
    store = sqlite_registry.store
    digest = store.put_bytes(b"payload")
    path = stored_object(sqlite_registry, digest)
    os.utime(path, (1_000_000, 1_000_000))
    assert store.put_bytes(b"payload") == digest
    assert path.stat().st_mtime > 1_000_000
    source = tmp_path / "payload.bin"
    source.write_bytes(b"payload")
    os.utime(path, (1_000_000, 1_000_000))
    assert store.put_file(source) == digest
    assert path.stat().st_mtime > 1_000_000
    os.utime(path, (1_000_000, 1_000_000))
    assert store.put_tree(source).entries[0].digest == digest
    assert path.stat().st_mtime > 1_000_000
