"""Blob GC: dry run by default, grace period, fail closed, one at a time, racing writers."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, select, text

from mv_orchestration.errors import IntegrityError, LeaseError, MissingObjectError, SweptObjectError
from mv_orchestration.registry import Registry, connect, drafting, schema
from mv_orchestration.registry.lease import acquire_lease
from mv_orchestration.registry.presence import UPLOAD_ATTEMPTS
from mv_orchestration.retention import apply_plan, collect_garbage, load_plan, plan_retention
from mv_orchestration.retention.leases import GC_LEASE
from mv_orchestration.retention.marks import mark_registry
from mv_orchestration.retention.sweep import sweep
from tests.core.registry_helpers import (
    drop_immutability_triggers,
    register,
    stored_object,
    version_id,
)

pytest_plugins = ["tests.core.registry_fixtures"]

OLD = timedelta(days=3)


def _age(registry: Registry, digest: str, by: timedelta = OLD) -> None:
    """Backdate a stored object's mtime (as if it had been written ``by`` ago)."""
    path = stored_object(registry, digest)
    moment = (datetime.now(timezone.utc) - by).timestamp()
    os.utime(path, (moment, moment))


def _age_everything(registry: Registry) -> None:
    for stored in registry.store.iter_objects():
        _age(registry, stored.digest)


def _orphan(registry: Registry, data: bytes, *, old: bool = True) -> str:
    digest = registry.store.put_bytes(data)
    if old:
        _age(registry, digest)
    return digest


def _objects(registry: Registry) -> set[str]:
    return {stored.digest for stored in registry.store.iter_objects()}


def _gc_events(registry: Registry) -> list[str]:
    t = schema.audit_events
    with registry.engine.connect() as conn:
        rows = conn.execute(select(t.c.payload).where(t.c.action == "retention.gc_delete"))
        return [payload for (payload,) in rows]


def _snapshot_version(registry: Registry, root: Path, name: str = "m") -> tuple[object, object]:
    data = root / f"data-{name}"
    data.mkdir()
    (data / "part-0.csv").write_text(f"id\n{name}\n")
    with registry.run("churn", seed=1) as run:
        run.log_params({"name": name})
        ref = run.log_dataset("train", data, snapshot=True)
        weights = root / f"weights-{name}"
        weights.write_bytes(name.encode() * 5)
        return run.register_model(weights), ref


def test_gc_is_dry_run_by_default_and_sweeps_only_old_garbage(
    registry: Registry, tmp_path: Path
) -> None:
    kept, dataset = _snapshot_version(registry, tmp_path)
    doomed = register(registry, "churn", tmp_path, "doomed")
    newest = register(registry, "churn", tmp_path, "newest")
    registry.promote(kept.ref, "production")
    plan = plan_retention(registry, {"rules": [{"keep_last": 1}]})  # a stored plan object
    doomed_objects = {e.digest for e in registry.record(doomed.ref).artifacts.entries}
    doomed_id = version_id(registry, doomed.ref)
    assert registry.tombstone(doomed_id, reason="test", plan_id=None)
    assert registry.mark_purged(doomed_id, reason="test", plan_id=None)  # bytes left behind
    _age_everything(registry)
    old_orphan = _orphan(registry, b"left over by a crashed writer")
    young_orphan = _orphan(registry, b"being uploaded right now", old=False)
    before = _objects(registry)

    dry = collect_garbage(registry)
    assert dry.dry_run
    assert {d for d, _ in dry.candidates} == doomed_objects | {old_orphan}
    assert dry.young == 1 and not dry.deleted
    assert _objects(registry) == before

    report = collect_garbage(registry, dry_run=False)
    assert set(report.deleted) == doomed_objects | {old_orphan}
    assert _objects(registry) == before - set(report.deleted)
    assert young_orphan in _objects(registry)
    assert load_plan(registry, plan.id) == plan  # its stored object is live
    assert registry.store.exists(dataset.manifest_digest)
    assert registry.verify().ok and registry.verify_audit().ok
    assert registry.verify(kept.ref).ok and registry.verify(newest.ref).ok
    assert len(_gc_events(registry)) == 1
    assert not collect_garbage(registry, dry_run=False).deleted


def test_gc_respects_a_zero_grace_period_and_keeps_dataset_snapshots(
    sqlite_registry: Registry, tmp_path: Path
) -> None:
    _, dataset = _snapshot_version(sqlite_registry, tmp_path)
    orphan = _orphan(sqlite_registry, b"fresh garbage", old=False)
    report = collect_garbage(sqlite_registry, dry_run=False, grace_period=timedelta(0))
    assert report.deleted == [orphan]
    assert sqlite_registry.store.exists(dataset.manifest_digest)
    assert sqlite_registry.verify().ok


def _corrupt(registry: Registry, digest: str) -> None:
    path = stored_object(registry, digest)
    os.chmod(path, 0o644)
    path.write_bytes(b'{"algo":"blake3","entries":[]}')


def test_gc_fails_closed_on_a_corrupted_snapshot_manifest(
    sqlite_registry: Registry, tmp_path: Path
) -> None:
    _, dataset = _snapshot_version(sqlite_registry, tmp_path)
    orphan = _orphan(sqlite_registry, b"garbage")
    _corrupt(sqlite_registry, dataset.manifest_digest)
    before = _objects(sqlite_registry)
    with pytest.raises(IntegrityError, match="nothing was deleted"):
        collect_garbage(sqlite_registry, dry_run=False)
    assert _objects(sqlite_registry) == before and orphan in before
    assert _gc_events(sqlite_registry) == []


def test_gc_fails_closed_on_an_edited_record(registry: Registry, tmp_path: Path) -> None:
    version = register(registry, "churn", tmp_path, "a")
    orphan = _orphan(registry, b"garbage")
    drop_immutability_triggers(registry.engine)
    r = schema.records
    with registry.engine.begin() as conn:  # hide the manifest's entries from the mark
        body = conn.execute(select(r.c.body).where(r.c.record_id == version.record_id)).scalar()
        edited = body.replace('"entries":[{', '"entries":[],"was":[{', 1)
        conn.execute(r.update().where(r.c.record_id == version.record_id).values(body=edited))
    before = _objects(registry)
    with pytest.raises(IntegrityError, match="nothing was deleted"):
        collect_garbage(registry, dry_run=False, grace_period=timedelta(0))
    assert _objects(registry) == before and orphan in before


def _drop_connection_on_mark(registry: Registry) -> None:
    """Kill the marking query's database connection right after it starts."""

    def after_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        if "FROM versions JOIN records" not in statement:
            return
        raw = conn.connection.dbapi_connection
        if conn.dialect.name == "sqlite":
            raw.close()
            return
        with registry.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": raw.info.backend_pid})
            admin.commit()

    event.listen(registry.engine, "after_cursor_execute", after_execute)


def test_gc_fails_closed_when_the_database_connection_drops_while_marking(
    registry: Registry, tmp_path: Path
) -> None:
    for i in range(3):
        register(registry, "churn", tmp_path, f"v{i}")
    orphan = _orphan(registry, b"garbage")
    _drop_connection_on_mark(registry)
    before = _objects(registry)
    with pytest.raises(IntegrityError, match="nothing was deleted"):
        collect_garbage(registry, dry_run=False, grace_period=timedelta(0))
    assert _objects(registry) == before and orphan in before


def test_one_gc_at_a_time(sqlite_registry: Registry) -> None:
    with (
        acquire_lease(sqlite_registry.engine, GC_LEASE, "another-gc", 60),
        pytest.raises(LeaseError),
    ):
        collect_garbage(sqlite_registry)


RACE_SECONDS = 60


@pytest.mark.slow
def test_gc_racing_four_writers_never_loses_an_acknowledged_version(tmp_path: Path) -> None:
    db, store = f"sqlite:///{tmp_path / 'registry.db'}", (tmp_path / "store").as_uri()
    main = connect(db, store)
    stop = threading.Event()
    acknowledged: list[str] = []
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        reg = connect(db, store)
        try:
            while not stop.is_set():
                content = f"w{number}-{uuid.uuid4().hex}"
                mv = register(reg, f"model-{number}", tmp_path / f"w{number}", content)
                acknowledged.append(mv.ref)
        except BaseException as exc:
            errors.append(exc)
        finally:
            reg.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + RACE_SECONDS
    deleted = purged = rounds = 0
    policy = {"rules": [{"keep_last": 2}], "grace_period": "0s"}
    try:
        while time.monotonic() < deadline and not errors:
            _orphan(main, uuid.uuid4().bytes)  # old garbage for every round
            report = collect_garbage(main, dry_run=False, grace_period=timedelta(seconds=10))
            deleted += len(report.deleted)
            purged += len(apply_plan(main, plan_retention(main, policy).id).purged)
            rounds += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors
    assert rounds >= 3 and deleted >= rounds and purged > 0
    assert len(acknowledged) >= 40
    problems = []
    for ref in acknowledged:
        result = main.verify(ref)
        problems.extend(result.problems)
    final = main.verify()
    main.close()
    assert problems == [] and final.ok, (problems, final.problems)


def _sweep_after_upload(monkeypatch: pytest.MonkeyPatch, registry: Registry, times: int) -> list:
    """Make the first ``times`` uploads of a registration be followed by a sweep of what a
    GC listed before them (old garbage then, reused by the upload since)."""
    listed = collect_garbage(registry).candidates
    marks = mark_registry(registry)
    upload, swept = drafting._upload, []

    def upload_then_sweep(*args: object) -> None:
        upload(*args)
        if len(swept) < times:
            result = sweep(
                registry, listed, marks, action="retention.gc_delete", subject="store", actor=None
            )
            swept.append(set(result.deleted))

    monkeypatch.setattr(drafting, "_upload", upload_then_sweep)
    return swept


def _weights_left_behind(registry: Registry, tmp_path: Path) -> tuple[Path, str]:
    """A model file whose bytes a crashed run left in the store long ago, and their digest."""
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"weights a crashed run left behind" * 8)
    return weights, _orphan(registry, weights.read_bytes())


def test_an_object_swept_between_upload_and_commit_is_uploaded_again(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights, reused = _weights_left_behind(registry, tmp_path)
    swept = _sweep_after_upload(monkeypatch, registry, times=1)

    version = registry.register("churn", weights)

    assert swept == [{reused}]  # deleted after the upload had found it stored
    assert [e.digest for e in registry.record(version.ref).artifacts.entries] == [reused]
    assert registry.store.exists(reused)
    assert registry.verify(version.ref).ok


def test_a_registration_whose_objects_keep_being_swept_fails_and_registers_nothing(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights, reused = _weights_left_behind(registry, tmp_path)
    swept = _sweep_after_upload(monkeypatch, registry, times=UPLOAD_ATTEMPTS)
    with pytest.raises(SweptObjectError, match="garbage-collected before it was registered"):
        registry.register("churn", weights)
    assert swept[0] == {reused} and len(swept) == UPLOAD_ATTEMPTS
    assert registry.models() == []


def _data_and_weights(tmp_path: Path) -> tuple[Path, Path]:
    """A one-file dataset directory and a model file."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("a\n1\n")
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"trained for days")
    return data, weights


def test_a_run_whose_dataset_snapshot_was_collected_cannot_register_it(
    registry: Registry, tmp_path: Path
) -> None:
    data, weights = _data_and_weights(tmp_path)
    with registry.run("churn", seed=1) as run:
        ref = run.log_dataset("train", data, snapshot=True)
        _age_everything(registry)  # the run lasted longer than GC's grace period
        assert ref.manifest_digest in collect_garbage(registry, dry_run=False).deleted
        with pytest.raises(MissingObjectError, match="log those datasets again") as raised:
            run.register_model(weights)
    assert not isinstance(raised.value, SweptObjectError)
    assert registry.models() == []


def test_a_run_whose_dataset_file_was_swept_after_logging_cannot_register_it(
    registry: Registry, tmp_path: Path
) -> None:
    data, weights = _data_and_weights(tmp_path)
    reused = _orphan(registry, (data / "rows.csv").read_bytes())  # old garbage, same bytes
    listed, marks = collect_garbage(registry).candidates, mark_registry(registry)
    with registry.run("churn", seed=1) as run:
        ref = run.log_dataset("train", data, snapshot=True)  # reuses the listed garbage
        result = sweep(
            registry, listed, marks, action="retention.gc_delete", subject="store", actor=None
        )
        assert set(result.deleted) == {reused} and registry.store.exists(ref.manifest_digest)
        with pytest.raises(MissingObjectError, match="log those datasets again") as raised:
            run.register_model(weights)
    assert reused in str(raised.value) and not isinstance(raised.value, SweptObjectError)
    assert registry.models() == []


def test_a_snapshot_another_version_holds_is_not_read_again_at_registration(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, ref = _snapshot_version(registry, tmp_path, "a")
    reads: list[str] = []
    get_bytes = registry.store.get_bytes
    monkeypatch.setattr(
        registry.store, "get_bytes", lambda digest: reads.append(digest) or get_bytes(digest)
    )
    with registry.run("churn", seed=2) as run:
        run.log_dataset("train", tmp_path / "data-a", snapshot=True)
        second = run.register_model(tmp_path / "weights-a")
    assert ref.manifest_digest not in reads  # its files are live while the first version is
    assert registry.verify(second.ref).ok and second.ref != first.ref
