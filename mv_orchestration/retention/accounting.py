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
from operator import attrgetter

import pyarrow as pa
import pyarrow.compute as pc

from mv_orchestration.retention.durations import format_duration, when_text
from mv_orchestration.retention.plan import PlannedColumns, PlannedSnapshot
from mv_orchestration.retention.policy import RetentionPolicy
from mv_orchestration.retention.snapshot import PURGED, RegistrySnapshot, VersionInfo

GONE = frozenset({"purge", "purged"})
_ID, _MODEL, _VERSION, _STATUS = map(attrgetter, ("id", "model", "version", "status"))
_CLAIM_ORDER = [("code", "ascending"), ("position", "ascending"), ("row", "ascending")]
_DELETE_ORDER = [("position", "ascending"), ("digest", "ascending"), ("size", "ascending")]


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


def _of_rows(flags: pa.Array, located_at: pa.Array) -> pa.Array:
    """Per-version ``flags`` (in plan order) for each object row at ``located_at`` (false
    for rows of versions not listed)."""
    return pc.fill_null(flags.take(located_at), False)


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
) -> tuple[PlannedColumns, list[PlannedSnapshot], list[tuple[str, int]]]:
    """Planned versions (as columns) and snapshots with freed bytes, and the objects
    phase 2 deletes.

    ``rows`` are the snapshot's objects as :func:`.snapshot.object_table` makes them;
    ``versions`` are in plan order, with their ``decisions`` and ``reasons``; ``kept``
    holds the ids of versions something keeps.
    """
    ids = list(map(_ID, versions))
    listed = _ids(ids)
    version_ids, digests = rows["version_id"].chunk(0), rows["digest"].chunk(0)
    codes, dictionary = digests.indices, digests.dictionary
    # per object row: the plan position of its version (null: a version not listed)
    located_at = pc.index_in(version_ids, value_set=listed)
    is_gone = pa.array(map(GONE.__contains__, decisions), pa.bool_(), size=len(ids))
    is_kept = pa.array(map(kept.__contains__, ids), pa.bool_(), size=len(ids))
    is_purge = pa.array(map("purge".__eq__, decisions), pa.bool_(), size=len(ids))
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
    # kept objects are never freed: a kept version (listed or not) or snapshot holds them
    holding = _of_rows(pc.and_not(is_kept, is_gone), located_at)
    if is_kept.true_count < len(kept):  # some kept version is not listed
        kept_ids = _ids(kept)
        unlisted = kept_ids.filter(pc.invert(pc.is_in(kept_ids, value_set=listed)))
        holding = pc.or_(holding, pc.is_in(version_ids, value_set=unlisted))
    kept_codes = pc.unique(codes.filter(holding))
    if kept_by_snapshots:
        kept_codes = pc.unique(pa.concat_arrays([kept_codes, _codes_of(kept_by_snapshots, rows)]))
    # a version that stays but that nothing keeps frees the objects no kept version or
    # snapshot holds when it is purged later
    staying = _of_rows(pc.invert(pc.or_(is_kept, is_gone)), located_at)  # tombstones, waits
    later = pc.and_(staying, pc.invert(pc.is_in(codes, value_set=kept_codes)))
    later_codes = codes.filter(later)
    # a purge frees what nothing staying retains: no kept version or snapshot, and no
    # version freeing it later
    purging = _of_rows(is_purge, located_at)
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
            "position": located_at.take(freeing),
            "code": codes.take(freeing),
            "size": rows["size"].chunk(0).take(freeing),
        }
    )
    claims = _first_claims(located)
    freed = [0] * len(versions)
    for position, size in zip(
        claims["position"].to_pylist(), claims["size"].to_pylist(), strict=True
    ):
        freed[position] += size
    deleted = claims.filter(is_purge.take(claims["position"]))
    deleted = deleted.append_column("digest", dictionary.take(deleted["code"]))
    deleted = deleted.sort_by(_DELETE_ORDER)
    objects = list(zip(deleted["digest"].to_pylist(), deleted["size"].to_pylist(), strict=True))
    planned = PlannedColumns(
        tuple(ids),
        tuple(map(_MODEL, versions)),
        tuple(map(_VERSION, versions)),
        tuple(map(_STATUS, versions)),
        tuple(decisions),
        tuple(reasons),
        tuple(freed),
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
