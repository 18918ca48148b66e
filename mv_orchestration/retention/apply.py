"""Apply a stored plan: exactly its decisions, each re-checked immediately before acting.

Under the ``retention.apply`` lease:

* Phase 1 tombstones the plan's ``tombstone`` versions in batches
  (:func:`.transitions.advance_many`): a version protected now (alias target, active
  hold) is skipped, and so is one that an alias moved to after the plan's snapshot (the
  plan's keep rules might keep it now; :mod:`.moves`, read again in each batch's
  transaction) and one that a version staying derives from (one protected now, kept by the
  plan, or registered since).
* Phase 2 marks the plan's ``purge`` versions purged if they are still unprotected and
  were tombstoned longer than the policy's grace period ago, records the purge of the
  plan's dataset snapshots nothing references now, then deletes the plan's objects that
  nothing live references (:mod:`.marks`, :mod:`.sweep`).

Every change is an audit event. Applying twice changes nothing the second time, and an
apply that crashed can simply be run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from mv_orchestration.registry.audit import append_event
from mv_orchestration.registry.clock import utcnow
from mv_orchestration.registry.lease import acquire_lease
from mv_orchestration.retention import transitions as tr
from mv_orchestration.retention.datasets import SNAPSHOT_PURGE_EVENT, purged_snapshots
from mv_orchestration.retention.leases import APPLY_LEASE, LEASE_TTL_S, holder_name, renewer
from mv_orchestration.retention.marks import mark_registry
from mv_orchestration.retention.moves import LateMoves
from mv_orchestration.retention.plan import PlannedVersion, RetentionPlan
from mv_orchestration.retention.plans import load_plan
from mv_orchestration.retention.records import iter_version_rows
from mv_orchestration.retention.sweep import sweep

log = logging.getLogger(__name__)
DEFAULT_BATCH = 2000
_SKIP_REASONS = {
    tr.PROTECTED: "protected now: current alias target or active legal hold",
    tr.PARENT: "a version that stays derives from it now",
    tr.MISSING: "the version no longer exists",
    tr.NOT_READY: "not in the expected state (or its grace period has not passed)",
}


@dataclass(frozen=True)
class Skipped:
    """A planned action not taken, and why."""

    ref: str
    action: str
    reason: str


@dataclass
class ApplyReport:
    """What applying a plan did."""

    plan_id: str
    started_at: datetime
    finished_at: datetime | None = None
    tombstoned: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    snapshots_purged: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    objects_deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    objects_spared: int = 0

    @property
    def changed(self) -> bool:
        """True when this apply changed anything."""
        return bool(self.tombstoned or self.purged or self.snapshots_purged or self.objects_deleted)

    def summary(self) -> dict[str, Any]:
        """Counts only (the audit event payload)."""
        return {
            "tombstoned": len(self.tombstoned),
            "purged": len(self.purged),
            "snapshots_purged": len(self.snapshots_purged),
            "already_done": len(self.already_done),
            "skipped": len(self.skipped),
            "objects_deleted": len(self.objects_deleted),
            "bytes_freed": self.bytes_freed,
            "objects_spared": self.objects_spared,
        }

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form, listing every version acted on or skipped."""
        return {
            "plan_id": self.plan_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "summary": self.summary(),
            "tombstoned": self.tombstoned,
            "purged": self.purged,
            "snapshots_purged": self.snapshots_purged,
            "already_done": self.already_done,
            "skipped": [asdict(s) for s in self.skipped],
            "objects_deleted": self.objects_deleted,
        }


@dataclass
class _Phase:
    """What every batch of one apply shares."""

    registry: Any
    plan: RetentionPlan
    report: ApplyReport
    moves: LateMoves
    planned: dict[int, str]
    actor: str | None
    batch_size: int
    renew: Callable[[], object]

    def advance(self, items: list[PlannedVersion], to_status: str, action: str) -> None:
        """Move ``items`` to ``to_status`` in batches, recording each outcome."""
        todo = []
        late = self.moves.late
        for item in items:
            if item.id in late:
                self.report.skipped.append(Skipped(item.ref, action, late[item.id]))
            else:
                todo.append(item)
        done = self.report.tombstoned if to_status == "tombstoned" else self.report.purged
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            self.renew()
            outcomes = self.registry.write(
                f"retention {action}", lambda conn, b=batch: self._batch(conn, b, to_status)
            )
            for item in batch:
                outcome = outcomes[item.id]
                if outcome == tr.CHANGED:
                    done.append(item.ref)
                elif outcome == tr.ALREADY:
                    self.report.already_done.append(item.ref)
                elif outcome == tr.LATE:
                    self.report.skipped.append(Skipped(item.ref, action, late[item.id]))
                else:
                    self.report.skipped.append(Skipped(item.ref, action, _SKIP_REASONS[outcome]))

    def _batch(
        self, conn: Connection, batch: list[PlannedVersion], to_status: str
    ) -> dict[int, str]:
        now = utcnow()
        ready = now - self.plan.policy.grace_period if to_status == "purged" else None
        return tr.advance_many(
            conn,
            [(item.id, item.reason) for item in batch],
            to_status=to_status,
            plan_id=self.plan.id,
            actor=self.actor,
            now=now,
            planned=self.planned,
            late=self.moves.read,
            ready_before=ready,
        )


def _purge_snapshots(
    registry: Any, plan: RetentionPlan, report: ApplyReport, actor: str | None
) -> None:
    wanted = [s.digest for s in plan.snapshots if s.decision == "purge"]
    if not wanted:
        return

    def record(conn: Connection) -> list[str]:
        purged = purged_snapshots(conn)
        rows = iter_version_rows(conn)
        used = {d for row in rows if row.status != "purged" for d in row.snapshots}
        newly = []
        for digest in wanted:
            if digest in purged:  # already, and not logged again since
                continue
            if digest in used:
                report.skipped.append(
                    Skipped(digest, "purge snapshot", "a version that stays references it now")
                )
                continue
            append_event(conn, SNAPSHOT_PURGE_EVENT, digest, {"plan_id": plan.id}, actor)
            newly.append(digest)
        return newly

    report.snapshots_purged = registry.write("retention purge snapshots", record)


def apply_plan(
    registry: Any,
    plan_id: str,
    *,
    actor: str | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> ApplyReport:
    """Carry out stored plan ``plan_id`` (see the module docstring)."""
    plan = load_plan(registry, plan_id)
    report = ApplyReport(plan_id=plan.id, started_at=utcnow())
    with acquire_lease(registry.engine, APPLY_LEASE, holder_name("apply"), LEASE_TTL_S) as lease:
        moves = LateMoves(plan)
        registry.read(moves.read)
        renew = renewer(lease)
        planned = dict(zip(plan.columns.ids, plan.columns.decisions, strict=True))
        phase = _Phase(registry, plan, report, moves, planned, actor, batch_size, renew)
        phase.advance(plan.by_decision("tombstone"), "tombstoned", "tombstone")
        phase.advance(plan.by_decision("purge"), "purged", "purge")
        _purge_snapshots(registry, plan, report, actor)
        if plan.objects:
            result = sweep(
                registry,
                plan.objects,
                mark_registry(registry, renew),
                action="retention.delete_objects",
                subject=plan.id,
                actor=actor,
                before_batch=renew,
                lease=lease,
            )
            report.objects_deleted = sorted(result.deleted)
            report.bytes_freed = result.bytes_freed
            report.objects_spared = len(result.referenced)
        report.finished_at = utcnow()
        if report.changed:
            registry.append_audit("retention.apply", plan.id, report.summary(), actor)
    log.info("applied %s: %s", plan.id, report.summary())
    return report
