"""Blob garbage collection: mark and sweep over the artifact store.

1. Take the ``retention.gc`` lease (one GC at a time). Marking and listing renew it as
   they go (when due); a lease lost meanwhile raises :class:`LeaseError` and nothing is
   deleted.
2. Mark every live object (:mod:`.marks`). Any error while marking -> nothing is deleted
   and :class:`IntegrityError` is raised (fail closed).
3. List the store; an unmarked object is a candidate only when it is older than the grace
   period (a writer may be uploading it for a version not yet committed).
4. Unless ``dry_run`` (the default), sweep the candidates (:mod:`.sweep`): each batch
   checks the lease in its transaction, is re-checked against what was registered
   meanwhile and is recorded as audit events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mv_orchestration.registry.clock import as_utc, utcnow
from mv_orchestration.registry.lease import acquire_lease
from mv_orchestration.retention.durations import format_duration
from mv_orchestration.retention.leases import GC_LEASE, LEASE_TTL_S, holder_name, renewer
from mv_orchestration.retention.marks import mark_registry
from mv_orchestration.retention.sweep import DEFAULT_BATCH, sweep

log = logging.getLogger(__name__)
DEFAULT_GC_GRACE = timedelta(hours=24)
RENEW_EVERY = 1000  # objects listed between two looks at the lease's renewal clock


@dataclass
class GCReport:
    """What one GC run found and did."""

    dry_run: bool
    grace_period: timedelta
    started_at: datetime
    finished_at: datetime | None = None
    versions: int = 0
    live: int = 0
    scanned: int = 0
    young: int = 0
    candidates: list[tuple[str, int]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    spared: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-safe summary (candidate and deleted digests listed)."""
        return {
            "dry_run": self.dry_run,
            "grace_period": format_duration(self.grace_period),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "versions": self.versions,
            "live_objects": self.live,
            "scanned_objects": self.scanned,
            "young_objects": self.young,
            "candidates": [digest for digest, _ in self.candidates],
            "candidate_bytes": sum(size for _, size in self.candidates),
            "deleted": self.deleted,
            "bytes_freed": self.bytes_freed,
            "spared": self.spared,
        }


def collect_garbage(
    registry: Any,
    *,
    dry_run: bool = True,
    grace_period: timedelta = DEFAULT_GC_GRACE,
    now: datetime | None = None,
    actor: str | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> GCReport:
    """Mark and sweep ``registry.store`` (see the module docstring); dry run by default."""
    started = utcnow()
    cutoff = (as_utc(now) if now is not None else started) - grace_period
    report = GCReport(dry_run=dry_run, grace_period=grace_period, started_at=started)
    with acquire_lease(registry.engine, GC_LEASE, holder_name("gc"), LEASE_TTL_S) as lease:
        renew = renewer(lease)
        marks = mark_registry(registry, renew)
        report.versions, report.live = marks.versions, len(marks.objects)
        for stored in registry.store.iter_objects():
            report.scanned += 1
            if not report.scanned % RENEW_EVERY:
                renew()
            if stored.digest in marks.objects:
                continue
            if stored.mtime > cutoff:
                report.young += 1
                continue
            report.candidates.append((stored.digest, stored.size))
        if not dry_run and report.candidates:
            result = sweep(
                registry,
                report.candidates,
                marks,
                action="retention.gc_delete",
                subject="store",
                actor=actor,
                batch_size=batch_size,
                before_batch=renew,
                lease=lease,
            )
            report.deleted = sorted(result.deleted)
            report.bytes_freed = result.bytes_freed
            report.spared = len(result.referenced)
    report.finished_at = utcnow()
    log.info(
        "gc%s: %d objects, %d live, %d young, %d candidates, %d deleted",
        " (dry run)" if dry_run else "",
        report.scanned,
        report.live,
        report.young,
        len(report.candidates),
        len(report.deleted),
    )
    return report
