"""Stream every version with the store objects its record references.

Versions are read in pages of :data:`PAGE` ids (keyset pagination, so memory stays
bounded on every backend), each page with its ``version_objects`` rows (written at
registration), so no record body is parsed. The two queries per page are plain SQL run
through the connection (its transaction, events and error handling) and their rows are
used as they come: a million versions make no per-row conversion objects. With
``verify=True`` every record body is also read and re-hashed against its ``record_id``
(GC marking), so a registry whose records were edited fails closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection

from mv_orchestration.errors import IntegrityError
from mv_orchestration.registry import schema
from mv_orchestration.registry.clock import as_utc

PAGE = 10_000
_NONE: tuple[Any, ...] = ()


class VersionRow(NamedTuple):
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


class VersionPage(NamedTuple):
    """Up to :data:`PAGE` version rows (``id, model_id, version, sort_key, created_at,
    status, status_changed_at``, times for :func:`time_parser`), and the ``(digest,
    size)`` objects and snapshot manifest digests of each by version id."""

    rows: Sequence[Sequence[Any]]
    objects: dict[int, tuple[tuple[str, int], ...]]
    snapshots: dict[int, tuple[str, ...]]


def time_parser(conn: Connection) -> Callable[[Any], datetime]:
    """Turns a version time, as the driver returns it, into aware UTC: SQLite's text (naive
    UTC, read with its offset appended) or the driver's datetime."""
    return datetime.fromisoformat if conn.dialect.name == "sqlite" else as_utc


def param_mark(conn: Connection) -> str:
    """The driver's positional parameter marker, for SQL run with ``exec_driver_sql``."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def driver_value(conn: Connection, column: ColumnElement[Any], value: Any) -> Any:
    """``value`` as the driver gets it for ``column`` (as SQLAlchemy would convert it)."""
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return value if process is None else process(value)


class _Queries:
    """The SQL of one scan, in the driver's parameter style."""

    def __init__(self, conn: Connection, created_since: datetime | None, verify: bool) -> None:
        mark = param_mark(conn)
        utc = " || '+00:00'" if conn.dialect.name == "sqlite" else ""
        columns = (
            "versions.id, versions.model_id, versions.version, versions.sort_key, "
            f"versions.created_at{utc}, versions.status, versions.status_changed_at{utc}"
        )
        source = "versions"
        if verify:
            columns += ", records.record_id, records.body"
            source += " JOIN records ON records.record_id = versions.record_id"
        since = ""
        self.since: tuple[Any, ...] = ()
        if created_since is not None:
            since = f" AND versions.created_at >= {mark}"
            self.since = (driver_value(conn, schema.versions.c.created_at, created_since),)
        self.versions = (
            f"SELECT {columns} FROM {source} WHERE versions.id > {mark}{since} "
            f"ORDER BY versions.id LIMIT {PAGE}"
        )
        self.objects = (
            "SELECT version_id, digest, COALESCE(size, 0), kind = 'snapshot_manifest' "
            f"FROM version_objects WHERE version_id >= {mark} AND version_id <= {mark} "
            "ORDER BY version_id"
        )


def _objects(
    rows: Sequence[Sequence[Any]],
) -> tuple[dict[int, tuple[tuple[str, int], ...]], dict[int, tuple[str, ...]]]:
    """``(version_id, digest, size, is_snapshot)`` rows in version id order as the objects
    and the snapshot manifests of each version, in row order."""
    objects: dict[int, list[tuple[str, int]]] = {}
    snapshots: dict[int, list[str]] = {}
    current, held = None, []
    for version_id, digest, size, is_snapshot in rows:
        if is_snapshot:
            snapshots.setdefault(version_id, []).append(digest)
            continue
        if version_id != current:
            current, held = version_id, objects.setdefault(version_id, [])
        held.append((digest, size))
    return (
        {version_id: tuple(pairs) for version_id, pairs in objects.items()},
        {version_id: tuple(found) for version_id, found in snapshots.items()},
    )


def version_pages(
    conn: Connection,
    *,
    after_id: int = 0,
    created_since: datetime | None = None,
    verify: bool = False,
) -> Iterator[VersionPage]:
    """Every version with ``id > after_id`` (and, if given, created at or after
    ``created_since``) in id order, a page at a time.

    Raises :class:`IntegrityError` for a record that cannot be read or (``verify``) that
    does not hash to its id.
    """
    from mv_orchestration.hashing.digest import digest_bytes

    queries = _Queries(conn, created_since, verify)
    while True:
        rows = conn.exec_driver_sql(queries.versions, (after_id, *queries.since)).fetchall()
        if not rows:
            return
        low, after_id = rows[0][0], rows[-1][0]
        if verify:
            for row in rows:
                if digest_bytes(row[8].encode("utf-8")) != row[7]:
                    raise IntegrityError(
                        f"the record of version #{row[0]} ({row[2]}) does not match its digest"
                    )
        found = conn.exec_driver_sql(queries.objects, (low, after_id)).fetchall()
        yield VersionPage(rows, *_objects(found))


def iter_version_rows(
    conn: Connection,
    *,
    after_id: int = 0,
    created_since: datetime | None = None,
    verify: bool = False,
) -> Iterator[VersionRow]:
    """:func:`version_pages` one :class:`VersionRow` at a time."""
    parse = time_parser(conn)
    pages = version_pages(conn, after_id=after_id, created_since=created_since, verify=verify)
    for rows, objects, snapshots in pages:
        for row in rows:
            version_id, changed = row[0], row[6]
            yield VersionRow(
                version_id,
                row[1],
                row[2],
                bytes(row[3]),
                parse(row[4]),
                row[5],
                None if changed is None else parse(changed),
                objects.get(version_id, _NONE),
                snapshots.get(version_id, _NONE),
            )
