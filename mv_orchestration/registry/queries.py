"""Read-only queries: models, pages of versions, and finding versions by content."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, func, select

from mv_orchestration.errors import ValidationError
from mv_orchestration.registry import schema
from mv_orchestration.registry.clock import as_utc, from_iso_utc
from mv_orchestration.registry.entities import AuditEvent, ModelSummary, ModelVersion
from mv_orchestration.registry.names import validate_alias_name, validate_tags
from mv_orchestration.registry.register import param_lookup, tag_lookup
from mv_orchestration.registry.resolve import model_select, require_model, version_select
from mv_orchestration.registry.semver import sort_key

MAX_LIMIT = 10_000


def check_limit(limit: int, offset: int = 0) -> None:
    """Page bounds: 1 <= limit <= 10,000 and offset >= 0."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError("offset must be a non-negative integer")


def list_models(conn: Connection) -> list[ModelSummary]:
    """Every model with its version count, newest active version and aliases."""
    m, v, a = schema.models, schema.versions, schema.aliases
    counts = {
        row.model_id: row.n
        for row in conn.execute(
            select(v.c.model_id, func.count().label("n")).group_by(v.c.model_id)
        )
    }
    aliases: dict[int, dict[str, str]] = {}
    for row in conn.execute(
        select(a.c.model_id, a.c.name, v.c.version).join(v, v.c.id == a.c.version_id)
    ):
        aliases.setdefault(row.model_id, {})[row.name] = row.version
    out = []
    for model in conn.execute(select(m).order_by(m.c.name)):
        latest = conn.execute(
            select(v.c.version)
            .where(v.c.model_id == model.id, v.c.status == "active")
            .order_by(v.c.sort_key.desc())
            .limit(1)
        ).scalar()
        out.append(
            ModelSummary(
                name=model.name,
                created_at=model.created_at,
                version_count=counts.get(model.id, 0),
                latest_version=latest,
                aliases=aliases.get(model.id, {}),
            )
        )
    return out


def list_versions(
    conn: Connection,
    model: str,
    *,
    limit: int = 50,
    offset: int = 0,
    before: str | None = None,
    alias: str | None = None,
    tags: Mapping[str, str] | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ModelVersion]:
    """One page of a model's versions, highest precedence first.

    ``before`` (a version string) starts the page below that version (keyset paging);
    ``alias`` keeps only the alias's target; ``tags`` keeps versions carrying every
    given tag; ``status`` one lifecycle status; ``since``/``until`` bound ``created_at``
    (``since`` inclusive, ``until`` exclusive).
    """
    check_limit(limit, offset)
    model_id = require_model(conn, model)
    v = schema.versions
    query = model_select(model).where(v.c.model_id == model_id)
    if before is not None:
        query = query.where(v.c.sort_key < sort_key(before))
    if alias is not None:
        a = schema.aliases
        validate_alias_name(alias)
        query = query.where(
            exists().where(a.c.model_id == model_id, a.c.name == alias, a.c.version_id == v.c.id)
        )
    for key, value in validate_tags(tags).items():
        t = schema.version_tags
        query = query.where(
            exists().where(t.c.version_id == v.c.id, t.c.lookup == tag_lookup(key, value))
        )
    if status is not None:
        if status not in schema.STATUSES:
            raise ValidationError(f"status must be one of {', '.join(schema.STATUSES)}")
        query = query.where(v.c.status == status)
    if since is not None:
        query = query.where(v.c.created_at >= as_utc(since))
    if until is not None:
        query = query.where(v.c.created_at < as_utc(until))
    query = query.order_by(v.c.sort_key.desc()).limit(limit).offset(offset)
    return [ModelVersion.from_row(row) for row in conn.execute(query)]


def find_by_param(
    conn: Connection, key: str, value: Any, *, model: str | None = None, limit: int = 100
) -> list[ModelVersion]:
    """Versions whose params hold ``value`` at dotted path ``key``, newest first."""
    check_limit(limit)
    p, v = schema.version_params, schema.versions
    query = version_select().join(p, p.c.version_id == v.c.id)
    query = query.where(p.c.lookup == param_lookup(key, value))
    return _by_model(conn, query, model, limit)


def find_by_dataset(
    conn: Connection, digest: str, *, model: str | None = None, limit: int = 100
) -> list[ModelVersion]:
    """Versions trained on the dataset with this content digest, newest first."""
    check_limit(limit)
    e, v = schema.lineage_edges, schema.versions
    query = version_select().join(e, (e.c.src_kind == "version") & (e.c.src == v.c.record_id))
    query = query.where(e.c.relation == "trained_on", e.c.dst_kind == "dataset", e.c.dst == digest)
    return _by_model(conn, query, model, limit)


def _by_model(conn: Connection, query: Any, model: str | None, limit: int) -> list[ModelVersion]:
    v = schema.versions
    if model is not None:
        query = query.where(v.c.model_id == require_model(conn, model))
    query = query.order_by(v.c.created_at.desc(), v.c.id.desc()).limit(limit)
    return [ModelVersion.from_row(row) for row in conn.execute(query)]


def audit_events(
    conn: Connection, *, limit: int = 50, subject: str | None = None
) -> list[AuditEvent]:
    """The newest ``limit`` audit events (optionally of one subject), oldest first."""
    check_limit(limit)
    t = schema.audit_events
    query = select(t).order_by(t.c.seq.desc()).limit(limit)
    if subject is not None:
        query = query.where(t.c.subject == subject)
    rows = list(conn.execute(query))
    return [
        AuditEvent(
            seq=row.seq,
            at=from_iso_utc(row.at),
            actor=row.actor,
            action=row.action,
            subject=row.subject,
            payload=json.loads(row.payload),
            prev_digest=row.prev_digest,
            digest=row.digest,
        )
        for row in reversed(rows)
    ]
