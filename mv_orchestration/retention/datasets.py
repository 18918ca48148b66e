"""Dataset snapshots as retention sees them: their store objects and their purge records.

A snapshot (a ``DatasetRef`` with ``snapshot=True``) is stored as a manifest object
(``manifest_digest``, which identifies the snapshot here) plus one object per file it
lists. Purging a snapshot is recorded by a ``retention.snapshot_purge`` audit event
(subject: the manifest digest) before its
objects are deleted, so GC knows the snapshot is meant to be gone.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from mv_orchestration.errors import IntegrityError
from mv_orchestration.registry import schema

SNAPSHOT_PURGE_EVENT = "retention.snapshot_purge"


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
    """Digests of the dataset snapshots retention has purged."""
    return set(snapshot_purges(conn))


def snapshot_purges(conn: Connection) -> dict[str, str | None]:
    """The plan id of the latest purge of each dataset snapshot retention has purged."""
    t = schema.audit_events
    rows = conn.execute(
        select(t.c.subject, t.c.payload).where(t.c.action == SNAPSHOT_PURGE_EVENT).order_by(t.c.seq)
    )
    return {subject: json.loads(payload).get("plan_id") for subject, payload in rows}
