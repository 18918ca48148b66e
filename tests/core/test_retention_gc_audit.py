"""Every object a sweep deletes is in an audit event: failed deletions, crashes, intents."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from mv_orchestration.errors import DeleteError
from mv_orchestration.registry import Registry, schema
from mv_orchestration.retention import collect_garbage
from mv_orchestration.retention.marks import mark_registry
from mv_orchestration.retention.sweep import sweep

pytest_plugins = ["tests.core.registry_fixtures"]

NOW = timedelta(0)


def _events(registry: Registry, action: str) -> list[tuple[int, dict]]:
    t = schema.audit_events
    with registry.engine.connect() as conn:
        query = select(t.c.seq, t.c.payload).where(t.c.action == action).order_by(t.c.seq)
        return [(seq, json.loads(payload)) for seq, payload in conn.execute(query)]


def _garbage(registry: Registry, count: int) -> list[str]:
    return [registry.store.put_bytes(f"garbage {i}".encode()) for i in range(count)]


def test_a_failed_deletion_surfaces_after_the_batch_records_what_was_deleted(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = _garbage(registry, 12)
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
    ((_, event),) = _events(registry, "retention.gc_delete")
    assert sorted(event["objects"]) == sorted(set(garbage) - set(left))
    assert event["failed"] == left and event["absent"] == []
    assert registry.verify_audit().ok

    assert collect_garbage(registry, dry_run=False, grace_period=NOW).deleted == left
    audited = {d for _, e in _events(registry, "retention.gc_delete") for d in e["objects"]}
    assert audited == set(garbage)


def test_each_batch_commits_an_intent_that_its_event_references(registry: Registry) -> None:
    garbage = _garbage(registry, 5)
    report = collect_garbage(registry, dry_run=False, grace_period=NOW, batch_size=2)
    assert sorted(report.deleted) == sorted(garbage)
    intents = dict(_events(registry, "retention.gc_delete_intent"))
    batches = _events(registry, "retention.gc_delete")
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
    garbage = _garbage(registry, 4)
    marks = mark_registry(registry)
    store = registry.store

    def die_after_one(digests: list[str]) -> list[bool]:
        store.delete(digests[0])
        raise KeyboardInterrupt("the process died mid-batch")

    monkeypatch.setattr(store, "delete_many", die_after_one)
    with pytest.raises(KeyboardInterrupt):
        sweep(
            registry,
            [(digest, 1) for digest in garbage],
            marks,
            action="retention.gc_delete",
            subject="store",
            actor=None,
        )
    monkeypatch.undo()
    assert _events(registry, "retention.gc_delete") == []
    ((_, intent),) = _events(registry, "retention.gc_delete_intent")
    gone = [digest for digest in garbage if not store.exists(digest)]
    assert len(gone) == 1 and set(gone) <= set(intent["objects"])
    assert registry.verify_audit().ok
