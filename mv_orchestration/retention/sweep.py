"""Sweep: delete store objects in small batches, each re-checked under the writers' lock.

Before each batch, an intent event (``<action>_intent``) listing the digests the batch
may delete is committed on its own, so objects deleted by a batch that never finished
(the process died) can still be traced. The batch then runs in one write transaction that
excludes registrations (SQLite's write lock; ``LOCK TABLE versions IN SHARE MODE`` on
PostgreSQL). Inside it the lease, if given, is checked (:meth:`Lease.check`), the batch is
checked against everything registered since the mark, objects still unreferenced are
deleted, and one event (``action``, referencing its intent's sequence number) lists what
was deleted, what was already absent (deleted by a batch that never finished), what was
spared and what failed to delete. Failed deletions are raised as :class:`DeleteError`
once that event is committed. A batch stopped by a lost lease still gets its event, saying
so (and listing what an earlier attempt of it deleted), before :class:`LeaseError` is
raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from mv_orchestration.errors import DeleteError, LeaseError
from mv_orchestration.registry.audit import append_event
from mv_orchestration.retention.marks import Marks, marks_since

if TYPE_CHECKING:
    from mv_orchestration.registry.lease import Lease

log = logging.getLogger(__name__)
DEFAULT_BATCH = 1024  # objects per write transaction, which holds registrations off meanwhile
INTENT_SUFFIX = "_intent"


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


@dataclass
class _Batch:
    """One batch; ``gone`` and ``error`` outlive a retried transaction."""

    registry: Any
    marks: Marks
    action: str
    subject: str
    actor: str | None
    lease: Lease | None
    items: Sequence[tuple[str, int]]
    gone: dict[str, int] = field(default_factory=dict)  # deleted by any attempt
    error: DeleteError | None = None

    def intent(self, conn: Connection) -> int:
        if self.lease is not None:
            self.lease.check(conn)
        payload = {"objects": [digest for digest, _ in self.items]}
        return append_event(conn, self.action + INTENT_SUFFIX, self.subject, payload, self.actor)

    def delete(self, conn: Connection, intent: int) -> tuple[list[str], list[str], list[str]]:
        if self.lease is not None:
            self.lease.check(conn)
        lock_out_writers(conn)
        store = self.registry.store
        live = marks_since(conn, store, self.marks)
        spared = [digest for digest, _ in self.items if digest in live]
        doomed = [(digest, size) for digest, size in self.items if digest not in live]
        digests = [digest for digest, _ in doomed]
        error: DeleteError | None = None
        try:
            existed = dict(zip(digests, store.delete_many(digests), strict=True))
        except DeleteError as exc:
            existed, error = exc.existed, exc
        removed: list[str] = []
        absent: list[str] = []
        failed: list[str] = []
        for digest, size in doomed:
            if existed.get(digest):
                self.gone[digest] = size
            if digest in self.gone:
                removed.append(digest)
            else:
                (absent if digest in existed else failed).append(digest)
        self.error = None
        if error is not None and failed:  # as the event records it, over every attempt
            done = dict.fromkeys(removed, True) | dict.fromkeys(absent, False)
            self.error = DeleteError(done, {digest: error.failed[digest] for digest in failed})
        payload = {
            "intent": intent,
            "objects": removed,
            "bytes": sum(self.gone[d] for d in removed),
            "absent": absent,
            "spared": spared,
            "failed": failed,
        }
        append_event(conn, self.action, self.subject, payload, self.actor)
        return removed, absent, spared

    def stop(self, conn: Connection, intent: int, error: LeaseError) -> None:
        """Record that the batch stopped with the lease lost (what an earlier attempt
        deleted, if any, and why)."""
        payload = {
            "intent": intent,
            "objects": sorted(self.gone),
            "bytes": sum(self.gone.values()),
            "stopped": str(error),
        }
        append_event(conn, self.action, self.subject, payload, self.actor)


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
    lease: Lease | None = None,
) -> SweepResult:
    """Delete ``candidates`` that nothing references (see the module docstring); with
    ``lease``, each batch deletes only while that lease is held (else :class:`LeaseError`)."""
    result = SweepResult()
    for start in range(0, len(candidates), batch_size):
        chunk = candidates[start : start + batch_size]
        result.referenced.extend(digest for digest, _ in chunk if digest in marks.objects)
        items = [(digest, size) for digest, size in chunk if digest not in marks.objects]
        if not items:
            continue
        if before_batch is not None:
            before_batch()
        batch = _Batch(registry, marks, action, subject, actor, lease, items)
        intent = registry.write(f"{action} intent", batch.intent)
        try:
            removed, absent, spared = registry.write(
                f"{action} batch", lambda conn, b=batch, i=intent: b.delete(conn, i)
            )
        except LeaseError as lost:
            try:
                registry.write(f"{action} stopped", partial(batch.stop, intent=intent, error=lost))
            except Exception:  # the lease error is what the caller must see
                log.exception("%s: could not record the batch stopped by %s", action, lost)
            raise
        result.deleted.update((digest, batch.gone[digest]) for digest in removed)
        result.absent.extend(absent)
        result.referenced.extend(spared)
        if batch.error is not None:
            log.warning("%s: %s (the batch's event records them)", action, batch.error)
            raise batch.error
    log.info("%s: deleted %d objects (%d bytes)", action, len(result.deleted), result.bytes_freed)
    return result
