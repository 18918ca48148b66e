"""Legal holds, lifecycle transitions with protections, and leases."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from mv_orchestration.errors import LeaseError, NotFoundError, RefusedError, ValidationError
from mv_orchestration.registry import Registry
from mv_orchestration.registry.clock import utcnow
from mv_orchestration.registry.lease import acquire_lease
from tests.core.registry_helpers import register, row_counts, version_id

pytest_plugins = ["tests.core.registry_fixtures"]


def test_hold_and_release(registry: Registry, tmp_path: Path) -> None:
    register(registry, "churn", tmp_path, "a")
    hold = registry.hold("churn@1.0.0", "litigation 42", actor="legal")
    assert (hold.ref, hold.reason, hold.actor, hold.active) == (
        "churn@1.0.0", "litigation 42", "legal", True,
    )  # fmt: skip
    assert [h.id for h in registry.holds()] == [hold.id]
    assert [h.id for h in registry.holds("churn@1.0.0")] == [hold.id]
    [released] = registry.release("churn@1.0.0", actor="legal")
    assert released.released_by == "legal" and not released.active
    assert registry.holds() == []
    assert [h.active for h in registry.holds(include_inactive=True)] == [False]
    with pytest.raises(NotFoundError):
        registry.release("churn@1.0.0")
    actions = [e.action for e in registry.audit_events(limit=10)]
    assert actions[-2:] == ["hold.add", "hold.release"]


def test_hold_expiry(registry: Registry, tmp_path: Path) -> None:
    register(registry, "churn", tmp_path, "a")
    with pytest.raises(ValidationError):
        registry.hold("churn@1.0.0", "late", expires_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(ValidationError):
        registry.hold("churn@1.0.0", "  ")
    registry.hold("churn@1.0.0", "short", expires_at=utcnow() + timedelta(seconds=1))
    vid = version_id(registry, "churn@1.0.0")
    assert registry.protected_version_ids() == {vid}
    assert not registry.tombstone(vid, reason="r", plan_id=None)
    time.sleep(1.2)
    assert registry.holds() == []
    assert registry.protected_version_ids() == set()
    assert registry.tombstone(vid, reason="r", plan_id=None)


def test_protected_versions_are_never_tombstoned_or_purged(
    registry: Registry, tmp_path: Path
) -> None:
    for content in ("a", "b", "c"):
        register(registry, "churn", tmp_path, content)
    aliased, held, free = (version_id(registry, f"churn@{v}") for v in ("1.0.0", "1.1.0", "1.2.0"))
    registry.promote("churn@1.0.0")
    registry.hold("churn@1.1.0", "audit")
    assert registry.protected_version_ids() == {aliased, held}
    assert not registry.tombstone(aliased, reason="r", plan_id="p")
    assert not registry.tombstone(held, reason="r", plan_id="p")
    assert not registry.mark_purged(free, reason="r", plan_id="p")
    assert registry.tombstone(free, reason="r", plan_id="p")
    assert not registry.tombstone(free, reason="r", plan_id="p")
    registry.hold("churn@1.2.0", "late hold")
    assert not registry.mark_purged(free, reason="r", plan_id="p")
    registry.release("churn@1.2.0")
    assert registry.mark_purged(free, reason="r", plan_id="p")
    statuses = {v.version: v.status for v in registry.versions("churn")}
    assert statuses == {"1.0.0": "active", "1.1.0": "active", "1.2.0": "purged"}
    with pytest.raises(RefusedError):
        registry.hold("churn@1.2.0", "too late")
    with pytest.raises(RefusedError):
        registry.promote("churn@1.2.0")
    actions = [e.action for e in registry.audit_events(limit=100)]
    assert actions.count("version.tombstone") == 1 and actions.count("version.purge") == 1
    assert registry.resolve("churn@latest").version == "1.1.0"


def test_bad_hold_input_changes_nothing(registry: Registry, tmp_path: Path) -> None:
    register(registry, "churn", tmp_path, "a")
    before = row_counts(registry)
    for reason in ("", "x" * 5000, "bad \udc80"):
        with pytest.raises(ValidationError):
            registry.hold("churn@1.0.0", reason)
    with pytest.raises(NotFoundError):
        registry.hold("churn@2.0.0", "x")
    assert row_counts(registry) == before


def test_leases(registry: Registry) -> None:
    with acquire_lease(registry.engine, "retention", "worker-1", ttl_s=30) as lease:
        other = acquire_lease(registry.engine, "retention", "worker-2", ttl_s=30)
        with pytest.raises(LeaseError, match="worker-1"), other:
            pass
        with acquire_lease(registry.engine, "gc", "worker-2", ttl_s=30):
            pass
        first = lease.expires_at
        assert lease.renew(60) > first
    with acquire_lease(registry.engine, "retention", "worker-2", ttl_s=30):
        pass


def test_expired_lease_is_taken_over(registry: Registry) -> None:
    with acquire_lease(registry.engine, "retention", "slow", ttl_s=0.2) as lease:
        time.sleep(0.4)
        taken = acquire_lease(registry.engine, "retention", "fast", ttl_s=30)
        with taken, pytest.raises(LeaseError, match="lost"):
            lease.renew()
    with pytest.raises(ValidationError), acquire_lease(registry.engine, "x", "y", ttl_s=0):
        pass
