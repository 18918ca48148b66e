"""Retention planning (pure, no database) against an independent, deliberately naive oracle."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mv_orchestration.canonical import canonical_json
from mv_orchestration.errors import IntegrityError, ValidationError
from mv_orchestration.retention.plan import RetentionPlan
from mv_orchestration.retention.planner import make_plan
from mv_orchestration.retention.policy import RetentionPolicy, RetentionRule, policy_from_text
from mv_orchestration.retention.snapshot import (
    AliasInfo,
    AliasMove,
    DatasetSnapshotInfo,
    HoldInfo,
    RegistrySnapshot,
    VersionInfo,
)

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
ISSUE_EXAMPLE = """\
rules:
  - models: "*"
    keep_last: 5
    keep_within: 30d
    keep_alias_history: 3
    min_retention_after_production: 7y
grace_period: 24h
"""


# --- the oracle: a direct, quadratic reading of the rules ------------------------------
def _rule_matches(rule: RetentionRule, v: VersionInfo) -> bool:
    if not any(fnmatchcase(v.model, g) for g in rule.models):
        return False
    return all(k in v.tags and fnmatchcase(v.tags[k], p) for k, p in rule.tags.items())


def _rule_keeps(rule, v, snap, now) -> bool:
    scope = [
        w
        for w in snap.versions
        if w.model == v.model and w.status != "purged"
        if _rule_matches(rule, w)
    ]
    if rule.keep_last is not None:
        newer = [
            w
            for w in scope
            if (w.precedence, w.created_at, w.id) > (v.precedence, v.created_at, v.id)
        ]
        if len(newer) < rule.keep_last:
            return True
    if rule.keep_within is not None and now - v.created_at < rule.keep_within:
        return True
    for alias in snap.aliases:
        if alias.model != v.model:
            continue
        if rule.keep_alias_history:
            seen: list[int] = []
            for move in reversed(alias.history):
                t = move.version_id
                if t is not None and t != alias.target and t not in seen:
                    seen.append(t)
            if v.id in seen[: rule.keep_alias_history]:
                return True
        if (
            rule.min_retention_after_production is not None
            and alias.name in rule.production_aliases
        ):
            if alias.target == v.id:
                return True
            for i, move in enumerate(alias.history):
                if move.version_id == v.id:
                    end = alias.history[i + 1].moved_at if i + 1 < len(alias.history) else now
                    if end + rule.min_retention_after_production > now:
                        return True
    return False


def object_rows(snap: RegistrySnapshot) -> list[tuple[int, str, int]]:
    """The snapshot's ``(version id, digest, size)`` object rows (it may hold a table)."""
    objects = snap.objects
    if isinstance(objects, list):
        return objects
    return list(zip(*(objects[name].to_pylist() for name in objects.column_names), strict=True))


def oracle(policy: RetentionPolicy, snap: RegistrySnapshot, now: datetime):
    """Decision per version id, and the set of object digests phase 2 deletes."""
    keep: set[int] = {a.target for a in snap.aliases if a.target is not None}
    keep |= {h.version_id for h in snap.holds if h.expires_at is None or h.expires_at > now}
    live = [v for v in snap.versions if v.status != "purged"]
    for v in live:
        rules = [r for r in policy.rules if _rule_matches(r, v)]
        if not rules or any(_rule_keeps(r, v, snap, now) for r in rules):
            keep.add(v.id)
    by_id = {v.id: v for v in snap.versions}
    changed = True
    while changed:
        changed = False
        for v in live:
            if v.id in keep:
                for p in v.parents:
                    if by_id[p].status != "purged" and p not in keep:
                        keep.add(p)
                        changed = True
    decisions = {}
    for v in snap.versions:
        if v.status == "purged":
            decisions[v.id] = "purged"
        elif v.status == "active":
            decisions[v.id] = "keep" if v.id in keep else "tombstone"
        elif v.id not in keep and v.tombstoned_at + policy.grace_period <= now:
            decisions[v.id] = "purge"
        else:
            decisions[v.id] = "wait"
    gone = {"purge", "purged"}
    snap_purge = set()
    for digest in snap.dataset_snapshots:
        users = [v for v in snap.versions if digest in v.datasets]
        if any(decisions[v.id] not in gone for v in users) or not users:
            continue
        limit = policy.purge_unreferenced_snapshots_after
        if limit is None:
            continue
        since = max(now if decisions[v.id] == "purge" else v.purged_at for v in users)
        if since + limit <= now:
            snap_purge.add(digest)
    doomed = {d for vid, d, _ in object_rows(snap) if decisions[vid] == "purge"}
    doomed |= {d for s in snap_purge for d, _ in snap.dataset_snapshots[s].objects}
    staying = {d for vid, d, _ in object_rows(snap) if decisions[vid] not in gone}
    staying |= {
        d
        for s, info in snap.dataset_snapshots.items()
        if s not in snap_purge
        for d, _ in info.objects
    }
    return decisions, doomed - staying, snap_purge


# --- random registries ------------------------------------------------------------------
POOL = [(f"blake3:{i:064x}", 100 + i) for i in range(8)]
DATASETS = {
    f"blake3:{0xD0 + i:064x}": DatasetSnapshotInfo(
        f"blake3:{0xD0 + i:064x}", (POOL[i], (f"blake3:{0xE0 + i:064x}", 7 + i))
    )
    for i in range(3)
}
durations = st.sampled_from(["0s", "6h", "1d", "10d", "30d", "60d", "1y"])


@st.composite
def registries(draw):
    models = draw(
        st.lists(
            st.sampled_from(["churn", "churn-eu", "fraud"]), min_size=1, max_size=3, unique=True
        )
    )
    count = draw(st.integers(0, 18))
    versions: list[VersionInfo] = []
    objects: list[tuple[int, str, int]] = []
    for vid in range(1, count + 1):
        model = draw(st.sampled_from(models))
        status = draw(st.sampled_from(["active", "active", "active", "tombstoned", "purged"]))
        tomb = NOW - timedelta(hours=draw(st.integers(0, 96))) if status != "active" else None
        earlier = [v.id for v in versions]
        pairs = draw(st.lists(st.sampled_from(POOL), max_size=3, unique=True))
        objects += [(vid, digest, size) for digest, size in pairs]
        versions.append(
            VersionInfo(
                id=vid,
                model=model,
                version=f"1.0.{vid}",
                precedence=draw(st.integers(0, 50)) * 100 + vid,
                created_at=NOW - timedelta(hours=draw(st.integers(0, 24 * 80))),
                status=status,
                tags=draw(st.sampled_from([{}, {"stage": "prod"}, {"stage": "dev"}])),
                datasets=tuple(
                    draw(st.lists(st.sampled_from(sorted(DATASETS)), max_size=2, unique=True))
                ),
                parents=tuple(draw(st.lists(st.sampled_from(earlier), max_size=1)))
                if earlier
                else (),
                tombstoned_at=tomb,
                purged_at=tomb + timedelta(hours=draw(st.integers(0, 48)))
                if status == "purged"
                else None,
            )
        )
    aliases = []
    for model in models:
        mine = [v for v in versions if v.model == model]
        active = [v.id for v in mine if v.status == "active"]
        for name in draw(
            st.lists(st.sampled_from(["production", "staging"]), unique=True, max_size=2)
        ):
            if not mine:
                continue
            targets = draw(st.lists(st.sampled_from([v.id for v in mine] + [None]), max_size=6))
            current = draw(st.sampled_from([*active, None])) if active else None
            if current is not None:
                targets.append(current)
            elif targets and targets[-1] is not None:
                targets.append(None)
            start = NOW - timedelta(days=draw(st.integers(0, 120)))
            step = timedelta(hours=draw(st.integers(1, 240)))
            history = tuple(AliasMove(t, start + step * i) for i, t in enumerate(targets))
            aliases.append(AliasInfo(model, name, current, history))
    holds = [
        HoldInfo(
            draw(st.sampled_from([v.id for v in versions])),
            "litigation",
            draw(st.sampled_from([None, NOW - DAY, NOW + DAY])),
        )
        for _ in range(draw(st.integers(0, 2)))
        if versions
    ]
    return RegistrySnapshot(NOW, versions, aliases, holds, dict(DATASETS), objects)


@st.composite
def policies(draw):
    rules = []
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
        fields = {
            "models": draw(st.sampled_from(["*", "*", "churn*", "fraud", ["fraud", "churn-eu"]])),
            "tags": draw(st.sampled_from([{}, {}, {}, {"stage": "prod"}, {"stage": "d*"}])),
            "keep_last": draw(st.none() | st.integers(0, 4)),
            "keep_within": draw(st.none() | durations),
            "keep_alias_history": draw(st.none() | st.integers(0, 3)),
            "min_retention_after_production": draw(st.none() | durations),
            "production_aliases": draw(
                st.sampled_from([["production"], ["production", "staging"]])
            ),
        }
        if all(
            fields[k] is None
            for k in (
                "keep_last",
                "keep_within",
                "keep_alias_history",
                "min_retention_after_production",
            )
        ):
            fields["keep_last"] = 1
        rules.append(fields)
    return RetentionPolicy.model_validate(
        {
            "rules": rules,
            "grace_period": draw(durations),
            "purge_unreferenced_snapshots_after": draw(st.none() | durations),
        }
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), registries())
def test_plan_matches_oracle_and_never_deletes_protected(policy, snap) -> None:
    plan = make_plan(policy, snap, NOW)
    decisions, objects, snapshots = oracle(policy, snap, NOW)
    assert {p.id: p.decision for p in plan.versions} == decisions
    assert {d for d, _ in plan.objects} == objects
    assert {s.digest for s in plan.snapshots if s.decision == "purge"} == snapshots

    protected = {a.target for a in snap.aliases if a.target is not None}
    protected |= {h.version_id for h in snap.holds if h.expires_at is None or h.expires_at > NOW}
    for planned in plan.versions:
        if planned.id in protected:
            assert planned.decision in ("keep", "wait", "purged"), planned
    # every freed object is counted once, and the bytes add up
    assert plan.summary()["bytes_freed_now"] == sum(
        p.frees_bytes for p in plan.versions if p.decision == "purge"
    ) + sum(s.frees_bytes for s in plan.snapshots)
    for planned in plan.versions:
        prefix = {"keep": "kept: ", "tombstone": "tombstone: ", "purge": "purge: "}.get(
            planned.decision
        )
        if prefix:
            assert planned.reason.startswith(prefix)


@settings(max_examples=60, deadline=None)
@given(policies(), registries(), st.randoms(use_true_random=False))
def test_plan_digest_is_independent_of_input_order(policy, snap, rnd) -> None:
    shuffled = RegistrySnapshot(
        snap.taken_at,
        rnd.sample(snap.versions, len(snap.versions)),
        rnd.sample(snap.aliases, len(snap.aliases)),
        rnd.sample(snap.holds, len(snap.holds)),
        dict(reversed(list(snap.dataset_snapshots.items()))),
        rnd.sample(snap.objects, len(snap.objects)),
    )
    first, second = make_plan(policy, snap), make_plan(policy, shuffled)
    assert first.digest == second.digest
    assert first.id == second.id and first.id.startswith("plan-")
    restored = RetentionPlan.from_content_bytes(first.content_bytes())
    assert restored == first
    assert first.content_bytes() == canonical_json(first.content())


# --- readable, specific cases -----------------------------------------------------------
def _version(vid: int, age_days: float, model: str = "churn", **kw) -> VersionInfo:
    return VersionInfo(
        id=vid,
        model=model,
        version=f"1.{vid}.0",
        precedence=vid,
        created_at=NOW - timedelta(days=age_days),
        **kw,
    )


def test_issue_example_plans_with_readable_reasons() -> None:
    policy = policy_from_text(ISSUE_EXAMPLE)
    versions = [_version(i, 100 - i) for i in range(1, 13)]
    history = (
        AliasMove(1, NOW - timedelta(days=9 * 365)),  # served until 8 years ago: beyond 7y
        AliasMove(2, NOW - timedelta(days=8 * 365)),  # served until 6 years ago: within 7y
        AliasMove(3, NOW - timedelta(days=6 * 365)),
        AliasMove(4, NOW - timedelta(days=5 * 365)),
        AliasMove(5, NOW - timedelta(days=4 * 365)),
        AliasMove(6, NOW - timedelta(days=40)),
    )
    snap = RegistrySnapshot(
        NOW,
        versions,
        [AliasInfo("churn", "production", 6, history)],
        [HoldInfo(7, "case 42")],
        objects=[(i, f"blake3:{i:064x}", 1000) for i in range(1, 13)],
    )
    plan = make_plan(policy, snap)
    reasons = {p.id: p.reason for p in plan.versions}
    decisions = {p.id: p.decision for p in plan.versions}
    assert decisions == {
        1: "tombstone", 2: "keep", 3: "keep", 4: "keep", 5: "keep", 6: "keep", 7: "keep",
        8: "keep", 9: "keep", 10: "keep", 11: "keep", 12: "keep",
    }  # fmt: skip
    assert reasons[6] == "kept: current target of alias production"
    assert reasons[7] == "kept: legal hold (case 42)"
    assert reasons[12] == "kept: within keep_last 5 (rank 1) [rule 1]"
    assert (
        reasons[5] == "kept: previous target #1 of alias production (keep_alias_history 3) [rule 1]"
    )
    assert reasons[2].startswith("kept: served alias production until 2024-06-02")
    assert "min_retention_after_production 7y" in reasons[2]
    assert reasons[1] == (
        "tombstone: beyond keep_last 5 (rank 12), created 99d ago, older than keep_within 30d, "
        "not among the previous 3 targets of any alias, did not serve production within "
        "min_retention_after_production 7y [rule 1]"
    )
    assert plan.by_decision("tombstone")[0].frees_bytes == 1000
    assert plan.summary()["tombstone"] == 1


def test_tombstoned_versions_wait_for_the_grace_period_then_purge() -> None:
    policy = RetentionPolicy(rules=[RetentionRule(keep_last=0)], grace_period=timedelta(hours=24))
    shared = ("blake3:" + "a" * 64, 50)
    versions = [
        _version(1, 10, status="tombstoned", tombstoned_at=NOW - timedelta(hours=25)),
        _version(2, 9, status="tombstoned", tombstoned_at=NOW - timedelta(hours=23)),
        _version(3, 8),
        _version(4, 7, status="purged", tombstoned_at=NOW - 3 * DAY, purged_at=NOW - 2 * DAY),
    ]
    objects = [
        (1, *shared), (1, "blake3:" + "1" * 64, 10), (2, "blake3:" + "2" * 64, 20), (3, *shared)
    ]  # fmt: skip
    plan = make_plan(policy, RegistrySnapshot(NOW, versions, objects=objects))
    by_id = {p.id: p for p in plan.versions}
    assert by_id[1].decision == "purge"
    assert by_id[1].frees_bytes == 10  # the shared object stays: version 3 still holds it
    assert by_id[2].decision == "wait"
    assert "grace period 1d ends at" in by_id[2].reason
    assert by_id[3].decision == "tombstone"
    assert by_id[4].decision == "purged"
    assert plan.objects == (("blake3:" + "1" * 64, 10),)


def test_objects_of_a_held_version_the_snapshot_does_not_list_are_never_deleted() -> None:
    """Defensive: a hold (or alias) on a version missing from the versions listed still
    holds that version's objects."""
    policy = RetentionPolicy(rules=[RetentionRule(keep_last=0)], grace_period=timedelta(hours=1))
    shared, own = ("blake3:" + "a" * 64, 50), ("blake3:" + "b" * 64, 10)
    versions = [_version(1, 10, status="tombstoned", tombstoned_at=NOW - 2 * DAY)]
    objects = [(1, *shared), (1, *own), (99, *shared)]
    unheld = make_plan(policy, RegistrySnapshot(NOW, versions, objects=objects))
    assert set(unheld.objects) == {shared, own}  # nothing listed keeps version 99
    held = make_plan(
        policy,
        RegistrySnapshot(NOW, versions, holds=[HoldInfo(99, "audit")], objects=objects),
    )
    assert held.versions[0].decision == "purge"
    assert held.objects == (own,)
    assert held.versions[0].frees_bytes == 10


def test_parents_of_kept_versions_are_kept_transitively() -> None:
    policy = RetentionPolicy(rules=[RetentionRule(keep_last=1)])
    versions = [
        _version(1, 50, model="base"),
        _version(2, 40, model="base", parents=(1,)),
        _version(3, 30, model="base"),
        _version(4, 1, model="tuned", parents=(2,)),
    ]
    plan = make_plan(policy, RegistrySnapshot(NOW, versions))
    by_id = {p.id: p for p in plan.versions}
    assert by_id[2].reason == "kept: parent of kept version tuned@1.4.0"
    assert by_id[1].reason == "kept: parent of kept version base@1.2.0"
    assert by_id[3].reason == "kept: within keep_last 1 (rank 1) [rule 1]"


def test_unmatched_models_are_kept_and_tag_scopes_apply() -> None:
    policy = RetentionPolicy(
        rules=[RetentionRule(models="churn", tags={"stage": "dev"}, keep_last=0)]
    )
    versions = [
        _version(1, 5, tags={"stage": "dev"}),
        _version(2, 5, tags={"stage": "prod"}),
        _version(3, 5, model="fraud", tags={"stage": "dev"}),
    ]
    plan = make_plan(policy, RegistrySnapshot(NOW, versions))
    assert [(p.id, p.decision, p.reason) for p in plan.versions] == [
        (1, "tombstone", "tombstone: beyond keep_last 0 (rank 1) [rule 1]"),
        (2, "keep", "kept: no rule applies to this version"),
        (3, "keep", "kept: no rule applies to this version"),
    ]


def test_unreferenced_snapshots_are_purged_after_their_window() -> None:
    old, young = "blake3:" + "d1" * 32, "blake3:" + "d2" * 32
    obj_old, obj_young = ("blake3:" + "e1" * 32, 70), ("blake3:" + "e2" * 32, 80)
    versions = [
        _version(1, 90, status="purged", tombstoned_at=NOW - 60 * DAY,
                 purged_at=NOW - 40 * DAY, datasets=(old,)),
        _version(2, 90, status="purged", tombstoned_at=NOW - 60 * DAY,
                 purged_at=NOW - 10 * DAY, datasets=(young,)),
    ]  # fmt: skip
    snap = RegistrySnapshot(
        NOW,
        versions,
        dataset_snapshots={
            old: DatasetSnapshotInfo(old, (obj_old,)),
            young: DatasetSnapshotInfo(young, (obj_young,)),
        },
    )
    policy = RetentionPolicy(purge_unreferenced_snapshots_after=timedelta(days=30))
    plan = make_plan(policy, snap)
    assert [(s.digest, s.decision, s.frees_bytes) for s in plan.snapshots] == [
        (old, "purge", 70),
        (young, "keep", 0),
    ]
    assert plan.objects == (obj_old,)
    never = make_plan(RetentionPolicy(), snap)
    assert all(s.decision == "keep" for s in never.snapshots)
    assert "sets no purge_unreferenced_snapshots_after" in never.snapshots[0].reason


def test_naive_now_is_refused_and_tampered_plans_are_unreadable() -> None:
    with pytest.raises(ValidationError):
        make_plan(RetentionPolicy(), RegistrySnapshot(NOW), datetime(2030, 1, 1))
    plan = make_plan(RetentionPolicy(), RegistrySnapshot(NOW, [_version(1, 1)]))
    with pytest.raises(IntegrityError):
        RetentionPlan.from_content_bytes(plan.content_bytes().replace(b"mvo.retention_plan", b"x"))
    with pytest.raises(IntegrityError):
        RetentionPlan.from_content_bytes(b"not json")


def test_plan_of_twenty_thousand_versions_decides_each_once() -> None:
    rnd = random.Random(7)
    versions = [_version(i, rnd.uniform(0, 400), model=f"m{i % 50}") for i in range(1, 20_001)]
    objects = [(i, f"blake3:{i:064x}", i) for i in range(1, 20_001)]
    snap = RegistrySnapshot(NOW, versions, objects=objects)
    plan = make_plan(policy_from_text(ISSUE_EXAMPLE), snap)
    summary = plan.summary()
    assert summary["keep"] + summary["tombstone"] == 20_000
    assert len({p.id for p in plan.versions}) == 20_000
    assert summary["tombstone"] > 0
    assert summary["bytes_freed_later"] == sum(p.frees_bytes for p in plan.by_decision("tombstone"))


def test_plan_bytes_are_canonical_json_for_any_text() -> None:
    odd = 'quote " backslash \\ newline \n tab \t nul \x00 del \x7f é ☃ \u2028 \U0001f600'
    policy = RetentionPolicy(rules=[RetentionRule(name=odd, keep_last=0)])
    versions = [
        _version(1, 5, model=odd),
        _version(2, 5, model=odd, status="tombstoned", tombstoned_at=NOW - 3 * DAY),
        _version(3, 5, model=odd),
    ]
    snap = RegistrySnapshot(
        NOW, versions, holds=[HoldInfo(3, odd)], objects=[(1, "blake3:" + "1" * 64, 7)]
    )
    plan = make_plan(policy, snap)
    assert {p.decision for p in plan.versions} == {"tombstone", "purge", "keep"}
    assert plan.content_bytes() == canonical_json(plan.content())
    assert RetentionPlan.from_content_bytes(plan.content_bytes()) == plan
