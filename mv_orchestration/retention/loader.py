"""Read a :class:`RegistrySnapshot` from the registry tables in a handful of queries.

Everything is read in read transactions that see one state of the registry (``REPEATABLE
READ`` on PostgreSQL). The two large tables, versions and their ``version_objects`` rows,
are each read in one sequential scan (:mod:`.scans`): columns of driver values for
versions, an Arrow table for store objects (``RegistrySnapshot.objects``), read while the
versions are built and planned (:func:`using_snapshot`). Nothing is queried per version.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from datetime import datetime
from functools import partial
from itertools import chain, compress, repeat
from operator import attrgetter
from typing import Any, NamedTuple, TypeVar

import pyarrow as pa
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import aliased

from mv_orchestration.registry import schema
from mv_orchestration.registry.audit import last_seq
from mv_orchestration.registry.clock import as_utc, utcnow
from mv_orchestration.registry.database import snapshot_connection
from mv_orchestration.retention.bulk import gc_paused
from mv_orchestration.retention.datasets import purged_snapshots, snapshot_objects
from mv_orchestration.retention.records import time_parser
from mv_orchestration.retention.scans import (
    RowScans,
    ScanFailed,
    Scans,
    scan_rows,
    worker_scans,
)
from mv_orchestration.retention.snapshot import (
    ACTIVE,
    NO_TAGS,
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
ATTEMPTS = 3  # reads of a changing registry; the last scans on the snapshot connection
_version_info = partial(tuple.__new__, VersionInfo)  # all fields, without a Python-level call
_DATASETS = attrgetter("datasets")
_STATUSES = {status: status for status in (ACTIVE, TOMBSTONED, PURGED)}  # one string each
T = TypeVar("T")


class _Read(NamedTuple):
    versions: list[VersionInfo]
    objects: Future[pa.Table]
    aliases: list[AliasInfo]
    holds: list[HoldInfo]
    gone: set[str]
    audit_seq: int


def _tags(conn: Connection) -> dict[int, dict[str, str]]:
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    for version_id, key, value in scan_rows(
        conn, "SELECT version_id, key, value FROM version_tags"
    ):
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


def _datasets(conn: Connection) -> dict[int, tuple[str, ...]]:
    rows = scan_rows(
        conn,
        "SELECT version_id, digest FROM version_objects "
        "WHERE kind = 'snapshot_manifest' ORDER BY version_id, digest",
    )
    found: dict[int, list[str]] = defaultdict(list)
    for version_id, digest in rows:
        found[version_id].append(digest)
    return {version_id: tuple(digests) for version_id, digests in found.items()}


def _status_times(
    statuses: Sequence[str], changed: Sequence[Any], parse: Any
) -> tuple[list[datetime | None], list[datetime | None]]:
    """When each version was tombstoned and when it was purged (None: it was not, or the
    time is unknown), by position."""
    tombstoned: list[datetime | None] = [None] * len(statuses)
    purged: list[datetime | None] = [None] * len(statuses)
    for index in compress(range(len(statuses)), map(ACTIVE.__ne__, statuses)):
        moment = changed[index]
        if not moment:  # None, or SQLite's empty text
            continue
        if statuses[index] == TOMBSTONED:
            tombstoned[index] = parse(moment)
        elif statuses[index] == PURGED:
            purged[index] = parse(moment)
    return tombstoned, purged


def _versions(
    columns: list[Sequence[Any]],
    names: dict[int, str],
    tags: dict[int, dict[str, str]],
    parents: dict[int, tuple[int, ...]],
    datasets: dict[int, tuple[str, ...]],
    parse: Any,
) -> list[VersionInfo]:
    """The versions of one part of the scan (``columns``), built column by column with
    C-level maps (a million rows make no per-row Python call but for the few that are not
    active)."""
    if not columns or not columns[0]:
        return []
    ids, model_ids, numbers, keys, created, statuses, changed = columns
    tombstoned, purged = _status_times(statuses, changed, parse)
    rows = zip(
        ids,
        map(names.__getitem__, model_ids),
        numbers,
        keys,
        map(parse, created),
        map(_STATUSES.get, statuses, statuses),
        map(tags.get, ids, repeat(NO_TAGS)) if tags else repeat(NO_TAGS),
        map(datasets.get, ids, repeat(())) if datasets else repeat(()),
        map(parents.get, ids, repeat(())) if parents else repeat(()),
        tombstoned,
        purged,
        strict=False,  # the defaults repeat without end
    )
    return list(map(_version_info, rows))


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


@contextmanager
def _scans(engine: Engine, conn: Connection, arrow: bool) -> Iterator[Scans]:
    if arrow:
        with worker_scans(engine) as scans:
            yield scans
    else:
        yield RowScans(conn)


def _read(conn: Connection, scans: Scans) -> _Read | None:
    """Everything the registry holds for planning, or None when ``scans`` see another
    state of the registry than ``conn`` (a change committed between their first reads).
    The small tables are read while the scan worker starts."""
    audit_seq = last_seq(conn)  # the connection's first read: its snapshot starts here
    names = dict(conn.execute(select(schema.models.c.id, schema.models.c.name)).all())
    tags, parents, datasets = _tags(conn), _parents(conn), _datasets(conn)
    aliases, holds, gone = _aliases(conn, names), _holds(conn), purged_snapshots(conn)
    if scans.last_seq() != audit_seq:
        return None
    parse, versions = time_parser(conn), []
    for columns in scans.versions():
        versions += _versions(columns, names, tags, parents, datasets, parse)
    return _Read(versions, scans.objects_soon(), aliases, holds, gone, audit_seq)


@contextmanager
def _read_consistent(engine: Engine, worker: bool) -> Iterator[_Read]:
    """:func:`_read` until its scans and its connection agree; the last attempt, and any
    after the scan worker failed (or without ``worker``), scan on the connection itself.
    The scans go on until the context ends: the objects may still be arriving."""
    arrow = worker and engine.dialect.name == "sqlite"
    for attempt in range(ATTEMPTS):
        arrow = arrow and attempt < ATTEMPTS - 1
        try:
            with ExitStack() as opened:
                with snapshot_connection(engine) as conn, conn.begin():
                    found = _read(conn, opened.enter_context(_scans(engine, conn, arrow)))
                if found is not None:
                    scanning = opened.pop_all()  # outlives the connection: the worker reads on
        except ScanFailed as exc:
            log.warning("retention snapshot: %s; reading rows instead", exc)
            arrow = False
            continue
        if found is None:
            log.debug("retention snapshot: the registry changed between reads; reading again")
            continue
        with scanning:
            yield found
        return
    raise AssertionError("scans on the snapshot connection always agree with it")


@contextmanager
def _reading(registry: Any, now: datetime | None, worker: bool) -> Iterator[RegistrySnapshot]:
    """The snapshot of ``registry`` at ``now``, its objects a future until the context
    ends (see :func:`load_snapshot`)."""
    taken_at = as_utc(now) if now is not None else utcnow()
    with gc_paused(), _read_consistent(registry.engine, worker) as read:
        versions, gone = read.versions, read.gone
        referenced = set(chain.from_iterable(map(_DATASETS, versions)))
        if gone & referenced:  # a purged snapshot a version not purged uses was logged again
            gone -= {digest for v in versions if v.status != PURGED for digest in v.datasets}
        datasets = {
            digest: DatasetSnapshotInfo(digest, snapshot_objects(registry.store, digest))
            for digest in sorted(referenced - gone)
        }
        log.debug("retention snapshot: %d versions, %d aliases", len(versions), len(read.aliases))
        yield RegistrySnapshot(
            taken_at, versions, read.aliases, read.holds, datasets, read.objects, read.audit_seq
        )


def using_snapshot(
    registry: Any, use: Callable[[RegistrySnapshot], T], now: datetime | None = None
) -> T:
    """``use`` the snapshot of ``registry`` at ``now`` (see :func:`load_snapshot`) while its
    objects are still being read: they are a future until ``use`` returns. If the scan
    worker fails after ``use`` began, ``use`` runs again on a snapshot read from rows."""
    try:
        with _reading(registry, now, worker=True) as snapshot:
            return use(snapshot)
    except ScanFailed as exc:
        log.warning("retention snapshot: %s; reading rows instead", exc)
    with _reading(registry, now, worker=False) as snapshot:
        return use(snapshot)


def _with_objects(snapshot: RegistrySnapshot) -> RegistrySnapshot:
    """``snapshot`` once its objects are read."""
    if isinstance(snapshot.objects, Future):
        snapshot.objects = snapshot.objects.result()
    return snapshot


def load_snapshot(registry: Any, now: datetime | None = None) -> RegistrySnapshot:
    """Everything planning needs, read from ``registry`` (a ``Registry``) at ``now``.

    Dataset snapshots already purged by retention are left out, unless a version that is
    not purged references one (it was logged again); the objects of the others are read
    from their stored manifests.
    """
    return using_snapshot(registry, _with_objects, now)
