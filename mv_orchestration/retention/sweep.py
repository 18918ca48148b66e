"""Sweep: delete store objects in small batches, each re-checked under the writers' lock.

Each batch runs in one write transaction that excludes registrations (SQLite's write
lock; ``LOCK TABLE versions IN SHARE MODE`` on PostgreSQL). Inside it the batch is checked
against everything registered since the mark, objects still unreferenced are deleted, and
one audit event lists what was deleted and what was already absent (deleted by a run that
crashed before recording it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from mv_orchestration.registry.audit import append_event
from mv_orchestration.retention.marks import Marks, marks_since

log = logging.getLogger(__name__)
DEFAULT_BATCH = 1024  # objects per write transaction, which holds registrations off meanwhile


@dataclass
class SweepResult:
    """What a sweep deleted (``deleted``: digest -> size) and what it spared."""

    deleted: dict[str, int] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    referenced: list[str] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        """Total size of the deleted objects."""
        return sum(self.deleted.values())


def lock_out_writers(conn: Connection) -> None:
    """Keep registrations out until the transaction ends (SQLite: already the case)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE versions IN SHARE MODE"))


def sweep(
    registry: Any,
    candidates: Sequence[tuple[str, int]],
    marks: Marks,
    *,
    action: str,
    subject: str,
    actor: str | None,
    batch_size: int = DEFAULT_BATCH,
    before_batch: Callable[[], object] | None = None,
) -> SweepResult:
    """Delete ``candidates`` that nothing references (see the module docstring)."""
    result = SweepResult()
    store = registry.store
    for start in range(0, len(candidates), batch_size):
        batch = candidates[start : start + batch_size]
        if before_batch is not None:
            before_batch()
        gone: dict[str, int] = {}  # deleted by any attempt of this batch's transaction

        def one_batch(
            conn: Connection, batch: Sequence[tuple[str, int]] = batch, gone: dict = gone
        ) -> tuple[list[str], list[str], list[str]]:
            lock_out_writers(conn)
            live = marks_since(conn, store, marks)
            removed: list[str] = []
            absent: list[str] = []
            spared = [d for d, _ in batch if d in live or d in marks.objects]
            unreferenced = [
                (d, size) for d, size in batch if d not in live and d not in marks.objects
            ]
            existed = store.delete_many([digest for digest, _ in unreferenced])
            for (digest, size), deleted in zip(unreferenced, existed, strict=True):
                if deleted:
                    gone[digest] = size
                (removed if digest in gone else absent).append(digest)
            if removed or absent:
                payload = {
                    "objects": removed,
                    "bytes": sum(gone[d] for d in removed),
                    "absent": absent,
                }
                append_event(conn, action, subject, payload, actor)
            return removed, absent, spared

        removed, absent, spared = registry.write(f"{action} batch", one_batch)
        result.deleted.update((digest, gone[digest]) for digest in removed)
        result.absent.extend(absent)
        result.referenced.extend(spared)
    log.info("%s: deleted %d objects (%d bytes)", action, len(result.deleted), result.bytes_freed)
    return result
