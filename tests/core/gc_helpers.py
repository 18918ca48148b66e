"""Shared pieces of the GC sweep tests: garbage objects, a plain GC sweep, audit events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from mv_orchestration.registry import Registry, schema
from mv_orchestration.retention.marks import Marks
from mv_orchestration.retention.sweep import SweepResult, sweep


def put_garbage(registry: Registry, count: int) -> list[str]:
    """``count`` stored objects nothing references."""
    return [registry.store.put_bytes(f"garbage {i}".encode()) for i in range(count)]


def gc_sweep(
    registry: Registry, digests: Sequence[str], marks: Marks, **options: Any
) -> SweepResult:
    """Sweep ``digests`` (1 byte each) as GC does, with ``options`` for :func:`sweep`."""
    return sweep(
        registry,
        [(digest, 1) for digest in digests],
        marks,
        action="retention.gc_delete",
        subject="store",
        actor=None,
        **options,
    )


def events(registry: Registry, action: str) -> list[tuple[int, dict]]:
    """``(seq, payload)`` of every audit event ``action``, oldest first."""
    t = schema.audit_events
    with registry.engine.connect() as conn:
        query = select(t.c.seq, t.c.payload).where(t.c.action == action).order_by(t.c.seq)
        return [(seq, json.loads(payload)) for seq, payload in conn.execute(query)]
