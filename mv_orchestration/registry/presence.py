"""A registration checks that its objects are stored, with GC sweeps locked out.

A GC sweep deletes unreferenced objects in write transactions that keep registrations out
(:mod:`mv_orchestration.retention.sweep`). A registration uploads its objects, or finds
them already stored and reuses them, before it commits. An object that GC listed as old
garbage before the upload reused it can be swept in between (on S3 reuse cannot refresh
an object's age). So the registration transaction first locks sweeps out, then checks that
every object its record references is present, and raises :class:`SweptObjectError`
otherwise: :func:`commit_uploaded` then uploads again and retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection, text

from mv_orchestration.errors import SweptObjectError
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
    """Raise :class:`SweptObjectError` unless every object the record ``fields``
    reference is in ``store`` (a sweep cannot delete one until the transaction ends)."""
    lock_out_sweeps(conn)
    missing = store.missing(sorted({digest for digest, _, _ in body_objects(fields)}))
    if missing:
        raise SweptObjectError(
            f"{len(missing)} objects of this version were garbage-collected before it was "
            f"registered: {', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}"
        )


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
