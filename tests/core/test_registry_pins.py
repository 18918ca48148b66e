"""Pins keep store objects live for GC: round trip, audit, bad input, GC, races, migration."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from mv_orchestration.canonical import canonical_json
from mv_orchestration.errors import (
    IntegrityError,
    InvalidNameError,
    NotFoundError,
    SweptObjectError,
    ValidationError,
)
from mv_orchestration.registry import Registry, connect, schema
from mv_orchestration.registry.audit import default_actor
from mv_orchestration.registry.clock import utcnow
from mv_orchestration.registry.migrations import alembic_config, ensure_schema, head
from mv_orchestration.registry.pins import MAX_KEY
from mv_orchestration.retention import collect_garbage
from mv_orchestration.retention.marks import Marks, mark_registry
from mv_orchestration.retention.sweep import sweep
from tests.core.registry_helpers import row_counts, stored_object

pytest_plugins = ["tests.core.registry_fixtures"]

NOW = timedelta(0)


def _tree(registry: Registry, root: Path, name: str) -> tuple[str, set[str]]:
    """A stored two-file tree: its manifest object's digest and its files' digests."""
    source = root / name
    source.mkdir()
    (source / "a.txt").write_text(f"a of {name}")
    (source / "b.txt").write_text(f"b of {name}")
    manifest = registry.store.put_tree(source)
    manifest_object = registry.store.put_bytes(canonical_json(manifest.model_dump(mode="json")))
    return manifest_object, {entry.digest for entry in manifest.entries}


def _objects(registry: Registry) -> set[str]:
    return {stored.digest for stored in registry.store.iter_objects()}


def _pin_events(registry: Registry) -> list[tuple[str, str, str, dict]]:
    return [
        (e.action, e.subject, e.actor, e.payload)
        for e in registry.audit_events(limit=1000)
        if e.action.startswith("object.")
    ]


def test_pin_unpin_and_pins_round_trip_with_audit_events(registry: Registry) -> None:
    first, second = registry.store.put_bytes(b"one"), registry.store.put_bytes(b"two")
    other = registry.store.put_bytes(b"other")

    pinned = registry.pin("dagster", "features", first, actor="run-1")
    assert (pinned.owner, pinned.key, pinned.digest, pinned.kind) == (
        "dagster",
        "features",
        first,
        "object",
    )
    replaced = registry.pin("dagster", "features", second, actor="run-2")
    registry.pin("jobs", "cache/x[2024-01-01]", other)

    assert [(p.owner, p.key, p.digest, p.actor) for p in registry.pins()] == [
        ("dagster", "features", second, "run-2"),
        ("jobs", "cache/x[2024-01-01]", other, default_actor()),
    ]
    assert registry.pins("dagster") == [replaced]
    assert replaced.pinned_at >= pinned.pinned_at
    assert replaced.to_json()["pinned_at"] == replaced.pinned_at.isoformat()

    removed = registry.unpin("dagster", "features", actor="cleanup")
    assert removed.digest == second
    assert registry.pins("dagster") == []
    assert [p.key for p in registry.pins()] == ["cache/x[2024-01-01]"]

    events = _pin_events(registry)
    payload = {"owner": "dagster", "key": "features", "kind": "object"}
    assert events[0] == ("object.pin", "dagster:features", "run-1", {**payload, "digest": first})
    assert events[1] == ("object.pin", "dagster:features", "run-2", {**payload, "digest": second})
    assert events[2][:2] == ("object.pin", "jobs:cache/x[2024-01-01]")
    assert events[3] == (
        "object.unpin",
        "dagster:features",
        "cleanup",
        {**payload, "digest": second},
    )
    assert len(events) == 4
    assert registry.verify_audit().ok


def test_audit_verify_reports_pins_changed_behind_the_audit_log(registry: Registry) -> None:
    kept, other = registry.store.put_bytes(b"kept"), registry.store.put_bytes(b"other")
    registry.pin("dagster", "features", kept)
    registry.pin("dagster", "labels", kept)
    registry.pin("dagster", "gone", kept)
    registry.unpin("dagster", "gone")
    assert registry.verify_audit().ok
    p = schema.object_pins
    with registry.engine.begin() as conn:
        conn.execute(p.update().where(p.c.key == "features").values(digest=other))
        conn.execute(p.delete().where(p.c.key == "labels"))
        row = {"digest": other, "kind": "object", "pinned_at": utcnow(), "actor": "intruder"}
        conn.execute(p.insert().values(owner="jobs", key="planted", **row))
    report = registry.verify_audit()
    assert not report.ok
    assert sorted(report.problems) == [
        "pin dagster:features: no audit event records it as it is",
        "pin dagster:labels: removed without an audit event",
        "pin jobs:planted: no audit event records it as it is",
    ]
    registry.append_audit("object.pin", "x:y", {"owner": "x", "key": ["not", "text"]})
    (malformed,) = [p for p in registry.verify_audit().problems if p.startswith("event #")]
    assert malformed.endswith(": object.pin event without its owner, key, digest and kind as text")


def test_a_tree_pin_needs_its_manifest_and_files(registry: Registry, tmp_path: Path) -> None:
    manifest, files = _tree(registry, tmp_path, "model")
    assert registry.pin("dagster", "model", manifest, kind="tree").kind == "tree"
    with pytest.raises(IntegrityError, match="not a manifest"):
        registry.pin("dagster", "blob", sorted(files)[0], kind="tree")
    assert [p.key for p in registry.pins()] == ["model"]


GOOD = "blake3:" + "0" * 64


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("", "k", GOOD), {}, InvalidNameError),
        (("Dagster", "k", GOOD), {}, InvalidNameError),
        (("o" * 65, "k", GOOD), {}, InvalidNameError),
        ((None, "k", GOOD), {}, InvalidNameError),
        (("dagster", "", GOOD), {}, ValidationError),
        (("dagster", "   ", GOOD), {}, ValidationError),
        (("dagster", "k" * (MAX_KEY + 1), GOOD), {}, ValidationError),
        (("dagster", "a\nb", GOOD), {}, ValidationError),
        (("dagster", "bad\ud800", GOOD), {}, ValidationError),
        (("dagster", 7, GOOD), {}, ValidationError),
        (("dagster", "k", "0" * 64), {}, ValidationError),
        (("dagster", "k", "md5:" + "0" * 32), {}, ValidationError),
        (("dagster", "k", "blake3:" + "Z" * 64), {}, ValidationError),
        (("dagster", "k", GOOD), {"kind": "dir"}, ValidationError),
        (("dagster", "k", GOOD), {"actor": "x" * 257}, ValidationError),
    ],
)
def test_bad_pins_are_refused_and_write_nothing(
    registry: Registry, args: tuple, kwargs: dict, error: type[Exception]
) -> None:
    registry.store.put_bytes(b"\0")  # any object; GOOD is not its digest
    before = row_counts(registry)
    with pytest.raises(error):
        registry.pin(*args, **kwargs)
    assert row_counts(registry) == before


def test_pinning_what_is_not_stored_or_unpinning_nothing_writes_nothing(
    registry: Registry, tmp_path: Path
) -> None:
    manifest, files = _tree(registry, tmp_path, "model")
    stored_object(registry, sorted(files)[0]).unlink()
    before = row_counts(registry)
    with pytest.raises(SweptObjectError, match="1 objects pinned as dagster:model"):
        registry.pin("dagster", "model", manifest, kind="tree")
    with pytest.raises(SweptObjectError):
        registry.pin("dagster", "absent", GOOD)
    with pytest.raises(NotFoundError):
        registry.unpin("dagster", "model")
    with pytest.raises(InvalidNameError):
        registry.unpin("Dagster", "model")
    with pytest.raises(InvalidNameError):
        registry.pins("no spaces")
    assert row_counts(registry) == before


def test_gc_keeps_pinned_objects_and_pinned_trees_files(registry: Registry, tmp_path: Path) -> None:
    value = registry.store.put_bytes(b"an asset value")
    manifest, files = _tree(registry, tmp_path, "model")
    unpinned, unpinned_files = _tree(registry, tmp_path, "other")
    orphan = registry.store.put_bytes(b"garbage")
    registry.pin("dagster", "value", value)
    registry.pin("dagster", "model", manifest, kind="tree")

    report = collect_garbage(registry, dry_run=False, grace_period=NOW)
    assert set(report.deleted) == {orphan, unpinned, *unpinned_files}
    assert _objects(registry) == {value, manifest, *files}


def test_gc_deletes_what_a_key_no_longer_pins(registry: Registry, tmp_path: Path) -> None:
    value = registry.store.put_bytes(b"an asset value")
    manifest, files = _tree(registry, tmp_path, "model")
    newer, newer_files = _tree(registry, tmp_path, "model-2")
    registry.pin("dagster", "value", value)
    registry.pin("dagster", "model", manifest, kind="tree")
    registry.pin("dagster", "model", newer, kind="tree")

    report = collect_garbage(registry, dry_run=False, grace_period=NOW)
    assert set(report.deleted) == {manifest, *files} - newer_files
    assert {value, newer, *newer_files} <= _objects(registry)

    registry.unpin("dagster", "value")
    registry.unpin("dagster", "model")
    report = collect_garbage(registry, dry_run=False, grace_period=NOW)
    assert set(report.deleted) == {value, newer, *newer_files}
    assert _objects(registry) == set()


def test_gc_fails_closed_on_an_unreadable_pinned_manifest(
    registry: Registry, tmp_path: Path
) -> None:
    manifest, _ = _tree(registry, tmp_path, "model")
    orphan = registry.store.put_bytes(b"garbage")
    registry.pin("dagster", "model", manifest, kind="tree")
    path = stored_object(registry, manifest)
    os.chmod(path, 0o644)
    path.write_bytes(b'{"algo":"blake3","entries":[]}')
    before = _objects(registry)
    with pytest.raises(IntegrityError, match="nothing was deleted"):
        collect_garbage(registry, dry_run=False, grace_period=NOW)
    assert _objects(registry) == before and orphan in before


def _listed_by_a_running_gc(registry: Registry) -> tuple[list, Marks]:
    """What a GC that is marking right now would sweep, and its marks."""
    return collect_garbage(registry, grace_period=NOW).candidates, mark_registry(registry)


def _sweep(registry: Registry, listed: list, marks: Marks) -> set[str]:
    result = sweep(
        registry, listed, marks, action="retention.gc_delete", subject="store", actor=None
    )
    return set(result.deleted)


def test_a_pin_whose_objects_gc_swept_before_it_committed_fails_and_pins_nothing(
    registry: Registry, tmp_path: Path
) -> None:
    value = registry.store.put_bytes(b"old garbage, the same bytes as a new value")
    manifest, files = _tree(registry, tmp_path, "model")
    listed, marks = _listed_by_a_running_gc(registry)
    assert registry.store.put_bytes(b"old garbage, the same bytes as a new value") == value
    assert _sweep(registry, listed, marks) == {value, manifest, *files}
    before = row_counts(registry)
    with pytest.raises(SweptObjectError, match="garbage-collected before the pin committed"):
        registry.pin("dagster", "value", value)
    with pytest.raises(SweptObjectError):
        registry.pin("dagster", "model", manifest, kind="tree")
    assert registry.pins() == [] and row_counts(registry) == before

    registry.store.put_bytes(b"old garbage, the same bytes as a new value")  # stored again
    registry.pin("dagster", "value", value)
    assert not collect_garbage(registry, dry_run=False, grace_period=NOW).deleted


def test_a_pin_made_after_the_mark_is_spared_by_the_sweep(
    registry: Registry, tmp_path: Path
) -> None:
    value = registry.store.put_bytes(b"a value")
    manifest, files = _tree(registry, tmp_path, "model")
    orphan = registry.store.put_bytes(b"garbage")
    listed, marks = _listed_by_a_running_gc(registry)
    registry.pin("dagster", "value", value)
    registry.pin("dagster", "model", manifest, kind="tree")
    registry.unpin("dagster", "value")  # pinned after the mark: still spared this time
    assert _sweep(registry, listed, marks) == {orphan}
    assert {value, manifest, *files} <= _objects(registry)
    assert set(collect_garbage(registry, dry_run=False, grace_period=NOW).deleted) == {value}


def test_concurrent_pins_of_one_key_leave_one_row(registry: Registry) -> None:
    digests = [registry.store.put_bytes(f"value {i}".encode()) for i in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(digests))

    def pin(digest: str) -> None:
        start.wait()
        try:
            registry.pin("dagster", "shared", digest)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=pin, args=(d,)) for d in digests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    (only,) = registry.pins()
    last = [e for e in _pin_events(registry) if e[0] == "object.pin"]
    assert len(last) == len(digests) and last[-1][3]["digest"] == only.digest


def test_an_existing_registry_gains_the_table_on_connect(
    registry: Registry, db_url: str, store_url: str
) -> None:
    value = registry.store.put_bytes(b"a value")
    with registry.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003_snapshot_manifest_index")
    assert "object_pins" not in inspect(registry.engine).get_table_names()
    with connect(db_url, store_url) as again:
        again.pin("dagster", "value", value)
        assert [p.digest for p in again.pins()] == [value]
    assert ensure_schema(registry.engine) == head()
