"""Every object a sweep deletes is in an audit event: failed deletions, crashes, intents."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mv_orchestration.errors import DeleteError
from mv_orchestration.registry import Registry
from mv_orchestration.retention import collect_garbage
from mv_orchestration.retention.marks import mark_registry
from tests.core.gc_helpers import events, gc_sweep, put_garbage

pytest_plugins = ["tests.core.registry_fixtures"]

NOW = timedelta(0)


def test_a_failed_deletion_surfaces_after_the_batch_records_what_was_deleted(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = put_garbage(registry, 12)
    backend = registry.store._backend
    delete, bad = backend.delete, registry.store.object_path(garbage[5])

    def flaky(key: str) -> bool:
        if key == bad:
            raise OSError("503 SlowDown")
        return delete(key)

    monkeypatch.setattr(backend, "delete", flaky)
    with pytest.raises(DeleteError, match="503 SlowDown") as raised:
        collect_garbage(registry, dry_run=False, grace_period=NOW)
    assert list(raised.value.failed) == [garbage[5]]
    monkeypatch.undo()
    left = [digest for digest in garbage if registry.store.exists(digest)]
    assert left == [garbage[5]]
    ((_, event),) = events(registry, "retention.gc_delete")
    assert sorted(event["objects"]) == sorted(set(garbage) - set(left))
    assert event["failed"] == left and event["absent"] == []
    assert registry.verify_audit().ok

    assert collect_garbage(registry, dry_run=False, grace_period=NOW).deleted == left
    audited = {d for _, e in events(registry, "retention.gc_delete") for d in e["objects"]}
    assert audited == set(garbage)


def test_each_batch_commits_an_intent_that_its_event_references(registry: Registry) -> None:
    garbage = put_garbage(registry, 5)
    report = collect_garbage(registry, dry_run=False, grace_period=NOW, batch_size=2)
    assert sorted(report.deleted) == sorted(garbage)
    intents = dict(events(registry, "retention.gc_delete_intent"))
    batches = events(registry, "retention.gc_delete")
    assert len(intents) == len(batches) == 3
    for seq, event in batches:
        assert event["intent"] < seq
        assert set(event["objects"]) <= set(intents[event["intent"]]["objects"])
    listed = [d for intent in intents.values() for d in intent["objects"]]
    assert sorted(listed) == sorted(garbage)


def test_a_batch_that_dies_midway_leaves_its_intent(
    sqlite_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = sqlite_registry
    garbage = put_garbage(registry, 4)
    marks = mark_registry(registry)
    store = registry.store

    def die_after_one(digests: list[str]) -> list[bool]:
        store.delete(digests[0])
        raise KeyboardInterrupt("the process died mid-batch")

    monkeypatch.setattr(store, "delete_many", die_after_one)
    with pytest.raises(KeyboardInterrupt):
        gc_sweep(registry, garbage, marks)
    monkeypatch.undo()
    assert events(registry, "retention.gc_delete") == []
    ((_, intent),) = events(registry, "retention.gc_delete_intent")
    gone = [digest for digest in garbage if not store.exists(digest)]
    assert len(gone) == 1 and set(gone) <= set(intent["objects"])
    assert registry.verify_audit().ok
