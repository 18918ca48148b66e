"""The large scans of a retention snapshot: a worker process on SQLite, rows elsewhere."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pytest

import mv_orchestration.retention.loader as loader
import mv_orchestration.retention.scans as scans
from mv_orchestration.registry import Registry
from mv_orchestration.registry.audit import last_seq
from mv_orchestration.retention import RetentionPolicy, RetentionRule, load_snapshot, make_plan
from tests.core.registry_helpers import register, version_id
from tests.core.test_retention_plan import object_rows

pytest_plugins = ["tests.core.registry_fixtures"]


def _fill(registry: Registry, root: Path) -> None:
    for content in ("a", "b", "c"):
        register(registry, "churn", root, content)
    doomed = register(registry, "churn", root, "d")
    assert registry.tombstone(version_id(registry, doomed.ref), reason="test", plan_id=None)
    register(registry, "other", root, "e", tags={"stage": "dev"})


def _facts(snapshot) -> tuple:
    return (
        snapshot.versions,
        sorted(object_rows(snapshot)),
        snapshot.aliases,
        snapshot.holds,
        snapshot.audit_seq,
    )


def test_the_worker_reads_what_the_connection_reads(
    sqlite_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(sqlite_registry, tmp_path)
    started = []
    real = scans.worker_scans

    @contextmanager
    def counted(engine):
        started.append(engine)
        with real(engine) as found:
            yield found

    monkeypatch.setattr(loader, "worker_scans", counted)
    by_worker = load_snapshot(sqlite_registry)
    assert len(started) == 1
    monkeypatch.setattr(loader, "ATTEMPTS", 1)  # the only attempt scans rows
    by_rows = load_snapshot(sqlite_registry)
    assert len(started) == 1
    assert len(by_worker.versions) == 5 and {v.status for v in by_worker.versions} == {
        "active",
        "tombstoned",
    }
    assert _facts(by_worker) == _facts(by_rows)


def test_a_change_between_the_first_reads_reads_again(
    sqlite_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(sqlite_registry, tmp_path)
    real = loader._scans
    changes = iter(["f", "g"])  # one commit before each of the first two workers starts

    @contextmanager
    def after_a_change(engine, conn, arrow):
        last_seq(conn)  # the connection's snapshot starts before the change
        content = next(changes, None)
        if content:
            register(sqlite_registry, "churn", tmp_path, content)
        with real(engine, conn, arrow) as found:
            yield found

    monkeypatch.setattr(loader, "_scans", after_a_change)
    snapshot = load_snapshot(sqlite_registry)  # the third attempt scans rows
    refs = {v.ref for v in snapshot.versions}
    assert len(refs) == 7
    ids = {v.id for v in snapshot.versions}
    assert {row[0] for row in object_rows(snapshot)} <= ids
    assert snapshot.audit_seq == max(e.seq for e in sqlite_registry.audit_events())


def test_a_failed_worker_leaves_the_rows_to_the_connection(
    sqlite_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _fill(sqlite_registry, tmp_path)
    expected = load_snapshot(sqlite_registry)
    monkeypatch.setattr(scans, "WORKER", "mv_orchestration.retention.no_such_worker")
    with caplog.at_level(logging.WARNING, logger=loader.__name__):
        found = load_snapshot(sqlite_registry)
    assert _facts(found) == _facts(expected)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "no_such_worker" in warning and "reading rows instead" in warning


def _kill_the_worker_reading_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the scan worker is killed while it reads the store objects (made slow
    to read)."""
    slow = "(WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000000) "
    monkeypatch.setattr(
        scans, "OBJECTS_SQL", f"{scans.OBJECTS_SQL} AND {slow}SELECT max(x) FROM n) > 0"
    )
    real = scans.WorkerScans.objects_soon

    def killed_first(self):
        self._process.kill()
        return real(self)

    monkeypatch.setattr(scans.WorkerScans, "objects_soon", killed_first)


def test_a_worker_failing_while_the_snapshot_is_used_uses_one_read_from_rows(
    sqlite_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The objects are still being read while the snapshot is used: a worker that fails
    then has the snapshot read again from rows."""
    _fill(sqlite_registry, tmp_path)
    expected = load_snapshot(sqlite_registry)
    _kill_the_worker_reading_objects(monkeypatch)
    used = []

    def use(snapshot):
        used.append(snapshot)
        return loader._with_objects(snapshot)

    with caplog.at_level(logging.WARNING, logger=loader.__name__):
        found = loader.using_snapshot(sqlite_registry, use)
    assert len(used) == 2 and found is used[1]
    assert _facts(found) == _facts(expected)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "scan worker ended" in warning and "reading rows instead" in warning


def test_a_worker_failing_while_planning_leaves_the_plan_as_it_would_be(
    sqlite_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(sqlite_registry, tmp_path)
    policy = RetentionPolicy(rules=[RetentionRule(keep_last=1)])
    now = datetime.now(timezone.utc)
    expected = make_plan(policy, load_snapshot(sqlite_registry), now)
    assert expected.summary()["tombstone"] >= 2
    _kill_the_worker_reading_objects(monkeypatch)
    found = loader.using_snapshot(sqlite_registry, partial(make_plan, policy, now=now))
    assert found.content_bytes() == expected.content_bytes()


def test_the_worker_stops_and_cleans_up_when_its_parent_is_gone(
    sqlite_registry: Registry, tmp_path: Path
) -> None:
    """Its standard input closes when the process that started it ends, however it ends."""
    directory = tmp_path / "parts"
    directory.mkdir()
    uri = Path(str(sqlite_registry.engine.url.database)).as_uri() + "?mode=ro"
    endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT max(x) FROM n"
    command = [sys.executable, "-m", scans.WORKER, str(directory), uri, endless]
    worker = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)  # started, and scanning
        assert worker.poll() is None
        assert worker.stdin is not None
        worker.stdin.close()
        assert worker.wait(timeout=30) == 1
        assert not directory.exists()
    finally:
        worker.kill()
        worker.wait()
