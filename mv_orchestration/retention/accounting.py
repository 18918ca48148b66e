"""Byte accounting for a plan: which objects go now, which later, and dataset snapshots.

An object is freed only when no version that keeps its bytes references it. Each freed
object is attributed to exactly one version or snapshot (the first in plan order), so the
per-entry numbers add up to the plan's totals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta

from mv_orchestration.retention.durations import format_duration, when_text
from mv_orchestration.retention.plan import PlannedSnapshot, PlannedVersion
from mv_orchestration.retention.policy import RetentionPolicy
from mv_orchestration.retention.snapshot import PURGED, RegistrySnapshot, VersionInfo

GONE = ("purge", "purged")


def _snapshot_decision(
    users: list[tuple[VersionInfo, str]],
    last_purge: datetime | None,
    minimum_age: timedelta | None,
    now: datetime,
) -> tuple[str, str]:
    survivors = [version for version, decision in users if decision not in GONE]
    if survivors:
        return "keep", f"kept: referenced by {survivors[0].ref}"
    if minimum_age is None:
        return "keep", "kept: unreferenced; the policy sets no purge_unreferenced_snapshots_after"
    since = now if users else last_purge
    if since is None:
        return "keep", "kept: no version ever referenced it, so its age is unknown"
    window = format_duration(minimum_age)
    if since + minimum_age > now:
        return "keep", (
            f"kept: unreferenced since {when_text(since)}; purge_unreferenced_snapshots_after "
            f"{window} ends at {when_text(since + minimum_age)}"
        )
    return "purge", (
        f"purge: unreferenced since {when_text(since)}, longer than "
        f"purge_unreferenced_snapshots_after {window}"
    )


def account_bytes(
    policy: RetentionPolicy,
    snapshot: RegistrySnapshot,
    decided: list[tuple[VersionInfo, str, str]],
    kept: Collection[int],
    now: datetime,
) -> tuple[list[PlannedVersion], list[PlannedSnapshot], list[tuple[str, int]]]:
    """Planned versions and snapshots with freed bytes, and the objects phase 2 deletes.

    ``decided`` holds ``(version, decision, reason)`` in plan order; ``kept`` the ids of
    versions something keeps.
    """
    kept_objects: set[str] = set()  # never freed: a kept version or snapshot holds them
    retained_objects: set[str] = set()  # not freed now: something not purged holds them
    users: dict[str, list[tuple[VersionInfo, str]]] = defaultdict(list)
    last_purge: dict[str, datetime] = {}
    for version, decision, _ in decided:
        for dataset in version.datasets:
            if version.status != PURGED:
                users[dataset].append((version, decision))
            else:
                moment = version.purged_at or now
                if dataset not in last_purge or moment > last_purge[dataset]:
                    last_purge[dataset] = moment
        if decision in GONE:
            continue
        digests = [digest for digest, _ in version.objects]
        retained_objects.update(digests)
        if version.id in kept:
            kept_objects.update(digests)

    decisions: list[tuple[str, str, str]] = []
    for digest in sorted(snapshot.dataset_snapshots):
        decision, reason = _snapshot_decision(
            users.get(digest, []),
            last_purge.get(digest),
            policy.purge_unreferenced_snapshots_after,
            now,
        )
        if decision == "keep":
            held = [d for d, _ in snapshot.dataset_snapshots[digest].objects]
            kept_objects.update(held)
            retained_objects.update(held)
        decisions.append((digest, decision, reason))

    claimed: set[str] = set()
    objects: list[tuple[str, int]] = []

    def free(pairs: tuple[tuple[str, int], ...], holders: set[str], now_: bool) -> int:
        freed = 0
        for digest, size in pairs:
            if digest not in holders and digest not in claimed:
                claimed.add(digest)
                freed += size
                if now_:
                    objects.append((digest, size))
        return freed

    planned: list[PlannedVersion] = []
    for version, decision, reason in decided:
        freed = 0
        if decision == "purge":
            freed = free(version.objects, retained_objects, True)
        elif decision in ("tombstone", "wait") and version.id not in kept:
            freed = free(version.objects, kept_objects, False)
        planned.append(
            PlannedVersion(
                version.id, version.model, version.version, version.status, decision, reason, freed
            )
        )
    snapshots = []
    for digest, decision, reason in decisions:
        freed = 0
        if decision == "purge":
            freed = free(snapshot.dataset_snapshots[digest].objects, retained_objects, True)
        snapshots.append(PlannedSnapshot(digest, decision, reason, freed))
    return planned, snapshots, objects
