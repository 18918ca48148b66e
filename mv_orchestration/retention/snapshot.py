"""What retention planning needs to know about a registry, as plain data.

A :class:`RegistrySnapshot` is read once (see :mod:`mv_orchestration.retention.loader`)
and planning is a pure function of it, so plans can be tested without a database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from types import MappingProxyType
from typing import Any, NamedTuple, TypeAlias, TypeVar

import pyarrow as pa

ACTIVE = "active"
TOMBSTONED = "tombstoned"
PURGED = "purged"
T = TypeVar("T")

NO_TAGS: Mapping[str, str] = MappingProxyType({})
ObjectRef = tuple[int, str, int]
"""A store object a version references: ``(version id, digest, size)``."""
Objects: TypeAlias = "pa.Table | list[ObjectRef] | Future[pa.Table]"
"""The store objects of :attr:`RegistrySnapshot.objects`."""
OBJECT_COLUMNS = pa.schema(
    [
        ("version_id", pa.int64()),
        ("digest", pa.dictionary(pa.int32(), pa.string())),
        ("size", pa.int64()),
    ]
)
"""The columns of :attr:`RegistrySnapshot.objects` as a table (digests dictionary-encoded:
each distinct digest is hashed once, and the rest is done on integer codes)."""


class VersionInfo(NamedTuple):
    """One model version (an immutable named tuple: a registry holds millions).

    ``precedence`` orders versions of one model (larger is newer: the registry's semver
    sort key). ``datasets`` are the dataset snapshots it references (by manifest digest);
    ``parents`` the version ids it derives from. The store objects its bytes occupy are
    listed in :attr:`RegistrySnapshot.objects`.
    """

    id: int
    model: str
    version: str
    precedence: Any
    created_at: datetime
    status: str = ACTIVE
    tags: Mapping[str, str] = NO_TAGS
    datasets: tuple[str, ...] = ()
    parents: tuple[int, ...] = ()
    tombstoned_at: datetime | None = None
    purged_at: datetime | None = None

    @property
    def ref(self) -> str:
        """``model@version``."""
        return f"{self.model}@{self.version}"


@dataclass(frozen=True, slots=True)
class AliasMove:
    """One entry of an alias history: the alias pointed at ``version_id`` from ``moved_at``.

    ``version_id`` is None when the alias was removed at ``moved_at``.
    """

    version_id: int | None
    moved_at: datetime


@dataclass(frozen=True, slots=True)
class AliasInfo:
    """An alias of one model: its current target and its history, oldest move first."""

    model: str
    name: str
    target: int | None
    history: tuple[AliasMove, ...] = ()


@dataclass(frozen=True, slots=True)
class HoldInfo:
    """A legal hold on a version (``expires_at`` None = until released)."""

    version_id: int
    reason: str
    expires_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        """True when the hold still applies at ``now``."""
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class DatasetSnapshotInfo:
    """A stored dataset snapshot: its manifest object and the objects of its files."""

    digest: str
    objects: tuple[tuple[str, int], ...] = ()


@dataclass(slots=True)
class RegistrySnapshot:
    """Everything planning reads, taken at ``taken_at``.

    ``objects`` are the ``(version id, digest, size)`` store objects the versions' bytes
    occupy (artifact files and code diffs), one row per reference, in no particular order:
    a table of those three columns (digests as strings, or encoded as in
    :data:`OBJECT_COLUMNS`) or a list of :data:`ObjectRef` (a registry holds millions, so
    they are kept as columns rather than grouped per version); or, while they are still
    being read (:func:`.loader.using_snapshot`), a future of such a table.
    ``audit_seq`` is the audit log's last sequence number as read (None: not read from a
    registry).
    """

    taken_at: datetime
    versions: list[VersionInfo] = field(default_factory=list)
    aliases: list[AliasInfo] = field(default_factory=list)
    holds: list[HoldInfo] = field(default_factory=list)
    dataset_snapshots: dict[str, DatasetSnapshotInfo] = field(default_factory=dict)
    objects: Objects = field(default_factory=list)
    audit_seq: int | None = None


def object_table(objects: Objects) -> pa.Table:
    """:attr:`RegistrySnapshot.objects` as one chunk of :data:`OBJECT_COLUMNS`, from rows or
    from a table of ``(version id, digest, size)`` columns (a future: once it is done). A
    table of one chunk of :data:`OBJECT_COLUMNS` is taken as it is: made by this function,
    its dictionary holds each digest once."""
    if isinstance(objects, Future):
        objects = objects.result()
    if isinstance(objects, pa.Table):
        if objects.schema.equals(OBJECT_COLUMNS) and all(
            column.num_chunks == 1 for column in objects.columns
        ):
            return objects
    else:
        columns = list(zip(*objects, strict=True)) or [(), (), ()]
        kinds = (pa.int64(), pa.string(), pa.int64())
        arrays = [pa.array(values, kind) for values, kind in zip(columns, kinds, strict=True)]
        objects = pa.table(arrays, names=OBJECT_COLUMNS.names)
    version_ids, digests, sizes = objects.columns
    # encoded before combined: Arrow strings hold at most 2 GiB per array, codes do not
    codes = digests.cast(pa.string()).dictionary_encode().combine_chunks()
    arrays = [
        version_ids.combine_chunks().cast(pa.int64()),
        codes,
        sizes.combine_chunks().cast(pa.int64()),
    ]
    return pa.Table.from_arrays(arrays, schema=OBJECT_COLUMNS)


def in_a_thread(name: str, function: Callable[[], T]) -> Future[T]:
    """``function()`` run in a thread of its own (named ``name``), ended with it."""
    pool = ThreadPoolExecutor(1, thread_name_prefix=name)
    try:
        return pool.submit(function)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


def object_table_soon(objects: Objects) -> Future[pa.Table]:
    """:func:`object_table` of ``objects``, made in a thread of its own: Arrow encodes
    without holding the GIL, so the caller goes on meanwhile."""
    return in_a_thread("mvo-objects", partial(object_table, objects))
