"""Stored plans: immutable objects in the artifact store, found through the audit log.

A plan's canonical JSON is stored with ``put_chunks`` as it is encoded, compressed as
zstd frames (a million-version plan is a third of a gigabyte of JSON and about 12 MB
stored), so the stored object is content-addressed, create-only and verified on read. A
``retention.plan`` audit event records ``plan id -> digest`` (of the JSON) and the stored
object. Nothing can change a stored plan: a different plan has a different digest and id,
and reading one checks the JSON against its digest. Plans stored before compression (no
``object`` in their event) are their JSON.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, select

from mv_orchestration.errors import IntegrityError, NotFoundError, ValidationError
from mv_orchestration.registry import schema
from mv_orchestration.retention.plan import RetentionPlan, plan_id_for

log = logging.getLogger(__name__)
PLAN_EVENT = "retention.plan"
CODEC = "zstd"


@dataclass(frozen=True)
class StoredPlan:
    """One ``retention.plan`` audit event: the plan's id and ``digest`` (of its canonical
    JSON), and ``object``, the digest of the stored object holding it (``codec``
    compressed; None: the JSON itself)."""

    id: str
    digest: str
    created_at: datetime
    policy_digest: str
    summary: dict[str, int]
    object: str
    codec: str | None


def _events(conn: Connection, plan_id: str | None = None, after_seq: int = 0) -> list[StoredPlan]:
    t = schema.audit_events
    query = (
        select(t.c.subject, t.c.payload)
        .where(t.c.action == PLAN_EVENT, t.c.seq > after_seq)
        .order_by(t.c.seq)
    )
    if plan_id is not None:
        query = query.where(t.c.subject == plan_id)
    found = []
    for subject, payload in conn.execute(query):
        data = json.loads(payload)
        found.append(
            StoredPlan(
                id=subject,
                digest=data["digest"],
                created_at=datetime.fromisoformat(data["created_at"]),
                policy_digest=data["policy_digest"],
                summary=data["summary"],
                object=data.get("object", data["digest"]),
                codec=data.get("codec"),
            )
        )
    return found


def stored_plans(registry: Any) -> list[StoredPlan]:
    """Every stored plan, oldest first."""
    with registry.engine.connect() as conn:
        return _events(conn)


def plan_digests(conn: Connection, after_seq: int = 0) -> set[str]:
    """Digests of the stored plan objects (recorded after audit event ``after_seq``)."""
    return {stored.object for stored in _events(conn, after_seq=after_seq)}


def save_plan(registry: Any, plan: RetentionPlan, actor: str | None = None) -> StoredPlan:
    """Store ``plan`` (idempotent: saving the same plan twice records it once)."""
    codec = pa.Codec(CODEC)
    # encoded as it is written, hashed, compressed; the store hashes what it writes
    stored_as = plan.store(registry.store.put_chunks, partial(codec.compress, asbytes=True))
    with registry.engine.connect() as conn:
        existing = _events(conn, plan.id)
    if existing:
        return existing[0]
    summary = plan.summary()
    stored = StoredPlan(
        plan.id, plan.digest, plan.created_at, plan.policy_digest, summary, stored_as, CODEC
    )
    registry.append_audit(
        PLAN_EVENT,
        plan.id,
        {
            "digest": plan.digest,
            "created_at": plan.created_at.isoformat(),
            "policy_digest": plan.policy_digest,
            "summary": summary,
            "object": stored_as,
            "codec": CODEC,
        },
        actor,
    )
    log.info("stored retention plan %s (%s)", plan.id, plan.digest)
    return stored


def load_plan(registry: Any, plan_id: str) -> RetentionPlan:
    """The stored plan ``plan_id`` (``plan-…`` or its full digest), verified on read."""
    if not isinstance(plan_id, str) or not plan_id:
        raise ValidationError("a plan id is required")
    wanted = plan_id if plan_id.startswith("plan-") else plan_id_for(plan_id)
    with registry.engine.connect() as conn:
        events = _events(conn, wanted)
    if not events or (not plan_id.startswith("plan-") and events[0].digest != plan_id):
        raise NotFoundError(f"no stored retention plan {plan_id!r}")
    plan = RetentionPlan.from_content_bytes(_content(registry.store, events[0]))
    if plan.digest != events[0].digest:
        raise IntegrityError(f"retention plan {plan_id} does not match its recorded digest")
    return plan


def _content(store: Any, stored: StoredPlan) -> bytes:
    """The canonical JSON of ``stored``, read from its verified object."""
    data = store.get_bytes(stored.object)
    if stored.codec is None:
        return data
    try:
        return pa.CompressedInputStream(pa.BufferReader(data), stored.codec).read()
    except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
        raise IntegrityError(f"retention plan {stored.id} cannot be decompressed: {exc}") from None


def dry_run_note(plan_id: str, how_to_apply: str) -> str:
    """What a dry run reports: nothing was applied, the plan is stored, and how to apply
    it (``how_to_apply``: the orchestrator's own way, after the CLI's)."""
    return (
        f"Dry run: nothing was applied; plan {plan_id} is stored. To apply it, run "
        f"`mvo retention apply {plan_id}`, or {how_to_apply}."
    )
