"""A registration checks that its objects are stored, with GC sweeps locked out.

A GC sweep deletes unreferenced objects in write transactions that keep registrations out
(:mod:`mv_orchestration.retention.sweep`). A registration uploads its objects, or finds
them already stored and reuses them, before it commits. An object that GC listed as old
garbage before the upload reused it can be swept in between (on S3 reuse cannot refresh
an object's age). So the registration transaction first locks sweeps out, then checks that
every object its record references is present. For a missing artifact or code diff it
raises :class:`SweptObjectError`, and :func:`commit_uploaded` uploads again and retries.
A missing dataset snapshot (logged earlier in the run) is a :class:`MissingObjectError`,
and so is a missing file of a snapshot that no version still holding its bytes references
yet (logging it may have reused old garbage that GC had listed); the files of a snapshot
such a version references are marked live by every GC.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection, select, text

from mv_orchestration.errors import MissingObjectError, SweptObjectError
from mv_orchestration.registry import schema
from mv_orchestration.registry.register import body_objects

log = logging.getLogger(__name__)
UPLOAD_ATTEMPTS = 3
UPLOADED = frozenset({"artifact", "code_diff"})  # kinds a registration uploads itself
T = TypeVar("T")


def lock_out_sweeps(conn: Connection) -> None:
    """Wait for a running sweep batch and keep new ones out until the transaction ends.

    On PostgreSQL this lock conflicts with the ``SHARE`` lock a sweep batch takes on
    ``versions`` but not with other registrations; SQLite's ``BEGIN IMMEDIATE`` already
    excludes every other writer.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE versions IN ROW EXCLUSIVE MODE"))


def check_stored(conn: Connection, store: Any, fields: Mapping[str, Any]) -> None:
    """Raise unless every object the record ``fields`` reference is in ``store`` (a sweep
    cannot delete one until the transaction ends); see the module docstring."""
    lock_out_sweeps(conn)
    kinds = {digest: kind for digest, _, kind in body_objects(fields)}
    missing = store.missing(sorted(kinds))
    snapshots = sorted(digest for digest, kind in kinds.items() if kind == "snapshot_manifest")
    if not missing and snapshots:
        missing = store.missing(_new_snapshot_files(conn, store, snapshots))
        kinds.update(dict.fromkeys(missing, "snapshot_file"))
    if not missing:
        return
    listed = first_few(missing)
    message = f"{len(missing)} objects of this version were garbage-collected before it was "
    if any(kinds[digest] not in UPLOADED for digest in missing):
        raise MissingObjectError(  # logged earlier in the run, not uploaded here
            message + f"registered, among them dataset snapshots or their files ({listed}): "
            "GC collected them after the run logged them; log those datasets again, or give "
            "GC a longer grace period"
        )
    raise SweptObjectError(message + f"registered: {listed}")


def _new_snapshot_files(conn: Connection, store: Any, manifests: list[str]) -> list[str]:
    """The files of those snapshot ``manifests`` that no version, or only purged ones,
    references (GC marks the files of the others live)."""
    vo, v = schema.version_objects, schema.versions
    held = set(
        conn.scalars(
            select(vo.c.digest)
            .join(v, v.c.id == vo.c.version_id)
            .where(vo.c.digest.in_(manifests), vo.c.kind == "snapshot_manifest")
            .where(v.c.status != "purged")
        )
    )
    return sorted(
        {file for digest in manifests if digest not in held for file in tree_files(store, digest)}
    )


def tree_files(store: Any, manifest_digest: str) -> list[str]:
    """The digests of the files the stored manifest ``manifest_digest`` lists."""
    return sorted({entry.digest for entry in store.get_manifest(manifest_digest).entries})


def first_few(digests: list[str]) -> str:
    """The first three ``digests``, comma-separated (``...`` when there are more)."""
    return ", ".join(digests[:3]) + (", ..." if len(digests) > 3 else "")


def commit_uploaded(upload: Callable[[], None], commit: Callable[[], T]) -> T:
    """``upload()`` then ``commit()``; when the commit finds objects swept in between,
    upload again, up to :data:`UPLOAD_ATTEMPTS` times."""
    attempt = 1
    while True:
        upload()
        try:
            return commit()
        except SweptObjectError as exc:
            if attempt == UPLOAD_ATTEMPTS:
                raise
            log.warning("%s; uploading them again", exc)
            attempt += 1
