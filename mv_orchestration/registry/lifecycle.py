"""Version lifecycle: active -> tombstoned -> purged, and what protects a version.

Protected: the current target of any alias, or a version with an active hold. Both
transitions lock the model row (PostgreSQL) and re-check protection inside the
transaction, so a version promoted or held a moment earlier is never tombstoned.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, union

from mv_orchestration.registry import schema
from mv_orchestration.registry.audit import append_event
from mv_orchestration.registry.holds import active_clause
from mv_orchestration.registry.register import lock_model

TRANSITIONS = {"tombstoned": "active", "purged": "tombstoned"}


def protected_ids(conn: Connection, now: datetime) -> set[int]:
    """Ids of versions that are alias targets or under an active hold."""
    a, h = schema.aliases, schema.holds
    query = union(select(a.c.version_id), select(h.c.version_id).where(active_clause(now)))
    return {int(row[0]) for row in conn.execute(query)}


def advance(
    conn: Connection,
    version_id: int,
    *,
    to_status: str,
    reason: str,
    plan_id: str | None,
    actor: str | None,
    now: datetime,
) -> bool:
    """Move a version to ``to_status`` if it is in the preceding status and unprotected."""
    v, m = schema.versions, schema.models
    row = conn.execute(
        select(v.c.model_id, v.c.status, v.c.version, m.c.name)
        .join(m, m.c.id == v.c.model_id)
        .where(v.c.id == version_id)
    ).first()
    if row is None:
        return False
    lock_model(conn, row.name, create=False, now=now)
    status = conn.execute(select(v.c.status).where(v.c.id == version_id)).scalar()
    if status != TRANSITIONS[to_status] or version_id in _protecting(conn, version_id, now):
        return False
    conn.execute(
        v.update()
        .where(v.c.id == version_id)
        .values(
            status=to_status, status_changed_at=now, status_reason=reason, status_plan_id=plan_id
        )
    )
    action = "version.tombstone" if to_status == "tombstoned" else "version.purge"
    payload = {"version_id": version_id, "reason": reason, "plan_id": plan_id}
    append_event(conn, action, f"{row.name}@{row.version}", payload, actor)
    return True


def _protecting(conn: Connection, version_id: int, now: datetime) -> set[int]:
    a, h = schema.aliases, schema.holds
    query = union(
        select(a.c.version_id).where(a.c.version_id == version_id),
        select(h.c.version_id).where(h.c.version_id == version_id, active_clause(now)),
    )
    return {int(r[0]) for r in conn.execute(query)}
