"""Read a :class:`RegistrySnapshot` from the registry tables in a handful of queries.

Everything is read in one read transaction that sees one state of the registry
(``REPEATABLE READ`` on PostgreSQL); versions come a page at a time
(:func:`.records.version_pages`) and nothing is queried per version.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import aliased

from mv_orchestration.registry import schema
from mv_orchestration.registry.clock import as_utc, utcnow
from mv_orchestration.registry.database import READ_ONLY
from mv_orchestration.retention.bulk import gc_paused
from mv_orchestration.retention.datasets import purged_snapshots, snapshot_objects
from mv_orchestration.retention.records import time_parser, version_pages
from mv_orchestration.retention.snapshot import (
    ACTIVE,
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
_version_info = partial(tuple.__new__, VersionInfo)  # all fields, without a Python-level call
_STATUSES = {status: status for status in (ACTIVE, TOMBSTONED, PURGED)}  # one string each


def _tags(conn: Connection) -> dict[int, dict[str, str]]:
    t = schema.version_tags
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    for version_id, key, value in conn.execute(select(t.c.version_id, t.c.key, t.c.value)):
        tags[version_id][key] = value
    return tags


def _parents(conn: Connection) -> dict[int, tuple[int, ...]]:
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
    return {child_id: tuple(found) for child_id, found in parents.items()}


def _versions(conn: Connection, names: dict[int, str]) -> list[VersionInfo]:
    tags = _tags(conn)
    parents = _parents(conn)
    no_tags: dict[str, str] = {}
    parse = time_parser(conn)
    versions: list[VersionInfo] = []
    append = versions.append
    for rows, objects, snapshots in version_pages(conn):
        for version_id, model_id, version, sort_key, created, status, changed in rows:
            if changed is not None:
                changed = parse(changed)
            append(
                _version_info(
                    (
                        version_id,
                        names[model_id],
                        version,
                        bytes(sort_key),
                        parse(created),
                        _STATUSES.get(status, status),
                        tags.get(version_id, no_tags) if tags else no_tags,
                        () if status == PURGED else objects.get(version_id, ()),
                        snapshots.get(version_id, ()) if snapshots else (),
                        parents.get(version_id, ()) if parents else (),
                        changed if status == TOMBSTONED else None,
                        changed if status == PURGED else None,
                    )
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
    connection = registry.engine.connect().execution_options(**{READ_ONLY: True})
    if connection.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    with gc_paused(), connection as conn, conn.begin():
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
