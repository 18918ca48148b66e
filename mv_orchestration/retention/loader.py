"""Read a :class:`RegistrySnapshot` from the registry tables in a handful of queries.

Everything is read in one read transaction (a consistent view); rows are streamed and
nothing is queried per version.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import aliased

from mv_orchestration.registry import schema
from mv_orchestration.registry.clock import as_utc, utcnow
from mv_orchestration.registry.database import READ_ONLY
from mv_orchestration.retention.datasets import purged_snapshots, snapshot_objects
from mv_orchestration.retention.records import iter_version_rows
from mv_orchestration.retention.snapshot import (
    PURGED,
    TOMBSTONED,
    AliasInfo,
    AliasMove,
    DatasetSnapshotInfo,
    HoldInfo,
    RegistrySnapshot,
    VersionInfo,
)

log = logging.getLogger(__name__)


def _tags(conn: Connection) -> dict[int, dict[str, str]]:
    t = schema.version_tags
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    for version_id, key, value in conn.execute(select(t.c.version_id, t.c.key, t.c.value)):
        tags[version_id][key] = value
    return tags


def _parents(conn: Connection) -> dict[int, list[int]]:
    e, v = schema.lineage_edges, schema.versions
    child, parent = aliased(v), aliased(v)
    query = (
        select(child.c.id, parent.c.id)
        .select_from(e)
        .join(child, child.c.record_id == e.c.src)
        .join(parent, parent.c.record_id == e.c.dst)
        .where(e.c.src_kind == "version", e.c.dst_kind == "version", e.c.relation == "derived_from")
    )
    parents: dict[int, list[int]] = defaultdict(list)
    for child_id, parent_id in conn.execute(query):
        parents[child_id].append(parent_id)
    return parents


def _versions(conn: Connection, names: dict[int, str]) -> list[VersionInfo]:
    tags = _tags(conn)
    parents = _parents(conn)
    no_tags: dict[str, str] = {}
    versions = []
    for row in iter_version_rows(conn):
        changed = row.status_changed_at
        versions.append(
            VersionInfo(
                id=row.id,
                model=names[row.model_id],
                version=row.version,
                precedence=row.sort_key,
                created_at=row.created_at,
                status=row.status,
                tags=tags.get(row.id, no_tags),
                objects=() if row.status == PURGED else row.objects,
                datasets=row.snapshots,
                parents=tuple(parents.get(row.id, ())),
                tombstoned_at=changed if row.status == TOMBSTONED else None,
                purged_at=changed if row.status == PURGED else None,
            )
        )
    return versions


def _aliases(conn: Connection, names: dict[int, str]) -> list[AliasInfo]:
    a, h = schema.aliases, schema.alias_history
    history: dict[tuple[int, str], list[AliasMove]] = defaultdict(list)
    rows = conn.execute(select(h.c.model_id, h.c.alias, h.c.to_version_id, h.c.at).order_by(h.c.id))
    for model_id, alias, target, at in rows:
        history[(model_id, alias)].append(AliasMove(target, at))
    current = {
        (model_id, name): target
        for model_id, name, target in conn.execute(select(a.c.model_id, a.c.name, a.c.version_id))
    }
    return [
        AliasInfo(names[key[0]], key[1], current.get(key), tuple(history.get(key, ())))
        for key in sorted(set(history) | set(current))
    ]


def _holds(conn: Connection) -> list[HoldInfo]:
    h = schema.holds
    rows = conn.execute(
        select(h.c.version_id, h.c.reason, h.c.expires_at).where(h.c.released_at.is_(None))
    )
    return [HoldInfo(version_id, reason, expires) for version_id, reason, expires in rows]


def load_snapshot(registry: Any, now: datetime | None = None) -> RegistrySnapshot:
    """Everything planning needs, read from ``registry`` (a ``Registry``) at ``now``.

    Dataset snapshots already purged by retention are left out; the objects of the others
    are read from their stored manifests.
    """
    taken_at = as_utc(now) if now is not None else utcnow()
    with registry.engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
        names = dict(conn.execute(select(schema.models.c.id, schema.models.c.name)).all())
        versions = _versions(conn, names)
        aliases = _aliases(conn, names)
        holds = _holds(conn)
        gone = purged_snapshots(conn)
    referenced = {digest for version in versions for digest in version.datasets}
    datasets = {
        digest: DatasetSnapshotInfo(digest, snapshot_objects(registry.store, digest))
        for digest in sorted(referenced - gone)
    }
    log.debug("retention snapshot: %d versions, %d aliases", len(versions), len(aliases))
    return RegistrySnapshot(taken_at, versions, aliases, holds, datasets)
