"""Mark: every store object that must stay.

Live objects are: the artifact files and code diff of every version that is not purged
(each record re-hashed against its id, so an edited record cannot hide a reference); the
manifest and files of every dataset snapshot any version references, unless retention
purged that snapshot and no version registered since references it (logging it again
starts a new lifetime, which only a later purge ends); every stored retention plan; and
every pinned object (:mod:`mv_orchestration.registry.pins`; a pinned tree's manifest and
files). Marking reads everything it needs and raises on the first problem (a pinned
manifest that cannot be read included), so callers delete nothing unless marking completed.

:func:`marks_since` adds what was registered after a mark: versions with a higher id on
SQLite (writers are serialised, so ids grow in commit order), versions created since the
mark minus :data:`REGISTRATION_SLACK` elsewhere, and the plans stored and objects pinned
since (their audit events come after the mark's last one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from mv_orchestration.errors import IntegrityError, LeaseError, MVOError
from mv_orchestration.registry.audit import last_seq
from mv_orchestration.registry.clock import utcnow
from mv_orchestration.registry.database import READ_ONLY
from mv_orchestration.registry.pins import live_objects, pinned, pins_since
from mv_orchestration.retention.datasets import purged_snapshots, snapshot_objects
from mv_orchestration.retention.plans import plan_digests
from mv_orchestration.retention.records import iter_version_rows
from mv_orchestration.retention.snapshot import PURGED

REGISTRATION_SLACK = timedelta(hours=1)
PROGRESS_EVERY = 1000  # versions marked between two calls of the progress callback


@dataclass
class Marks:
    """The live object digests and where the mark stopped reading."""

    objects: set[str] = field(default_factory=set)
    last_version_id: int = 0
    last_audit_seq: int = 0
    started_at: datetime = field(default_factory=utcnow)
    versions: int = 0


def _add_versions(
    conn: Connection, store: Any, marks: Marks, rows: Any, progress: Callable[[], object]
) -> None:
    snapshots: set[str] = set()
    in_use: set[str] = set()  # by versions not purged
    for row in rows:
        if not marks.versions % PROGRESS_EVERY:
            progress()
        marks.versions += 1
        marks.last_version_id = max(marks.last_version_id, row.id)
        if row.status != PURGED:
            marks.objects.update(digest for digest, _ in row.objects)
            in_use.update(row.snapshots)
        snapshots.update(row.snapshots)
    if snapshots:
        snapshots -= purged_snapshots(conn) - in_use  # one in use was logged again since
    for manifest_digest in sorted(snapshots):
        progress()
        marks.objects.update(digest for digest, _ in snapshot_objects(store, manifest_digest))


def _nothing() -> None:
    return None


def mark_live(conn: Connection, store: Any, progress: Callable[[], object] = _nothing) -> Marks:
    """Mark every live object (see the module docstring); raises on any problem.
    ``progress`` is called every :data:`PROGRESS_EVERY` versions and before each manifest
    read (a GC renews its lease there)."""
    marks = Marks(started_at=utcnow())
    marks.last_audit_seq = last_seq(conn)
    _add_versions(conn, store, marks, iter_version_rows(conn, verify=True), progress)
    marks.objects |= plan_digests(conn)
    progress()
    marks.objects |= live_objects(store, pinned(conn))
    return marks


def mark_registry(registry: Any, progress: Callable[[], object] = _nothing) -> Marks:
    """:func:`mark_live` in one read transaction; every failure but a lost lease (raised
    by ``progress``, as is) becomes :class:`IntegrityError` saying that nothing was
    deleted."""
    try:
        with registry.engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
            return mark_live(conn, registry.store, progress)
    except LeaseError:
        raise
    except Exception as exc:
        what = str(exc) if isinstance(exc, MVOError) else f"{type(exc).__name__}: {exc}"
        raise IntegrityError(f"marking failed, nothing was deleted: {what}") from exc


def marks_since(conn: Connection, store: Any, marks: Marks) -> set[str]:
    """Objects made live after ``marks`` was taken (new versions, plans and pins)."""
    fresh = Marks(started_at=marks.started_at)
    if conn.dialect.name == "sqlite":
        rows = iter_version_rows(conn, after_id=marks.last_version_id, verify=True)
    else:
        since = marks.started_at - REGISTRATION_SLACK
        rows = iter_version_rows(conn, created_since=since, verify=True)
    _add_versions(conn, store, fresh, rows, _nothing)
    fresh.objects |= live_objects(store, pins_since(conn, marks.last_audit_seq))
    return fresh.objects | plan_digests(conn, after_seq=marks.last_audit_seq)
