"""Byte accounting for a plan: which objects go now, which later, and dataset snapshots.

An object is freed only when no version that keeps its bytes references it. Each freed
object is attributed to exactly one version or snapshot (the first in plan order), so the
per-entry numbers add up to the plan's totals. The work is done over the snapshot's
object rows with set lookups, a few passes in all, without grouping them per version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta
from functools import partial
from itertools import compress
from operator import attrgetter, itemgetter

from mv_orchestration.retention.durations import format_duration, when_text
from mv_orchestration.retention.plan import PlannedSnapshot, PlannedVersion
from mv_orchestration.retention.policy import RetentionPolicy
from mv_orchestration.retention.snapshot import PURGED, ObjectRef, RegistrySnapshot, VersionInfo

GONE = frozenset({"purge", "purged"})
_ID, _MODEL, _VERSION, _STATUS = map(attrgetter, ("id", "model", "version", "status"))
_DIGEST = itemgetter(1)  # of a (position, digest, size) row
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


def _objects_by_role(
    rows: list[ObjectRef], position_of: dict[int, int], holds: set[int], purges: set[int]
) -> tuple[set[str], list[tuple[int, str, int]]]:
    """Objects kept versions (``holds``) hold, and the ``(position, digest, size)`` rows of
    the versions to purge."""
    kept_objects = {digest for version_id, digest, _ in rows if version_id in holds}
    purging = [(position_of[v], digest, size) for v, digest, size in rows if v in purges]
    return kept_objects, purging


def _freeing_later(
    rows: list[ObjectRef],
    position_of: dict[int, int],
    not_freeing: set[int],
    kept_objects: set[str],
) -> list[tuple[int, str, int]]:
    """The ``(plan position, digest, size)`` rows of the versions that stay but that nothing
    keeps (tombstones, waits) and that no kept version or snapshot holds: a later purge
    frees them."""
    return [
        (position_of[v], digest, size)
        for v, digest, size in rows
        if v not in not_freeing and digest not in kept_objects and v in position_of
    ]


def _first_claims(eligible: list[tuple[int, str, int]]) -> list[tuple[int, str, int]]:
    """Each freed object attributed to the first row in plan order that frees it."""
    first: dict[str, tuple[int, str, int]] = {}
    for row in eligible:
        earlier = first.get(row[1])
        if earlier is None or row[0] < earlier[0]:
            first[row[1]] = row
    return list(first.values())


def _users(
    versions: list[VersionInfo], decisions: list[str], now: datetime
) -> tuple[dict[str, list[tuple[VersionInfo, str]]], dict[str, datetime]]:
    """The versions (not purged) using each dataset snapshot, with their decisions, and
    when each snapshot was last left by a purged version."""
    users: dict[str, list[tuple[VersionInfo, str]]] = defaultdict(list)
    last_purge: dict[str, datetime] = {}
    for version, decision in zip(versions, decisions, strict=True):
        for dataset in version.datasets:
            if version.status != PURGED:
                users[dataset].append((version, decision))
            else:
                moment = version.purged_at or now
                if dataset not in last_purge or moment > last_purge[dataset]:
                    last_purge[dataset] = moment
    return users, last_purge


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
    ids = list(map(_ID, versions))
    position_of = dict(zip(ids, range(len(ids)), strict=True))
    gone = {ids[i] for i in compress(range(len(ids)), map(GONE.__contains__, decisions))}
    purges = {ids[i] for i in compress(range(len(ids)), map("purge".__eq__, decisions))}
    holds = {version_id for version_id in kept if version_id not in gone}
    rows = snapshot.objects
    snapshot_objects = {
        digest for info in snapshot.dataset_snapshots.values() for digest, _ in info.objects
    }
    # kept_objects are never freed (a kept version or snapshot holds them)
    kept_objects, purging = _objects_by_role(rows, position_of, holds, purges)
    users, last_purge = _users(versions, decisions, now) if snapshot.dataset_snapshots else ({}, {})
    for_snapshots: list[tuple[str, str, str]] = []
    for digest in sorted(snapshot.dataset_snapshots):
        decision, reason = _snapshot_decision(
            users.get(digest, []),
            last_purge.get(digest),
            policy.purge_unreferenced_snapshots_after,
            now,
        )
        if decision == "keep":
            kept_objects.update(d for d, _ in snapshot.dataset_snapshots[digest].objects)
        for_snapshots.append((digest, decision, reason))

    eligible = _freeing_later(rows, position_of, gone | holds, kept_objects)
    # a purge frees what nothing staying retains: no kept version or snapshot, and no
    # version freeing it later
    candidates = {digest for _, digest, _ in purging} | snapshot_objects
    retained = candidates & kept_objects | candidates.intersection(map(_DIGEST, eligible))
    eligible += [row for row in purging if row[1] not in retained]
    claimed = set(map(_DIGEST, eligible))
    claims = eligible if len(claimed) == len(eligible) else _first_claims(eligible)
    freed = [0] * len(versions)
    for position, _, size in claims:
        freed[position] += size
    deleted = sorted(row for row in claims if decisions[row[0]] == "purge")
    objects = [(digest, size) for _, digest, size in deleted]
    planned = list(
        map(
            _planned,
            zip(
                ids,
                map(_MODEL, versions),
                map(_VERSION, versions),
                map(_STATUS, versions),
                decisions,
                reasons,
                freed,
                strict=True,
            ),
        )
    )
    snapshots = []
    for digest, decision, reason in for_snapshots:
        freed_now = 0
        if decision == "purge":
            for pair in snapshot.dataset_snapshots[digest].objects:
                if pair[0] not in retained and pair[0] not in claimed:
                    claimed.add(pair[0])
                    freed_now += pair[1]
                    objects.append(pair)
        snapshots.append(PlannedSnapshot(digest, decision, reason, freed_now))
    return planned, snapshots, objects
