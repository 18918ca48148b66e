"""Stream every version with the store objects its record references.

Two streaming queries, merged by version id: the version rows and their
``version_objects`` rows (written at registration), so no record body is parsed. With
``verify=True`` every record body is also read and re-hashed against its ``record_id``
(GC marking), so a registry whose records were edited fails closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, String, select, type_coerce

from mv_orchestration.errors import IntegrityError
from mv_orchestration.registry import schema
from mv_orchestration.registry.clock import as_utc

BATCH = 10_000


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One version row with what its record references."""

    id: int
    model_id: int
    version: str
    sort_key: bytes
    created_at: datetime
    status: str
    status_changed_at: datetime | None
    objects: tuple[tuple[str, int], ...]
    snapshots: tuple[str, ...]


def to_utc(value: Any) -> datetime | None:
    """A stored time as aware UTC (SQLite's naive UTC text is parsed without SQLAlchemy's
    regex)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    return as_utc(value)


def _ref(row: Any) -> str:
    return f"version #{row[0]} ({row[2]})"


def _object_rows(
    conn: Connection, after_id: int, created_since: datetime | None
) -> Iterator[tuple[int, str, int | None, str]]:
    """``(version_id, digest, size, kind)`` in version id order."""
    o, v = schema.version_objects, schema.versions
    query = select(o.c.version_id, o.c.digest, o.c.size, o.c.kind).where(o.c.version_id > after_id)
    if created_since is not None:
        query = query.join(v, v.c.id == o.c.version_id).where(v.c.created_at >= created_since)
    query = query.order_by(o.c.version_id).execution_options(yield_per=BATCH)
    return iter(conn.execute(query))


def iter_version_rows(
    conn: Connection,
    *,
    after_id: int = 0,
    created_since: datetime | None = None,
    verify: bool = False,
) -> Iterator[VersionRow]:
    """Every version with ``id > after_id`` (and, if given, created at or after
    ``created_since``) in id order, with its referenced objects.

    Raises :class:`IntegrityError` for a record that cannot be read or (``verify``) that
    does not hash to its id.
    """
    from mv_orchestration.hashing.digest import digest_bytes

    v, r = schema.versions, schema.records
    columns = [
        v.c.id,
        v.c.model_id,
        v.c.version,
        v.c.sort_key,
        type_coerce(v.c.created_at, String),
        v.c.status,
        type_coerce(v.c.status_changed_at, String),
    ]
    query = select(*columns)
    if verify:
        query = query.add_columns(r.c.record_id, r.c.body).join(r, r.c.record_id == v.c.record_id)
    query = query.where(v.c.id > after_id).order_by(v.c.id)
    if created_since is not None:
        query = query.where(v.c.created_at >= created_since)
    objects_of = _object_rows(conn, after_id, created_since)
    pending = next(objects_of, None)
    for row in conn.execute(query.execution_options(yield_per=BATCH)):
        if verify and digest_bytes(row[8].encode("utf-8")) != row[7]:
            raise IntegrityError(f"the record of {_ref(row)} does not match its digest")
        objects: list[tuple[str, int]] = []
        snapshots: list[str] = []
        while pending is not None and pending[0] <= row[0]:
            if pending[0] == row[0]:
                _, digest, size, kind = pending
                if kind == "snapshot_manifest":
                    snapshots.append(digest)
                else:
                    objects.append((digest, size or 0))
            pending = next(objects_of, None)
        yield VersionRow(
            id=row[0],
            model_id=row[1],
            version=row[2],
            sort_key=bytes(row[3]),
            created_at=to_utc(row[4]),  # type: ignore[arg-type]
            status=row[5],
            status_changed_at=to_utc(row[6]),
            objects=tuple(objects),
            snapshots=tuple(snapshots),
        )
