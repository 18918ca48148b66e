"""Legal and regulatory holds. A hold is active until released or expired; an active hold
protects its version from tombstoning and purging. Holds are never deleted: releasing
one records who released it and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from mv_orchestration.errors import NotFoundError, ValidationError
from mv_orchestration.registry import schema
from mv_orchestration.registry.audit import append_event, default_actor
from mv_orchestration.registry.clock import as_utc
from mv_orchestration.registry.entities import Hold

MAX_REASON = 4096


def active_clause(now: datetime) -> ColumnElement[bool]:
    """SQL condition for holds that apply at ``now``."""
    h = schema.holds
    return and_(h.c.released_at.is_(None), or_(h.c.expires_at.is_(None), h.c.expires_at > now))


def check_reason(reason: object) -> str:
    """A non-empty reason of at most 4096 characters, valid UTF-8."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("a hold needs a reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(f"hold reason longer than {MAX_REASON} characters")
    try:
        reason.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("hold reason is not valid UTF-8") from None
    return reason


def check_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    """``expires_at`` as UTC; it must lie in the future."""
    if expires_at is None:
        return None
    value = as_utc(expires_at)
    if value <= now:
        raise ValidationError(f"hold expiry {value.isoformat()} is not in the future")
    return value


def add(
    conn: Connection,
    *,
    version_row: Any,
    reason: str,
    actor: str | None,
    expires_at: datetime | None,
    now: datetime,
) -> Hold:
    """Put a hold on a version (inside the caller's transaction)."""
    who = actor or default_actor()
    h = schema.holds
    hold_id = conn.execute(
        h.insert()
        .values(
            version_id=version_row.id,
            reason=reason,
            actor=who,
            created_at=now,
            expires_at=expires_at,
        )
        .returning(h.c.id)
    ).scalar_one()
    subject = f"{version_row.model}@{version_row.version}"
    payload = {
        "hold_id": hold_id,
        "reason": reason,
        "expires_at": expires_at.isoformat() if expires_at else None,
    }
    append_event(conn, "hold.add", subject, payload, who)
    return Hold(
        id=hold_id,
        model=version_row.model,
        version=version_row.version,
        reason=reason,
        actor=who,
        created_at=now,
        expires_at=expires_at,
    )


def release(conn: Connection, *, version_row: Any, actor: str | None, now: datetime) -> list[Hold]:
    """Release every active hold on a version; :class:`NotFoundError` when there is none."""
    who = actor or default_actor()
    h = schema.holds
    active = list_holds(conn, now=now, version_id=version_row.id)
    if not active:
        raise NotFoundError(f"{version_row.model}@{version_row.version} has no active hold")
    ids = [hold.id for hold in active]
    conn.execute(h.update().where(h.c.id.in_(ids)).values(released_at=now, released_by=who))
    subject = f"{version_row.model}@{version_row.version}"
    for hold_id in ids:
        append_event(conn, "hold.release", subject, {"hold_id": hold_id}, who)
    return [
        hold.model_copy(update={"released_at": now, "released_by": who, "active": False})
        for hold in active
    ]


def list_holds(
    conn: Connection,
    *,
    now: datetime,
    version_id: int | None = None,
    include_inactive: bool = False,
) -> list[Hold]:
    """Holds, oldest first: active ones only unless ``include_inactive``."""
    h, v, m = schema.holds, schema.versions, schema.models
    query = (
        select(h, v.c.version, m.c.name.label("model"))
        .join(v, v.c.id == h.c.version_id)
        .join(m, m.c.id == v.c.model_id)
        .order_by(h.c.id)
    )
    if version_id is not None:
        query = query.where(h.c.version_id == version_id)
    if not include_inactive:
        query = query.where(active_clause(now))
    out = []
    for row in conn.execute(query):
        active = row.released_at is None and (row.expires_at is None or row.expires_at > now)
        out.append(
            Hold(
                id=row.id,
                model=row.model,
                version=row.version,
                reason=row.reason,
                actor=row.actor,
                created_at=row.created_at,
                expires_at=row.expires_at,
                released_at=row.released_at,
                released_by=row.released_by,
                active=active,
            )
        )
    return out
