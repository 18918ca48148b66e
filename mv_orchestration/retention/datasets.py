"""Dataset snapshots as retention sees them: their store objects and their purge records.

A snapshot (a ``DatasetRef`` with ``snapshot=True``) is stored as a manifest object
(``manifest_digest``, which identifies the snapshot here) plus one object per file it
lists. Purging a snapshot is recorded by a ``retention.snapshot_purge`` audit event
(subject: the manifest digest) before its objects are deleted, so GC knows the snapshot
is meant to be gone, until a version registered later logs the same snapshot again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from mv_orchestration.errors import IntegrityError
from mv_orchestration.registry import schema

SNAPSHOT_PURGE_EVENT = "retention.snapshot_purge"
_CHUNK = 500  # values per IN list


def snapshot_objects(store: Any, manifest_digest: str) -> tuple[tuple[str, int], ...]:
    """``(digest, size)`` of the manifest object and every file of a dataset snapshot.

    Reads (and so verifies) the manifest from ``store``; :class:`IntegrityError` when it is
    missing, corrupted or not a manifest.
    """
    from mv_orchestration.hashing.manifest import Manifest

    data = store.get_bytes(manifest_digest)
    try:
        manifest = Manifest.model_validate_json(data)
    except ValueError as exc:
        raise IntegrityError(
            f"dataset snapshot manifest {manifest_digest} is not a manifest: {exc}"
        ) from None
    files = tuple((entry.digest, entry.size) for entry in manifest.entries)
    return ((manifest_digest, len(data)), *files)


def purged_snapshots(conn: Connection) -> set[str]:
    """Digests of the dataset snapshots retention has purged and that no version registered
    since references: a snapshot logged again after its purge lives a new lifetime, and
    only a later purge ends it. Audit events are appended one at a time, so their
    sequence numbers order a purge and a registration as they were committed."""
    t = schema.audit_events
    latest = dict(
        conn.execute(
            select(t.c.subject, func.max(t.c.seq))
            .where(t.c.action == SNAPSHOT_PURGE_EVENT)
            .group_by(t.c.subject)
        ).all()
    )
    users = _users(conn, sorted(latest))
    relogged: set[str] = set()
    refs = sorted(users)
    for start in range(0, len(refs), _CHUNK):
        chunk = refs[start : start + _CHUNK]
        registered = conn.execute(
            select(t.c.subject, t.c.seq).where(
                t.c.action == "version.register", t.c.subject.in_(chunk)
            )
        )
        for ref, seq in registered:
            relogged.update(digest for digest in users[ref] if seq > latest[digest])
    return set(latest) - relogged


def _users(conn: Connection, snapshots: list[str]) -> dict[str, set[str]]:
    """``model@version`` of every version referencing some of ``snapshots`` -> those."""
    vo, v, m = schema.version_objects, schema.versions, schema.models
    found: dict[str, set[str]] = defaultdict(set)
    for start in range(0, len(snapshots), _CHUNK):
        query = (
            select(vo.c.digest, m.c.name, v.c.version)
            .join(v, v.c.id == vo.c.version_id)
            .join(m, m.c.id == v.c.model_id)
            .where(vo.c.kind == "snapshot_manifest")
            .where(vo.c.digest.in_(snapshots[start : start + _CHUNK]))
        )
        for digest, name, version in conn.execute(query):
            found[f"{name}@{version}"].add(digest)
    return found
