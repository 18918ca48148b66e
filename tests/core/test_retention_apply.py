"""Retention against a real registry: snapshot loading, stored plans, two-phase apply."""

from __future__ import annotations

import json
import os
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import mv_orchestration.retention.moves as moves_module
from mv_orchestration.errors import IntegrityError, LeaseError, NotFoundError
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.registry import Registry, connect, schema
from mv_orchestration.registry.audit import last_seq
from mv_orchestration.registry.clock import utcnow
from mv_orchestration.registry.lease import acquire_lease
from mv_orchestration.retention import (
    apply_plan,
    collect_garbage,
    load_plan,
    load_snapshot,
    plan_retention,
    save_plan,
    stored_plans,
)
from mv_orchestration.retention.datasets import snapshot_objects
from mv_orchestration.retention.leases import APPLY_LEASE
from mv_orchestration.retention.marks import mark_registry
from mv_orchestration.retention.moves import LateMoves
from mv_orchestration.retention.planner import make_plan
from mv_orchestration.retention.plans import PLAN_EVENT
from mv_orchestration.retention.policy import policy_from_text
from tests.core.registry_helpers import register, stored_object, version_id
from tests.core.test_retention_plan import ISSUE_EXAMPLE, object_rows, oracle

pytest_plugins = ["tests.core.registry_fixtures"]

KEEP_ONE = {"rules": [{"keep_last": 1}], "grace_period": "0s"}


def _statuses(registry: Registry) -> dict[str, str]:
    v, m = schema.versions, schema.models
    with registry.engine.connect() as conn:
        rows = conn.execute(
            select(m.c.name, v.c.version, v.c.status).join(m, m.c.id == v.c.model_id)
        )
        return {f"{name}@{version}": status for name, version, status in rows}


def _audit(registry: Registry, action: str) -> list[tuple[str, dict]]:
    t = schema.audit_events
    with registry.engine.connect() as conn:
        rows = conn.execute(
            select(t.c.subject, t.c.payload).where(t.c.action == action).order_by(t.c.seq)
        )
        return [(subject, json.loads(payload)) for subject, payload in rows]


def test_snapshot_reads_every_fact_planning_needs(registry: Registry, tmp_path: Path) -> None:
    data = tmp_path / "train"
    data.mkdir()
    (data / "a.csv").write_text("x\n1\n")
    with registry.run("churn", seed=1) as run:
        run.log_params({"lr": 1})
        snap_ref = run.log_dataset("train", data, snapshot=True)
        base = run.register_model(_model(tmp_path, "m1"))
    tuned = register(registry, "tuned", tmp_path, "t1", parent=base.ref, tags={"stage": "dev"})
    second = register(registry, "churn", tmp_path, "c2")
    registry.promote(base.ref, "production")
    registry.promote(second.ref, "production")
    registry.hold(tuned.ref, "case 7")

    snap = load_snapshot(registry)
    by_ref = {v.ref: v for v in snap.versions}
    assert set(by_ref) == {base.ref, tuned.ref, second.ref}
    record = registry.record(base.ref)
    expected = {(e.digest, e.size) for e in record.artifacts.entries}
    if record.code_diff_digest:  # the uncommitted diff of this checkout, if any
        expected.add((record.code_diff_digest, 0))
    base_id = by_ref[base.ref].id
    assert {(d, size) for vid, d, size in object_rows(snap) if vid == base_id} == expected
    assert by_ref[base.ref].datasets == (snap_ref.manifest_digest,)
    assert by_ref[tuned.ref].parents == (by_ref[base.ref].id,)
    assert by_ref[tuned.ref].tags == {"stage": "dev"}
    assert by_ref[base.ref].precedence < by_ref[second.ref].precedence
    (alias,) = snap.aliases
    assert (alias.model, alias.name, alias.target) == ("churn", "production", by_ref[second.ref].id)
    assert [m.version_id for m in alias.history] == [by_ref[base.ref].id, by_ref[second.ref].id]
    assert [(h.version_id, h.reason) for h in snap.holds] == [(by_ref[tuned.ref].id, "case 7")]
    (dataset,) = snap.dataset_snapshots.values()
    assert dataset.digest == snap_ref.manifest_digest
    file_digest = registry.store.put_bytes(b"x\n1\n")
    assert {d for d, _ in dataset.objects} == {snap_ref.manifest_digest, file_digest}


def _model(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(exist_ok=True)
    (path / "weights.bin").write_bytes(name.encode() * 10)
    return path


def test_issue_example_plans_and_stores_a_readable_plan(registry: Registry, tmp_path) -> None:
    for i in range(3):
        register(registry, "churn", tmp_path, f"c{i}")
    policy_file = tmp_path / "retention.yaml"
    policy_file.write_text(ISSUE_EXAMPLE)
    plan = plan_retention(registry, policy_file)
    assert [v.decision for v in plan.versions] == ["keep"] * 3
    assert plan.versions[0].reason.startswith("kept: within keep_last 5 (rank 3)")
    assert plan.policy_digest == policy_from_text(ISSUE_EXAMPLE).digest()
    (stored,) = stored_plans(registry)
    assert (stored.id, stored.digest, stored.policy_digest) == (
        plan.id,
        plan.digest,
        plan.policy_digest,
    )
    assert load_plan(registry, plan.id) == plan
    assert load_plan(registry, plan.digest) == plan
    # stored compressed as it was encoded: the same JSON an in-memory encoding gives
    stored_bytes = registry.store.get_bytes(stored.object)
    assert stored.codec == "zstd" and stored_bytes != plan.content_bytes()
    assert _decompressed(stored_bytes) == plan.content_bytes()
    assert digest_bytes(plan.content_bytes()) == plan.digest
    assert save_plan(registry, plan) == stored and stored_plans(registry) == [stored]
    with pytest.raises(NotFoundError):
        load_plan(registry, "plan-0000000000000000")


def _decompressed(data: bytes) -> bytes:
    return pa.CompressedInputStream(pa.BufferReader(data), "zstd").read()


def test_a_large_plan_is_stored_in_a_fraction_of_its_json(registry: Registry, tmp_path) -> None:
    for i in range(40):
        register(registry, "churn", tmp_path, f"c{i}")
    plan = plan_retention(registry, KEEP_ONE)
    (stored,) = stored_plans(registry)
    assert stored_object(registry, stored.object).stat().st_size * 5 < len(plan.content_bytes())


def test_a_plan_stored_as_plain_json_still_loads(registry: Registry, tmp_path) -> None:
    """Plans stored before compression: their event names no object, which is the JSON."""
    register(registry, "churn", tmp_path, "a")
    plan = make_plan(policy_from_text(ISSUE_EXAMPLE), load_snapshot(registry))
    assert registry.store.put_bytes(plan.content_bytes()) == plan.digest
    payload = {
        "digest": plan.digest,
        "created_at": plan.created_at.isoformat(),
        "policy_digest": plan.policy_digest,
        "summary": plan.summary(),
    }
    registry.append_audit(PLAN_EVENT, plan.id, payload)
    (stored,) = stored_plans(registry)
    assert (stored.object, stored.codec) == (plan.digest, None)
    assert load_plan(registry, plan.id) == plan
    marks = mark_registry(registry)
    assert plan.digest in marks.objects


def _replace_stored(registry: Registry, digest: str, data: bytes) -> None:
    path = stored_object(registry, digest)
    os.chmod(path, 0o644)
    path.write_bytes(data)


def test_tampered_stored_plan_is_refused(sqlite_registry: Registry, tmp_path) -> None:
    register(sqlite_registry, "churn", tmp_path, "a")
    plan = plan_retention(sqlite_registry, KEEP_ONE)
    (stored,) = stored_plans(sqlite_registry)
    edited = plan.content_bytes().replace(b'"keep"', b'"tombstone"')
    _replace_stored(sqlite_registry, stored.object, pa.Codec("zstd").compress(edited, asbytes=True))
    with pytest.raises(IntegrityError):
        apply_plan(sqlite_registry, plan.id)
    assert _statuses(sqlite_registry) == {"churn@1.0.0": "active"}


def test_a_stored_plan_whose_json_is_another_plan_is_refused(
    sqlite_registry: Registry, tmp_path
) -> None:
    """The object passes the store's check and decompresses, but holds other JSON."""
    register(sqlite_registry, "churn", tmp_path, "a")
    plan = plan_retention(sqlite_registry, KEEP_ONE)
    other = plan_retention(sqlite_registry, {"rules": [{"keep_last": 2}]})
    payload = _audit(sqlite_registry, PLAN_EVENT)[1][1]  # the other plan's object
    payload["digest"] = plan.digest
    sqlite_registry.append_audit(PLAN_EVENT, "plan-00000000000000fe", payload)
    with pytest.raises(IntegrityError, match="does not match its recorded digest"):
        load_plan(sqlite_registry, "plan-00000000000000fe")
    assert load_plan(sqlite_registry, other.id) == other


def test_a_stored_plan_that_does_not_decompress_is_refused(
    sqlite_registry: Registry, tmp_path
) -> None:
    """An object that passes the store's check but is no zstd stream: its event lies."""
    register(sqlite_registry, "churn", tmp_path, "a")
    plan = plan_retention(sqlite_registry, KEEP_ONE)
    garbage = sqlite_registry.store.put_bytes(b"not zstd at all")
    payload = _audit(sqlite_registry, PLAN_EVENT)[0][1] | {"object": garbage}
    sqlite_registry.append_audit(PLAN_EVENT, "plan-00000000000000ff", payload)
    with pytest.raises(IntegrityError, match="cannot be decompressed"):
        load_plan(sqlite_registry, "plan-00000000000000ff")
    assert load_plan(sqlite_registry, plan.id) == plan


def test_two_phase_apply_with_grace_shared_objects_and_idempotence(
    registry: Registry, tmp_path: Path
) -> None:
    old = [register(registry, "churn", tmp_path, f"c{i}") for i in range(4)]
    shared = register(registry, "other", tmp_path, "c0")  # same bytes as churn's first
    newest = register(registry, "churn", tmp_path, "c9")
    policy = {"rules": [{"models": "churn", "keep_last": 1}], "grace_period": "1h"}

    first = plan_retention(registry, policy)
    assert {v.ref for v in first.by_decision("tombstone")} == {v.ref for v in old}
    report = apply_plan(registry, first.id)
    assert sorted(report.tombstoned) == sorted(v.ref for v in old)
    assert not report.objects_deleted
    again = apply_plan(registry, first.id)
    assert not again.changed and sorted(again.already_done) == sorted(report.tombstoned)

    waiting = plan_retention(registry, policy)  # within the grace period: nothing to purge
    assert {v.decision for v in waiting.versions if v.ref in report.tombstoned} == {"wait"}
    assert not apply_plan(registry, waiting.id).changed

    purge = plan_retention(registry, {**policy, "grace_period": "0s"})
    assert {v.ref for v in purge.by_decision("purge")} == {v.ref for v in old}
    snap = load_snapshot(registry)
    (other,) = [v for v in snap.versions if v.ref == shared.ref]
    shared_objects = {d for vid, d, _ in object_rows(snap) if vid == other.id}
    assert not shared_objects & {d for d, _ in purge.objects}  # still used by other@...
    done = apply_plan(registry, purge.id)
    assert sorted(done.purged) == sorted(v.ref for v in old)
    assert sorted(done.objects_deleted) == sorted(d for d, _ in purge.objects)
    for digest in done.objects_deleted:
        assert not registry.store.exists(digest)
    statuses = _statuses(registry)
    assert {statuses[v.ref] for v in old} == {"purged"}
    assert statuses[shared.ref] == statuses[newest.ref] == "active"
    assert registry.verify().ok
    assert registry.verify_audit().ok
    assert not apply_plan(registry, purge.id).changed
    events = _audit(registry, "version.tombstone")
    assert sorted(s for s, _ in events) == sorted(v.ref for v in old)
    assert {p["plan_id"] for _, p in events} == {first.id}
    deleted = _audit(registry, "retention.delete_objects")
    assert sorted(d for _, p in deleted for d in p["objects"]) == sorted(done.objects_deleted)


def test_apply_skips_what_became_protected_since_planning(
    registry: Registry, tmp_path: Path
) -> None:
    versions = [register(registry, "churn", tmp_path, f"c{i}") for i in range(5)]
    plan = plan_retention(registry, KEEP_ONE)
    assert len(plan.by_decision("tombstone")) == 4
    held, promoted, bounced, free = versions[:4]
    registry.hold(held.ref, "litigation")
    registry.promote(promoted.ref, "production")
    registry.promote(bounced.ref, "staging")
    registry.promote(versions[4].ref, "staging")  # staging moved on: bounced is unprotected
    report = apply_plan(registry, plan.id)
    assert report.tombstoned == [free.ref]
    skipped = {s.ref: s.reason for s in report.skipped}
    assert skipped[held.ref].startswith("protected now")
    assert skipped[promoted.ref] == "alias production moved to it after planning"
    assert skipped[bounced.ref] == "alias staging moved to it after planning"
    statuses = _statuses(registry)
    assert [statuses[v.ref] for v in versions] == ["active"] * 3 + ["tombstoned", "active"]


def test_apply_finds_alias_moves_the_plan_did_not_see_by_audit_order_not_by_clock(
    registry: Registry, tmp_path: Path
) -> None:
    """A planner whose clock runs ahead: moves after its snapshot carry earlier times."""
    versions = [register(registry, "churn", tmp_path, f"c{i}") for i in range(4)]
    before = _last_seq(registry)
    plan = plan_retention(registry, KEEP_ONE, now=utcnow() + timedelta(hours=1))
    assert plan.audit_seq == before  # its own event comes after
    assert load_plan(registry, plan.id).audit_seq == plan.audit_seq
    bounced, free = versions[:2]
    registry.promote(bounced.ref, "staging")
    registry.promote(versions[3].ref, "staging")  # staging moved on: bounced is unprotected
    report = apply_plan(registry, plan.id)
    assert report.tombstoned == [free.ref, versions[2].ref]
    skipped = {s.ref: s.reason for s in report.skipped}
    assert skipped == {bounced.ref: "alias staging moved to it after planning"}


def test_apply_rereads_alias_moves_in_each_batch(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An alias that moves to a candidate and on again while the apply runs."""
    versions = [register(registry, "churn", tmp_path, f"c{i}") for i in range(4)]
    plan = plan_retention(registry, KEEP_ONE)
    first, bounced = versions[0], versions[2]
    write = registry.write

    def moving_after_the_first_batch(name: str, operation: Any) -> Any:
        result = write(name, operation)
        if name == "retention tombstone" and _statuses(registry)[first.ref] == "tombstoned":
            monkeypatch.setattr(registry, "write", write)
            registry.promote(bounced.ref, "staging")
            registry.promote(versions[3].ref, "staging")
        return result

    monkeypatch.setattr(registry, "write", moving_after_the_first_batch)
    report = apply_plan(registry, plan.id, batch_size=1)
    assert report.tombstoned == [first.ref, versions[1].ref]
    assert [(s.ref, s.reason) for s in report.skipped] == [
        (bounced.ref, "alias staging moved to it after planning")
    ]
    assert _statuses(registry)[bounced.ref] == "active"


def test_alias_moves_read_again_after_a_failed_read_are_not_lost(
    registry: Registry, tmp_path: Path
) -> None:
    """A batch transaction retried after failing mid-read reads the same moves again."""
    versions = [register(registry, "churn", tmp_path, f"c{i}") for i in range(2)]
    plan = plan_retention(registry, KEEP_ONE)
    registry.promote(versions[0].ref, "staging")
    moves = LateMoves(plan)

    class FailingThirdQuery:
        def __init__(self, conn: Any) -> None:
            self.conn, self.calls = conn, 0

        def execute(self, *args: Any) -> Any:
            self.calls += 1
            if self.calls == 3:  # the alias history, after the audit events
                raise ConnectionError("dropped")
            return self.conn.execute(*args)

    with pytest.raises(ConnectionError):
        registry.read(lambda conn: moves.read(FailingThirdQuery(conn)))
    assert moves.late == {}
    late = registry.read(moves.read)
    assert late == {
        version_id(registry, versions[0].ref): "alias staging moved to it after planning"
    }


def test_many_alias_moves_are_read_a_bounded_number_of_ids_at_a_time(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = [register(registry, "churn", tmp_path, f"c{i}") for i in range(4)]
    plan = plan_retention(registry, KEEP_ONE)
    for alias in ("staging", "canary"):
        for version in versions[:3]:
            registry.promote(version.ref, alias)
    monkeypatch.setattr(moves_module, "IDS_PER_QUERY", 2)  # six moves: three queries
    late = registry.read(LateMoves(plan).read)
    assert late == {
        version_id(registry, version.ref): "alias staging moved to it after planning"
        for version in versions[:3]
    }


def test_a_plan_without_a_snapshot_position_falls_back_to_move_times(
    registry: Registry, tmp_path: Path
) -> None:
    versions = [register(registry, "churn", tmp_path, f"c{i}") for i in range(3)]
    snapshot = load_snapshot(registry)
    snapshot.audit_seq = None
    plan = make_plan(policy_from_text("rules:\n  - keep_last: 1\n"), snapshot)
    assert plan.audit_seq is None and "audit_seq" not in plan.content()
    save_plan(registry, plan)
    registry.promote(versions[0].ref, "staging")
    registry.promote(versions[2].ref, "staging")
    report = apply_plan(registry, plan.id)
    assert report.tombstoned == [versions[1].ref]
    assert [s.reason for s in report.skipped] == ["alias staging moved to it after planning"]


def _last_seq(registry: Registry) -> int:
    with registry.engine.connect() as conn:
        return last_seq(conn)


def test_apply_spares_the_ancestors_of_a_version_held_since_planning(
    registry: Registry, tmp_path: Path
) -> None:
    grandparent = register(registry, "churn", tmp_path, "c0")
    parent = register(registry, "churn", tmp_path, "c1", parent=grandparent.ref)
    child = register(registry, "churn", tmp_path, "c2", parent=parent.ref)
    free = register(registry, "churn", tmp_path, "c3")
    register(registry, "churn", tmp_path, "c4")
    plan = plan_retention(registry, KEEP_ONE)
    assert {v.ref for v in plan.by_decision("tombstone")} == {
        v.ref for v in (grandparent, parent, child, free)
    }
    registry.hold(child.ref, "litigation")
    report = apply_plan(registry, plan.id)
    assert report.tombstoned == [free.ref]
    skipped = {s.ref: s.reason for s in report.skipped}
    assert skipped[child.ref].startswith("protected now")
    assert (
        skipped[parent.ref]
        == skipped[grandparent.ref]
        == ("a version that stays derives from it now")
    )
    fresh = {v.ref: v.decision for v in plan_retention(registry, KEEP_ONE).versions}
    assert fresh[parent.ref] == fresh[grandparent.ref] == "keep"


def test_apply_does_not_purge_the_parent_of_a_version_held_since_planning(
    registry: Registry, tmp_path: Path
) -> None:
    parent = register(registry, "churn", tmp_path, "c0")
    child = register(registry, "churn", tmp_path, "c1", parent=parent.ref)
    register(registry, "churn", tmp_path, "c2")
    apply_plan(registry, plan_retention(registry, KEEP_ONE).id)
    plan = plan_retention(registry, KEEP_ONE)
    assert {v.ref for v in plan.by_decision("purge")} == {parent.ref, child.ref}
    registry.hold(child.ref, "litigation")
    report = apply_plan(registry, plan.id)
    assert report.purged == []
    assert {s.ref: s.reason for s in report.skipped}[parent.ref] == (
        "a version that stays derives from it now"
    )
    assert not report.objects_deleted
    statuses = _statuses(registry)
    assert statuses[parent.ref] == statuses[child.ref] == "tombstoned"
    assert registry.verify().ok


def test_a_version_registered_while_apply_runs_keeps_its_parent(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mv_orchestration.retention import apply as applying

    parent = register(registry, "churn", tmp_path, "c0")
    register(registry, "churn", tmp_path, "c1")
    plan = plan_retention(registry, KEEP_ONE)
    assert [v.ref for v in plan.by_decision("tombstone")] == [parent.ref]
    children = []
    advance = applying._Phase.advance

    def register_a_child_first(phase, items, to_status, action):  # after the apply began
        if not children:
            children.append(register(registry, "other", tmp_path, "d0", parent=parent.ref))
        return advance(phase, items, to_status, action)

    monkeypatch.setattr(applying._Phase, "advance", register_a_child_first)
    report = apply_plan(registry, plan.id)
    assert children and report.tombstoned == []
    assert [(s.ref, s.reason) for s in report.skipped] == [
        (parent.ref, "a version that stays derives from it now")
    ]
    assert _statuses(registry)[parent.ref] == "active"


def test_one_apply_at_a_time(sqlite_registry: Registry, tmp_path: Path) -> None:
    register(sqlite_registry, "churn", tmp_path, "a")
    plan = plan_retention(sqlite_registry, KEEP_ONE)
    with (
        acquire_lease(sqlite_registry.engine, APPLY_LEASE, "someone-else", 60),
        pytest.raises(LeaseError),
    ):
        apply_plan(sqlite_registry, plan.id)


class _CrashingStore:
    """The real store, but the process 'dies' (raises) after ``allowed`` deletions."""

    def __init__(self, store, allowed: int) -> None:
        self._store, self.allowed = store, allowed

    def delete(self, digest: str) -> bool:
        if self.allowed == 0:
            raise KeyboardInterrupt("simulated crash during delete")
        self.allowed -= 1
        return self._store.delete(digest)

    def delete_many(self, digests: list[str]) -> list[bool]:
        return [self.delete(digest) for digest in digests]

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def test_crashed_apply_can_be_run_again(sqlite_registry: Registry, tmp_path: Path) -> None:
    versions = [register(sqlite_registry, "churn", tmp_path, f"c{i}") for i in range(6)]
    apply_plan(sqlite_registry, plan_retention(sqlite_registry, KEEP_ONE).id)
    plan = plan_retention(sqlite_registry, KEEP_ONE)
    assert len(plan.objects) >= 5
    real = sqlite_registry.store
    sqlite_registry.store = _CrashingStore(real, allowed=2)
    try:
        with pytest.raises(KeyboardInterrupt):
            apply_plan(sqlite_registry, plan.id, batch_size=1)
    finally:
        sqlite_registry.store = real
    assert {_statuses(sqlite_registry)[v.ref] for v in versions[:5]} == {"purged"}
    assert sum(not real.exists(d) for d, _ in plan.objects) == 2
    rerun = apply_plan(sqlite_registry, plan.id)
    assert len(rerun.already_done) == 5
    assert len(rerun.objects_deleted) == len(plan.objects) - 2
    assert all(not real.exists(d) for d, _ in plan.objects)
    (event,) = _audit(sqlite_registry, "retention.delete_objects")
    assert sorted(event[1]["objects"] + event[1]["absent"]) == sorted(d for d, _ in plan.objects)
    assert sqlite_registry.verify().ok and sqlite_registry.verify_audit().ok
    assert not apply_plan(sqlite_registry, plan.id).changed


def test_unreferenced_dataset_snapshots_are_purged(sqlite_registry: Registry, tmp_path) -> None:
    reg = sqlite_registry
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("a,b\n1,2\n")
    with reg.run("churn", seed=1) as run:
        run.log_params({"x": 1})
        ref = run.log_dataset("train", data, snapshot=True)
        run.register_model(_model(tmp_path, "m0"))
    register(reg, "churn", tmp_path, "newer")
    policy = {**KEEP_ONE, "purge_unreferenced_snapshots_after": "0s"}
    apply_plan(reg, plan_retention(reg, policy).id)  # tombstone the first version
    plan = plan_retention(reg, policy)  # purge it and, now unreferenced, its snapshot
    assert [(s.digest, s.decision) for s in plan.snapshots] == [(ref.manifest_digest, "purge")]
    report = apply_plan(reg, plan.id)
    assert report.snapshots_purged == [ref.manifest_digest]
    assert not reg.store.exists(ref.manifest_digest)
    assert load_snapshot(reg).dataset_snapshots == {}
    assert reg.verify().ok
    later = plan_retention(reg, policy)
    assert later.snapshots == () and not apply_plan(reg, later.id).changed


# --- plan == apply on random registries -------------------------------------------------
@st.composite
def scenarios(draw):
    return {
        "seed": draw(st.integers(0, 2**32 - 1)),
        "versions": draw(st.integers(2, 12)),
        "keep_last": draw(st.integers(0, 3)),
        "alias_history": draw(st.integers(0, 2)),
        "tags": draw(st.booleans()),
    }


def _random_registry(reg: Registry, root: Path, scenario: dict) -> None:
    rnd = random.Random(scenario["seed"])
    made = []
    for i in range(scenario["versions"]):
        model = rnd.choice(["churn", "fraud"])
        content = rnd.choice([f"u{i}", "shared-a", "shared-b"])  # some bytes shared
        parent = rnd.choice([None, None, *[m.ref for m in made]])
        tags = {"stage": rnd.choice(["dev", "prod"])}
        made.append(register(reg, model, root, content, params={"i": i}, parent=parent, tags=tags))
    for mv in rnd.sample(made, k=min(len(made), rnd.randint(0, 4))):
        reg.promote(mv.ref, rnd.choice(["production", "staging"]))
    for mv in rnd.sample(made, k=rnd.randint(0, 2)):
        reg.hold(mv.ref, "audit")


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_plan_equals_apply_on_random_registries(tmp_path_factory, scenario) -> None:
    root = tmp_path_factory.mktemp("reg")
    reg = connect(f"sqlite:///{root / 'registry.db'}", (root / "store").as_uri())
    try:
        _random_registry(reg, root, scenario)
        rule = {"keep_last": scenario["keep_last"], "keep_alias_history": scenario["alias_history"]}
        if scenario["tags"]:
            rule["tags"] = {"stage": "dev"}
        policy = {"rules": [rule], "grace_period": "0s"}
        for _round in range(2):  # round 1 tombstones, round 2 purges
            before = _statuses(reg)
            snap = load_snapshot(reg)
            plan = plan_retention(reg, policy)
            decisions, objects, _ = oracle(plan.policy, snap, plan.created_at)
            assert {v.id: v.decision for v in plan.versions} == decisions
            assert {d for d, _ in plan.objects} == objects
            report = apply_plan(reg, plan.id)
            assert sorted(report.tombstoned) == sorted(v.ref for v in plan.by_decision("tombstone"))
            assert sorted(report.purged) == sorted(v.ref for v in plan.by_decision("purge"))
            assert sorted(report.objects_deleted) == sorted(objects)
            assert not report.skipped
            after = _statuses(reg)
            changed = {ref for ref in after if after[ref] != before[ref]}
            assert changed == set(report.tombstoned) | set(report.purged)
            protected = {v.id for v in snap.versions} & reg.protected_version_ids()
            assert all(after[v.ref] == "active" for v in snap.versions if v.id in protected)
            second = apply_plan(reg, plan.id)
            assert not second.changed and not second.skipped
            assert reg.verify().ok
        assert reg.verify_audit().ok
    finally:
        reg.close()


def _train_on_snapshot(reg: Registry, tmp_path: Path, name: str):
    """Register churn version ``name`` trained on a snapshot of the same small dataset."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "rows.csv").write_text("a,b\n1,2\n")
    with reg.run("churn", seed=1) as run:
        run.log_params({"name": name})
        ref = run.log_dataset("train", data, snapshot=True)
        return run.register_model(_model(tmp_path, name)), ref


def _purge_a_snapshot_then_log_it_again(reg: Registry, tmp_path: Path, policy: dict):
    """Purge a snapshot's only user and the snapshot, then train on the same data again."""
    _, first = _train_on_snapshot(reg, tmp_path, "m0")
    register(reg, "churn", tmp_path, "newer")
    apply_plan(reg, plan_retention(reg, policy).id)
    apply_plan(reg, plan_retention(reg, policy).id)  # the snapshot is purged
    assert not reg.store.exists(first.manifest_digest)
    retrained, again = _train_on_snapshot(reg, tmp_path, "m1")  # the same data, months later
    assert again.manifest_digest == first.manifest_digest
    return retrained, again


def test_a_purged_dataset_snapshot_logged_again_is_kept(
    sqlite_registry: Registry, tmp_path
) -> None:
    reg = sqlite_registry
    policy = {**KEEP_ONE, "purge_unreferenced_snapshots_after": "0s"}
    retrained, again = _purge_a_snapshot_then_log_it_again(reg, tmp_path, policy)
    files = {digest for digest, _ in snapshot_objects(reg.store, again.manifest_digest)}
    assert set(load_snapshot(reg).dataset_snapshots) == {again.manifest_digest}
    assert plan_retention(reg, policy).snapshots[0].decision == "keep"
    collect_garbage(reg, dry_run=False, grace_period=timedelta(0))
    assert all(map(reg.store.exists, files))
    assert reg.verify(retrained.ref).ok

    register(reg, "churn", tmp_path, "newest")  # now the retrained version goes too
    apply_plan(reg, plan_retention(reg, policy).id)
    plan = plan_retention(reg, policy)
    assert apply_plan(reg, plan.id).snapshots_purged == [again.manifest_digest]
    assert not any(map(reg.store.exists, files))
    assert [s for s, _ in _audit(reg, "retention.snapshot_purge")] == [again.manifest_digest] * 2
    assert not apply_plan(reg, plan.id).changed


def test_a_snapshot_logged_again_waits_out_its_window_once_unreferenced_again(
    registry: Registry, tmp_path: Path
) -> None:
    purge_now = {**KEEP_ONE, "purge_unreferenced_snapshots_after": "0s"}
    retrained, again = _purge_a_snapshot_then_log_it_again(registry, tmp_path, purge_now)
    files = {digest for digest, _ in snapshot_objects(registry.store, again.manifest_digest)}
    register(registry, "churn", tmp_path, "newest")
    wait = {**KEEP_ONE, "purge_unreferenced_snapshots_after": "30d"}
    apply_plan(registry, plan_retention(registry, wait).id)
    plan = plan_retention(registry, wait)
    assert retrained.ref in apply_plan(registry, plan.id).purged
    (snapshot,) = plan.snapshots
    assert snapshot.decision == "keep"
    assert "purge_unreferenced_snapshots_after 30d ends at" in snapshot.reason

    collect_garbage(registry, dry_run=False, grace_period=timedelta(0))
    assert all(map(registry.store.exists, files))
    assert set(load_snapshot(registry).dataset_snapshots) == {again.manifest_digest}
    assert plan_retention(registry, wait).snapshots[0].decision == "keep"

    assert apply_plan(registry, plan_retention(registry, purge_now).id).snapshots_purged == [
        again.manifest_digest
    ]
    assert not any(map(registry.store.exists, files))
    purges = [s for s, _ in _audit(registry, "retention.snapshot_purge")]
    assert purges == [again.manifest_digest] * 2


def test_every_snapshot_a_version_logs_again_starts_a_new_lifetime(
    sqlite_registry: Registry, tmp_path: Path
) -> None:
    reg = sqlite_registry
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "rows.csv").write_text(f"split\n{split}\n")

    def train(name: str) -> tuple[Any, list[str]]:
        with reg.run("churn", seed=1) as run:
            run.log_params({"name": name})
            refs = [run.log_dataset(s, tmp_path / s, snapshot=True) for s in ("train", "test")]
            version = run.register_model(_model(tmp_path, name))
        return version, [ref.manifest_digest for ref in refs]

    purge_now = {**KEEP_ONE, "purge_unreferenced_snapshots_after": "0s"}
    _, digests = train("m0")
    register(reg, "churn", tmp_path, "newer")
    apply_plan(reg, plan_retention(reg, purge_now).id)
    apply_plan(reg, plan_retention(reg, purge_now).id)
    assert not any(map(reg.store.exists, digests))

    retrained, again = train("m1")
    assert again == digests
    register(reg, "churn", tmp_path, "newest")
    wait = {**KEEP_ONE, "purge_unreferenced_snapshots_after": "30d"}
    apply_plan(reg, plan_retention(reg, wait).id)
    assert retrained.ref in apply_plan(reg, plan_retention(reg, wait).id).purged
    collect_garbage(reg, dry_run=False, grace_period=timedelta(0))
    assert all(map(reg.store.exists, digests))
    assert set(load_snapshot(reg).dataset_snapshots) == set(digests)
