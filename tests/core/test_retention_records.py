"""Retention's bulk machinery: paged version rows, pre-encoded audit events, batch writes,
lease renewal and the GC pause."""

from __future__ import annotations

import gc
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mv_orchestration.canonical import canonical_json
from mv_orchestration.registry import Registry, schema
from mv_orchestration.registry.audit import append_encoded_events, append_events
from mv_orchestration.registry.lease import acquire_lease
from mv_orchestration.retention import apply_plan, plan_retention, records
from mv_orchestration.retention.bulk import gc_paused
from mv_orchestration.retention.leases import renewer
from mv_orchestration.retention.records import driver_value, iter_version_rows
from tests.core.registry_helpers import register

pytest_plugins = ["tests.core.registry_fixtures"]

ODD = 'quote " backslash \\ newline \n nul \x00 del \x7f é ☃ \u2028 \U0001f600'


def test_version_rows_read_in_pages_match_one_page(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [register(registry, "churn", tmp_path, f"p{i}") for i in range(4)]
    made.append(register(registry, "fraud", tmp_path, "p0"))  # the same bytes again
    with registry.engine.connect() as conn, conn.begin():
        whole = list(iter_version_rows(conn, verify=True))
        monkeypatch.setattr(records, "PAGE", 2)
        paged = list(iter_version_rows(conn, verify=True))
        later = list(iter_version_rows(conn, after_id=whole[1].id))
        since = list(iter_version_rows(conn, created_since=whole[3].created_at))
    assert [(r.version, r.status) for r in whole] == [(m.version, "active") for m in made]
    assert all(r.objects and r.created_at.tzinfo is not None for r in whole)
    assert whole[0].objects[0] in whole[4].objects  # shared bytes, listed for both
    assert paged == whole
    assert later == whole[2:]
    assert since == whole[3:]


def test_encoded_events_chain_exactly_like_appended_ones(registry: Registry) -> None:
    payloads = [
        {"plan_id": None, "reason": ODD, "version_id": 7},
        {"b": {"c": ODD}, "a": [1, 2.5, True, None]},
    ]
    text = ODD.replace("\x00", "")  # PostgreSQL text holds no NUL (payloads escape it)
    encoded = [("test.encoded", text, canonical_json(p).decode("utf-8")) for p in payloads]
    with registry.engine.connect() as conn, conn.begin():
        assert append_encoded_events(conn, encoded, text) == 2
        assert append_events(conn, [("test.plain", "s", p) for p in payloads], None) == 4
        assert append_encoded_events(conn, encoded[:1], None) == 5
        assert append_encoded_events(conn, [], None) == 0
    report = registry.verify_audit()
    assert report.ok, report.problems
    assert report.events == 5


def test_gc_is_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_lease_is_renewed_only_when_due(sqlite_registry: Registry) -> None:
    with acquire_lease(sqlite_registry.engine, "test.lease", "me", 60) as lease:
        taken = lease.expires_at
        renewer(lease, after_s=3600)()
        assert lease.expires_at == taken
        time.sleep(0.01)
        renewer(lease, after_s=0)()
        assert lease.expires_at > taken


def test_batch_writes_bind_times_as_sqlalchemy_does(registry: Registry) -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # no microseconds
    column = schema.versions.c.status_changed_at
    with registry.engine.connect() as conn:
        value = driver_value(conn, column, moment)
        if conn.dialect.name == "sqlite":
            assert value == "2030-01-02 03:04:05.000000"
        else:
            assert value == moment


def test_tombstone_events_chain_for_any_reason_text(
    sqlite_registry: Registry, tmp_path: Path
) -> None:
    register(sqlite_registry, "churn", tmp_path, "a")
    register(sqlite_registry, "churn", tmp_path, "b")
    policy = {"rules": [{"name": ODD.replace("\x00", ""), "keep_last": 1}]}
    plan = plan_retention(sqlite_registry, policy)
    report = apply_plan(sqlite_registry, plan.id)
    assert len(report.tombstoned) == 1
    assert sqlite_registry.verify_audit().ok
