"""Lifecycle transitions in batches: many versions per transaction, same rules and events.

:func:`advance_many` is the batch form of the registry's per-version
:func:`mv_orchestration.registry.lifecycle.advance`: inside the caller's write transaction
(model and version rows locked on PostgreSQL; SQLite holds the write lock) it re-reads each
version's status and the registry's protected set, changes only unprotected versions in
the preceding status that no version staying derives from, and appends one
``version.tombstone`` / ``version.purge`` audit event per changed version through
:func:`mv_orchestration.registry.audit.append_encoded_events` (the payloads are written as
canonical JSON here).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from json.encoder import encode_basestring as quote
from typing import Any

from sqlalchemy import Connection, select

from mv_orchestration.registry import schema
from mv_orchestration.registry.audit import append_encoded_events
from mv_orchestration.registry.lifecycle import TRANSITIONS, protected_ids
from mv_orchestration.retention.records import driver_value, param_mark

CHANGED = "changed"
ALREADY = "already"
PROTECTED = "protected"
MISSING = "missing"
NOT_READY = "not_ready"
PARENT = "parent"
LATE = "late"
_EVENT = {"tombstoned": "version.tombstone", "purged": "version.purge"}


def _rows(conn: Connection, ids: list[int], *, lock: bool = False) -> dict[int, Any]:
    v, m = schema.versions, schema.models
    query = (
        select(
            v.c.id,
            v.c.model_id,
            v.c.record_id,
            v.c.status,
            v.c.status_changed_at,
            v.c.version,
            m.c.name,
        )
        .join(m, m.c.id == v.c.model_id)
        .where(v.c.id.in_(ids))
    )
    if lock:  # a registration deriving from one of them waits, or is seen below
        query = query.order_by(v.c.id).with_for_update(of=v)
    return {row.id: row for row in conn.execute(query)}


def _derived_from_by_staying(
    conn: Connection, records: Mapping[str, int], stays: Collection[int], planned: Mapping[int, str]
) -> set[int]:
    """The versions of ``records`` (record id -> version id) that a version staying derives
    from, transitively through versions not purged: one protected now (``stays``), one the
    plan keeps, or one the plan does not know (registered after it)."""
    e, v = schema.lineage_edges, schema.versions
    found: set[int] = set()
    reached: dict[str, set[int]] = defaultdict(set)
    frontier = {record: {version_id} for record, version_id in records.items()}
    while frontier:
        query = (
            select(e.c.dst, v.c.id, v.c.record_id, v.c.status)
            .join(v, v.c.record_id == e.c.src)
            .where(e.c.relation == "derived_from", e.c.src_kind == "version")
            .where(e.c.dst_kind == "version", e.c.dst.in_(sorted(frontier)))
        )
        following: dict[str, set[int]] = defaultdict(set)
        for parent, child_id, child, status in conn.execute(query):
            origins = frontier[parent] - found
            if not origins or status == "purged":
                continue
            if child_id in stays or planned.get(child_id, "keep") == "keep":
                found |= origins
            elif origins - reached[child]:
                following[child] |= origins - reached[child]
                reached[child] |= origins
        frontier = following
    return found


def _lock_models(conn: Connection, model_ids: set[int]) -> bool:
    """Lock the model rows on PostgreSQL (as promote and hold do); SQLite's write
    transaction already excludes every other writer. True when rows were locked."""
    if conn.dialect.name != "postgresql" or not model_ids:
        return False
    m = schema.models
    query = select(m.c.id).where(m.c.id.in_(sorted(model_ids))).order_by(m.c.id)
    conn.execute(query.with_for_update()).all()
    return True


def _update(
    conn: Connection,
    updates: list[tuple[int, str]],
    *,
    to_status: str,
    plan_id: str | None,
    now: datetime,
) -> None:
    """Move each ``(version_id, reason)`` still in the preceding status to ``to_status``:
    one statement, run by the driver for every row."""
    mark = param_mark(conn)
    changed_at = driver_value(conn, schema.versions.c.status_changed_at, now)
    sql = (
        f"UPDATE versions SET status = {mark}, status_changed_at = {mark}, "
        f"status_reason = {mark}, status_plan_id = {mark} WHERE id = {mark} AND status = {mark}"
    )
    before = TRANSITIONS[to_status]
    rows = [(to_status, changed_at, why, plan_id, vid, before) for vid, why in updates]
    conn.exec_driver_sql(sql, rows)


def advance_many(
    conn: Connection,
    changes: Sequence[tuple[int, str]],
    *,
    to_status: str,
    plan_id: str | None,
    actor: str | None,
    now: datetime,
    planned: Mapping[int, str],
    late: Callable[[Connection], Collection[int]] | None = None,
    ready_before: datetime | None = None,
) -> dict[int, str]:
    """Move each ``(version_id, reason)`` to ``to_status``; returns an outcome per id.

    ``planned`` is the plan's decision per version id; ``late`` reads, once the rows are
    locked, the versions that stay because of a change since planning. Outcomes:
    ``changed``; ``already`` (in ``to_status`` or beyond); ``protected`` (alias target or
    active hold now); ``late``; ``parent`` (a version that stays derives from it);
    ``missing``; ``not_ready`` (not in the preceding status, or for purging, tombstoned at
    or after ``ready_before``).
    """
    ids = [version_id for version_id, _ in changes]
    rows = _rows(conn, ids)
    if _lock_models(conn, {row.model_id for row in rows.values()}):
        rows = _rows(conn, ids, lock=True)
    protected = protected_ids(conn, now)
    moved = set(late(conn)) if late is not None else set()
    stays = protected | moved
    records = {row.record_id: row.id for row in rows.values() if row.id not in stays}
    parents = _derived_from_by_staying(conn, records, stays, planned)
    order = ("active", "tombstoned", "purged")
    outcomes: dict[int, str] = {}
    updates: list[tuple[int, str]] = []
    events: list[tuple[str, str, str]] = []  # payloads as canonical JSON
    plan = "null" if plan_id is None else quote(plan_id)
    for version_id, reason in changes:
        row = rows.get(version_id)
        if row is None:
            outcomes[version_id] = MISSING
        elif order.index(row.status) >= order.index(to_status):
            outcomes[version_id] = ALREADY
        elif row.status != TRANSITIONS[to_status]:
            outcomes[version_id] = NOT_READY
        elif version_id in protected:
            outcomes[version_id] = PROTECTED
        elif version_id in moved:
            outcomes[version_id] = LATE
        elif version_id in parents:
            outcomes[version_id] = PARENT
        elif ready_before is not None and (
            row.status_changed_at is None or row.status_changed_at >= ready_before
        ):
            outcomes[version_id] = NOT_READY
        else:
            outcomes[version_id] = CHANGED
            updates.append((version_id, reason))
            payload = f'{{"plan_id":{plan},"reason":{quote(reason)},"version_id":{version_id}}}'
            events.append((_EVENT[to_status], f"{row.name}@{row.version}", payload))
    if updates:
        _update(conn, updates, to_status=to_status, plan_id=plan_id, now=now)
        append_encoded_events(conn, events, actor)
    return outcomes
