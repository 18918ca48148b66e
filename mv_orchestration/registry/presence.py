"""A registration checks that its objects are stored, with GC sweeps locked out.

A GC sweep deletes unreferenced objects in write transactions that keep registrations out
(:mod:`mv_orchestration.retention.sweep`). A registration uploads its objects, or finds
them already stored and reuses them, before it commits. An object that GC listed as old
garbage before the upload reused it can be swept in between (on S3 reuse cannot refresh
an object's age). So the registration transaction first locks sweeps out, then checks that
every object its record references is present. For a missing artifact or code diff it
raises :class:`SweptObjectError`, and :func:`commit_uploaded` uploads again and retries;
a missing dataset snapshot (logged earlier in the run) is a :class:`MissingObjectError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection, text

from mv_orchestration.errors import MissingObjectError, SweptObjectError
from mv_orchestration.registry.register import body_objects

log = logging.getLogger(__name__)
UPLOAD_ATTEMPTS = 3
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
    if not missing:
        return
    listed = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
    message = f"{len(missing)} objects of this version were garbage-collected before it was "
    if any(kinds[digest] == "snapshot_manifest" for digest in missing):  # not uploaded here
        raise MissingObjectError(
            message + f"registered, among them dataset snapshots ({listed}): the run outlasted "
            "GC's grace period since it logged them; log those datasets again, or give GC a "
            "longer grace period"
        )
    raise SweptObjectError(message + f"registered: {listed}")


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
