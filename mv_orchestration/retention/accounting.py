"""Byte accounting for a plan: which objects go now, which later, and dataset snapshots.

An object is freed only when no version that keeps its bytes references it. Each freed
object is attributed to exactly one version or snapshot (the first in plan order), so the
per-entry numbers add up to the plan's totals. The work is done over the snapshot's
object rows as Arrow columns (hash lookups, filters, one sort when objects are shared),
without a Python object per row or grouping them per version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from functools import partial
from itertools import compress
from operator import attrgetter

import pyarrow as pa
import pyarrow.compute as pc

from mv_orchestration.retention.durations import format_duration, when_text
from mv_orchestration.retention.plan import PlannedSnapshot, PlannedVersion
from mv_orchestration.retention.policy import RetentionPolicy
from mv_orchestration.retention.snapshot import PURGED, RegistrySnapshot, VersionInfo

GONE = frozenset({"purge", "purged"})
_ID, _MODEL, _VERSION, _STATUS = map(attrgetter, ("id", "model", "version", "status"))
_CLAIM_ORDER = [("code", "ascending"), ("position", "ascending"), ("row", "ascending")]
_DELETE_ORDER = [("position", "ascending"), ("digest", "ascending"), ("size", "ascending")]
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


def _ids(values: Iterable[int]) -> pa.Array:
    return pa.array(values, pa.int64())


def _positions(values: Iterable[int]) -> pa.Array:
    return pa.array(values, pa.int32())


def _codes_of(digests: list[str], rows: pa.Table) -> pa.Array:
    """The codes of those of ``digests`` that some of ``rows`` reference."""
    dictionary = rows["digest"].chunk(0).dictionary
    found = pc.indices_nonzero(pc.is_in(dictionary, value_set=pa.array(digests, pa.string())))
    return found.cast(pa.int32())


def _first_claims(claims: pa.Table) -> pa.Table:
    """Each freed object (by ``code``) attributed to the first row in plan order that frees
    it (of equal positions, the first row)."""
    if pc.count_distinct(claims["code"]).as_py() == claims.num_rows:
        return claims
    numbered = claims.append_column("row", _ids(range(claims.num_rows)))
    ordered = claims.take(pc.sort_indices(numbered, sort_keys=_CLAIM_ORDER))
    codes = ordered["code"].combine_chunks()
    first = pa.concat_arrays(
        [pa.array([True]), pc.not_equal(codes.slice(1), codes.slice(0, len(codes) - 1))]
    )
    return ordered.filter(first)


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
    rows: pa.Table,
    versions: list[VersionInfo],
    decisions: list[str],
    reasons: list[str],
    kept: Collection[int],
    now: datetime,
) -> tuple[list[PlannedVersion], list[PlannedSnapshot], list[tuple[str, int]]]:
    """Planned versions and snapshots with freed bytes, and the objects phase 2 deletes.

    ``rows`` are the snapshot's objects as :func:`.snapshot.object_table` makes them;
    ``versions`` are in plan order, with their ``decisions`` and ``reasons``; ``kept``
    holds the ids of versions something keeps.
    """
    ids = list(map(_ID, versions))
    positions = range(len(ids))
    gone = {ids[i] for i in compress(positions, map(GONE.__contains__, decisions))}
    purges = list(compress(positions, map("purge".__eq__, decisions)))  # positions
    holds = [version_id for version_id in kept if version_id not in gone]
    # the versions that stay but that nothing keeps (tombstones, waits)
    unkept = [i for i, d in zip(ids, decisions, strict=True) if d not in GONE and i not in kept]
    version_ids, digests = rows["version_id"].chunk(0), rows["digest"].chunk(0)
    codes, dictionary = digests.indices, digests.dictionary
    users, last_purge = _users(versions, decisions, now) if snapshot.dataset_snapshots else ({}, {})
    for_snapshots: list[tuple[str, str, str]] = []
    kept_by_snapshots: list[str] = []
    for digest in sorted(snapshot.dataset_snapshots):
        decision, reason = _snapshot_decision(
            users.get(digest, []),
            last_purge.get(digest),
            policy.purge_unreferenced_snapshots_after,
            now,
        )
        if decision == "keep":
            kept_by_snapshots += [d for d, _ in snapshot.dataset_snapshots[digest].objects]
        for_snapshots.append((digest, decision, reason))
    # kept objects are never freed: a kept version or snapshot holds them
    kept_codes = pc.unique(codes.filter(pc.is_in(version_ids, value_set=_ids(holds))))
    if kept_by_snapshots:
        kept_codes = pc.unique(pa.concat_arrays([kept_codes, _codes_of(kept_by_snapshots, rows)]))
    # a version that stays but that nothing keeps frees the objects no kept version or
    # snapshot holds when it is purged later
    staying = pc.is_in(version_ids, value_set=_ids(unkept))
    later = pc.and_(staying, pc.invert(pc.is_in(codes, value_set=kept_codes)))
    later_codes = codes.filter(later)
    # a purge frees what nothing staying retains: no kept version or snapshot, and no
    # version freeing it later
    purging = pc.is_in(version_ids, value_set=_ids(ids[i] for i in purges))
    purging_codes = codes.filter(purging)
    retained = pc.or_(
        pc.is_in(purging_codes, value_set=kept_codes),
        pc.is_in(purging_codes, value_set=later_codes),
    )
    freeing = pa.concat_arrays(
        [pc.indices_nonzero(later), pc.indices_nonzero(purging).filter(pc.invert(retained))]
    )
    located = pa.table(
        {
            "position": pc.index_in(version_ids.take(freeing), value_set=_ids(ids)),
            "code": codes.take(freeing),
            "size": rows["size"].chunk(0).take(freeing),
        }
    )
    claims = _first_claims(located.filter(pc.is_valid(located["position"])))
    freed = [0] * len(versions)
    for position, size in zip(
        claims["position"].to_pylist(), claims["size"].to_pylist(), strict=True
    ):
        freed[position] += size
    deleted = claims.filter(pc.is_in(claims["position"], value_set=_positions(purges)))
    deleted = deleted.append_column("digest", dictionary.take(deleted["code"]))
    deleted = deleted.sort_by(_DELETE_ORDER)
    objects = list(zip(deleted["digest"].to_pylist(), deleted["size"].to_pylist(), strict=True))
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
    unavailable: set[str] = set()  # kept, freed later or claimed
    if any(decision == "purge" for _, decision, _ in for_snapshots):
        listed = sorted(
            {d for info in snapshot.dataset_snapshots.values() for d, _ in info.objects}
        )
        listed_codes = _codes_of(listed, rows)
        taken = pa.concat_arrays([kept_codes, later_codes, claims["code"].combine_chunks()])
        found = listed_codes.filter(pc.is_in(listed_codes, value_set=taken))
        unavailable = set(kept_by_snapshots) | set(dictionary.take(found).to_pylist())
    for digest, decision, reason in for_snapshots:
        frees = 0
        if decision == "purge":
            for pair in snapshot.dataset_snapshots[digest].objects:
                if pair[0] not in unavailable:
                    unavailable.add(pair[0])
                    frees += pair[1]
                    objects.append(pair)
        snapshots.append(PlannedSnapshot(digest, decision, reason, frees))
    return planned, snapshots, objects
