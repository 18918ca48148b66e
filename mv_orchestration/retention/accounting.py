"""Byte accounting for a plan: which objects go now, which later, and dataset snapshots.

An object is freed only when no version that keeps its bytes references it. Each freed
object is attributed to exactly one version or snapshot (the first in plan order), so the
per-entry numbers add up to the plan's totals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta
from functools import partial
from itertools import chain
from operator import itemgetter

from mv_orchestration.retention.durations import format_duration, when_text
from mv_orchestration.retention.plan import PlannedSnapshot, PlannedVersion
from mv_orchestration.retention.policy import RetentionPolicy
from mv_orchestration.retention.snapshot import PURGED, RegistrySnapshot, VersionInfo

GONE = frozenset({"purge", "purged"})
FREEING = frozenset({"purge", "tombstone", "wait"})
_DIGEST = itemgetter(0)
_planned = partial(tuple.__new__, PlannedVersion)  # all fields, without a Python-level call


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


def _free(
    pairs: tuple[tuple[str, int], ...],
    holders: set[str],
    claimed: set[str],
    deleted: list[tuple[str, int]] | None,
) -> int:
    """Bytes of ``pairs`` that no holder holds and no earlier entry claimed (claiming them,
    and listing them in ``deleted`` when given)."""
    freed = 0
    for digest, size in pairs:
        if digest not in holders and digest not in claimed:
            claimed.add(digest)
            freed += size
            if deleted is not None:
                deleted.append((digest, size))
    return freed


def _holders(
    snapshot: RegistrySnapshot,
    versions: list[VersionInfo],
    decisions: list[str],
    kept: Collection[int],
    now: datetime,
) -> tuple[set[str], set[str], dict[str, list[tuple[VersionInfo, str]]], dict[str, datetime]]:
    """Objects kept versions hold; objects purges would delete that versions which stay
    hold; the users of each dataset snapshot, and when each was last left by a purge."""
    staying: list[tuple[tuple[str, int], ...]] = []
    held: list[tuple[tuple[str, int], ...]] = []
    doomed: list[tuple[tuple[str, int], ...]] = [
        s.objects for s in snapshot.dataset_snapshots.values()
    ]
    users: dict[str, list[tuple[VersionInfo, str]]] = defaultdict(list)
    last_purge: dict[str, datetime] = {}
    for version, decision in zip(versions, decisions, strict=True):
        if version.datasets:
            for dataset in version.datasets:
                if version.status != PURGED:
                    users[dataset].append((version, decision))
                else:
                    moment = version.purged_at or now
                    if dataset not in last_purge or moment > last_purge[dataset]:
                        last_purge[dataset] = moment
        if decision not in GONE:
            staying.append(version.objects)
            if version.id in kept:
                held.append(version.objects)
        elif decision == "purge":
            doomed.append(version.objects)
    kept_objects = set(map(_DIGEST, chain.from_iterable(held)))
    candidates = set(map(_DIGEST, chain.from_iterable(doomed)))
    retained = candidates.intersection(map(_DIGEST, chain.from_iterable(staying)))
    return kept_objects, retained, users, last_purge


def account_bytes(
    policy: RetentionPolicy,
    snapshot: RegistrySnapshot,
    versions: list[VersionInfo],
    decisions: list[str],
    reasons: list[str],
    kept: Collection[int],
    now: datetime,
) -> tuple[list[PlannedVersion], list[PlannedSnapshot], list[tuple[str, int]]]:
    """Planned versions and snapshots with freed bytes, and the objects phase 2 deletes.

    ``versions`` are in plan order, with their ``decisions`` and ``reasons``; ``kept``
    holds the ids of versions something keeps.
    """
    # kept_objects are never freed (a kept version or snapshot holds them); retained
    # objects are not freed now (a purge would delete them, but something staying holds them)
    kept_objects, retained_objects, users, last_purge = _holders(
        snapshot, versions, decisions, kept, now
    )
    for_snapshots: list[tuple[str, str, str]] = []
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
        for_snapshots.append((digest, decision, reason))

    claimed: set[str] = set()
    objects: list[tuple[str, int]] = []
    planned: list[PlannedVersion] = []
    append = planned.append
    for version, decision, reason in zip(versions, decisions, reasons, strict=True):
        freed = 0
        if version.objects and decision in FREEING:
            if decision == "purge":
                freed = _free(version.objects, retained_objects, claimed, objects)
            elif version.id not in kept:
                freed = _free(version.objects, kept_objects, claimed, None)
        append(
            _planned(
                (
                    version.id,
                    version.model,
                    version.version,
                    version.status,
                    decision,
                    reason,
                    freed,
                )
            )
        )
    snapshots = []
    for digest, decision, reason in for_snapshots:
        freed = 0
        if decision == "purge":
            pairs = snapshot.dataset_snapshots[digest].objects
            freed = _free(pairs, retained_objects, claimed, objects)
        snapshots.append(PlannedSnapshot(digest, decision, reason, freed))
    return planned, snapshots, objects
